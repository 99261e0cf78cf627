"""The trained models shipped under experiments/trained_models/: they load, and evaluate.py on them reproduces
the generalization tables in README.md within sampling noise."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ntm_cell.experiments import reports, runs, shipped

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Per shipped model: the swept variable, its evaluate.py flag and the point the README check uses.
CHECKED_POINTS = {
    "copy_ntm.keras": ("length", "--lengths", 40),
    "associative_recall_ntm.keras": ("items", "--items", 12),
}


def readme_table(file_name):
    """``(values of the swept variable, [mean] or [mean, standard error] per value, sequences)`` from the table
    under ``<!-- generalization: <file_name> sequences=<n> -->`` in README.md."""
    lines = README.read_text(encoding="utf-8").splitlines()
    marker = re.compile(rf"<!-- generalization: {re.escape(file_name)} sequences=(\d+) -->")
    for index, line in enumerate(lines):
        match = marker.search(line)
        if match:
            header, _, errors = lines[index + 1 : index + 4]
            cells = lambda row: [cell.strip() for cell in row.strip().strip("|").split("|")]  # noqa: E731
            points = [int(value) for value in cells(header)[1:]]
            values = [[float(part) for part in value.split("±")] for value in cells(errors)[1:]]
            return points, values, int(match.group(1))
    raise AssertionError(f"README.md has no generalization table marked for {file_name}")


@pytest.mark.parametrize("task", shipped.SHIPPED_TASKS)
def test_a_trained_ntm_is_shipped_for_the_task_and_loads(task):
    run = runs.load_run(shipped.shipped_model_path(task))
    assert run.config.task == task and run.config.model == "ntm"
    assert run.model.get_layer("memory") is not None


def test_missing_shipped_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no shipped model copy_dnc.keras"):
        shipped.shipped_model_path("copy", "dnc", directory=tmp_path)


@pytest.mark.parametrize("file_name", sorted(CHECKED_POINTS))
def test_evaluate_py_on_a_shipped_model_reproduces_the_readme_table(file_name, tmp_path):
    variable, flag, point = CHECKED_POINTS[file_name]
    points, readme_values, readme_sequences = readme_table(file_name)
    expected, *readme_stderr = readme_values[points.index(point)]
    sequences = 200
    # Other data than the README's (seed 1, not 0), so agreement is within sampling noise, not by construction.
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py"),
         f"--model_path={shipped.SHIPPED_DIR / file_name}", f"--output_dir={tmp_path}", f"{flag}={point}",
         f"--sequences={sequences}", "--seed=1"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (csv_path,) = tmp_path.glob("*_generalization.csv")
    (row,) = reports.read_csv(csv_path)
    assert row[variable] == point and row["sequences"] == sequences
    # Standard error of the difference of the two means: the README's own (when it gives one; else this sample's
    # spread scaled to the README's sample size) and this sample's.
    readme_noise = readme_stderr[0] if readme_stderr else row["stderr"] * math.sqrt(sequences / readme_sequences)
    noise = math.hypot(row["stderr"], readme_noise)
    assert abs(row["bit_errors"] - expected) <= 4 * noise + 0.02, (row, expected)


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
