"""The training loop and scripts/train.py: scalars, checkpoints, resume, refusal, NaN, flags."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from ntm_cell import tasks
from ntm_cell.experiments import configs, devices, events, optimizers, runs, train_step, training
from ntm_cell.experiments.models import build_model
from ntm_cell.experiments.curriculum import Curriculum

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PY = ROOT / "scripts" / "train.py"


def tiny_config(model="ntm", **overrides):
    model_kwargs = {
        "ntm": dict(controller_units=16, memory_size=8, memory_width=5),
        "dnc": dict(controller_units=16, memory_size=8, memory_width=5, read_heads=2),
        "lstm": dict(units=8, layers=2),
    }[model]
    fields = dict(
        task="copy",
        model=model,
        task_kwargs=dict(bits=3, min_length=1, max_length=3),
        model_kwargs=model_kwargs,
        batch_size=8,
        steps=6,
    )
    fields.update(overrides)
    return configs.ExperimentConfig(**fields)


def quiet(*_):
    pass


def train(config, run_dir, **kwargs):
    """``training.train`` without XLA (compiling takes longer than these tiny runs) and without output."""
    kwargs.setdefault("printer", quiet)
    return training.train(config, run_dir, jit_compile=False, **kwargs)


def scalar_events(run_dir):
    """{tag: [(step, value), ...]} from a run directory's event files."""
    scalars = {}
    for tag, step, value, _ in events.scalar_events(run_dir):
        scalars.setdefault(tag, []).append((step, value))
    return scalars


def assert_same_saved_weights(path_a, path_b):
    """The ``.keras`` models at ``path_a`` and ``path_b`` hold the same weights (to float32 rounding)."""
    a = keras.models.load_model(path_a).get_weights()
    b = keras.models.load_model(path_b).get_weights()
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)


def graves_rmsprop_reference(gradients, learning_rate):
    """Graves (2013), eqs. 38-41, step by step: the parameter after each gradient of ``gradients`` (from 0)."""
    n = g = delta = 0.0
    w, trajectory = 0.0, []
    for e in gradients:
        n = 0.95 * n + 0.05 * e**2
        g = 0.95 * g + 0.05 * e
        delta = 0.9 * delta - learning_rate * e / np.sqrt(n - g**2 + 1e-4)
        w += delta
        trajectory.append(w)
    return np.array(trajectory)


def test_rmsprop_is_graves_rmsprop():
    config = tiny_config(optimizer="rmsprop", learning_rate=0.01, clip_norm=1e6)
    optimizer = optimizers.make_optimizer(config)
    variable = keras.Variable(np.zeros((1,), "float32"))
    gradients = [0.5, -1.0, 2.0, 0.25, 0.25, -3.0]
    trajectory = []
    for e in gradients:
        optimizer.apply_gradients([(tf.constant([e], tf.float32), variable)])
        trajectory.append(float(variable.numpy()[0]))
    np.testing.assert_allclose(trajectory, graves_rmsprop_reference(gradients, 0.01), rtol=1e-5)


def test_paper_optimizers_and_unknown_optimizer():
    for task in ("ngrams", "priority_sort"):
        config = configs.default_config(task, "ntm")
        assert (config.optimizer, config.learning_rate) == ("rmsprop", 3e-5)
    assert configs.default_config("copy", "ntm").optimizer == "adam"
    assert isinstance(optimizers.make_optimizer(configs.default_config("copy", "lstm")), keras.optimizers.Adam)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        optimizers.make_optimizer(tiny_config(optimizer="sgd"))



def test_model_options_are_set_over_the_defaults_for_the_models_that_take_them():
    config = configs.default_config("priority_sort", "ntm")
    configs.set_model_options(config, controller="dense", read_heads=None, shift_range=3)
    assert config.model_kwargs == dict(read_heads=5, write_heads=5, controller_layers=2, controller="dense",
                                       shift_range=3)
    dnc = configs.default_config("copy", "dnc")
    configs.set_model_options(dnc, masked_content=True, read_heads=2)
    assert dnc.model_kwargs["masked_content"] and dnc.model_kwargs["read_heads"] == 2
    with pytest.raises(ValueError, match="shift_range applies to model ntm, not dnc"):
        configs.set_model_options(dnc, shift_range=2)
    with pytest.raises(ValueError, match="controller applies to model ntm or dnc, not lstm"):
        configs.set_model_options(configs.default_config("copy", "lstm"), controller="dense")
    with pytest.raises(ValueError, match="unknown model option 'heads'"):
        configs.set_model_options(config, heads=2)

TINY_TASKS = {
    "copy": dict(bits=3, max_length=3),
    "repeat_copy": dict(bits=3, max_length=3, max_repeats=2),
    "associative_recall": dict(bits=3, item_length=2, max_items=3),
    "ngrams": dict(order=3, length=20),
    "priority_sort": dict(bits=3, num_inputs=5, num_outputs=3),
}


TINY_MODELS = {
    "ntm": dict(controller_units=8, memory_size=8, memory_width=4),
    "dnc": dict(controller_units=8, memory_size=8, memory_width=4, read_heads=2),
    "lstm": dict(units=8, layers=2),
}


@pytest.mark.parametrize(
    "task, model",
    [(task, "ntm") for task in configs.TASK_NAMES]
    + [(task, model) for task in ("ngrams", "priority_sort") for model in ("lstm", "dnc")],
)
def test_every_task_trains_with_its_paper_optimizer(tmp_path, task, model):
    config = configs.default_config(task, model)
    config.task_kwargs.update(TINY_TASKS[task])
    config.model_kwargs.update(TINY_MODELS[model])
    config.batch_size, config.steps = 4, 3
    result = train(config, tmp_path / task, eval_every=3, summary_every=1)
    assert result.step == 3
    values = scalar_events(tmp_path / task)
    assert all(np.isfinite(v) for _, v in values["loss/train"]) and len(values["loss/train"]) == 3
    assert values["learning_rate"][0][1] == pytest.approx(config.learning_rate)


def test_run_directory_layout():
    assert runs.run_directory("logs", "copy", "ntm", 3) == Path("logs/copy/ntm/seed3")


def test_train_writes_every_scalar_checkpoints_and_a_keras_model(tmp_path):
    run_dir = tmp_path / "run"
    result = train(tiny_config(), run_dir, eval_every=3, checkpoint_every=3, summary_every=2)
    assert result.step == 6 and result.resumed_from == 0
    scalars = scalar_events(run_dir)
    assert set(training.SCALARS) <= set(scalars), set(training.SCALARS) - set(scalars)
    assert [step for step, _ in scalars["bit_errors/eval"]] == [3, 6]
    assert scalars["sequences_seen"][-1] == (6, 6 * 8)
    assert all(np.isfinite(v) for values in scalars.values() for _, v in values)
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt-*.index")) == ["ckpt-3.index", "ckpt-6.index"]
    model = keras.models.load_model(result.model_path)
    x, _, _ = tasks.get_task("copy", bits=3, max_length=3).sample(2, np.random.default_rng(0))
    assert model.predict(x, verbose=0).shape == (2, x.shape[1], 3)


def test_best_keras_is_the_checkpoint_with_the_lowest_held_out_error_and_the_last_line_says_which(tmp_path):
    run_dir, lines = tmp_path / "run", []
    train(tiny_config(steps=6), run_dir, eval_every=1, checkpoint_every=2, summary_every=2, printer=lines.append)
    evals = dict(scalar_events(run_dir)["bit_errors/eval"])
    at_checkpoints = {step: evals[step] for step in (2, 4, 6)}  # all three kept (max_to_keep=3)
    lowest = min(at_checkpoints.values())
    best_step = max(step for step, value in at_checkpoints.items() if value == lowest)  # the later among equals
    assert f"best.keras (step {best_step}, the lowest at a checkpoint: {lowest:.3f})" in lines[-1]
    assert "model.keras (last step 6," in lines[-1]
    best_line = dict(scalar_events(run_dir)["bit_errors/eval_best"])
    assert best_line[6] == pytest.approx(min(evals.values()))  # the lowest of every evaluation
    # best.keras is a loadable model of that checkpoint: restoring checkpoint ckpt-<best_step> gives its outputs.
    loaded = runs.load_run(run_dir / "best.keras")
    assert loaded.config.task == "copy" and loaded.source == run_dir / "best.keras"
    x, _, _ = tasks.get_task("copy", bits=3, max_length=3).sample(2, np.random.default_rng(0))
    checkpoint_model = build_model("ntm", 4, 3, **tiny_config().model_kwargs)
    tf.train.Checkpoint(model=checkpoint_model).restore(str(run_dir / "checkpoints" / f"ckpt-{best_step}")).expect_partial()
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), checkpoint_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_a_run_writes_its_configuration_as_tensorboard_hparams(tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config(seed=4), run_dir, eval_every=3, checkpoint_every=3)
    hparams = events.read_hparams(run_dir)
    assert hparams["task"] == "copy" and hparams["model"] == "ntm" and hparams["seed"] == 4
    assert hparams["memory_size"] == 8 and hparams["memory_width"] == 5  # read from the built cell
    assert hparams["memory_init"] == "learned" and hparams["initial_weighting"] == "focused"
    assert hparams["optimizer"] == "adam" and hparams["learning_rate"] == pytest.approx(1e-3)
    assert hparams["length_buckets"] == 5 and hparams["precision"] == "float32" and hparams["curriculum"] == "none"
    lstm_dir = tmp_path / "lstm"
    train(tiny_config("lstm", steps=2), lstm_dir, eval_every=2, checkpoint_every=2)
    assert events.read_hparams(lstm_dir)["memory_size"] == 0 and events.read_hparams(lstm_dir)["model"] == "lstm"
    assert events.read_hparams(tmp_path) == {}  # no event files there


def test_resumed_run_continues_the_step_counter_and_the_data_stream(tmp_path):
    config = tiny_config(steps=8)
    straight = train(config, tmp_path / "straight", eval_every=4, checkpoint_every=4)
    lines = []
    train(config, tmp_path / "split", steps=4, eval_every=4, checkpoint_every=4)
    resumed = train(config, tmp_path / "split", eval_every=4, checkpoint_every=4, printer=lines.append)
    assert resumed.resumed_from == 4 and resumed.step == 8
    assert any(line.startswith("Resumed from") and "step 4" in line for line in lines)
    steps = [step for step, _ in scalar_events(tmp_path / "split")["bit_errors/eval"]]
    assert steps == [4, 8]
    # Same seed, same batches in the same order, optimizer state restored: the same weights as one straight run.
    assert_same_saved_weights(straight.model_path, resumed.model_path)


def test_resumed_curriculum_run_continues_at_its_level(tmp_path, monkeypatch):
    # Every check advances the curriculum, so the level moves at each evaluation (steps 2, 4, 6): a resume that
    # restarted at level 0, or drew its batches from another level's lengths, would train on other sequences.
    class EveryCheckAdvances(Curriculum):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, advance_below=float("inf"), **kwargs)

    monkeypatch.setattr(training, "Curriculum", EveryCheckAdvances)
    config = tiny_config(steps=8, curriculum="adaptive", length_buckets=1)
    kwargs = dict(eval_every=2, checkpoint_every=2, summary_every=1)
    straight = train(config, tmp_path / "straight", **kwargs)
    train(config, tmp_path / "split", steps=4, **kwargs)
    lines = []
    resumed = train(config, tmp_path / "split", printer=lines.append, **kwargs)
    assert resumed.resumed_from == 4
    levels = dict(scalar_events(tmp_path / "split")["curriculum_level"])
    assert levels == dict(scalar_events(tmp_path / "straight")["curriculum_level"])
    assert [levels[step] for step in (1, 3, 5, 7)] == [0, 1, 2, 3]
    assert not any(line.startswith("curriculum: level 1/") for line in lines)  # restored at level 2, not re-climbed
    assert_same_saved_weights(straight.model_path, resumed.model_path)


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    train(tiny_config(steps=2), tmp_path, eval_every=2, checkpoint_every=2)
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    with pytest.raises(runs.ConfigMismatchError, match="batch_size: saved 8, now 4"):
        train(tiny_config(steps=4, batch_size=4), tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before


def test_a_config_written_before_the_half_life_existed_reads_as_no_decay(tmp_path):
    config = tiny_config(steps=2, converged_learning_rate_half_life=0)
    old = json.loads(config.to_json())
    del old["converged_learning_rate_half_life"]
    assert configs.ExperimentConfig.from_json(json.dumps(old)).converged_learning_rate_half_life == 0
    # So an old run directory is refused for a run with the decay, not resumed under it.
    (tmp_path / "config.json").write_text(json.dumps(old))
    with pytest.raises(runs.ConfigMismatchError, match="converged_learning_rate_half_life: saved 0, now 500"):
        train(tiny_config(steps=2, converged_learning_rate_half_life=500), tmp_path)


def test_length_buckets_train_each_batch_at_its_buckets_length(tmp_path, monkeypatch):
    # Resuming a bucketed run is covered by test_resumed_run_continues_the_step_counter_and_the_data_stream
    # (tiny_config trains with the default buckets).
    lengths = []
    make_train_step = training.make_train_step

    def recording_train_step(*args, **kwargs):
        step = make_train_step(*args, **kwargs)

        def recorded(inputs, targets, mask):
            lengths.append(int(inputs.shape[1]))
            return step(inputs, targets, mask)
        return recorded

    monkeypatch.setattr(training, "make_train_step", recording_train_step)
    task_kwargs = dict(bits=3, min_length=1, max_length=4)
    train(tiny_config(steps=8, task_kwargs=task_kwargs, length_buckets=2), tmp_path / "buckets", eval_every=8)
    assert sorted(set(lengths)) == [5, 9]  # buckets of lengths 1-2 and 3-4, padded to 2 * 2 + 1 and 2 * 4 + 1
    lengths.clear()
    train(tiny_config(steps=3, task_kwargs=task_kwargs, length_buckets=1), tmp_path / "padded", eval_every=3)
    assert lengths == [9, 9, 9]
    # A run directory written before length buckets existed trained without them.
    old = json.loads(tiny_config().to_json())
    del old["length_buckets"]
    assert configs.ExperimentConfig.from_json(json.dumps(old)).length_buckets == 1
    assert configs.default_config("copy", "ntm").length_buckets == 5


def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    config = tiny_config(steps=2)
    train(config, tmp_path, eval_every=2, checkpoint_every=2)
    make_train_step = training.make_train_step

    def poisoned(*args, **kwargs):  # a NaN in the data: NaN loss, NaN gradients, NaN weights
        step = make_train_step(*args, **kwargs)
        return lambda inputs, targets, mask: step(inputs * float("nan"), targets, mask)

    monkeypatch.setattr(training, "make_train_step", poisoned)
    with pytest.raises(training.NonFiniteLossError, match="ckpt-2"):
        train(config, tmp_path, steps=6, eval_every=100, checkpoint_every=1)
    manager_dir = tmp_path / "checkpoints"
    assert tf.train.latest_checkpoint(str(manager_dir)).endswith("ckpt-2")
    reader = tf.train.load_checkpoint(str(manager_dir / "ckpt-2"))
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), name


@pytest.mark.parametrize("model", ["lstm", "dnc"])
def test_baselines_train_through_the_same_loop(tmp_path, model):
    result = train(tiny_config(model, steps=2), tmp_path, eval_every=2)
    assert result.step == 2 and np.isfinite(result.eval_bit_errors)


def test_adaptive_curriculum_grows_ranges_to_the_training_maximum():
    curriculum = Curriculum("adaptive", {"min_length": 1, "max_length": 20}, levels=4)
    assert [curriculum.ranges(level)["max_length"] for level in range(5)] == [1, 6, 11, 16, 20]
    assert curriculum.next_level(0, 0.5) == 1
    assert curriculum.next_level(0, 3.0) == 0
    assert curriculum.next_level(4, 0.0) == 4
    fixed = Curriculum("adaptive", {"order": 6, "length": 200})
    assert fixed.final_level == 0 and fixed.ranges(3) == {"order": 6, "length": 200}
    assert Curriculum("none", {"min_items": 2, "max_items": 6}).ranges(0)["max_items"] == 6
    with pytest.raises(ValueError, match="curriculum"):
        Curriculum("growing", {})



def test_priority_sort_curriculum_grows_both_counts_from_its_start():
    task = tasks.get_task("priority_sort")
    curriculum = Curriculum("adaptive", task.ranges, levels=4, start=task.curriculum_start)
    counts = [(r["num_inputs"], r["num_outputs"]) for r in map(curriculum.ranges, range(5))]
    assert counts == [(4, 3), (8, 7), (12, 10), (16, 13), (20, 16)]
    for level in range(5):  # every level's ranges make valid batches of the level's length
        ranges = curriculum.ranges(level)
        inputs, _, mask = task.sample(2, np.random.default_rng(level), **ranges)
        assert inputs.shape[1] == ranges["num_inputs"] + 1 + ranges["num_outputs"]
        assert mask.sum(axis=1).tolist() == [ranges["num_outputs"]] * 2
    small = tasks.get_task("priority_sort", num_inputs=3, num_outputs=2)
    assert Curriculum("adaptive", small.ranges, start=small.curriculum_start).ranges(0) == small.ranges
    assert Curriculum("none", task.ranges, start=task.curriculum_start).final_level == 0

def test_adaptive_curriculum_moves_up_when_errors_are_low(tmp_path):
    lines = []
    config = tiny_config(steps=4, curriculum="adaptive")
    curriculum = Curriculum("adaptive", {"min_length": 1, "max_length": 3})
    # With max_length 1 a 3-bit answer has at most 3 wrong bits; use a threshold that any model passes.
    curriculum_advance = Curriculum.next_level
    try:
        Curriculum.next_level = lambda self, level, errors: curriculum_advance(self, level, errors - 100)
        train(config, tmp_path, eval_every=1, printer=lines.append)
    finally:
        Curriculum.next_level = curriculum_advance
    assert any(line.startswith("curriculum: level 1/") for line in lines)
    assert curriculum.ranges(0)["max_length"] == 1


def run_train_py(*flags, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, str(TRAIN_PY), *flags], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


def test_train_py_command_line_end_to_end(tmp_path):
    # One step: each further step can draw another length bucket, which XLA compiles anew (13 s each here).
    result = run_train_py(
        "--task=associative_recall", "--steps=1", "--eval_every=1", f"--logdir={tmp_path}", "--memory_size=16",
        "--controller=dense", "--read_heads=2", "--shift_range=2", "--clip_value=10",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "step      1/1" in result.stdout and "seq/s" in result.stdout
    run_dir = tmp_path / "associative_recall" / "ntm" / "seed0"
    assert (run_dir / "model.keras").exists() and (run_dir / "config.json").exists()
    assert json.loads((run_dir / "config.json").read_text())["model_kwargs"] == dict(
        memory_size=16, controller="dense", read_heads=2, shift_range=2, clip_value=10.0)
    cell = keras.models.load_model(run_dir / "model.keras").get_layer("memory").cell
    assert (cell.controller, cell.read_heads, cell.shift_range, cell.clip_value) == ("dense", 2, 2, 10.0)


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--task=sorting", "--task=sorting: value should be one of"),
        ("--steps=-5", "--steps=-5"),
        ("--batch_size=0", "--batch_size=0"),
        ("--model=gru", "--model=gru"),
        ("--optimizer=sgd", "--optimizer=sgd"),
        ("--converged_learning_rate_half_life=-1", "--converged_learning_rate_half_life=-1"),
        ("--length_buckets=0", "--length_buckets=0"),
        ("--batch_splits=-1", "--batch_splits=-1"),
        ("--batch_splits=64", "--batch_splits=64 is more than the batch size 32"),
        ("--precision=float8", "--precision=float8: value should be one of"),
        ("--model=dnc --dnc_fixes=masking", "--dnc_fixes=masking: value should be one of"),
        ("--dnc_fixes=deallocation", "--dnc_fixes: deallocation applies to model dnc, not ntm"),
        ("--nodnc_usage_gradient", "--dnc_usage_gradient: usage_gradient applies to model dnc, not ntm"),
        ("--model=lstm --read_heads=2", "--read_heads: read_heads applies to model ntm or dnc, not lstm"),
        ("--model=dnc --shift_range=2", "--shift_range: shift_range applies to model ntm, not dnc"),
        ("--controller=gru", "--controller=gru: value should be one of"),
    ],
)
def test_bad_flags_end_with_one_clear_line(flag, message):
    result = run_train_py(*flag.split(), timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    result = run_train_py(
        "--task=copy", "--strategy=mirrored", "--virtual_cpus=2", "--steps=2", "--eval_every=1",
        "--batch_size=8", "--memory_size=16", "--nojit_compile", f"--logdir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "copy" / "ntm" / "seed0" / "model.keras").exists()


def test_convergence_lowers_the_learning_rate_once_and_survives_resume(tmp_path, monkeypatch):
    # Any error counts as converged, so the first evaluation (step 2) converges.
    monkeypatch.setattr(training, "CONVERGED_BIT_ERRORS", float("inf"))
    config = tiny_config(
        steps=6, learning_rate=1e-3, converged_learning_rate_factor=0.1, converged_learning_rate_half_life=0
    )
    lines = []
    train(config, tmp_path, eval_every=2, checkpoint_every=2, summary_every=2, printer=lines.append)
    rates = dict(scalar_events(tmp_path)["learning_rate"])
    assert rates[2] == pytest.approx(1e-3)  # written before the evaluation that converged
    assert rates[4] == pytest.approx(1e-4) and rates[6] == pytest.approx(1e-4)  # lowered once, not at every eval
    assert sum("converged" in line for line in lines) == 1

    config.steps = 8
    train(config, tmp_path, eval_every=2, checkpoint_every=2, summary_every=2, printer=lines.append)
    rates = dict(scalar_events(tmp_path)["learning_rate"])
    assert rates[8] == pytest.approx(1e-4)  # restored from the checkpoint, not reset or lowered again


def test_learning_rate_at_is_constant_before_convergence_then_drops_and_halves_each_half_life():
    config = tiny_config(learning_rate=1e-3, converged_learning_rate_factor=0.1, converged_learning_rate_half_life=0)
    assert optimizers.learning_rate_at(config, step=500, converged_at=0) == pytest.approx(1e-3)
    assert optimizers.learning_rate_at(config, step=500, converged_at=300) == pytest.approx(1e-4)
    assert optimizers.learning_rate_at(config, step=90_000, converged_at=300) == pytest.approx(1e-4)
    config.converged_learning_rate_half_life = 200
    assert optimizers.learning_rate_at(config, step=300, converged_at=300) == pytest.approx(1e-4)
    assert optimizers.learning_rate_at(config, step=500, converged_at=300) == pytest.approx(5e-5)
    assert optimizers.learning_rate_at(config, step=700, converged_at=300) == pytest.approx(2.5e-5)
    assert optimizers.learning_rate_at(config, step=400, converged_at=300) == pytest.approx(1e-4 / np.sqrt(2))
    config.converged_learning_rate_factor = 1.0
    assert optimizers.learning_rate_at(config, step=500, converged_at=300) == pytest.approx(5e-4)


def test_learning_rate_halves_after_convergence_and_resumes_on_schedule(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "CONVERGED_BIT_ERRORS", float("inf"))  # converges at the first evaluation
    config = tiny_config(
        steps=6, learning_rate=1e-3, converged_learning_rate_factor=0.1, converged_learning_rate_half_life=2
    )
    lines = []
    train(config, tmp_path, eval_every=2, checkpoint_every=2, summary_every=2, printer=lines.append)
    # Each rate is logged before the evaluation of its step, so it is the one set at the evaluation before.
    rates = dict(scalar_events(tmp_path)["learning_rate"])
    assert [rates[2], rates[4], rates[6]] == pytest.approx([1e-3, 1e-4, 5e-5])
    assert any("halving every 2 steps" in line for line in lines)

    config.steps = 10
    train(config, tmp_path, eval_every=2, checkpoint_every=2, summary_every=2, printer=lines.append)
    rates = dict(scalar_events(tmp_path)["learning_rate"])
    assert [rates[8], rates[10]] == pytest.approx([2.5e-5, 1.25e-5])


def test_stop_when_converged_ends_the_run_at_the_converged_evaluation(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "CONVERGED_BIT_ERRORS", float("inf"))
    result = train(tiny_config(steps=50), tmp_path, eval_every=3, stop_when_converged=True)
    assert result.step == 3
    assert result.model_path.exists()
    assert training.tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("-3")


def _loop_body_variable_reads(concrete_function):
    """How many ReadVariableOp nodes the while-loop bodies of a traced function hold."""
    library = concrete_function.graph.as_graph_def().library.function
    return sum(
        sum(node.op == "ReadVariableOp" for node in function.node_def)
        for function in library
        if "while_body" in function.signature.name
    )


@pytest.mark.parametrize("model", ["ntm", "dnc", "lstm"])
def test_weights_read_once_gives_the_same_loss_and_gradients_and_no_reads_inside_the_loop(model):
    config = tiny_config(model)
    task = tasks.get_task(config.task, **config.task_kwargs)
    keras.utils.set_random_seed(1)
    net = build_model(config.model, task.input_size, task.output_size, **config.model_kwargs)
    inputs, targets, mask = (tf.constant(a) for a in task.sample(4, tasks.batch_rng(0, 0)))

    def loss_and_gradients(forward):
        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                loss = tasks.metrics.masked_sigmoid_cross_entropy(targets, forward(x), mask)
            return loss, tape.gradient(loss, net.trainable_variables)

        return step

    plain = loss_and_gradients(lambda x: net(x, training=True))
    read_once = loss_and_gradients(lambda x: train_step.call_with_weights_read_once(net, x))
    loss, gradients = plain(inputs)
    loss_once, gradients_once = read_once(inputs)
    np.testing.assert_allclose(loss_once.numpy(), loss.numpy(), rtol=1e-6)
    assert all(g is not None for g in gradients_once)
    for g, g_once in zip(gradients, gradients_once):
        np.testing.assert_allclose(g_once.numpy(), g.numpy(), rtol=1e-5, atol=1e-7)
    assert _loop_body_variable_reads(plain.get_concrete_function(inputs)) > 0
    assert _loop_body_variable_reads(read_once.get_concrete_function(inputs)) == 0


def test_weights_read_once_refuses_a_model_that_assigns_variables():
    net = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    with pytest.raises(RuntimeError, match="assigned variables"):
        train_step.call_with_weights_read_once(net, np.ones((2, 3), np.float32))


def test_call_by_signature_gives_the_functions_results_and_traces_each_signature_once():
    traces = []

    @tf.function(reduce_retracing=True)
    def weighted_sum(x, scale, parts):
        traces.append(scale)
        return tf.reduce_sum(x) * scale + tf.add_n([tf.reduce_sum(p) for p in parts])

    call = train_step.call_by_signature(weighted_sum)
    x, y = tf.ones([2, 3]), tf.fill([2, 5], 2.0)
    assert float(call(x, 2, [x, y])) == float(weighted_sum(x, 2, [x, y])) == 6 * 2 + 6 + 20
    traced = len(traces)
    assert float(call(2 * x, 2, [x, y])) == 12 * 2 + 6 + 20  # same signature, new values: no new trace
    assert len(traces) == traced
    assert float(call(x, 3, [x, y])) == 6 * 3 + 6 + 20  # a Python argument is part of the signature
    assert float(call(y, 2, [y])) == 20 * 2 + 20  # new shapes and structure
    assert float(call(x, 2, [x, y])) == 6 * 2 + 6 + 20
    assert traces.count(3) == 1
    # The same tensors nested otherwise are another signature (one flat key for both made the second call fail).
    nested = train_step.call_by_signature(tf.function(lambda a, b: tf.reduce_sum(tf.nest.flatten(a)[0]) * 10
                                                    + tf.reduce_sum(tf.nest.flatten(b)[-1])))
    assert float(nested(x, [x, y])) == 6 * 10 + 20
    assert float(nested([x, x], y)) == 6 * 10 + 20


def test_split_sizes_cut_a_batch_into_near_equal_consecutive_parts():
    assert train_step.split_sizes(32, 2) == [16, 16]
    assert train_step.split_sizes(10, 3) == [4, 3, 3]
    assert train_step.split_sizes(1, 1) == [1]
    for batch, parts in ((4, 0), (4, 5)):
        with pytest.raises(ValueError, match="cannot split"):
            train_step.split_sizes(batch, parts)
    assert train_step.default_batch_splits(1) == 1
    assert train_step.default_batch_splits(32) == min(devices.intra_op_threads(), 32)
    assert train_step.default_batch_splits(32, jit_compile=False) == 1
    assert train_step.default_batch_splits(32, model="lstm") == 1
    assert train_step.default_batch_splits(32, model="dnc") == train_step.default_batch_splits(32)


@pytest.mark.parametrize(
    "jit_compile, batch_size, splits",
    [
        (False, 7, 3),  # parts of 3, 2 and 2, so the mean must weight each part by its size
        (True, 8, 2),  # two parts of 4, so one part program to compile (parts of 3 and 2 took 38-59 s with XLA)
    ],
)
def test_batch_computed_in_parts_updates_the_weights_as_the_whole_batch_does(jit_compile, batch_size, splits):
    config = tiny_config()
    task = tasks.get_task(config.task, **config.task_kwargs)
    keras.utils.set_random_seed(3)
    models = [build_model(config.model, task.input_size, task.output_size, **config.model_kwargs) for _ in range(2)]
    initial = models[0].get_weights()
    models[1].set_weights(initial)
    steps = []
    for model, model_splits in zip(models, (1, splits)):
        optimizer = optimizers.make_optimizer(config)
        optimizer.build(model.trainable_variables)
        steps.append(train_step.make_train_step(model, optimizer, tf.distribute.get_strategy(), jit_compile,
                                              model_splits))
    # One padded length, so that XLA compiles each program once.
    for k in range(3):
        batch = [tf.constant(a) for a in task.sample(batch_size, tasks.batch_rng(0, k), pad_to=task.max_time())]
        whole, parts = ([float(v) for v in step(*batch)] for step in steps)
        np.testing.assert_allclose(parts, whole, rtol=2e-5)  # loss, bit errors, gradient norm
    for w_whole, w_parts in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(w_parts, w_whole, rtol=1e-4, atol=1e-6)
    assert not all(np.allclose(w, w0) for w, w0 in zip(models[1].get_weights(), initial))  # the steps did train
    if jit_compile:
        return
    # A batch of one sequence cannot be split: it takes the one-program step.
    one = [tf.constant(a) for a in task.sample(1, tasks.batch_rng(0, 9))]
    assert np.isfinite(float(steps[1](*one)[0]))
    with pytest.raises(ValueError, match="batch_splits"):
        train_step.make_train_step(models[0], optimizers.make_optimizer(config), tf.distribute.get_strategy(), False, 0)


def test_mixed_float16_scales_the_loss_and_updates_as_float32_does(tmp_path):
    configs_by_precision = {p: tiny_config(precision=p) for p in ("float32", "mixed_float16")}
    task = tasks.get_task("copy", **configs_by_precision["float32"].task_kwargs)
    keras.utils.set_random_seed(3)
    models, built_optimizers, results = {}, {}, {}
    batch = [tf.constant(a) for a in task.sample(8, tasks.batch_rng(0, 0), pad_to=task.max_time())]
    for precision, config in configs_by_precision.items():
        model = build_model("ntm", task.input_size, task.output_size, precision, **config.model_kwargs)
        if models:
            model.set_weights(models["float32"].get_weights())
        optimizer = optimizers.make_optimizer(config)
        optimizer.build(model.trainable_variables)
        step = train_step.make_train_step(model, optimizer, tf.distribute.get_strategy(), False)
        results[precision] = [float(v) for v in step(*batch)]  # loss, bit errors, gradient norm
        models[precision], built_optimizers[precision] = model, optimizer
    assert models["mixed_float16"].get_layer("memory").cell.compute_dtype == "float16"
    assert models["mixed_float16"].output.dtype == "float32"  # the loss is computed from float32 logits
    mixed = built_optimizers["mixed_float16"]
    assert isinstance(mixed, keras.optimizers.LossScaleOptimizer) and float(mixed.dynamic_scale) > 1
    assert not isinstance(built_optimizers["float32"], keras.optimizers.LossScaleOptimizer)
    (loss16, _, norm16), (loss32, _, norm32) = results["mixed_float16"], results["float32"]
    assert loss16 == pytest.approx(loss32, rel=1e-2) and norm16 == pytest.approx(norm32, rel=5e-2)
    # Adam's first moments are 0.1 x the first gradients: the scaled loss's gradients were divided by the scale
    # (float16 rounding through the recurrence moves single entries by up to ~20%, the whole by a few %).
    m16, m32 = (np.concatenate([m.numpy().ravel() for m in moments])
                for moments in (mixed.inner_optimizer._momentums, built_optimizers["float32"]._momentums))
    assert np.linalg.norm(m16 - m32) < 0.1 * np.linalg.norm(m32)
    # And a run trains through the loop, with its precision in config.json.
    result = train(configs_by_precision["mixed_float16"], tmp_path, steps=3, eval_every=3)
    assert result.step == 3 and np.isfinite(result.eval_bit_errors)
    assert json.loads((tmp_path / "config.json").read_text())["precision"] == "mixed_float16"
    with pytest.raises(ValueError, match="unknown precision 'float8'"):
        tiny_config(precision="float8")
    old = json.loads(tiny_config().to_json())
    del old["precision"]
    assert configs.ExperimentConfig.from_json(json.dumps(old)).precision == "float32"  # written before the field


def test_progress_lines_estimate_the_time_left_from_the_second_line_on(tmp_path):
    lines = []
    train(tiny_config(steps=6), tmp_path, eval_every=2, printer=lines.append)
    progress = [line for line in lines if line.startswith("step")]
    assert len(progress) == 3
    assert progress[0].endswith("eta ?")  # the first steps include compiling: no estimate from them
    assert "eta ?" not in progress[1] and progress[2].endswith("eta 0m00s")
