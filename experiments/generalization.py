"""Generalisation sweeps: bit errors per sequence of a trained model at lengths beyond its training ranges.

A *point* of a sweep is a dict of task ranges under short names, one value each:

- ``{"length": 40}`` (copy; ``min_length = max_length = 40``),
- ``{"length": 10, "repeats": 15}`` (repeat copy),
- ``{"items": 8}`` (associative recall),
- ``{"length": 200}`` (N-grams), ``{"num_inputs": 20, "num_outputs": 16}`` (priority sort).

:func:`expand_point` turns it into the task's range overrides. :func:`generalization` draws
``sequences_per_point`` sequences per point from a fixed seed (the same data for the same point, whatever the
other points are), runs the model in a ``tf.function`` and returns one row per point: the point's values
followed by the metrics of :data:`METRIC_COLUMNS`.

Only NumPy, ``ntm_cell.tasks`` and ``ntm_cell.experiments.configs`` are imported at module level; TensorFlow and
Keras are imported by the functions that need them, so command-line scripts can check their flags first.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ntm_cell import tasks
from ntm_cell.experiments import reports

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


def check_applicable(task, given, plural, prefix=""):
    """ValueError naming the first argument in ``given`` (name -> value or ``None``) that ``task`` does not take.

    ``plural`` names sweep arguments (``lengths``) rather than one example's (``length``); ``prefix`` goes before
    every name in the message (``"--"`` for a script's flags).
    """
    accepted = CHOOSABLE.get(task.name, ())

    def shown(name):
        return prefix + (name + "s" if plural and name == "length" else name)

    for name, value in given.items():
        if value is not None and name not in accepted:
            valid = ", ".join(shown(a) for a in accepted) or "nothing: it is evaluated in its training configuration"
            raise ValueError(f"{shown(name)} does not apply to the {task.name} task (it takes {valid})")


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
    check_applicable(task, {"length": lengths, "repeats": repeats, "items": items}, plural=True)
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


def example_point(task, length=None, repeats=None, items=None):
    """The point of one example to draw (e.g. for head plots); ``None`` takes the training maximum.

    Raises:
        ValueError: an argument that does not apply to the task.
    """
    given = {"length": length, "repeats": repeats, "items": items}
    check_applicable(task, given, plural=False)
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


def _mean_and_stderr(values):
    values = np.asarray(values, np.float64)
    if values.size < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


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
        task: a :class:`ntm_cell.tasks.Task`, in its training configuration (repeat copy normalises the repeat
            count with its training statistics).
        points: list of points (see the module docstring); default: every default of :func:`sweep_points`.
        sequences_per_point: sequences drawn at every point.
        batch_size: sequences per model call.
        seed: seed of the evaluation data (same seed, same sequences).
        progress: optional ``callable(row, seconds)`` called after each point.

    Returns:
        a list of dicts, one per point: the point's values, then ``bit_errors`` (mean per sequence), ``stderr``,
        ``error_free``, ``scored_bits`` and ``sequences``; for N-grams also ``cost_bits``, ``cost_stderr``,
        ``optimal_cost_bits`` and ``optimal_stderr`` (the optimal Bayesian estimator of ``ntm_cell.tasks.ngrams`` on the
        same sequences).
    """
    if sequences_per_point < 1 or batch_size < 1:
        raise ValueError(
            f"sequences_per_point and batch_size must be >= 1, got {sequences_per_point} and {batch_size}"
        )
    from keras.ops import convert_to_numpy

    from ntm_cell.tasks import metrics

    points = sweep_points(task) if points is None else list(points)
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
            errors.append(convert_to_numpy(metrics.bit_errors_by_sequence(targets, logits, mask)))
            scored.append(mask.sum(axis=-1) * targets.shape[-1])
            if is_ngrams:
                nats = metrics.sigmoid_cross_entropy_by_sequence(targets, logits, mask)
                costs.append(convert_to_numpy(nats) / math.log(2.0))
                optimal_bits = metrics.cross_entropy_bits_by_sequence(targets, task.optimal_predictions(inputs), mask)
                optimal.append(convert_to_numpy(optimal_bits))
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
    """Write sweep rows as CSV (columns: :func:`columns`); returns the path. :func:`reports.read_csv` reads it."""
    return reports.write_csv(rows, path, columns(rows))


def markdown_table(rows):
    """Sweep rows as a Markdown table (floats with 3 decimals, the standard error as ``± x``)."""
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

    return reports.markdown_table(rows, [(name, headers.get(name, name)) for name in names], cell)
