"""The training loop behind ``scripts/train.py``: TensorBoard scalars, held-out evaluation, checkpoints, resume.

A run lives in ``<logdir>/<task>/<model>/seed<k>/`` (see :mod:`ntm_cell.experiments.runs`):

- ``config.json``: the :class:`~ntm_cell.experiments.configs.ExperimentConfig`; a resumed run must match it.
- ``events.out.tfevents.*``: TensorBoard scalars (see :data:`SCALARS`).
- ``checkpoints/``: ``tf.train.CheckpointManager`` checkpoints of model, optimizer, step, curriculum level and
  the step the run converged at.
- ``model.keras``: the trained model, saved at the end; ``best.keras``: the model at the checkpoint whose latest
  held-out evaluation was the lowest (the later one among equals).
- TensorBoard hparams of the configuration (:mod:`ntm_cell.experiments.hparams`), for the HParams dashboard.

With ``strategy="multi_worker"`` the chief writes these; every other worker writes its own to a temporary directory
that is removed at the end (:mod:`ntm_cell.experiments.multi_worker`).

The compiled steps are in :mod:`ntm_cell.experiments.train_step`. This module is TensorFlow-specific (``tf.data``,
``tf.summary``, ``tf.train.Checkpoint``, ``tf.distribute``); the cells themselves are backend-agnostic.
"""

import dataclasses
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ntm_cell import tasks
from ntm_cell.experiments.configs import CONVERGED_BIT_ERRORS
from ntm_cell.experiments.curriculum import Curriculum
from ntm_cell.experiments.devices import get_strategy
from ntm_cell.experiments.models import build_model
from ntm_cell.experiments.multi_worker import check_same_step, role, write_directory
from ntm_cell.experiments.hparams import write_hparams
from ntm_cell.experiments.optimizers import learning_rate_at, make_optimizer
from ntm_cell.experiments.progress import Progress
from ntm_cell.experiments.runs import prepare_run_directory
from ntm_cell.experiments.summaries import Means, write_training_scalars
from ntm_cell.experiments.train_step import default_batch_splits, make_eval_step, make_train_step

#: Scalars written to TensorBoard, by tag.
SCALARS = (
    "loss/train",
    "bit_errors/train",
    "loss/eval",
    "bit_errors/eval",
    "grad_norm",
    "learning_rate",
    "sequences_seen",
    "sequences_per_second",
    "curriculum_level",
    "bit_errors/eval_best",
)

#: Index of the held-out evaluation stream: far beyond any training batch index.
EVAL_STREAM = 2**40


class NonFiniteLossError(RuntimeError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainingResult:
    """What :func:`train` returns: the run directory and the ``model.keras`` in it (the chief's), the last step, the
    step it resumed from (0: a new run), the last held-out bit errors per sequence, and the trained model."""

    run_dir: Path
    step: int
    resumed_from: int
    eval_bit_errors: float
    model_path: Path
    model: keras.Model


@dataclasses.dataclass
class _Run:
    """What a checkpoint holds: the model, its optimizer and three counters."""

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    step: tf.Variable
    level: tf.Variable  # curriculum level
    converged_at: tf.Variable  # step of the first held-out evaluation under CONVERGED_BIT_ERRORS; 0: not yet
    lowest_eval: tf.Variable  # the lowest held-out bit errors per sequence of any evaluation so far
    best_errors: tf.Variable  # held-out bit errors of the checkpoint saved as best.keras (inf: none yet)
    best_step: tf.Variable  # its step
    manager: tf.train.CheckpointManager


def train(config, run_dir, steps=None, eval_every=100, checkpoint_every=1000, summary_every=10, eval_size=64,
          jit_compile=True, strategy="default", virtual_cpus=0, stop_when_converged=False, printer=print,
          batch_splits=0):
    """Train (or resume training of) the run in ``run_dir`` up to ``steps`` steps.

    Args:
        config: an :class:`~ntm_cell.experiments.configs.ExperimentConfig`.
        run_dir: the run directory (:func:`ntm_cell.experiments.runs.run_directory`).
        steps: total steps, counting those done before a resume; default ``config.steps``.
        eval_every, checkpoint_every, summary_every: steps between held-out evaluations (each prints a progress
            line), between checkpoints, and between TensorBoard training scalars (means over those steps).
        eval_size: sequences in the held-out batch.
        jit_compile: compile the steps with XLA.
        strategy, virtual_cpus: see :func:`ntm_cell.experiments.devices.get_strategy`. With ``"multi_worker"``
            every worker calls this with the same arguments; the chief writes ``run_dir``, the others a temporary
            directory each (:mod:`ntm_cell.experiments.multi_worker`), and ``batch_size`` is the global batch,
            split among workers.
        stop_when_converged: stop (checkpoint, save the model) at the first held-out evaluation under
            ``CONVERGED_BIT_ERRORS`` bit errors per sequence.
        printer: where progress lines go.
        batch_splits: compute each batch's gradient in this many parts at once (0: the default of
            :func:`~ntm_cell.experiments.train_step.default_batch_splits`); the same gradient up to float rounding.

    Returns:
        a :class:`TrainingResult`.

    Raises:
        experiments.runs.ConfigMismatchError: ``run_dir`` holds another configuration.
        NonFiniteLossError: the loss or the weights became NaN or infinite (the last good checkpoint is kept).
        experiments.multi_worker.WorkersDisagreeError: the workers resumed from different checkpoints.
    """
    steps = config.steps if steps is None else steps
    run_dir = Path(run_dir)
    distribution = get_strategy(strategy, virtual_cpus)  # first: a multi-worker strategy must precede other ops
    with write_directory(run_dir, distribution) as out:  # run_dir on the chief, a temporary directory elsewhere
        prepare_run_directory(run_dir, config, write_to=out)
        keras.utils.set_random_seed(config.seed)
        task = tasks.get_task(config.task, **config.task_kwargs)
        curriculum = Curriculum(config.curriculum, task.ranges, start=task.curriculum_start)
        run = _build_run(config, task, distribution, out)
        resumed_from = _restore_latest(run, run_dir, printer)
        check_same_step(distribution, resumed_from)
        if distribution.num_replicas_in_sync > 1:
            batch_splits = batch_splits or 1
        batch_splits = batch_splits or default_batch_splits(config.batch_size, jit_compile, config.model)
        train_step = make_train_step(run.model, run.optimizer, distribution, jit_compile, batch_splits)
        evaluation = _HeldOut(run.model, task, config.seed, eval_size, jit_compile, out)
        write_hparams(evaluation.writer, config, run.model)
        step, level = resumed_from, int(run.level.numpy())
        stream = _batches(task, config, distribution, step, curriculum.ranges(level))
        means, progress = Means(), Progress(printer, config.batch_size, resumed_from, curriculum.final_level)
        printer(f"Training {config.model} on {config.task} (seed {config.seed}) in {run_dir}{role(distribution)}: "
                f"{run.model.count_params():,} parameters, batch {config.batch_size}"
                + (f" (in {batch_splits} parts at once)" if batch_splits > 1 else "") + f", steps {step} -> {steps}")
        while step < steps:
            loss, errors, norm = _checked_step(train_step, next(stream), step, run.manager)
            step += 1
            run.step.assign(step)
            means.add(loss, errors, norm)
            if step % summary_every == 0 or step == steps:
                write_training_scalars(evaluation.writer, step, means, run.optimizer, config.batch_size, level)
            if step % eval_every == 0 or step == steps:
                eval_errors = evaluation.run(step, run.lowest_eval)
                progress.line(step, steps, loss, errors, eval_errors, level)
                converged = _note_convergence(run, config, step, eval_errors, evaluation.writer, printer)
                if converged and stop_when_converged:
                    steps = step
                _schedule_learning_rate(run, config, step)
                new_level = curriculum.next_level(level, means.take_evaluation_window())
                if new_level != level:
                    level = _set_level(run, curriculum, new_level, printer)
                    stream = _batches(task, config, distribution, step, curriculum.ranges(level))
            if step % checkpoint_every == 0 or step == steps:
                _save_checkpoint(run, step, evaluation.last_errors, out)
        return _finish(run, evaluation, run_dir, out, step, resumed_from, printer)


def _build_run(config, task, distribution, run_dir):
    """A new model, optimizer (built, so that a checkpoint restores its slots) and counters, with their manager."""
    with distribution.scope():
        model = build_model(config.model, task.input_size, task.output_size, config.precision,
                            **config.model_kwargs)
        optimizer = make_optimizer(config)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        level = tf.Variable(0, dtype=tf.int64, trainable=False, name="curriculum_level")
        converged_at = tf.Variable(0, dtype=tf.int64, trainable=False, name="converged_at_step")
        lowest_eval = tf.Variable(math.inf, dtype=tf.float64, trainable=False, name="lowest_eval_bit_errors")
        best_errors = tf.Variable(math.inf, dtype=tf.float64, trainable=False, name="best_checkpoint_bit_errors")
        best_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_checkpoint_step")
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=optimizer, step=step, curriculum_level=level, converged_at=converged_at,
        lowest_eval=lowest_eval, best_errors=best_errors, best_step=best_step,
    )
    manager = tf.train.CheckpointManager(checkpoint, str(Path(run_dir) / "checkpoints"), max_to_keep=3)
    return _Run(model, optimizer, step, level, converged_at, lowest_eval, best_errors, best_step, manager)


def _restore_latest(run, run_dir, printer):
    """Restore the newest checkpoint of ``run_dir`` (the chief's, for every worker), if any; returns the step it was
    written at (0 for a new run)."""
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if not latest:
        return 0
    run.manager.checkpoint.restore(latest).assert_existing_objects_matched()
    printer(f"Resumed from {latest} at step {int(run.step.numpy())}.")
    return int(run.step.numpy())


class _HeldOut:
    """The fixed held-out batch, its compiled evaluation and the run's TensorBoard writer."""

    def __init__(self, model, task, seed, size, jit_compile, run_dir):
        self.step_function = make_eval_step(model, jit_compile)
        # Padded to the task's longest sequence: one shape, one compilation.
        self.batch = task.sample(size, tasks.batch_rng(seed, EVAL_STREAM), pad_to=task.max_time())
        self.writer = tf.summary.create_file_writer(str(run_dir))
        self.last_errors = float("nan")

    def run(self, step, lowest):
        """Loss and bit errors on the held-out batch, and the lowest bit errors so far (``lowest``, a variable it
        updates), written to TensorBoard; returns the bit errors per sequence."""
        eval_loss, self.last_errors = (float(v) for v in self.step_function(*self.batch))
        lowest.assign(min(float(lowest.numpy()), self.last_errors))
        with self.writer.as_default(step=step):
            tf.summary.scalar("loss/eval", eval_loss)
            tf.summary.scalar("bit_errors/eval", self.last_errors)
            tf.summary.scalar("bit_errors/eval_best", float(lowest.numpy()))
        self.writer.flush()
        return self.last_errors


def _save_checkpoint(run, step, eval_errors, run_dir):
    """Checkpoint the run; also save ``best.keras`` when the latest held-out error is the lowest at any checkpoint.

    Raises:
        NonFiniteLossError: an update has turned the weights into NaN or infinity (nothing is saved).
    """
    _check_weights_finite(run.model, step, run.manager)
    if not math.isnan(eval_errors) and eval_errors <= float(run.best_errors.numpy()):
        run.model.save(Path(run_dir) / "best.keras")
        run.best_errors.assign(eval_errors)
        run.best_step.assign(step)
    run.manager.save(checkpoint_number=step)


def _finish(run, evaluation, run_dir, out, step, resumed_from, printer):
    """Save ``model.keras`` in ``out`` and say which file is which; the held-out error is the last evaluation's (one
    is run if none was). The result names the chief's files, in ``run_dir``."""
    evaluation.writer.flush()
    eval_errors = evaluation.last_errors
    if math.isnan(eval_errors):
        _, eval_errors = (float(v) for v in evaluation.step_function(*evaluation.batch))
    model_path = run_dir / "model.keras"
    run.model.save(out / "model.keras")
    line = (f"{'Saved' if out == run_dir else 'The chief saves'} {model_path} (last step {step}, held-out bit "
            f"errors per sequence {eval_errors:.3f})")
    if math.isfinite(float(run.best_errors.numpy())):
        line += (f" and best.keras (step {int(run.best_step.numpy())}, the lowest at a checkpoint: "
                 f"{float(run.best_errors.numpy()):.3f})")
    printer(line + ".")
    return TrainingResult(run_dir, step, resumed_from, eval_errors, model_path, run.model)


def _batches(task, config, distribution, start, ranges):
    """An iterator over the run's training batches from batch number ``start`` on, drawn from ``ranges``.

    With several length buckets each batch is padded to its bucket's longest sequence; with one, to the task's
    longest, so every batch has one shape.
    """
    bucketed = len(task.length_buckets(config.length_buckets, **ranges)) > 1
    dataset = task.dataset(config.batch_size, config.seed, pad_to=None if bucketed else task.max_time(),
                           skip_batches=start, length_buckets=config.length_buckets, **ranges)
    if distribution.num_replicas_in_sync > 1:
        # Every worker draws the same global batches (each batch from its seed and number), and DATA sharding
        # splits each one among the replicas: together they train on the batch one machine would. FILE sharding
        # (AUTO's first choice) cannot split a generator, and OFF would feed every worker the same sequences.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = distribution.experimental_distribute_dataset(dataset.with_options(options))
    return iter(dataset)


def _checked_step(train_step, batch, step, manager):
    """One training step on ``batch``: ``(loss, bit_errors, grad_norm)`` as floats.

    Raises:
        NonFiniteLossError: the loss is NaN or infinite.
    """
    loss, errors, norm = (float(v) for v in train_step(*batch))
    if not math.isfinite(loss):
        latest = manager.latest_checkpoint or "none (no checkpoint was written yet)"
        raise NonFiniteLossError(
            f"the training loss became {loss} at step {step + 1}; stopping. Last good checkpoint: {latest}"
        )
    return loss, errors, norm


def _note_convergence(run, config, step, eval_errors, writer, printer):
    """At the first held-out evaluation under ``CONVERGED_BIT_ERRORS``: record the step (and the sequences seen, as
    the ``sequences_to_converge`` scalar), say so, return True."""
    if eval_errors >= CONVERGED_BIT_ERRORS or int(run.converged_at.numpy()):
        return False
    run.converged_at.assign(step)
    with writer.as_default(step=step):
        tf.summary.scalar("sequences_to_converge", step * config.batch_size)
    message = f"converged (held-out < {CONVERGED_BIT_ERRORS} bits per sequence) at step {step}"
    if config.converged_learning_rate_factor != 1.0 or config.converged_learning_rate_half_life:
        message += f"; learning rate now {learning_rate_at(config, step, step):.2g}"
        if config.converged_learning_rate_half_life:
            message += f", halving every {config.converged_learning_rate_half_life} steps"
    printer(message)
    return True


def _schedule_learning_rate(run, config, step):
    """After convergence, the rate of :func:`~ntm_cell.experiments.optimizers.learning_rate_at`; before, unchanged."""
    converged_at = int(run.converged_at.numpy())
    if converged_at:
        run.optimizer.learning_rate.assign(learning_rate_at(config, step, converged_at))


def _set_level(run, curriculum, level, printer):
    run.level.assign(level)
    printer(f"curriculum: level {level}/{curriculum.final_level}, {curriculum.ranges(level)}")
    return level


def _check_weights_finite(model, step, manager):
    """Refuse to checkpoint weights that an update has turned into NaN or infinity."""
    if not all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights):
        latest = manager.latest_checkpoint or "none (no checkpoint was written yet)"
        raise NonFiniteLossError(f"the weights became non-finite at step {step}; stopping. Last good checkpoint: {latest}")
