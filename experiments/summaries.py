"""The training scalars of :func:`ntm_cell.experiments.training.train`: their means over each summary and
evaluation window, written to TensorBoard."""

import time

import tensorflow as tf


class Means:
    """Means of the training scalars since the last summary, and of the bit errors since the last evaluation."""

    def __init__(self):
        self.summary = {"loss": 0.0, "errors": 0.0, "norm": 0.0, "count": 0}
        self.summary_start = time.perf_counter()
        self.evaluation_errors, self.evaluation_count = 0.0, 0

    def add(self, loss, errors, norm):
        for key, value in (("loss", loss), ("errors", errors), ("norm", norm), ("count", 1)):
            self.summary[key] += value
        self.evaluation_errors += errors
        self.evaluation_count += 1

    def take_summary(self):
        """``(mean loss, mean bit errors, mean gradient norm, steps, seconds)`` since the last call; restarts."""
        totals, seconds = self.summary, time.perf_counter() - self.summary_start
        count = totals["count"]
        self.summary = {"loss": 0.0, "errors": 0.0, "norm": 0.0, "count": 0}
        self.summary_start = time.perf_counter()
        return totals["loss"] / count, totals["errors"] / count, totals["norm"] / count, count, seconds

    def take_evaluation_window(self):
        """Mean training bit errors since the last call (what the curriculum judges); restarts."""
        mean = self.evaluation_errors / max(self.evaluation_count, 1)
        self.evaluation_errors, self.evaluation_count = 0.0, 0
        return mean


def write_training_scalars(writer, step, means, optimizer, batch_size, level):
    """Write the means since the last summary (``means.take_summary()``), the learning rate, the sequences seen and
    per second and the curriculum ``level`` to TensorBoard at ``step``."""
    loss, errors, norm, count, seconds = means.take_summary()
    with writer.as_default(step=step):
        tf.summary.scalar("loss/train", loss)
        tf.summary.scalar("bit_errors/train", errors)
        tf.summary.scalar("grad_norm", norm)
        tf.summary.scalar("learning_rate", float(optimizer.learning_rate.numpy()))
        tf.summary.scalar("sequences_seen", step * batch_size)
        tf.summary.scalar("sequences_per_second", count * batch_size / max(seconds, 1e-9))
        tf.summary.scalar("curriculum_level", level)
