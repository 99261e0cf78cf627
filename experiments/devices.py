"""Where TensorFlow runs: threads per op, the cores this process may use, ``tf.distribute`` strategies."""

import os

import tensorflow as tf

from ntm_cell.experiments.configs import STRATEGIES


def set_threads(intra_op):
    """Use ``intra_op`` threads inside each TensorFlow op; call before TensorFlow runs anything."""
    tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(max(intra_op, 2))


def usable_cores():
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def intra_op_threads():
    """The threads TensorFlow runs each op (and each XLA program) with: the configured number, else one per core."""
    return tf.config.threading.get_intra_op_parallelism_threads() or usable_cores()


def get_strategy(name, virtual_cpus=0):
    """A ``tf.distribute`` strategy by name; create it before TensorFlow runs any other op.

    ``"default"``: no distribution. ``"mirrored"``: ``tf.distribute.MirroredStrategy`` over this machine's GPUs, or
    over ``virtual_cpus`` logical CPUs. ``"multi_worker"``: ``tf.distribute.MultiWorkerMirroredStrategy`` over the
    machines that the ``TF_CONFIG`` environment variable lists (each machine runs the same command with its own
    ``task``); without ``TF_CONFIG`` this machine alone is the cluster.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if virtual_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(virtual_cpus)]
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
