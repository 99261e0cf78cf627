"""Training on several machines (``--strategy=multi_worker``): which worker writes the run, where the others write.

Under ``tf.distribute.MultiWorkerMirroredStrategy`` every worker holds the same weights and takes part in every
save (a save may need the other workers), but only the chief's files are the run: the task of type ``"chief"``,
or worker 0 when the cluster has no chief. The chief writes the run directory; every other worker writes the same
files to a temporary directory of its own, removed when training ends. A single-machine strategy has one process,
which is the chief.
"""

import contextlib
import shutil
import socket
import tempfile
import time
from pathlib import Path

import tensorflow as tf


class WorkersDisagreeError(ValueError):
    """The workers of a multi-worker run resumed from different checkpoints."""


def task_of(strategy):
    """``(task_type, task_id, workers)`` of this process in ``strategy``'s cluster: ``(None, 0, 1)`` on one machine.

    ``workers`` counts the processes taking part (chief and workers; not parameter servers or evaluators).
    """
    return _task(getattr(strategy, "cluster_resolver", None))


def _task(resolver):
    if resolver is None or not resolver.task_type:
        return None, 0, 1
    cluster = resolver.cluster_spec().as_dict()
    workers = len(cluster.get("chief", ())) + len(cluster.get("worker", ()))
    return resolver.task_type, int(resolver.task_id or 0), workers


def _is_chief(resolver):
    task_type, task_id, _ = _task(resolver)
    if task_type is None or task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def is_chief(strategy):
    """Whether this process writes the run: the ``"chief"`` task, worker 0 of a cluster without one, or the only
    process of a single-machine strategy."""
    return _is_chief(getattr(strategy, "cluster_resolver", None))


def role(strategy):
    """``""`` for the chief; else words for the progress header, e.g. ``" (worker 1 of 2; the chief writes the
    run)"``."""
    if is_chief(strategy):
        return ""
    task_type, task_id, workers = task_of(strategy)
    return f" ({task_type} {task_id} of {workers}; the chief writes the run)"


@contextlib.contextmanager
def write_directory(run_dir, strategy):
    """The directory this process writes the run's files to: ``run_dir`` (a ``Path``) on the chief; elsewhere a new
    temporary directory, removed with everything in it when the ``with`` block ends."""
    run_dir = Path(run_dir)
    if is_chief(strategy):
        yield run_dir
        return
    task_type, task_id, _ = task_of(strategy)
    temporary = Path(tempfile.mkdtemp(prefix=f"{run_dir.name}-{task_type}{task_id}-"))
    try:
        yield temporary
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def check_same_step(strategy, step):
    """Raise :class:`WorkersDisagreeError` unless every worker of ``strategy`` resumed at ``step`` (an int).

    Every worker restores the newest checkpoint of the chief's run directory, so resuming needs that directory on
    every machine (a shared file system); a worker that cannot see it would start from step 0 with other weights.
    Runs a collective all-gather on a multi-worker strategy; nothing on one machine.
    """
    if task_of(strategy)[2] < 2:
        return
    values = strategy.experimental_distribute_values_from_function(lambda _: tf.constant([step], tf.int64))
    steps = sorted({int(s) for s in strategy.gather(values, axis=0).numpy()})
    if len(steps) > 1:
        raise WorkersDisagreeError(
            f"the workers resumed at different steps {steps}: every worker restores the chief's newest checkpoint, "
            "so the chief's run directory must be visible (a shared file system) on every machine"
        )


def wait_for_other_workers_to_end(timeout=60.0):
    """On the chief of a cluster of several workers (the ``TF_CONFIG`` environment variable), before the process
    ends: wait until no other worker's server accepts connections any more (its process has ended), at most
    ``timeout`` seconds; returns at once elsewhere.

    The chief hosts the cluster's coordination service, which the other workers send heartbeats to until they end;
    one still running when the chief has ended writes a failed heartbeat error to its stderr on its way out.
    """
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    task_type, task_id, workers = _task(resolver)
    if workers < 2 or not _is_chief(resolver):
        return
    cluster = resolver.cluster_spec().as_dict()
    others = [address for job in ("chief", "worker") for index, address in enumerate(cluster.get(job, ()))
              if (job, index) != (task_type, task_id)]
    deadline = time.monotonic() + timeout
    while others and time.monotonic() < deadline:
        others = [address for address in others if _accepts_connections(address)]
        if others:
            time.sleep(0.2)


def _accepts_connections(address):
    """Whether a TCP server listens at ``address`` (``"host:port"``)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return True
    except OSError:
        return False
