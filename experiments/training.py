"""The training loop behind ``scripts/train.py``: XLA-compiled steps, TensorBoard, checkpoints, resume.

A run lives in ``<logdir>/<task>/<model>/seed<k>/``:

- ``config.json``: the :class:`~experiments.configs.ExperimentConfig`; a resumed run must match it.
- ``events.out.tfevents.*``: TensorBoard scalars (see :data:`SCALARS`).
- ``checkpoints/``: ``tf.train.CheckpointManager`` checkpoints of model, optimizer, step and curriculum level.
- ``model.keras``: the trained model, saved at the end.

This module is TensorFlow-specific (``tf.data``, ``tf.summary``, ``tf.train.Checkpoint``, ``tf.distribute``);
the cells themselves are backend-agnostic.
"""

import dataclasses
import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import tasks
from experiments.configs import CONVERGED_BIT_ERRORS, ExperimentConfig
from experiments.curriculum import Curriculum
from experiments.devices import get_strategy
from experiments.models import build_model
from experiments.optimizers import make_optimizer
from experiments.train_step import default_batch_splits, make_eval_step, make_train_step

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
)

#: Index of the held-out evaluation stream: far beyond any training batch index.
EVAL_STREAM = 2**40


class ConfigMismatchError(ValueError):
    """A run directory holds a run with another configuration."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainingResult:
    run_dir: Path
    step: int
    resumed_from: int
    eval_bit_errors: float
    model_path: Path


def run_directory(logdir, task, model, seed):
    """``<logdir>/<task>/<model>/seed<seed>``: one directory per run, so TensorBoard compares them."""
    return Path(logdir) / task / model / f"seed{seed}"


def prepare_run_directory(run_dir, config):
    """Create ``run_dir`` and its ``config.json``, or check that an existing run matches ``config``.

    Raises:
        ConfigMismatchError: the directory holds checkpoints of another configuration.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if config_path.exists():
        saved = ExperimentConfig.from_json(config_path.read_text())
        if saved.identity() != config.identity():
            differences = {
                key: (saved.identity()[key], value)
                for key, value in config.identity().items()
                if saved.identity().get(key) != value
            }
            details = "; ".join(f"{k}: saved {old!r}, now {new!r}" for k, (old, new) in differences.items())
            raise ConfigMismatchError(
                f"{run_dir} holds a run with a different configuration ({details}). "
                "Use another --logdir or --seed, or delete that directory to start over."
            )
    elif (run_dir / "checkpoints").exists():
        raise ConfigMismatchError(f"{run_dir}/checkpoints exists but has no config.json; refusing to overwrite it")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config.to_json())


def learning_rate_at(config, step, converged_at):
    """The learning rate of ``config`` at ``step`` of a run that first converged at step ``converged_at``.

    Before convergence (``converged_at == 0``) it is ``config.learning_rate``; from the convergence step on it is
    that rate times ``config.converged_learning_rate_factor``, halved every
    ``config.converged_learning_rate_half_life`` steps after convergence when that is positive.

    Args:
        config: an :class:`~experiments.configs.ExperimentConfig`.
        step: the current step (>= ``converged_at``).
        converged_at: the step of the first held-out evaluation under ``CONVERGED_BIT_ERRORS``; 0 if none yet.

    Returns:
        a Python float.
    """
    if converged_at <= 0:
        return config.learning_rate
    rate = config.learning_rate * config.converged_learning_rate_factor
    if config.converged_learning_rate_half_life > 0:
        rate *= 0.5 ** (max(step - converged_at, 0) / config.converged_learning_rate_half_life)
    return rate


def _check_weights_finite(model, step, manager):
    """Refuse to checkpoint weights that an update has turned into NaN or infinity."""
    if not all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights):
        latest = manager.latest_checkpoint or "none (no checkpoint was written yet)"
        raise NonFiniteLossError(f"the weights became non-finite at step {step}; stopping. Last good checkpoint: {latest}")


def _format_duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def train(
    config,
    run_dir,
    steps=None,
    eval_every=100,
    checkpoint_every=1000,
    summary_every=10,
    eval_size=64,
    jit_compile=True,
    strategy="default",
    virtual_cpus=0,
    stop_when_converged=False,
    printer=print,
    batch_splits=0,
):
    """Train (or resume training of) the run in ``run_dir`` up to ``steps`` steps.

    Args:
        config: an :class:`~experiments.configs.ExperimentConfig`.
        run_dir: the run directory (see :func:`run_directory`).
        steps: total number of steps, counting steps done before a resume; default ``config.steps``.
        eval_every: steps between evaluations on a fixed held-out batch (and progress lines).
        checkpoint_every: steps between checkpoints.
        summary_every: steps between TensorBoard training scalars (means over those steps).
        eval_size: sequences in the held-out batch.
        jit_compile: compile the steps with XLA.
        strategy: ``"default"`` or ``"mirrored"``.
        virtual_cpus: split the CPU into this many logical devices first (0: do not).
        stop_when_converged: stop (checkpoint and save the model) at the first evaluation under
            ``CONVERGED_BIT_ERRORS`` bit errors per sequence, instead of going on to ``steps``.
        printer: where progress lines go.
        batch_splits: compute each batch's gradient in this many parts at once (see :func:`make_train_step`);
            0: :func:`default_batch_splits`. Only how the work is spread over the cores: the gradient is the
            same up to float rounding, and a run may be resumed with another value.

    Returns:
        a :class:`TrainingResult`.

    Raises:
        ConfigMismatchError: ``run_dir`` holds another configuration.
        NonFiniteLossError: the loss became NaN or infinite (the last good checkpoint is kept).
    """
    steps = config.steps if steps is None else steps
    run_dir = Path(run_dir)
    prepare_run_directory(run_dir, config)
    distribution = get_strategy(strategy, virtual_cpus)
    keras.utils.set_random_seed(config.seed)

    task = tasks.get_task(config.task, **config.task_kwargs)
    curriculum = Curriculum(config.curriculum, task.ranges)
    pad_to = task.max_time()  # fixed shapes: one XLA compilation for the whole run (one per length bucket)

    with distribution.scope():
        model = build_model(config.model, task.input_size, task.output_size, config.precision,
                            **config.model_kwargs)
        optimizer = make_optimizer(config)
        optimizer.build(model.trainable_variables)
        step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        level = tf.Variable(0, dtype=tf.int64, trainable=False, name="curriculum_level")
        converged_at = tf.Variable(0, dtype=tf.int64, trainable=False, name="converged_at_step")
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=optimizer, step=step_counter, curriculum_level=level, converged_at=converged_at
    )
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir / "checkpoints"), max_to_keep=3)
    resumed_from = 0
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        resumed_from = int(step_counter.numpy())
        printer(f"Resumed from {manager.latest_checkpoint} at step {resumed_from}.")

    if distribution.num_replicas_in_sync > 1:
        batch_splits = batch_splits or 1
    batch_splits = batch_splits or default_batch_splits(config.batch_size, jit_compile, config.model)
    train_step = make_train_step(model, optimizer, distribution, jit_compile, batch_splits)
    eval_step = make_eval_step(model, jit_compile)
    eval_batch = task.sample(eval_size, tasks.batch_rng(config.seed, EVAL_STREAM), pad_to=pad_to)
    writer = tf.summary.create_file_writer(str(run_dir))

    def batches(start, current_level):
        ranges = curriculum.ranges(current_level)
        bucketed = len(task.length_buckets(config.length_buckets, **ranges)) > 1
        dataset = task.dataset(config.batch_size, config.seed, pad_to=None if bucketed else pad_to,
                               skip_batches=start, length_buckets=config.length_buckets, **ranges)
        if distribution.num_replicas_in_sync > 1:
            dataset = distribution.experimental_distribute_dataset(dataset)
        return iter(dataset)

    step = resumed_from
    current_level = int(level.numpy())
    stream = batches(step, current_level)
    totals = {"loss": 0.0, "errors": 0.0, "norm": 0.0, "count": 0}
    window_errors, window_count = 0.0, 0
    eval_errors = float("nan")
    started, window_start, window_steps = time.perf_counter(), time.perf_counter(), 0
    # The time left is estimated from the steps since the previous progress line, not from the start: the first
    # steps include XLA compilations (one per length bucket), so the first line gives none ("eta ?").
    progress_time, progress_step = None, step
    printer(
        f"Training {config.model} on {config.task} (seed {config.seed}) in {run_dir}: "
        f"{model.count_params():,} parameters, batch {config.batch_size}"
        + (f" (in {batch_splits} parts at once)" if batch_splits > 1 else "")
        + f", steps {step} -> {steps}"
    )

    while step < steps:
        inputs, targets, mask = next(stream)
        loss, errors, norm = (float(v) for v in train_step(inputs, targets, mask))
        if not math.isfinite(loss):
            latest = manager.latest_checkpoint or "none (no checkpoint was written yet)"
            raise NonFiniteLossError(
                f"the training loss became {loss} at step {step + 1}; stopping. Last good checkpoint: {latest}"
            )
        step += 1
        step_counter.assign(step)
        window_steps += 1
        totals["loss"] += loss
        totals["errors"] += errors
        totals["norm"] += norm
        totals["count"] += 1
        window_errors += errors
        window_count += 1

        if step % summary_every == 0 or step == steps:
            elapsed = time.perf_counter() - window_start
            speed = window_steps * config.batch_size / max(elapsed, 1e-9)
            with writer.as_default(step=step):
                tf.summary.scalar("loss/train", totals["loss"] / totals["count"])
                tf.summary.scalar("bit_errors/train", totals["errors"] / totals["count"])
                tf.summary.scalar("grad_norm", totals["norm"] / totals["count"])
                tf.summary.scalar("learning_rate", float(optimizer.learning_rate.numpy()))
                tf.summary.scalar("sequences_seen", step * config.batch_size)
                tf.summary.scalar("sequences_per_second", speed)
                tf.summary.scalar("curriculum_level", current_level)
            totals = {"loss": 0.0, "errors": 0.0, "norm": 0.0, "count": 0}
            window_start, window_steps = time.perf_counter(), 0

        if step % eval_every == 0 or step == steps:
            eval_loss, eval_errors = (float(v) for v in eval_step(*eval_batch))
            with writer.as_default(step=step):
                tf.summary.scalar("loss/eval", eval_loss)
                tf.summary.scalar("bit_errors/eval", eval_errors)
            writer.flush()
            now = time.perf_counter()
            seconds = now - started
            rate = (step - resumed_from) * config.batch_size / max(seconds, 1e-9)
            remaining = float("nan")  # on the first line: see progress_time above
            if progress_time is not None:
                remaining = (steps - step) * (now - progress_time) / max(step - progress_step, 1)
            progress_time, progress_step = now, step
            printer(
                f"step {step:>6}/{steps}  loss {loss:8.4f}  bit errors/seq train {errors:7.3f}  "
                f"eval {eval_errors:7.3f}  {rate:6.0f} seq/s  elapsed {_format_duration(seconds)}  "
                f"eta {_format_duration(remaining)}"
                + (f"  curriculum {current_level}/{curriculum.final_level}" if curriculum.final_level else "")
            )
            converged_step = int(converged_at.numpy())
            if eval_errors < CONVERGED_BIT_ERRORS and converged_step == 0:
                converged_step = step
                converged_at.assign(step)
                message = f"converged (held-out < {CONVERGED_BIT_ERRORS} bits per sequence) at step {step}"
                if config.converged_learning_rate_factor != 1.0 or config.converged_learning_rate_half_life:
                    message += f"; learning rate now {learning_rate_at(config, step, step):.2g}"
                    if config.converged_learning_rate_half_life:
                        message += f", halving every {config.converged_learning_rate_half_life} steps"
                printer(message)
                if stop_when_converged:
                    steps = step
            if converged_step:
                optimizer.learning_rate.assign(learning_rate_at(config, step, converged_step))
            new_level = curriculum.next_level(current_level, window_errors / max(window_count, 1))
            window_errors, window_count = 0.0, 0
            if new_level != current_level:
                current_level = new_level
                level.assign(current_level)
                stream = batches(step, current_level)
                printer(f"curriculum: level {current_level}/{curriculum.final_level}, {curriculum.ranges(current_level)}")

        if step % checkpoint_every == 0 or step == steps:
            _check_weights_finite(model, step, manager)
            manager.save(checkpoint_number=step)

    writer.flush()
    if math.isnan(eval_errors):
        _, eval_errors = (float(v) for v in eval_step(*eval_batch))
    model_path = run_dir / "model.keras"
    model.save(model_path)
    printer(f"Saved {model_path} (held-out bit errors per sequence {eval_errors:.3f}).")
    return TrainingResult(run_dir, step, resumed_from, eval_errors, model_path)


