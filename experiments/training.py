"""The training loop behind ``scripts/train.py``: XLA-compiled steps, TensorBoard, checkpoints, resume.

A run lives in ``<logdir>/<task>/<model>/seed<k>/``:

- ``config.json``: the :class:`~experiments.configs.ExperimentConfig`; a resumed run must match it.
- ``events.out.tfevents.*``: TensorBoard scalars (see :data:`SCALARS`).
- ``checkpoints/``: ``tf.train.CheckpointManager`` checkpoints of model, optimizer, step and curriculum level.
- ``model.keras``: the trained model, saved at the end.

This module is TensorFlow-specific (``tf.data``, ``tf.summary``, ``tf.train.Checkpoint``, ``tf.distribute``);
the cells themselves are backend-agnostic.
"""

import concurrent.futures
import dataclasses
import math
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import tasks
from experiments.configs import CONVERGED_BIT_ERRORS, STRATEGIES, ExperimentConfig
from experiments.curriculum import Curriculum
from experiments.models import build_model
from experiments.optimizers import loss_scale, make_optimizer  # noqa: F401 (part of this module's API)
from tasks.metrics import bit_errors_per_sequence, masked_sigmoid_cross_entropy

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


def get_strategy(name, virtual_cpus=0):
    """``"default"`` or ``"mirrored"`` (over the visible GPUs, or over ``virtual_cpus`` logical CPUs)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if virtual_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(virtual_cpus)]
        )
    if name == "default":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def set_threads(intra_op):
    """Use ``intra_op`` threads inside each TensorFlow op; call before TensorFlow runs anything."""
    tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(max(intra_op, 2))


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


def call_with_weights_read_once(model, inputs, training=True):
    """``model(inputs, training=training)``, with every weight read once before the call.

    Inside the ``tf.while_loop`` of a recurrent layer, a read of a variable is a new tensor at every time
    step, so TensorFlow's gradient pushes a copy of every weight matrix the cell uses onto a stack at every
    step and pops it again in the backward loop. Read once before the call (``keras.StatelessScope`` maps
    each variable to that value), the weights are loop invariants that the gradient captures once. The
    result is the same; the step is faster (README, Performance). The models here assign no variables
    while they run; one that did would have the assignment lost, so that raises ``RuntimeError``.
    """
    values = [(variable, keras.ops.copy(variable)) for variable in model.weights]
    with keras.StatelessScope(state_mapping=values) as scope:
        outputs = model(inputs, training=training)
    changed = [variable.path for variable, value in values if scope.get_current_value(variable) is not value]
    if changed:
        raise RuntimeError(f"the model assigned variables during its forward pass: {changed}")
    return outputs


def usable_cores():
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def intra_op_threads():
    """The threads TensorFlow runs each op (and each XLA program) with: the configured number, else one per core."""
    return tf.config.threading.get_intra_op_parallelism_threads() or usable_cores()


def default_batch_splits(batch_size, jit_compile=True, model="ntm"):
    """How many parts ``train.py`` computes a batch's gradient in at once by default (``--batch_splits=0``).

    For the memory models (``"ntm"``, ``"dnc"``) with XLA: one part per thread TensorFlow may use
    (:func:`intra_op_threads`), at most ``batch_size``. Otherwise 1 (README, Performance, measured at batch 32 on
    2 cores): the LSTM baseline's large matrix products already use every core (two parts made its step 0.92x as
    fast); without XLA, TensorFlow's own executor already spreads one step's ops over the cores (two steps at
    once made the NTM's step about 1.5x slower); and with a GPU the device, not the CPU cores, does the work.
    """
    if model == "lstm" or not jit_compile or tf.config.list_logical_devices("GPU"):
        return 1
    return max(1, min(intra_op_threads(), batch_size))


def split_sizes(batch_size, parts):
    """Sizes of ``parts`` near-equal consecutive parts of a batch, larger parts first: ``(10, 3) -> [4, 3, 3]``.

    Raises:
        ValueError: ``parts`` is not between 1 and ``batch_size``.
    """
    if not 1 <= parts <= batch_size:
        raise ValueError(f"cannot split a batch of {batch_size} into {parts} parts (need 1 <= parts <= batch size)")
    size, extra = divmod(batch_size, parts)
    return [size + 1] * extra + [size] * (parts - extra)


def call_by_signature(function):
    """``function`` (a ``tf.function``) called through its concrete function for each argument signature.

    A ``tf.function`` matches every call's arguments against its traces before it runs one, which took longer
    than the call itself with few time steps here: 0.52 ms for a compiled three-argument function with
    ``reduce_retracing``, 0.19 ms through its concrete function (README, Performance). Looking up the concrete
    function by the arguments' nesting and their shapes and dtypes (tensors) or values (anything else) skips that
    matching; a new signature is traced and compiled on its first call, as ``function`` would.
    """
    concrete = {}

    def signature(value):  # hashable; keeps the nesting, so that the same leaves nested otherwise differ
        if isinstance(value, (tf.Tensor, tf.Variable)):
            return tuple(value.shape), value.dtype
        if isinstance(value, (list, tuple)):
            return type(value), tuple(signature(v) for v in value)
        if isinstance(value, dict):
            return dict, tuple((k, signature(value[k])) for k in sorted(value))
        return type(value), value

    def call(*args):
        key = signature(args)
        traced = concrete.get(key)
        if traced is None:
            traced = concrete[key] = function.get_concrete_function(*args)
        return traced(*args)

    return call


def make_train_step(model, optimizer, strategy, jit_compile, batch_splits=1):
    """A compiled step ``(inputs, targets, mask) -> (loss, bit_errors, grad_norm)``.

    With the default strategy and ``batch_splits=1`` the whole step, optimizer update included, is one XLA
    cluster. Under ``tf.distribute`` the forward and backward pass of each replica is XLA-compiled, and the
    optimizer sums the replicas' gradients (each replica's loss is divided by the number of replicas, so the sum
    is the mean).

    ``batch_splits > 1`` (default strategy only) cuts each batch into that many consecutive parts
    (:func:`split_sizes`) and computes their losses and gradients at the same time, each part's compiled program
    on a thread of its own, then applies the mean weighted by part size, which is the gradient of the whole
    batch's loss (the loss is a mean over sequences); loss and bit errors are averaged the same way. One XLA
    program runs on one core at a time on a CPU, so a single program leaves the other cores idle: on the 2-core
    machine of the README two parts made the batch-32 NTM step about 1.4 times faster (README, Performance).
    Each part needs a thread of TensorFlow's own: with ``--threads=1`` the parts run one after another. Without
    XLA, and for the LSTM baseline, it is slower (see :func:`default_batch_splits`).

    Raises:
        ValueError: ``batch_splits`` < 1, or > 1 together with a ``tf.distribute`` strategy of several replicas.
    """
    variables = model.trainable_variables
    replicas = strategy.num_replicas_in_sync
    if not isinstance(batch_splits, int) or batch_splits < 1:
        raise ValueError(f"batch_splits must be an integer >= 1, got {batch_splits!r}")
    if batch_splits > 1 and replicas > 1:
        raise ValueError("batch_splits > 1 needs the default strategy, not one with several replicas")

    def loss_and_gradients(inputs, targets, mask):
        # The gradients are of the loss times loss_scale(optimizer) (1 but under mixed_float16).
        with tf.GradientTape() as tape:
            logits = call_with_weights_read_once(model, inputs)
            loss = masked_sigmoid_cross_entropy(targets, logits, mask)
            scaled = loss * loss_scale(optimizer) / replicas
        gradients = tape.gradient(scaled, variables)
        errors = bit_errors_per_sequence(targets, logits, mask)
        return loss, errors, gradients

    def apply(inputs, targets, mask, compute):
        loss, errors, gradients = compute(inputs, targets, mask)
        return loss, errors, apply_gradients(gradients)

    def apply_gradients(gradients):
        norm = tf.linalg.global_norm(gradients) * replicas / loss_scale(optimizer)
        optimizer.apply_gradients(zip(gradients, variables))
        return norm

    # reduce_retracing: batches of another time length (length buckets) reuse the trace; XLA still compiles one
    # program per shape, once.
    whole_batch_step = call_by_signature(tf.function(lambda x, y, m: apply(x, y, m, loss_and_gradients),
                                                     jit_compile=jit_compile, reduce_retracing=True))
    if replicas == 1 and batch_splits == 1:
        return whole_batch_step
    if batch_splits > 1:
        return _split_batch_step(loss_and_gradients, apply_gradients, variables, batch_splits, jit_compile,
                                 whole_batch_step)

    compiled = tf.function(loss_and_gradients, jit_compile=jit_compile, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def distributed_step(inputs, targets, mask):
        per_replica = strategy.run(apply, args=(inputs, targets, mask, compiled))
        return tuple(strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None) for value in per_replica)

    return distributed_step


def _split_batch_step(loss_and_gradients, apply_gradients, variables, parts, jit_compile, whole_batch_step):
    """The ``batch_splits > 1`` step of :func:`make_train_step`: each part's gradient at once, then one update.

    A batch of one sequence cannot be split: it goes to ``whole_batch_step`` (one program, update included).

    Each part's program returns its gradients as one flat vector, and the update program takes those: a compiled
    call pays for every tensor it takes and returns (one flat vector instead of one tensor per variable made the
    update call 1.3 times faster here).
    """
    pool = concurrent.futures.ThreadPoolExecutor(parts, thread_name_prefix="batch-part")
    shapes = [variable.shape for variable in variables]
    sizes = [int(np.prod(shape)) for shape in shapes]

    def part_gradients(inputs, targets, mask, start, size):
        # The part is cut inside the compiled program: cutting it with eager ops took about 1 ms per step.
        piece = [tf.slice(t, tf.concat([[start], tf.zeros([len(t.shape) - 1], tf.int32)], axis=0),
                          [size] + [-1] * (len(t.shape) - 1)) for t in (inputs, targets, mask)]
        loss, errors, gradients = loss_and_gradients(*piece)
        return loss, errors, tf.concat([tf.reshape(g, [-1]) for g in gradients], axis=0)

    def mean_and_apply(fractions, losses, errors, flat_gradients):
        # fractions: each part's share of the batch; the losses are means over each part's sequences.
        weights = tf.unstack(fractions)
        mean = tf.add_n([w * g for w, g in zip(weights, flat_gradients)])
        gradients = [tf.reshape(g, shape) for g, shape in zip(tf.split(mean, sizes), shapes)]
        loss = tf.add_n([w * v for w, v in zip(weights, losses)])
        error = tf.add_n([w * v for w, v in zip(weights, errors)])
        return loss, error, apply_gradients(gradients)

    compute = call_by_signature(tf.function(part_gradients, jit_compile=jit_compile, reduce_retracing=True))
    update = call_by_signature(tf.function(mean_and_apply, jit_compile=jit_compile, reduce_retracing=True))

    def step(inputs, targets, mask):
        batch = int(inputs.shape[0])
        if batch < 2:
            return whole_batch_step(inputs, targets, mask)
        sizes = split_sizes(batch, min(parts, batch))
        starts = np.cumsum([0] + sizes[:-1]).astype(np.int32)
        futures = [pool.submit(compute, inputs, targets, mask, start, size) for start, size in zip(starts, sizes)]
        losses, errors, flat_gradients = (list(values) for values in zip(*[future.result() for future in futures]))
        fractions = tf.constant([size / batch for size in sizes], dtype=tf.float32)
        return update(fractions, losses, errors, flat_gradients)

    return step


def make_eval_step(model, jit_compile):
    """A compiled ``(inputs, targets, mask) -> (loss, bit_errors)`` with no update."""

    def evaluate(inputs, targets, mask):
        logits = model(inputs, training=False)
        return masked_sigmoid_cross_entropy(targets, logits, mask), bit_errors_per_sequence(targets, logits, mask)

    return tf.function(evaluate, jit_compile=jit_compile)


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


def silence_tensorflow_logs():
    """Hide TensorFlow's C++ start-up chatter (call before importing TensorFlow)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
