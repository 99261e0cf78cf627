"""--strategy=multi_worker: two workers on this machine (127.0.0.1) train one model; the chief writes the run."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np

from ntm_cell import tasks
from ntm_cell.experiments import configs, multi_worker, training

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 240

#: One worker: sys.argv = [config JSON, run directory, steps, .npz to write]. Records the batch each replica of
#: this worker trains on first, trains with the multi-worker strategy, then writes the final weights and that batch.
DRIVER = """
import sys
from ntm_cell.experiments import startup
startup.import_tensorflow_quietly()
import keras
import numpy as np
from ntm_cell.experiments import configs, devices, multi_worker, training

config_json, run_dir, steps, npz = sys.argv[1:5]
devices.set_threads(1)
first_batch = []
make_train_step = training.make_train_step

def recording_train_step(model, optimizer, strategy, *args):
    step = make_train_step(model, optimizer, strategy, *args)
    def recorded(inputs, targets, mask):
        if not first_batch:
            first_batch.extend(np.concatenate([keras.ops.convert_to_numpy(t)
                                               for t in strategy.experimental_local_results(v)])
                               for v in (inputs, targets, mask))
        return step(inputs, targets, mask)
    return recorded

training.make_train_step = recording_train_step
result = training.train(configs.ExperimentConfig.from_json(config_json), run_dir, steps=int(steps), eval_every=3,
                        checkpoint_every=3, summary_every=1, eval_size=4, jit_compile=False, strategy="multi_worker")
weights = {f"w{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(result.model.weights)}
np.savez(npz, inputs=first_batch[0], targets=first_batch[1], mask=first_batch[2], **weights)
multi_worker.wait_for_other_workers_to_end()
"""


def tiny_config():
    return configs.ExperimentConfig(
        task="copy", model="ntm", task_kwargs=dict(bits=3, min_length=1, max_length=3),
        model_kwargs=dict(controller_units=16, memory_size=8, memory_width=5), batch_size=8,
    )


def free_ports(count):
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago (bound to port 0, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_workers(tmp_path, config, run_dir, steps):
    """Two worker processes of one cluster on 127.0.0.1, training up to ``steps``; returns
    ``[(process, log path, npz path, TMPDIR)]``, with files named after ``steps`` in ``tmp_path``."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = []
    for index in range(2):
        temporary = tmp_path / f"tmp{index}"
        temporary.mkdir(exist_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(temporary),
                   TF_CONFIG=json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}))
        log, npz = tmp_path / f"worker{index}-{steps}.log", tmp_path / f"worker{index}-{steps}.npz"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", DRIVER, config.to_json(), str(run_dir), str(steps), str(npz)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        workers.append((process, log, npz, temporary))
    return workers


def wait_for(workers, timeout):
    """Wait until every worker has ended, at most ``timeout`` seconds in all; kill them all if one fails or time is
    up. Returns their exit codes; raises AssertionError with the logs on failure."""
    deadline = time.monotonic() + timeout
    try:
        while any(process.poll() is None for process, *_ in workers):
            failed = [process for process, *_ in workers if process.poll() not in (None, 0)]
            assert not failed and time.monotonic() < deadline, "a worker failed or the cluster ran out of time"
            time.sleep(0.5)
        codes = [process.returncode for process, *_ in workers]
        assert codes == [0, 0], codes
        return codes
    except AssertionError as error:
        logs = "\n".join(f"--- worker {i}:\n{log.read_text()[-3000:]}" for i, (_, log, *_) in enumerate(workers))
        raise AssertionError(f"{error}\n{logs}") from None
    finally:
        for process, *_ in workers:
            if process.poll() is None:
                process.kill()
                process.wait()


def run_cluster(tmp_path, config, run_dir, steps):
    """Train with two workers up to ``steps``; returns each worker's ``.npz`` contents and log."""
    workers = start_workers(tmp_path, config, run_dir, steps)
    wait_for(workers, TIMEOUT_S)
    return [np.load(npz) for _, _, npz, _ in workers], [log.read_text() for _, log, _, _ in workers]


def assert_same_weights(saved, chief, worker):
    """The chief's and the worker's final weights (``.npz``) are equal, and are those of the model ``saved``."""
    assert len(saved.weights) == len([k for k in worker.files if k.startswith("w")])
    for i, weight in enumerate(saved.weights):
        np.testing.assert_array_equal(worker[f"w{i}"], chief[f"w{i}"], err_msg=weight.path)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), worker[f"w{i}"], err_msg=weight.path)


def test_two_workers_train_one_model_and_only_the_chief_writes_the_run(tmp_path):
    config = tiny_config()
    run_dir = tmp_path / "logs" / "copy" / "ntm" / "seed0"
    (chief, worker), logs = run_cluster(tmp_path, config, run_dir, steps=3)

    # The chief (worker 0) wrote the run; worker 1 wrote its files to a temporary directory, removed since.
    assert sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("events.")) == [
        "best.keras", "checkpoints", "config.json", "model.keras"]
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert [p.name for p in (run_dir / "checkpoints").glob("ckpt-*.index")] == ["ckpt-3.index"]
    assert not [p for p in (tmp_path / "tmp1").iterdir() if p.name.startswith("seed0-worker1-")]
    assert logs[0].splitlines()[0].startswith(f"Training ntm on copy (seed 0) in {run_dir}: ")
    assert f"Saved {run_dir / 'model.keras'}" in logs[0]
    assert "(worker 1 of 2; the chief writes the run)" in logs[1] and f"The chief saves {run_dir}" in logs[1]
    assert "Error" not in logs[0] + logs[1] and "WARNING" not in logs[0] + logs[1], logs

    # Each global batch of 8 is split among the workers: 4 sequences each, together the batch of one process.
    task = tasks.get_task(config.task, **config.task_kwargs)
    assert len(task.length_buckets(config.length_buckets)) > 1  # batches of several shapes
    expected = next(iter(task.dataset(config.batch_size, config.seed, length_buckets=config.length_buckets)))
    for name, whole in zip(("inputs", "targets", "mask"), expected):
        assert chief[name].shape[0] == worker[name].shape[0] == config.batch_size // 2
        np.testing.assert_array_equal(np.concatenate([chief[name], worker[name]]), whole.numpy(), err_msg=name)
    assert_same_weights(keras.models.load_model(run_dir / "model.keras", compile=False), chief, worker)

    # Run again to step 5: both workers resume from the chief's checkpoint, and end where one process ends.
    (chief, worker), logs = run_cluster(tmp_path, config, run_dir, steps=5)
    for log in logs:
        assert f"Resumed from {run_dir / 'checkpoints' / 'ckpt-3'} at step 3." in log, log
    assert_same_weights(keras.models.load_model(run_dir / "model.keras", compile=False), chief, worker)
    alone = training.train(config, tmp_path / "alone", steps=5, eval_every=3, checkpoint_every=3, jit_compile=False,
                           printer=lambda *_: None)
    for i, weight in enumerate(alone.model.weights):
        np.testing.assert_allclose(chief[f"w{i}"], keras.ops.convert_to_numpy(weight), rtol=1e-4, atol=1e-5,
                                   err_msg=weight.path)


def test_one_process_without_tf_config_is_its_own_chief():
    import tensorflow as tf

    assert multi_worker.task_of(tf.distribute.get_strategy()) == (None, 0, 1)
    assert multi_worker.is_chief(tf.distribute.get_strategy()) and multi_worker.role(tf.distribute.get_strategy()) == ""
