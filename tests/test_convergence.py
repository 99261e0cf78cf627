"""experiments/convergence.py and scripts/convergence.py on hand-made event files."""

import json
import subprocess
import sys
from pathlib import Path

import tensorflow as tf

from ntm_cell.experiments.convergence import convergence, median_convergence

ROOT = Path(__file__).resolve().parents[1]


def fake_run(run_dir, values, batch_size=32):
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"batch_size": batch_size}))
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for i, value in enumerate(values):
            tf.summary.scalar("bit_errors/eval", value, step=10 * (i + 1))
    writer.close()


def test_convergence_finds_the_first_evaluation_below_threshold(tmp_path):
    fake_run(tmp_path / "run", [5.0, 0.05, 0.5, 0.0])
    summary = convergence(tmp_path / "run")
    assert summary["converged_step"] == 20
    assert summary["converged_sequences"] == 20 * 32
    assert summary["worst_after"] == 0.5
    assert summary["final_bit_errors"] == 0.0 and summary["steps"] == 40
    assert summary["converged_seconds"] >= 0


def test_a_run_that_never_converges_says_so(tmp_path):
    fake_run(tmp_path / "run", [5.0, 3.0])
    assert convergence(tmp_path / "run")["converged_step"] is None


def summary(sequences, worst=0.0):
    converged = sequences is not None
    return {"converged_step": 1 if converged else None, "converged_sequences": sequences,
            "converged_seconds": sequences / 100 if converged else None, "worst_after": worst if converged else None}


def test_median_counts_runs_that_never_converged_as_slowest():
    m = median_convergence([summary(300, 0.5), summary(None), summary(100, 2.0)])
    assert (m["runs"], m["converged"], m["median_sequences"], m["median_seconds"]) == (3, 2, 300, 3.0)
    assert m["worst_after"] == 2.0
    assert median_convergence([summary(100), summary(None)])["median_sequences"] is None
    assert median_convergence([summary(100), summary(300)])["median_sequences"] == 200


def test_script_prints_a_row_per_run(tmp_path):
    fake_run(tmp_path / "copy" / "ntm" / "seed0", [1.0, 0.0])
    fake_run(tmp_path / "copy" / "lstm" / "seed0", [9.0])
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "convergence.py"), f"--logdir={tmp_path}", "--task=copy"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "not converged" in result.stdout  # the LSTM run
    assert "| 640 |" in result.stdout  # the NTM run: converged at step 20 of batch 32
    assert result.stdout.count(f"{tmp_path}/copy/") == 2
    assert "lstm: 0 of 1 runs converged; median: not converged" in result.stdout
    assert "ntm: 1 of 1 runs converged; median 640 sequences" in result.stdout


def test_script_skips_a_run_that_has_no_held_out_evaluation_yet(tmp_path):
    fake_run(tmp_path / "copy" / "dnc" / "seed0", [0.0])
    starting = tmp_path / "copy" / "dnc" / "seed1"
    starting.mkdir(parents=True)
    (starting / "config.json").write_text(json.dumps({"batch_size": 32}))  # started, nothing evaluated yet
    command = [sys.executable, str(ROOT / "scripts" / "convergence.py"), f"--logdir={tmp_path}", "--task=copy"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"skipped: {starting} has no held-out evaluations yet" in result.stderr
    assert "dnc: 1 of 1 runs converged" in result.stdout
    fake_run(tmp_path / "repeat_copy" / "dnc" / "seed0", [])  # only runs without evaluations: one clear line
    result = subprocess.run(command[:-1] + ["--task=repeat_copy"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "has a held-out evaluation yet" in result.stderr


def event_file(path, evaluations):
    """An event file of ``bit_errors/eval`` scalars, ``evaluations`` as ``(step, value, wall_time)`` with the wall
    time in seconds since the epoch."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    with tf.io.TFRecordWriter(str(path)) as writer:
        for step, errors, wall_time in evaluations:
            value = summary_pb2.Summary.Value(tag="bit_errors/eval", simple_value=errors)
            writer.write(event_pb2.Event(wall_time=wall_time, step=step,
                                         summary=summary_pb2.Summary(value=[value])).SerializeToString())


def test_a_resumed_run_counts_only_the_time_it_was_training(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"batch_size": 32}))
    # 60 s of training to step 20 (still 5 bits), stopped for a day, resumed from step 20: its first converged
    # evaluation (step 40) comes 30 s after the resumption's first event.
    event_file(run_dir / "events.out.tfevents.1000.vm.1.v2", [(10, 5.0, 1000.0), (20, 5.0, 1060.0)])
    event_file(run_dir / "events.out.tfevents.90000.vm.2.v2",
               [(20, 5.0, 90000.0), (30, 5.0, 90010.0), (40, 0.0, 90030.0), (50, 0.0, 90050.0)])
    summary = convergence(run_dir)
    assert summary["converged_step"] == 40
    assert summary["converged_seconds"] == 60.0 + 30.0
