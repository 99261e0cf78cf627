"""Evaluation and figures: experiments/generalization.py, runs.py, traces.py, curves.py and plotting/, and the
scripts evaluate.py, plot_heads.py and plot_curves.py, run end to end on a tiny model trained for 2 steps."""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from ntm_cell import tasks
from ntm_cell.experiments import configs, curves, generalization, reports, runs, traces, training
from ntm_cell.experiments.models import build_model
from ntm_cell.experiments.plotting import curves_plot, generalization_plot, heads_plot, priority_plot
from ntm_cell.tasks.metrics import bit_errors_by_sequence, cross_entropy_bits_by_sequence
from ntm_cell.tasks.ngrams import optimal_predictions

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def tiny_config(model="ntm"):
    model_kwargs = {
        "ntm": dict(controller_units=16, memory_size=8, memory_width=5),
        "lstm": dict(units=8, layers=1),
    }[model]
    return configs.ExperimentConfig(
        task="copy", model=model, task_kwargs=dict(bits=3, min_length=1, max_length=3),
        model_kwargs=model_kwargs, batch_size=8, steps=2,
    )


@pytest.fixture(scope="module")
def ntm_run(tmp_path_factory):
    """A run directory of a tiny NTM on 3-bit copy, trained for 2 steps."""
    run_dir = tmp_path_factory.mktemp("logs") / "copy" / "ntm" / "seed0"
    training.train(tiny_config(), run_dir, steps=2, jit_compile=False, printer=lambda *a: None)
    return run_dir


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    """A run directory of an (untrained) tiny LSTM: model.keras and config.json, as train.py leaves them."""
    config = tiny_config("lstm")
    run_dir = tmp_path_factory.mktemp("logs") / "copy" / "lstm" / "seed0"
    run_dir.mkdir(parents=True)
    build_model("lstm", 4, 3, **config.model_kwargs).save(run_dir / "model.keras")
    (run_dir / "config.json").write_text(config.to_json())
    return run_dir


def run_script(name, *flags, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(SCRIPTS / name), *flags], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def last_line(text):
    return text.strip().splitlines()[-1]


# ----------------------------------------------------------------------------------------------------------------
# Fake models
# ----------------------------------------------------------------------------------------------------------------


def perfect_copier(sign=1.0):
    """A NumPy stand-in for a model that solves 3-bit copy exactly (``sign=-1``: gets every answer bit wrong)."""

    def model(inputs):
        bits = inputs.shape[-1] - 1
        logits = np.full(inputs.shape[:2] + (bits,), -5.0 * sign, np.float32)
        for row in range(inputs.shape[0]):
            length = int(np.argmax(inputs[row, :, bits]))  # the delimiter step
            logits[row, length + 1:2 * length + 1] = sign * (10.0 * inputs[row, :length, :bits] - 5.0)
        return logits

    return model


# ----------------------------------------------------------------------------------------------------------------
# generalization.py, runs.py, traces.py
# ----------------------------------------------------------------------------------------------------------------


def test_generalization_of_a_perfect_and_a_wrong_model():
    task = tasks.get_task("copy", bits=3, max_length=3)
    points = [{"length": 2}, {"length": 5}]
    rows = generalization.generalization(perfect_copier(), task, points, sequences_per_point=10, batch_size=4)
    assert [row["length"] for row in rows] == [2, 5]
    for row in rows:
        assert row["bit_errors"] == 0 and row["stderr"] == 0 and row["error_free"] == 1 and row["sequences"] == 10
    wrong = generalization.generalization(perfect_copier(-1.0), task, points, sequences_per_point=10, batch_size=4)
    assert [row["bit_errors"] for row in wrong] == [6.0, 15.0]  # every answer bit: length x 3 bits
    assert [row["scored_bits"] for row in wrong] == [6.0, 15.0]


def test_generalization_rows_of_a_trained_model(ntm_run):
    run = runs.load_run(ntm_run)
    assert run.model_name == "ntm" and run.config.task == "copy" and run.task.bits == 3
    rows = generalization.generalization(run.model, run.task, [{"length": 2}, {"length": 4}], sequences_per_point=6,
                                     batch_size=4, seed=1)
    assert [row["length"] for row in rows] == [2, 4]
    for row in rows:
        assert set(row) == {"length", "bit_errors", "stderr", "error_free", "scored_bits", "sequences"}
        assert all(math.isfinite(value) for value in row.values())
        assert row["sequences"] == 6
    again = generalization.generalization(run.model, run.task, [{"length": 4}], sequences_per_point=6, batch_size=4,
                                      seed=1)
    assert again[0] == rows[1]  # a point's data depends on the seed and the point only
    # The per-sequence errors average to the training metric.
    inputs, targets, mask = run.task.sample(5, np.random.default_rng(0))
    logits = run.model(inputs).numpy()
    expected = (np.abs(targets - (logits >= 0)).sum(axis=-1) * mask).sum(axis=-1)  # NumPy, per sequence
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bit_errors_by_sequence(targets, logits, mask)), expected)


def test_ngrams_rows_report_the_optimal_estimators_cost():
    task = tasks.get_task("ngrams", order=3, length=30)

    def optimal_model(inputs):
        p = np.clip(optimal_predictions(inputs, 3), 1e-7, 1 - 1e-7)
        return np.log(p) - np.log1p(-p)

    (row,) = generalization.generalization(optimal_model, task, sequences_per_point=20, batch_size=8)
    assert row["length"] == 30 and row["sequences"] == 20
    assert row["cost_bits"] == pytest.approx(row["optimal_cost_bits"], rel=1e-4)
    inputs, targets, mask = task.sample(4, np.random.default_rng(0))
    p = np.clip(optimal_predictions(inputs, 3), 1e-7, 1 - 1e-7)
    expected = ((-(targets * np.log2(p) + (1 - targets) * np.log2(1 - p))).sum(axis=-1) * mask).sum(axis=-1)
    by_sequence = keras.ops.convert_to_numpy(cross_entropy_bits_by_sequence(targets, p, mask))
    np.testing.assert_allclose(by_sequence, expected, rtol=1e-5)
    assert float(task.cost_bits(p, targets, mask)) == pytest.approx(expected.mean(), rel=1e-5)


def test_default_sweeps_and_points():
    assert [p["length"] for p in generalization.sweep_points(tasks.get_task("copy"))] == [10, 20, 30, 40, 60, 80, 100,
                                                                                        120]
    assert [p["items"] for p in generalization.sweep_points(tasks.get_task("associative_recall"))] == list(range(2, 16))
    repeat = generalization.sweep_points(tasks.get_task("repeat_copy"))
    assert {"length": 10, "repeats": 20} in repeat and {"length": 20, "repeats": 10} in repeat and len(repeat) == 21
    assert generalization.sweep_points(tasks.get_task("priority_sort")) == [{"num_inputs": 20, "num_outputs": 16}]
    assert generalization.sweep_points(tasks.get_task("ngrams")) == [{"length": 200}]
    copy = tasks.get_task("copy")
    assert generalization.expand_point(copy, {"length": 7}) == {"min_length": 7, "max_length": 7}
    assert generalization.training_ranges(copy) == {"length": (1, 20)}
    with pytest.raises(ValueError, match="items does not apply to the copy task"):
        generalization.sweep_points(copy, items=[3])
    with pytest.raises(ValueError, match="not a range of the copy task"):
        generalization.expand_point(copy, {"repeats": 2})


def test_csv_round_trip_and_markdown(tmp_path):
    rows = [{"length": 2, "bit_errors": 0.5, "stderr": 0.25, "error_free": 0.5, "scored_bits": 6.0, "sequences": 4}]
    path = generalization.write_csv(rows, tmp_path / "out" / "rows.csv")
    assert path.read_text().splitlines()[0] == "length,bit_errors,stderr,error_free,scored_bits,sequences"
    assert reports.read_csv(path) == rows
    table = generalization.markdown_table(rows).splitlines()
    assert table[0].startswith("| length | bit errors / seq") and "0.500 ± 0.250" in table[2]


def test_load_run_needs_the_task_without_config_json(ntm_run, tmp_path):
    bare = tmp_path / "bare.keras"
    shutil.copy(ntm_run / "model.keras", bare)
    with pytest.raises(ValueError, match="no config.json"):
        runs.load_run(bare)
    with pytest.raises(ValueError, match="4 input channels"):  # the paper's copy task has 8 bits, this model 3
        runs.load_run(bare, task="copy")
    run = runs.load_run(bare, task="copy", task_kwargs={"bits": 3})
    assert run.config is None and run.task.bits == 3 and run.model_name == "ntm"
    with pytest.raises(ValueError, match="trained on 'copy'"):
        runs.load_run(ntm_run, task="ngrams")


def test_load_run_restores_the_newest_checkpoint_while_training_runs(ntm_run, tmp_path):
    shutil.copy(ntm_run / "config.json", tmp_path / "config.json")
    shutil.copytree(ntm_run / "checkpoints", tmp_path / "checkpoints")
    run = runs.load_run(tmp_path)
    assert run.source.name == "ckpt-2"
    final = runs.load_run(ntm_run).model
    inputs, _, _ = run.task.sample(2, np.random.default_rng(0))
    np.testing.assert_allclose(run.model(inputs).numpy(), final(inputs).numpy(), rtol=1e-5, atol=1e-6)


def test_trace_example_refuses_a_model_without_memory(lstm_run):
    run = runs.load_run(lstm_run)
    with pytest.raises(traces.NoMemoryError, match="no memory"):
        traces.trace_example(run.model, run.task)


# ----------------------------------------------------------------------------------------------------------------
# plotting/, curves.py
# ----------------------------------------------------------------------------------------------------------------


def test_used_rows_take_the_shortest_circular_window():
    weights = np.zeros((3, 1, 128))
    weights[0, 0, 126], weights[1, 0, 127], weights[2, 0, 1] = 1.0, 0.9, 0.6
    assert heads_plot.used_rows(weights, margin=1).tolist() == [125, 126, 127, 0, 1, 2]
    assert heads_plot.used_rows(np.full((2, 1, 8), 1 / 8)).tolist() == list(range(8))  # nothing stands out


def test_a_dnc_trace_gets_read_mode_allocation_and_usage_panels(tmp_path):
    from ntm_cell import DNCCell

    cell = DNCCell(controller_units=8, memory_size=6, memory_width=4, read_heads=2, write_heads=1, output_units=3)
    x = np.random.default_rng(0).random((1, 5, 4)).astype(np.float32)
    keras.layers.RNN(cell)(x)  # builds the cell
    trace = cell.trace(x)
    figure = heads_plot.plot_heads(trace, x, np.zeros((1, 5, 3)), np.zeros((1, 5, 3)), memory_rows="all",
                                   path=tmp_path / "dnc.png")
    titles = [ax.get_title(loc="left") for ax in figure.axes if ax.get_title(loc="left")]
    assert titles == ["input", "target", "output (sigmoid of the logits)",
                      "read head 1: weighting", "read head 1: read modes",
                      "read head 2: weighting", "read head 2: read modes",
                      "write head 1: weighting", "write head 1: allocation weighting",
                      "write head 1: write vector", "write head 1: erase vector", "usage"]
    modes_axis = figure.axes[2 * titles.index("read head 1: read modes")]  # each panel has a colour bar after it
    assert [t.get_text() for t in modes_axis.get_yticklabels()] == ["backward", "content", "forward"]
    np.testing.assert_allclose(modes_axis.images[0].get_array(), trace["read_modes"][0, :, 0].T)


def test_plot_generalization_draws_one_panel_per_swept_variable(tmp_path):
    task = tasks.get_task("repeat_copy")
    rows = [dict(p, bit_errors=1.0, stderr=0.1, error_free=0.5, scored_bits=90.0, sequences=10)
            for p in generalization.sweep_points(task, lengths=[10, 12], repeats=[10, 15, 20])]
    figure = generalization_plot.plot_generalization(rows, training=generalization.training_ranges(task), path=tmp_path / "g.png")
    assert [ax.get_xlabel() for ax in figure.axes] == ["sequence length", "number of repeats"]
    assert (tmp_path / "g.png").stat().st_size > 0


def write_fake_runs(logdir):
    """<logdir>/copy/{ntm,lstm}/seed{0,1} with bit_errors/eval and sequences_seen at steps 1..5 (batch 8)."""
    for model, scale in (("ntm", 10.0), ("lstm", 40.0)):
        for seed in (0, 1):
            writer = tf.summary.create_file_writer(str(Path(logdir) / "copy" / model / f"seed{seed}"))
            with writer.as_default():
                for step in range(1, 6):
                    tf.summary.scalar("sequences_seen", step * 8, step=step)
                    tf.summary.scalar("bit_errors/eval", scale * (seed + 1) / step, step=step)
            writer.close()


def test_learning_curves_from_event_files(tmp_path):
    write_fake_runs(tmp_path)
    runs = curves.load_learning_curves(tmp_path, "copy")
    assert list(runs) == ["ntm", "lstm"] and [c.seed for c in runs["ntm"]] == [0, 1]
    np.testing.assert_allclose(runs["ntm"][1].sequences, [8, 16, 24, 32, 40])
    x, median, low, high, _ = curves.aggregate(runs["ntm"])
    np.testing.assert_allclose(median, 15.0 / np.arange(1, 6))
    np.testing.assert_allclose(low, 10.0 / np.arange(1, 6))
    np.testing.assert_allclose(high, 20.0 / np.arange(1, 6))
    figure = curves_plot.plot_learning_curves(runs)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["NTM (median of 2 seeds)", "LSTM (median of 2 seeds)"]
    figure = curves_plot.plot_learning_curves(runs, references=[("optimal", 1.5)])
    lines = figure.axes[0].get_lines()
    assert lines[-1].get_label() == "optimal (1.5)" and list(lines[-1].get_ydata()) == [1.5, 1.5]
    assert curves_plot.plot_learning_curves(runs).axes[0].get_xlim()[1] >= 40
    assert curves_plot.plot_learning_curves(runs, max_sequences=24).axes[0].get_xlim() == (0, 24)


def test_learning_curves_ymin_sets_the_bottom_of_the_axis(tmp_path):
    write_fake_runs(tmp_path)
    runs = curves.load_learning_curves(tmp_path, "copy")  # values 2 to 80: a linear axis from 0
    assert curves_plot.plot_learning_curves(runs, yscale="linear").axes[0].get_ylim()[0] == 0
    bottom, top = curves_plot.plot_learning_curves(runs, yscale="linear", ymin=1.5).axes[0].get_ylim()
    assert bottom == 1.5 and top >= 20
    assert curves_plot.plot_learning_curves(runs, yscale="log", ymin=1.0).axes[0].get_ylim()[0] == 1.0
    with pytest.raises(ValueError, match="below the top"):
        curves_plot.plot_learning_curves(runs, yscale="linear", ymin=1000)
    with pytest.raises(ValueError, match="positive"):
        curves_plot.plot_learning_curves(runs, yscale="log", ymin=0)


def test_curve_csvs_round_trip_and_fill_in_missing_runs(tmp_path):
    write_fake_runs(tmp_path / "logs")
    runs = curves.load_learning_curves(tmp_path / "logs", "copy")
    paths = curves.write_curve_csvs(runs, tmp_path / "csv", "copy")
    assert tmp_path / "csv" / "copy" / "lstm" / "seed1" / "bit_errors_eval.csv" in paths and len(paths) == 4
    kept = curves.load_curve_csvs(tmp_path / "csv", "copy")
    assert list(kept) == ["ntm", "lstm"]
    for model in runs:
        for read, written in zip(kept[model], runs[model]):
            assert read.seed == written.seed
            np.testing.assert_array_equal(read.sequences, written.sequences)
            np.testing.assert_array_equal(read.values.astype(np.float32), written.values)  # float32 exactly
    assert curves.load_curve_csvs(tmp_path / "csv", "copy", tag="loss/eval") == {}  # another metric's file
    # An event-file run wins over the CSV of the same model and seed; CSVs fill in the runs that are missing.
    shutil.rmtree(tmp_path / "logs" / "copy" / "lstm" / "seed0")
    shutil.rmtree(tmp_path / "logs" / "copy" / "ntm")
    merged = curves.merge_curves(curves.load_learning_curves(tmp_path / "logs", "copy"), kept)
    assert [(model, c.seed, c.run_dir.parts[-4]) for model, seeds in merged.items() for c in seeds] == [
        ("ntm", 0, "csv"), ("ntm", 1, "csv"), ("lstm", 0, "csv"), ("lstm", 1, "logs")]
    (tmp_path / "csv" / "copy" / "ntm" / "seed0" / "bit_errors_eval.csv").write_text("step,value\n1,2\n")
    with pytest.raises(ValueError, match="header 'step,value'"):
        curves.load_curve_csvs(tmp_path / "csv", "copy")


def test_compared_curves_take_one_model_from_each_logdir(tmp_path):
    write_fake_runs(tmp_path / "a")
    write_fake_runs(tmp_path / "b")
    groups = [("constant", tmp_path / "b"), ("learned", tmp_path / "a"), ("random", tmp_path / "empty")]
    runs = curves.load_compared_curves(groups, "copy", "lstm")
    assert list(runs) == ["constant", "learned"]  # the order given; a root without runs is left out
    assert all(curve.run_dir.parent.name == "lstm" for curves in runs.values() for curve in curves)
    labels = [line.get_label() for line in curves_plot.plot_learning_curves(runs).axes[0].get_lines()]
    assert labels == ["constant (median of 2 seeds)", "learned (median of 2 seeds)"]


# ----------------------------------------------------------------------------------------------------------------
# Scripts
# ----------------------------------------------------------------------------------------------------------------


def test_evaluate_py_end_to_end(ntm_run, tmp_path):
    result = run_script("evaluate.py", f"--run_dir={ntm_run}", f"--output_dir={tmp_path}", "--lengths=2,3",
                        "--sequences=6", "--batch_size=4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| length | bit errors / seq" in result.stdout
    rows = reports.read_csv(tmp_path / "copy_ntm_generalization.csv")
    assert [row["length"] for row in rows] == [2, 3] and all(row["sequences"] == 6 for row in rows)
    assert (tmp_path / "copy_ntm_generalization.png").stat().st_size > 0


def test_plot_heads_py_end_to_end(ntm_run, tmp_path):
    result = run_script("plot_heads.py", f"--model_path={ntm_run / 'model.keras'}", f"--output_dir={tmp_path}",
                        "--length=2", "--memory_rows=all")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "copy_ntm_heads.png").stat().st_size > 0


def test_plot_heads_py_refuses_an_lstm(lstm_run, tmp_path):
    result = run_script("plot_heads.py", f"--run_dir={lstm_run}", f"--output_dir={tmp_path}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "is not an NTM or DNC" in last_line(result.stderr) and "no memory" in last_line(result.stderr)
    assert not list(tmp_path.iterdir())


def test_plot_curves_py_end_to_end(tmp_path):
    write_fake_runs(tmp_path / "logs")
    result = run_script("plot_curves.py", f"--logdir={tmp_path / 'logs'}", "--task=copy",
                        f"--output_dir={tmp_path / 'img'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "img" / "copy_learning_curves.png").stat().st_size > 0
    result = run_script("plot_curves.py", f"--compare=one={tmp_path / 'logs'},two={tmp_path / 'logs'}",
                        "--task=copy", "--output_name=compared", f"--output_dir={tmp_path / 'img'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "img" / "compared.png").stat().st_size > 0
    # Curves exported to CSV draw the figure again once the event files are gone.
    result = run_script("plot_curves.py", f"--logdir={tmp_path / 'logs'}", "--task=copy", "--write_csv",
                        f"--csv_dir={tmp_path / 'csv'}", "--output_name=exported", f"--output_dir={tmp_path / 'img'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "csv" / "copy" / "ntm" / "seed1" / "bit_errors_eval.csv").exists()
    shutil.rmtree(tmp_path / "logs")
    result = run_script("plot_curves.py", f"--logdir={tmp_path / 'logs'}", "--task=copy",
                        f"--csv_dir={tmp_path / 'csv'}", "--output_name=from_csv", f"--output_dir={tmp_path / 'img'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "seed 1: 16.000 after 40" in result.stderr  # the LSTM's seed 1: 40 × 2 / 5 at step 5
    assert (tmp_path / "img" / "from_csv.png").stat().st_size > 0
    result = run_script("plot_curves.py", "--task=copy", "--write_csv")
    assert result.returncode != 0 and "--write_csv needs --csv_dir" in result.stderr


@pytest.mark.parametrize(
    "script, flags, message",
    [
        ("plot_curves.py", ["--logdir={tmp}", "--task=copy"], "no runs found"),
        ("plot_curves.py", ["--task=sorting"], "--task=sorting: value should be one of"),
        ("plot_curves.py", ["--compare={tmp}"], "--compare takes label=logdir pairs"),
        ("plot_curves.py", ["--logdir={tmp}", "--reference=optimal"], "--reference takes label=value pairs"),
        ("evaluate.py", [], "Exactly one of (model_path, run_dir)"),
        ("evaluate.py", ["--run_dir={tmp}/nothing"], "no such file or directory"),
        ("evaluate.py", ["--run_dir={tmp}", "--sequences=0"], "--sequences=0"),
        ("evaluate.py", ["--run_dir={tmp}", "--lengths=2,x"], "--lengths must be a list of integers >= 1"),
        ("evaluate.py", ["--model_path={tmp}", "--task_kwargs={{\"bits\": 3}}"], "--task_kwargs needs --task"),
        ("plot_heads.py", ["--run_dir={tmp}", "--memory_rows=3"], "--memory_rows must be"),
        ("plot_heads.py", ["--model_path={tmp}", "--run_dir={tmp}"], "Exactly one of (model_path, run_dir)"),
    ],
)
def test_bad_flags_end_with_one_clear_line(tmp_path, script, flags, message):
    result = run_script(script, *(flag.format(tmp=tmp_path) for flag in flags), timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr[-2000:]


def test_rank_correlation():
    x = np.array([0.3, -0.6, 0.9, 0.1])
    assert traces.rank_correlation(x, np.array([2, 0, 3, 1])) == pytest.approx(1.0)
    assert traces.rank_correlation(x, -x) == pytest.approx(-1.0)
    assert math.isnan(traces.rank_correlation(x, np.zeros(4)))
    assert math.isnan(traces.rank_correlation(np.ones(4), x))
    # Per example, skipping examples with a constant row.
    rows = np.array([[2, 0, 3, 1], [5, 5, 5, 5], [0, 1, 2, 3]])
    assert traces.mean_rank_correlation(np.stack([x, x, x]), rows) == pytest.approx((1.0 + 0.0) / 2)


def test_circular_rows_start_after_the_widest_free_run():
    # 8 rows; occupied 6, 7, 0, 1: the free run is 2..5, so row 6 becomes 0.
    np.testing.assert_array_equal(traces.circular_rows(np.array([6, 7, 0, 1]), 8), [0, 1, 2, 3])
    np.testing.assert_array_equal(traces.circular_rows(np.array([3, 1, 2]), 8), [2, 0, 1])
    np.testing.assert_array_equal(traces.circular_rows(np.array([5, 5]), 8), [0, 0])


def test_priority_rank_correlation_reads_the_answered_vectors_around_the_memory():
    # One example, 5 vectors, 3 answered, 8 rows. Head 1 files the answered vectors by descending priority on rows
    # 7, 0, 1 (wrapping) and puts the two others on row 4; head 2 does the opposite order.
    priorities = np.array([[0.9, -0.8, 0.5, -0.9, 0.1]])
    head_rows = {0: [7, 4, 0, 4, 1], 1: [1, 4, 0, 4, 7]}
    writes = np.zeros((1, 5, 2, 8))
    for head, rows in head_rows.items():
        writes[0, np.arange(5), head, rows] = 1.0
    sort_trace = traces.PrioritySortTrace(priorities, writes, np.zeros((1, 3, 1, 8)), np.zeros(1))
    assert traces.priority_rank_correlations(sort_trace) == pytest.approx([-1.0, 1.0])
    # Raw row numbers over all five vectors would hide it.
    assert abs(traces.rank_correlation(priorities[0], np.array(head_rows[0]))) < 0.5


def test_plot_priority_writes_shows_a_head_that_files_by_priority(tmp_path):
    rng = np.random.default_rng(0)
    examples, inputs, outputs, rows = 6, 5, 3, 12
    priorities = rng.uniform(-1, 1, (examples, inputs))
    writes = np.zeros((examples, inputs, 2, rows))
    ranks = np.argsort(np.argsort(priorities, axis=1), axis=1)
    for e in range(examples):
        for k in range(inputs):
            writes[e, k, 0, 2 + ranks[e, k]] = 1.0  # head 1 files each vector by its priority
            writes[e, k, 1, rng.integers(rows)] = 1.0  # head 2 writes anywhere
    reads = np.zeros((examples, outputs, 1, rows))
    reads[:, np.arange(outputs), 0, 2 + inputs - 1 - np.arange(outputs)] = 1.0
    sort_trace = traces.PrioritySortTrace(priorities, writes, reads, np.zeros(examples))
    figure = priority_plot.plot_priority_writes(sort_trace, title="t", path=tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 10_000
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend[0] == "write head 1 (ρ = +1.00)" and len(legend) == 2


@pytest.fixture(scope="module")
def priority_sort_run(tmp_path_factory):
    """A run directory of a tiny NTM with 2 write heads on a small priority sort, trained for 2 steps."""
    config = configs.ExperimentConfig(
        task="priority_sort", model="ntm", task_kwargs=dict(bits=3, num_inputs=5, num_outputs=3),
        model_kwargs=dict(controller_units=16, memory_size=8, memory_width=5, read_heads=2, write_heads=2,
                          controller_layers=2),
        batch_size=8, steps=2, optimizer="rmsprop", learning_rate=3e-5,
    )
    run_dir = tmp_path_factory.mktemp("logs") / "priority_sort" / "ntm" / "seed0"
    training.train(config, run_dir, steps=2, jit_compile=False, printer=lambda *a: None)
    return run_dir


def test_trace_priority_sort_takes_the_priorities_and_the_right_steps(priority_sort_run):
    run = runs.load_run(priority_sort_run)
    sort_trace = traces.trace_priority_sort(run.model, run.task, examples=4, seed=1)
    inputs, _, _ = run.task.sample(4, np.random.default_rng([generalization.EVAL_DATA_TAG, 1]))
    np.testing.assert_array_equal(sort_trace.priorities, inputs[:, :5, 3])
    assert sort_trace.write_weights.shape == (4, 5, 2, 8) and sort_trace.read_weights.shape == (4, 3, 2, 8)
    np.testing.assert_allclose(sort_trace.write_weights.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="priority_sort task, not copy"):
        traces.trace_priority_sort(run.model, tasks.get_task("copy"))


def test_plot_priority_writes_py_end_to_end(priority_sort_run, ntm_run, tmp_path):
    result = run_script("plot_priority_writes.py", f"--run_dir={priority_sort_run}", f"--output_dir={tmp_path}",
                        "--examples=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "priority_sort_ntm_writes.png").exists()
    assert result.stdout.count("rank correlation of priority and row written") == 2
    refused = run_script("plot_priority_writes.py", f"--run_dir={ntm_run}", f"--output_dir={tmp_path}")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "priority_sort task, not copy" in refused.stderr


def test_checkpoint_of_a_stacked_controller_restores_every_layer(priority_sort_run, tmp_path):
    saved = runs.load_run(priority_sort_run)
    only_checkpoints = tmp_path / "run"
    shutil.copytree(priority_sort_run, only_checkpoints, ignore=shutil.ignore_patterns("model.keras"))
    restored = runs.load_run(only_checkpoints)
    assert restored.source.name.startswith("ckpt-")
    x, _, _ = saved.task.sample(3, np.random.default_rng(0))
    np.testing.assert_allclose(restored.model.predict(x, verbose=0), saved.model.predict(x, verbose=0), atol=1e-5)
    # The model alone, without the optimizer, reaches the upper controller layer too.
    cell = restored.model.get_layer("memory").cell
    before = [w.numpy().copy() for w in cell.controller_layer_1.weights]
    for w in cell.controller_layer_1.weights:
        w.assign(np.zeros(w.shape, "float32"))
    tf.train.Checkpoint(model=restored.model).restore(str(restored.source)).expect_partial()
    for w, b in zip(cell.controller_layer_1.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)
