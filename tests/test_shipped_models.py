"""The trained models shipped under experiments/trained_models/: they load, and evaluate.py on each reproduces its
generalization table in docs/results.md within sampling noise."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ntm_cell.experiments import reports, runs, shipped

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results.md"

#: Per shipped model: the point of its table that the check evaluates, as evaluate.py flag -> value.
CHECKED_POINTS = {
    "copy_ntm.keras": {"length": 40},
    "associative_recall_ntm.keras": {"items": 12},
    "repeat_copy_ntm.keras": {"length": 10, "repeats": 10},
    "ngrams_ntm.keras": {"length": 200},
    "priority_sort_ntm.keras": {"num_inputs": 20, "num_outputs": 16},
    "copy_dnc.keras": {"length": 30},
    "associative_recall_dnc.keras": {"items": 6},
}
#: evaluate.py's flag for each swept variable (priority sort's point is its training configuration, set by no flag).
FLAGS = {"length": "--lengths", "items": "--items", "repeats": "--repeats"}


def table_cells(row):
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def mean_and_stderr(cell):
    """``[mean]`` or ``[mean, standard error]`` from a table cell such as ``0.004 ± 0.003``."""
    return [float(part) for part in cell.split("±")]


def documented_point(file_name, point, text):
    """``([mean] or [mean, standard error], sequences)`` at ``point`` (variable -> value) in the table under
    ``<!-- generalization: <file_name> sequences=<n> -->`` in ``text``.

    The table either has a column per point (the header row names the variable and its values, the next row but one
    the bit errors), or a row per point (a column per variable, then the bit errors).
    """
    lines = text.splitlines()
    marker = re.compile(rf"<!-- generalization: {re.escape(file_name)} sequences=(\d+) -->")
    index = next((i for i, line in enumerate(lines) if marker.search(line)), None)
    assert index is not None, f"docs/results.md has no generalization table marked for {file_name}"
    sequences = int(marker.search(lines[index]).group(1))
    header = table_cells(lines[index + 1])
    if len(point) == 1 and header[0] in point and all(value.isdigit() for value in header[1:]):
        (value,) = point.values()
        errors = table_cells(lines[index + 3])
        return mean_and_stderr(errors[[int(v) for v in header[1:]].index(value) + 1]), sequences
    columns = [header.index(variable) for variable in point]
    for row in lines[index + 3 :]:
        if not row.startswith("|"):
            break
        cells = table_cells(row)
        if [int(cells[c]) for c in columns] == list(point.values()):
            return mean_and_stderr(cells[len(point)]), sequences
    raise AssertionError(f"the table of {file_name} has no row {point}")


def test_every_shipped_model_has_a_checked_point():
    assert sorted(CHECKED_POINTS) == sorted(p.name for p in shipped.SHIPPED_DIR.glob("*.keras"))


@pytest.mark.parametrize("task", shipped.SHIPPED_TASKS)
def test_a_trained_ntm_is_shipped_for_the_task_and_loads(task):
    run = runs.load_run(shipped.shipped_model_path(task))
    assert run.config.task == task and run.config.model == "ntm"
    assert run.model.get_layer("memory") is not None


def test_missing_shipped_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no shipped model copy_dnc.keras"):
        shipped.shipped_model_path("copy", "dnc", directory=tmp_path)


@pytest.mark.parametrize("file_name", sorted(CHECKED_POINTS))
def test_evaluate_py_on_a_shipped_model_reproduces_its_documented_table(file_name, tmp_path):
    point = CHECKED_POINTS[file_name]
    (expected, *documented_stderr), documented_sequences = documented_point(
        file_name, point, RESULTS.read_text(encoding="utf-8"))
    sequences = 200
    # Other data than the documented table's (seed 1, not 0), so agreement is within sampling noise, not by
    # construction.
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py"),
         f"--model_path={shipped.SHIPPED_DIR / file_name}", f"--output_dir={tmp_path}",
         *(f"{FLAGS[variable]}={value}" for variable, value in point.items() if variable in FLAGS),
         f"--sequences={sequences}", "--seed=1"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (csv_path,) = tmp_path.glob("*_generalization.csv")
    (row,) = reports.read_csv(csv_path)
    assert all(row[variable] == value for variable, value in point.items()) and row["sequences"] == sequences
    # Standard error of the difference of the two means: the table's own (when it gives one; else this sample's
    # spread scaled to the table's sample size) and this sample's.
    documented_noise = (documented_stderr[0] if documented_stderr
                        else row["stderr"] * math.sqrt(sequences / documented_sequences))
    noise = math.hypot(row["stderr"], documented_noise)
    assert abs(row["bit_errors"] - expected) <= 4 * noise + 0.02, (row, expected)


def test_a_documented_point_is_read_from_either_table_layout():
    text = """
<!-- generalization: a.keras sequences=100 -->
| length | 10 | 20 |
|---|---:|---:|
| bit errors / sequence | 0.5 ± 0.1 | 2.0 ± 0.3 |

<!-- generalization: b.keras sequences=50 -->
| length | repeats | bit errors / seq | error-free |
|---:|---:|---:|---:|
| 10 | 10 | 0.004 ± 0.003 | 99.6% |
| 10 | 11 | 1.51 | 74.8% |

<!-- generalization: c.keras sequences=20 -->
| length | bit errors / seq | error-free seqs |
|---|---|---|
| 200 | 60.1 ± 0.4 | 0.0% |
"""
    assert documented_point("a.keras", {"length": 20}, text) == ([2.0, 0.3], 100)
    assert documented_point("b.keras", {"length": 10, "repeats": 11}, text) == ([1.51], 50)
    with pytest.raises(AssertionError, match="no row"):
        documented_point("b.keras", {"length": 12, "repeats": 10}, text)
    # One variable in a row per point (N-grams at its training length).
    assert documented_point("c.keras", {"length": 200}, text) == ([60.1, 0.4], 20)
    with pytest.raises(AssertionError, match="no generalization table marked for d.keras"):
        documented_point("d.keras", {"length": 10}, text)


def fake_finished_run(run_dir, seed, errors):
    import json

    import tensorflow as tf

    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"task": "copy", "model": "ntm", "seed": seed, "batch_size": 32}))
    (run_dir / "model.keras").write_bytes(f"weights of seed {seed}".encode())
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for step, value in enumerate(errors, start=1):
            tf.summary.scalar("bit_errors/eval", value, step=100 * step)
    writer.close()


def test_best_run_is_shipped_with_its_config_and_provenance(tmp_path):
    logdir = tmp_path / "logs"
    fake_finished_run(logdir / "copy" / "ntm" / "seed0", 0, [9.0, 0.5])
    fake_finished_run(logdir / "copy" / "ntm" / "seed1", 1, [9.0, 0.05, 0.0])  # the best: lowest final error
    fake_finished_run(logdir / "copy" / "ntm" / "seed2", 2, [0.0, 0.0, 0.0])  # ...but this one converged sooner
    (logdir / "copy" / "ntm" / "seed3").mkdir()  # unfinished: no model.keras
    run_dir, summary = shipped.best_run(logdir, "copy")
    assert run_dir.name == "seed2" and summary["converged_sequences"] == 3200

    target = shipped.ship(run_dir, "copy", directory=tmp_path / "shipped")
    assert target.read_bytes() == b"weights of seed 2"
    assert '"seed": 2' in target.with_suffix(".json").read_text()
    readme = (tmp_path / "shipped" / "README.md").read_text()
    assert f"| copy_ntm.keras | {run_dir} | 9,600 | 0.000 | 3,200 |" in readme
    with pytest.raises(ValueError, match="not dnc on copy"):
        shipped.ship(run_dir, "copy", "dnc", directory=tmp_path / "shipped")
    with pytest.raises(FileNotFoundError, match="no finished ntm run on repeat_copy"):
        shipped.best_run(logdir, "repeat_copy")
    # best.keras instead of model.keras: the file of the run's best checkpoint, named so in the README.
    with pytest.raises(FileNotFoundError, match="best.keras"):
        shipped.ship(run_dir, "copy", directory=tmp_path / "shipped", model_file="best.keras")
    (run_dir / "best.keras").write_bytes(b"best weights of seed 2")
    target = shipped.ship(run_dir, "copy", directory=tmp_path / "shipped", model_file="best.keras")
    assert target.read_bytes() == b"best weights of seed 2"
    assert f"| copy_ntm.keras | {run_dir} (best.keras) | 9,600 |" in (tmp_path / "shipped" / "README.md").read_text()
