"""The training step timed under the JAX backend, for machines with JAX and no TensorFlow (the lent GPUs).

:mod:`ntm_cell.experiments.bench.runner` times train.py's own step, which is TensorFlow's (``tf.function`` and XLA).
The cells are written with ``keras.ops`` only, so a machine without TensorFlow still runs them under
``KERAS_BACKEND=jax``: this module builds what train.py builds for a :class:`ntm_cell.experiments.bench.cases.Case`
(the model of :func:`ntm_cell.experiments.models.build_model` under the case's dtype policy, the optimizer of
:func:`ntm_cell.experiments.optimizers.make_optimizer`, the loss of
:func:`ntm_cell.tasks.metrics.masked_sigmoid_cross_entropy`, scaled under ``mixed_float16``), and times one
``jax.jit``-compiled step of Keras' stateless API (forward pass, gradient, optimizer update) on batches drawn from the
task and padded to its longest time, as ``--length_buckets=1`` does. The whole batch is one program (no batch parts:
they spread a batch over CPU cores).

Set ``KERAS_BACKEND=jax`` before Keras is first imported (``scripts/benchmark_jax.py`` does).
"""

from __future__ import annotations

import platform
import time

import numpy as np

from ntm_cell import tasks
from ntm_cell.experiments import reports
from ntm_cell.experiments.bench import results
from ntm_cell.experiments.bench.ratios import sweep_pairs
from ntm_cell.experiments.bench.runner import percentile
from ntm_cell.experiments.models import build_model, memory_shape
from ntm_cell.experiments.optimizers import make_optimizer
from ntm_cell.tasks.metrics import bit_errors_per_sequence, masked_sigmoid_cross_entropy

#: Keys of :func:`time_case`'s rows that the table shows.
COLUMNS = ("model", "batch_size", "memory_size", "precision", "time_steps", "parameters", "compile_s", "median_ms",
           "p10_ms", "p90_ms", "sequences_per_s")
#: The table's ``(key, title)`` pairs, titled as ``scripts/benchmark.py``'s table
#: (:data:`ntm_cell.experiments.bench.results.TABLE_COLUMNS`); its cells are formatted by
#: :func:`ntm_cell.experiments.bench.results.format_cell`.
TABLE_COLUMNS = tuple((c, title) for c, title in results.TABLE_COLUMNS if c in COLUMNS)


def make_step(model, optimizer):
    """A ``jax.jit``-compiled ``(state, inputs, targets, mask) -> (state, loss, bit_errors)``.

    ``state`` is ``(trainable, non_trainable, optimizer_variables)``, lists of arrays as from
    :func:`initial_state`; the loss is multiplied by the optimizer's current loss scale (its ``dynamic_scale``
    under ``mixed_float16``) before differentiating, and ``optimizer.stateless_apply`` undoes it.
    """
    import jax
    import keras

    scale_index = None
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        scale_index = [v is optimizer.dynamic_scale for v in optimizer.variables].index(True)

    def loss_fn(trainable, non_trainable, scale, inputs, targets, mask):
        logits, non_trainable = model.stateless_call(trainable, non_trainable, inputs, training=True)
        loss = masked_sigmoid_cross_entropy(targets, logits, mask)
        return loss * scale, (loss, logits, non_trainable)

    gradient_fn = jax.value_and_grad(loss_fn, has_aux=True)

    @jax.jit
    def step(state, inputs, targets, mask):
        trainable, non_trainable, optimizer_variables = state
        scale = 1.0 if scale_index is None else optimizer_variables[scale_index]
        (_, (loss, logits, non_trainable)), gradients = gradient_fn(
            trainable, non_trainable, scale, inputs, targets, mask
        )
        trainable, optimizer_variables = optimizer.stateless_apply(optimizer_variables, gradients, trainable)
        return (trainable, non_trainable, optimizer_variables), loss, bit_errors_per_sequence(targets, logits, mask)

    return step


def initial_state(model, optimizer):
    """``(trainable, non_trainable, optimizer_variables)``: the current values, as :func:`make_step` takes them."""
    return ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables])


def time_case(case, steps=30, warmup=5, seed=0):
    """Build ``case`` under JAX, compile its step and time ``steps`` steps after ``warmup`` untimed ones.

    Each step is timed until its loss and bit errors are on the host. Returns a dict with the keys of
    ``COLUMNS`` (times in ms, ``compile_s`` the first call's wall time) and ``loss``, the last step's loss.
    """
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"experiments.bench.jax_step needs KERAS_BACKEND=jax, not {keras.backend.backend()!r}")
    config = case.config()
    task = tasks.get_task(config.task, **config.task_kwargs)
    keras.utils.set_random_seed(seed)
    model = build_model(config.model, task.input_size, task.output_size, config.precision, **config.model_kwargs)
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)
    step = make_step(model, optimizer)
    state = initial_state(model, optimizer)
    rng = np.random.default_rng([seed, 1])
    batches = [task.sample(case.batch_size, rng, pad_to=task.max_time()) for _ in range(4)]

    def run(k):
        nonlocal state
        state, loss, errors = step(state, *batches[k % len(batches)])
        return float(loss), float(errors)

    start = time.perf_counter()
    run(0)
    compile_s = time.perf_counter() - start
    for k in range(warmup):
        run(k + 1)
    times = []
    for k in range(steps):
        start = time.perf_counter()
        loss, _ = run(k)
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    return {
        "model": case.model,
        "batch_size": case.batch_size,
        "memory_size": (memory_shape(model) or ("", ""))[1],
        "precision": config.precision,
        "time_steps": int(batches[0][0].shape[1]),
        "parameters": int(model.count_params()),
        "compile_s": compile_s,
        "median_ms": 1e3 * median,
        "p10_ms": 1e3 * percentile(times, 10),
        "p90_ms": 1e3 * percentile(times, 90),
        "sequences_per_s": case.batch_size / median,
        "loss": loss,
    }


def sweep_ratios(rows):
    """For a sweep: each row's median step time over that of the first row of the same model, batch and precision.

    Returns ``(description, ratio)`` pairs, described as :func:`ntm_cell.experiments.bench.ratios.sweep_pairs`
    describes them, e.g. ``("N=1024, T=41 vs N=128, T=41: step time", ratio)``. The cases are timed one after
    another (not interleaved as ``scripts/benchmark.py`` times them).
    """
    return [(description, rows[i]["median_ms"] / rows[j]["median_ms"])
            for i, j, description in sweep_pairs(rows, ("model", "batch_size", "precision"))]


#: Columns of :func:`markdown_ratios`' table: ``(key, title)``.
RATIO_COLUMNS = (("description", "ratio"), ("ratio", "median / median"))


def _format_ratio(row, column):
    """A cell of the ratio table: the description as is, the ratio with two decimals."""
    return row["description"] if column == "description" else f"{row[column]:.2f}"


def markdown_ratios(ratios):
    """:func:`sweep_ratios` as a Markdown table (empty string for none)."""
    if not ratios:
        return ""
    rows = [{"description": text, "ratio": ratio} for text, ratio in ratios]
    return reports.markdown_table(rows, RATIO_COLUMNS, _format_ratio, left_aligned=("description",)) + "\n"


def describe_devices():
    """One line: JAX's devices and the versions of JAX, Keras and Python."""
    import jax
    import keras

    devices = ", ".join(sorted({f"{d.platform}:{getattr(d, 'device_kind', '?')}" for d in jax.devices()}))
    return (f"{len(jax.devices())} JAX device(s) ({devices}); JAX {jax.__version__}, Keras {keras.__version__} "
            f"(backend {keras.backend.backend()}), Python {platform.python_version()}")
