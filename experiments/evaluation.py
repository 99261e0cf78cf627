"""Evaluating trained models: generalisation sweeps, loading runs, CSV and Markdown output, head traces.

A *point* of a sweep is a dict of task ranges under short names, one value each:

- ``{"length": 40}`` (copy; ``min_length = max_length = 40``),
- ``{"length": 10, "repeats": 15}`` (repeat copy),
- ``{"items": 8}`` (associative recall),
- ``{"length": 200}`` (N-grams), ``{"num_inputs": 20, "num_outputs": 16}`` (priority sort).

:func:`expand_point` turns it into the task's range overrides. :func:`generalization` draws
``sequences_per_point`` sequences per point from a fixed seed (the same data for the same point, whatever the
other points are), runs the model in a ``tf.function`` and returns one row per point: the point's values
followed by the metrics of :data:`METRIC_COLUMNS`.

Only NumPy, ``tasks`` and ``experiments.configs`` are imported at module level; TensorFlow and Keras are imported
by the functions that need them, so command-line scripts can check their flags first.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import tasks
from experiments import configs

#: Every metric column a row can have, in the order they are written.
METRIC_COLUMNS = (
    "bit_errors",  # mean bit errors per sequence over the point's sequences
    "stderr",  # its standard error (sample standard deviation / sqrt(sequences))
    "error_free",  # fraction of sequences with no bit error
    "scored_bits",  # mean number of scored (answer) bits per sequence; chance makes half of them wrong
    "sequences",  # number of sequences evaluated
    "cost_bits",  # N-grams only: the model's cross-entropy in bits per sequence
    "cost_stderr",
    "optimal_cost_bits",  # N-grams only: the optimal Bayesian estimator's cost on the same sequences
    "optimal_stderr",
)

#: Seed tag of the evaluation data, so that it never coincides with a training or held-out stream.
EVAL_DATA_TAG = 0x6576616C  # "eval"

DEFAULT_COPY_LENGTHS = (10, 20, 30, 40, 60, 80, 100, 120)
DEFAULT_REPEAT_COPY_LENGTHS = tuple(range(10, 21))
DEFAULT_REPEAT_COPY_REPEATS = tuple(range(10, 21))
DEFAULT_RECALL_ITEMS = tuple(range(2, 16))

#: The variables a user may choose per task (sweeps take lists of them: ``lengths``, ``repeats``, ``items``).
#: Priority sort is evaluated in its training configuration only.
CHOOSABLE = {
    "copy": ("length",),
    "repeat_copy": ("length", "repeats"),
    "associative_recall": ("items",),
    "ngrams": ("length",),
    "priority_sort": (),
}


def _check_applicable(task, given, plural):
    """ValueError naming the first argument in ``given`` that ``task`` does not take."""
    accepted = CHOOSABLE.get(task.name, ())
    for name, value in given.items():
        if value is not None and name not in accepted:
            names = [a + "s" if plural and a == "length" else a for a in accepted]
            valid = ", ".join(names) or "nothing: it is evaluated in its training configuration"
            shown = name + "s" if plural and name == "length" else name
            raise ValueError(f"{shown} does not apply to the {task.name} task (it takes: {valid})")


class NoMemoryError(ValueError):
    """The model has no memory layer with a ``trace`` (e.g. the LSTM baseline)."""


class LoadedRun(NamedTuple):
    """What :func:`load_run` returns.

    Attributes:
        model: the ``keras.Model``.
        task: the :class:`tasks.Task` it was trained on (its training ranges).
        config: the run's :class:`~experiments.configs.ExperimentConfig`, or ``None`` for a bare ``.keras`` file.
        model_name: ``"ntm"``, ``"lstm"``, ``"dnc"`` (or the Keras model's name if it is none of those).
        source: the file the weights came from.
    """

    model: Any
    task: tasks.Task
    config: configs.ExperimentConfig | None
    model_name: str
    source: Path


# ----------------------------------------------------------------------------------------------------------------
# Sweep points
# ----------------------------------------------------------------------------------------------------------------


def expand_point(task, point):
    """The range overrides of ``task`` for a point, e.g. ``{"length": 5}`` -> ``{"min_length": 5, "max_length": 5}``.

    Raises:
        ValueError: a name that is not a range of ``task``.
    """
    overrides = {}
    for name, value in point.items():
        if name in task.range_names:
            overrides[name] = value
        elif f"min_{name}" in task.range_names and f"max_{name}" in task.range_names:
            overrides[f"min_{name}"] = overrides[f"max_{name}"] = value
        else:
            raise ValueError(
                f"{name!r} is not a range of the {task.name} task; "
                f"it has {', '.join(sorted(training_ranges(task)))}"
            )
    return overrides


def training_ranges(task):
    """The training range of every sweep variable: e.g. ``{"length": (1, 20)}`` for the default copy task."""
    ranges = task.ranges
    extents = {}
    for name, value in ranges.items():
        if name.startswith("min_") and "max_" + name[4:] in ranges:
            extents[name[4:]] = (value, ranges["max_" + name[4:]])
        elif not name.startswith("max_"):
            extents[name] = (value, value)
    return extents


def repeat_copy_points(lengths, repeats):
    """Repeat-copy points: the repeats swept at ``lengths[0]``, then the lengths swept at ``repeats[0]``."""
    points = [{"length": lengths[0], "repeats": count} for count in repeats]
    points += [{"length": length, "repeats": repeats[0]} for length in lengths]
    unique = []
    for point in points:
        if point not in unique:
            unique.append(point)
    return unique


def sweep_points(task, lengths=None, repeats=None, items=None):
    """The points of ``task``'s generalisation sweep; ``None`` arguments take the defaults.

    Defaults: copy lengths 10, 20, 30, 40, 60, 80, 100, 120; repeat copy repeats 10..20 at length 10 and
    lengths 10..20 at 10 repeats; associative recall 2..15 items; N-grams and priority sort their training
    configuration (``lengths`` may set other N-gram lengths).

    Raises:
        ValueError: an argument that does not apply to the task.
    """
    _check_applicable(task, {"length": lengths, "repeats": repeats, "items": items}, plural=True)
    if task.name == "copy":
        return [{"length": int(n)} for n in (lengths or DEFAULT_COPY_LENGTHS)]
    if task.name == "repeat_copy":
        return repeat_copy_points(
            [int(n) for n in (lengths or DEFAULT_REPEAT_COPY_LENGTHS)],
            [int(n) for n in (repeats or DEFAULT_REPEAT_COPY_REPEATS)],
        )
    if task.name == "associative_recall":
        return [{"items": int(n)} for n in (items or DEFAULT_RECALL_ITEMS)]
    if task.name == "ngrams":
        return [{"length": int(n)} for n in (lengths or (task.length,))]
    return [{"num_inputs": task.num_inputs, "num_outputs": task.num_outputs}]


def default_points(task):
    """:func:`sweep_points` with every default."""
    return sweep_points(task)


def example_point(task, length=None, repeats=None, items=None):
    """The point of one example to draw (e.g. for head plots); ``None`` takes the training maximum.

    Raises:
        ValueError: an argument that does not apply to the task.
    """
    given = {"length": length, "repeats": repeats, "items": items}
    _check_applicable(task, given, plural=False)
    extents = training_ranges(task)
    return {name: int(given[name] if given[name] is not None else extents[name][1]) for name in CHOOSABLE[task.name]}


def point_data(task, point, sequences, batch_size, seed):
    """Yield the batches of ``sequences`` sequences of one point: the same for the same (point, seed, batch_size)."""
    overrides = expand_point(task, point)
    key = [EVAL_DATA_TAG, int(seed)] + [int(overrides[name]) for name in sorted(overrides)]
    rng = np.random.default_rng(key)
    remaining = sequences
    while remaining > 0:
        size = min(batch_size, remaining)
        yield task.sample(size, rng, **overrides)
        remaining -= size


# ----------------------------------------------------------------------------------------------------------------
# Per-sequence metrics (NumPy)
# ----------------------------------------------------------------------------------------------------------------


def bit_errors_by_sequence(targets, logits, mask):
    """Bit errors of each sequence, ``[B]``: Σ over answer steps and channels of |target − 1[logit ≥ 0]|.

    Its mean over the batch is :func:`tasks.metrics.bit_errors_per_sequence`.
    """
    predictions = (np.asarray(logits) >= 0).astype(np.float64)
    wrong = np.abs(np.asarray(targets, np.float64) - predictions).sum(axis=-1)
    return (wrong * np.asarray(mask, np.float64)).sum(axis=-1)


def cost_bits_by_sequence(targets, logits, mask):
    """Sigmoid cross-entropy of each sequence in bits, ``[B]``, summed over channels and answer steps."""
    x = np.asarray(logits, np.float64)
    z = np.asarray(targets, np.float64)
    nats = np.maximum(x, 0.0) - x * z + np.log1p(np.exp(-np.abs(x)))
    return (nats.sum(axis=-1) * np.asarray(mask, np.float64)).sum(axis=-1) / math.log(2.0)


def probability_cost_bits_by_sequence(targets, probabilities, mask, epsilon=1e-7):
    """Cross-entropy in bits of each sequence for predicted probabilities (clipped as in ``tasks.metrics``)."""
    p = np.clip(np.asarray(probabilities, np.float64), epsilon, 1.0 - epsilon)
    z = np.asarray(targets, np.float64)
    bits = -(z * np.log2(p) + (1.0 - z) * np.log2(1.0 - p))
    return (bits.sum(axis=-1) * np.asarray(mask, np.float64)).sum(axis=-1)


def _mean_and_stderr(values):
    values = np.asarray(values, np.float64)
    if values.size < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


# ----------------------------------------------------------------------------------------------------------------
# Running models
# ----------------------------------------------------------------------------------------------------------------


def make_predict(model, input_size):
    """``inputs [B, T, input_size]`` NumPy -> logits NumPy.

    A Keras model (or layer) runs in one ``tf.function`` traced once for any batch size and length
    (``jit_compile=False``: XLA would compile again for every length). Any other callable is called as it is,
    e.g. a NumPy stand-in for a model in tests.
    """
    import keras

    if not isinstance(model, keras.layers.Layer):
        return lambda inputs: np.asarray(model(inputs))
    import tensorflow as tf

    forward = tf.function(
        lambda inputs: model(inputs, training=False),
        input_signature=[tf.TensorSpec([None, None, input_size], tf.float32)],
        jit_compile=False,
    )
    return lambda inputs: forward(tf.convert_to_tensor(inputs, tf.float32)).numpy()


def generalization(model, task, points=None, sequences_per_point=1000, batch_size=100, seed=0, progress=None):
    """Evaluate ``model`` on ``task`` at every point of a sweep.

    Args:
        model: a ``keras.Model`` mapping ``[B, T, task.input_size]`` to logits ``[B, T, task.output_size]``, or
            any callable doing the same on NumPy arrays.
        task: a :class:`tasks.Task`, in its training configuration (repeat copy normalises the repeat count with
            its training statistics).
        points: list of points (see the module docstring); default :func:`default_points`.
        sequences_per_point: sequences drawn at every point.
        batch_size: sequences per model call.
        seed: seed of the evaluation data (same seed, same sequences).
        progress: optional ``callable(row, seconds)`` called after each point.

    Returns:
        a list of dicts, one per point: the point's values, then ``bit_errors`` (mean per sequence), ``stderr``,
        ``error_free``, ``scored_bits`` and ``sequences``; for N-grams also ``cost_bits``, ``cost_stderr``,
        ``optimal_cost_bits`` and ``optimal_stderr`` (the optimal Bayesian estimator of ``tasks.ngrams`` on the
        same sequences).
    """
    if sequences_per_point < 1 or batch_size < 1:
        raise ValueError(
            f"sequences_per_point and batch_size must be >= 1, got {sequences_per_point} and {batch_size}"
        )
    points = default_points(task) if points is None else list(points)
    predict = make_predict(model, task.input_size)
    is_ngrams = isinstance(task, tasks.NGramsTask)
    rows = []
    for point in points:
        started = time.perf_counter()
        errors, scored, costs, optimal = [], [], [], []
        for inputs, targets, mask in point_data(task, point, sequences_per_point, batch_size, seed):
            logits = predict(inputs)
            if logits.shape != targets.shape:
                raise ValueError(f"the model returned logits of shape {logits.shape} for targets {targets.shape}")
            errors.append(bit_errors_by_sequence(targets, logits, mask))
            scored.append(mask.sum(axis=-1) * targets.shape[-1])
            if is_ngrams:
                costs.append(cost_bits_by_sequence(targets, logits, mask))
                optimal.append(probability_cost_bits_by_sequence(targets, task.optimal_predictions(inputs), mask))
        errors = np.concatenate(errors)
        mean, stderr = _mean_and_stderr(errors)
        row = dict(point)
        row.update(
            bit_errors=mean,
            stderr=stderr,
            error_free=float(np.mean(errors == 0)),
            scored_bits=float(np.concatenate(scored).mean()),
            sequences=int(errors.size),
        )
        if is_ngrams:
            row["cost_bits"], row["cost_stderr"] = _mean_and_stderr(np.concatenate(costs))
            row["optimal_cost_bits"], row["optimal_stderr"] = _mean_and_stderr(np.concatenate(optimal))
        rows.append(row)
        if progress is not None:
            progress(row, time.perf_counter() - started)
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Loading runs
# ----------------------------------------------------------------------------------------------------------------


def load_run(path, task=None, task_kwargs=None):
    """Load a trained model and the task it was trained on.

    Args:
        path: a run directory (``<logdir>/<task>/<model>/seed<k>/``) or a ``.keras`` file. A run directory
            gives ``model.keras``, or, while training has not finished, the newest checkpoint rebuilt from
            ``config.json``. The task comes from the ``config.json`` in the directory (or, for a file
            ``<name>.keras``, from ``<name>.json`` or ``config.json`` beside it).
        task: the task name, needed only when there is no ``config.json``.
        task_kwargs: constructor arguments of that task over the paper's (``configs.TASK_KWARGS``); only
            without ``config.json``.

    Returns:
        a :class:`LoadedRun`.

    Raises:
        FileNotFoundError: no model file (or checkpoint) at ``path``.
        ValueError: no ``config.json`` and no ``task``; a ``task`` that contradicts ``config.json``; a task whose
            channel counts do not match the model.
    """
    path = Path(path)
    if path.is_dir():
        model_path, config_path = path / "model.keras", path / "config.json"
    elif path.exists():
        model_path, config_path = path, path.with_suffix(".json")  # <name>.json beside <name>.keras (shipped models)
        if not config_path.exists():
            config_path = path.parent / "config.json"
    else:
        raise FileNotFoundError(f"{path} does not exist")

    config = None
    if config_path.exists():
        config = configs.ExperimentConfig.from_json(config_path.read_text())
        if task is not None and task != config.task:
            raise ValueError(f"{config_path} says the model was trained on {config.task!r}, not {task!r}")
        if task_kwargs:
            raise ValueError(f"{config_path} already fixes the task's arguments; do not pass task_kwargs")
        task_object = tasks.get_task(config.task, **config.task_kwargs)
    elif task is None:
        raise ValueError(
            f"{model_path} has no config.json beside it, so the task it was trained on is unknown: name the task"
        )
    else:
        if task not in configs.TASK_KWARGS:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(configs.TASK_NAMES)}")
        task_object = tasks.get_task(task, **dict(configs.TASK_KWARGS[task], **(task_kwargs or {})))

    import keras

    import ntm_cell  # noqa: F401  (registers the cells with Keras' serialisation)

    if model_path.exists():
        model = keras.models.load_model(model_path, compile=False)
        source = model_path
    elif config is not None and (path / "checkpoints").is_dir():
        model, source = _restore_checkpoint(config, task_object, path / "checkpoints")
    else:
        raise FileNotFoundError(f"{path} holds neither model.keras nor checkpoints/")

    input_size, output_size = model.input_shape[-1], model.output_shape[-1]
    if (input_size, output_size) != (task_object.input_size, task_object.output_size):
        raise ValueError(
            f"the model maps {input_size} input channels to {output_size} outputs, but {task_object!r} has "
            f"{task_object.input_size} and {task_object.output_size}"
            + ("" if config else "; give the task's arguments it was trained with")
        )
    name = config.model if config else (model.name or "model")
    return LoadedRun(model, task_object, config, name, source)


def _restore_checkpoint(config, task, checkpoint_dir):
    import tensorflow as tf

    from experiments.models import build_model

    latest = tf.train.latest_checkpoint(str(checkpoint_dir))
    if latest is None:
        raise FileNotFoundError(f"{checkpoint_dir} holds no checkpoint")
    from experiments.training import make_optimizer

    model = build_model(config.model, task.input_size, task.output_size, config.precision, **config.model_kwargs)
    # With the optimizer, as train() saved it: the optimizer's list of trainable variables reaches every weight.
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)
    tf.train.Checkpoint(model=model, optimizer=optimizer).restore(latest).expect_partial()
    return model, Path(latest)


# ----------------------------------------------------------------------------------------------------------------
# Head traces
# ----------------------------------------------------------------------------------------------------------------


class Example(NamedTuple):
    """One traced example (no batch axis): ``trace`` arrays ``[T, ...]``, ``inputs [T, I]``, ``targets [T, O]``,
    ``mask [T]``, ``logits [T, O]``, ``outputs [T, O]`` (their sigmoid) and its ``bit_errors``."""

    trace: dict
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    logits: np.ndarray
    outputs: np.ndarray
    bit_errors: float


def memory_cell(model):
    """The cell of the model's memory layer (``experiments.models.RECURRENT_LAYER``) that has ``trace``.

    Raises:
        NoMemoryError: the model has no such layer, e.g. the LSTM baseline.
    """
    from experiments.models import RECURRENT_LAYER

    try:
        layer = model.get_layer(RECURRENT_LAYER)
    except ValueError:
        layer = None
    cell = getattr(layer, "cell", None)
    if cell is None or not callable(getattr(cell, "trace", None)):
        raise NoMemoryError(
            f"model {model.name!r} has no memory: it has no {RECURRENT_LAYER!r} layer whose cell has trace(), "
            "so there are no read or write heads to plot (the LSTM baseline has none); use an NTM or DNC model"
        )
    return cell


def trace_example(model, task, point=None, seed=0):
    """Draw one example of ``task`` (at ``point``, default the training ranges) and trace the model's heads.

    Raises:
        NoMemoryError: the model has no memory layer with ``trace`` (e.g. the LSTM baseline).
    """
    cell = memory_cell(model)
    overrides = expand_point(task, point or {})
    inputs, targets, mask = task.sample(1, np.random.default_rng([EVAL_DATA_TAG, int(seed)]), **overrides)
    trace = cell.trace(inputs)
    logits = make_predict(model, task.input_size)(inputs)[0]
    outputs = (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    errors = float(bit_errors_by_sequence(targets, logits[None], mask)[0])
    trace = {key: value[0] for key, value in trace.items()}
    return Example(trace, inputs[0], targets[0], mask[0], logits, outputs, errors)


def channel_names(task):
    """Short names of the input and output channels of ``task`` (for plot axes)."""
    bits = [str(i) for i in range(getattr(task, "bits", 0))]
    names = {
        "copy": (bits + ["delim"], bits),
        "repeat_copy": (bits + ["delim", "repeats"], bits + ["end"]),
        "associative_recall": (bits + ["item", "query"], bits),
        "ngrams": (["bit t"], ["bit t+1"]),
        "priority_sort": (bits + ["priority", "delim"], bits),
    }
    return names.get(task.name, ([str(i) for i in range(task.input_size)], [str(i) for i in range(task.output_size)]))


# ----------------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------------


def columns(rows):
    """Column names of ``rows``: the point's names in order of appearance, then the metrics present."""
    point_names, metrics = [], set()
    for row in rows:
        for key in row:
            if key in METRIC_COLUMNS:
                metrics.add(key)
            elif key not in point_names:
                point_names.append(key)
    return point_names + [key for key in METRIC_COLUMNS if key in metrics]


def write_csv(rows, path):
    """Write ``rows`` (dicts) as CSV with a header; creates the parent directory. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns(rows), restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_value(value) for key, value in row.items()})
    return path


def read_csv(path):
    """Rows written by :func:`write_csv`, numbers parsed back (ints stay ints)."""
    with Path(path).open(newline="") as stream:
        return [{key: _parse_number(value) for key, value in row.items() if value != ""}
                for row in csv.DictReader(stream)]


def _csv_value(value):
    if isinstance(value, float):
        return repr(value)
    return value


def _parse_number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def markdown_table(rows):
    """``rows`` as a Markdown table (floats with 3 decimals, the standard error as ``± x``)."""
    names = [name for name in columns(rows) if name not in ("stderr", "cost_stderr", "optimal_stderr")]
    headers = {
        "bit_errors": "bit errors / seq",
        "error_free": "error-free seqs",
        "scored_bits": "scored bits / seq",
        "sequences": "sequences",
        "cost_bits": "cost (bits / seq)",
        "optimal_cost_bits": "optimal cost (bits / seq)",
    }
    paired = {"bit_errors": "stderr", "cost_bits": "cost_stderr", "optimal_cost_bits": "optimal_stderr"}

    def cell(row, name):
        value = row.get(name, "")
        if name == "error_free" and isinstance(value, float):
            return f"{100 * value:.1f}%"
        if isinstance(value, float):
            text = f"{value:.3f}"
            error = row.get(paired.get(name))
            if isinstance(error, float) and math.isfinite(error):
                text += f" ± {error:.3f}"
            return text
        return str(value)

    lines = [
        "| " + " | ".join(headers.get(name, name) for name in names) + " |",
        "|" + "|".join("---:" for _ in names) + "|",
    ]
    lines += ["| " + " | ".join(cell(row, name) for name in names) + " |" for row in rows]
    return "\n".join(lines)


class PrioritySortTrace(NamedTuple):
    """Where a memory model wrote and read on priority-sort examples (see :func:`trace_priority_sort`).

    ``E`` examples, ``K`` input vectors, ``J`` output steps, ``W`` write and ``R`` read heads, ``N`` rows.
    """

    priorities: np.ndarray  # [E, K]
    write_weights: np.ndarray  # [E, K, W, N] at the K input steps
    read_weights: np.ndarray  # [E, J, R, N] at the J answer steps
    bit_errors: np.ndarray  # [E]


def trace_priority_sort(model, task, examples=32, seed=0):
    """Trace ``model`` on ``examples`` priority-sort examples of ``task``'s configuration.

    Raises:
        ValueError: ``task`` is not priority sort.
        NoMemoryError: the model has no memory layer with ``trace`` (e.g. the LSTM baseline).
    """
    if not isinstance(task, tasks.PrioritySortTask):
        raise ValueError(f"the write-by-priority trace needs the priority_sort task, not {task.name}")
    cell = memory_cell(model)
    inputs, targets, mask = task.sample(examples, np.random.default_rng([EVAL_DATA_TAG, int(seed)]))
    trace = cell.trace(inputs)
    logits = make_predict(model, task.input_size)(inputs)
    k, j = task.num_inputs, task.num_outputs
    return PrioritySortTrace(
        priorities=inputs[:, :k, task.bits],
        write_weights=trace["write_weights"][:, :k],
        read_weights=trace["read_weights"][:, k + 1 : k + 1 + j],
        bit_errors=bit_errors_by_sequence(targets, logits, mask),
    )


def rank_correlation(x, y):
    """Spearman's rank correlation of two 1-D arrays (ties broken by order; ``nan`` if one is constant)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    ranks_x, ranks_y = (np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(np.float64) for v in (x, y))
    return float(np.corrcoef(ranks_x, ranks_y)[0, 1])


def mean_rank_correlation(priorities, rows):
    """Mean over examples of the rank correlation between priority and row written: ``[E, K]`` each -> float.

    Per example, because a head that files vectors by priority orders them relative to the others in the same
    sequence; ``nan`` examples (a head that wrote every vector to one row) are skipped.
    """
    values = [rank_correlation(p, r) for p, r in zip(np.asarray(priorities), np.asarray(rows))]
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def rows_written(write_weights):
    """``[..., W, N]`` write weightings -> ``[..., W]`` the row each write head weighted most."""
    return np.asarray(write_weights).argmax(axis=-1)


def priority_rank_correlations(sort_trace):
    """Per write head, :func:`mean_rank_correlation` of priority and :func:`rows_written`: a list of ``W`` floats."""
    rows = rows_written(sort_trace.write_weights)  # [E, K, W]
    return [mean_rank_correlation(sort_trace.priorities, rows[..., head]) for head in range(rows.shape[-1])]
