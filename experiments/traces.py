"""Head traces of trained memory models: one example's weightings at every step, and priority sort's writes.

TensorFlow and Keras are imported by the functions that need them (through the model), so command-line scripts
can check their flags first.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ntm_cell import tasks
from ntm_cell.experiments.generalization import EVAL_DATA_TAG, expand_point, make_predict


def _bit_errors_by_sequence(targets, logits, mask):
    """NumPy ``[B]`` of :func:`ntm_cell.tasks.metrics.bit_errors_by_sequence`."""
    from keras.ops import convert_to_numpy

    from ntm_cell.tasks.metrics import bit_errors_by_sequence

    return convert_to_numpy(bit_errors_by_sequence(targets, logits, mask))


class NoMemoryError(ValueError):
    """The model has no memory layer with a ``trace`` (e.g. the LSTM baseline)."""


class HeadTrace(NamedTuple):
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
    """The cell of the model's memory layer (``ntm_cell.experiments.models.RECURRENT_LAYER``) that has ``trace``.

    Raises:
        NoMemoryError: the model has no such layer, e.g. the LSTM baseline.
    """
    from ntm_cell.experiments.models import RECURRENT_LAYER

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
    errors = float(_bit_errors_by_sequence(targets, logits[None], mask)[0])
    trace = {key: value[0] for key, value in trace.items()}
    return HeadTrace(trace, inputs[0], targets[0], mask[0], logits, outputs, errors)


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
        bit_errors=_bit_errors_by_sequence(targets, logits, mask),
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


def circular_rows(rows, num_rows):
    """Rows ``[K]`` of a circular memory of ``num_rows``, renumbered from the row after the widest run of rows that
    none of them occupies: ``[K]`` ints in ``[0, num_rows)``.

    Shifts wrap around the memory, so a head that files vectors in order on rows 126, 127, 0, 1 keeps that order
    as 0, 1, 2, 3.
    """
    rows = np.asarray(rows)
    occupied = np.unique(rows)
    gaps = np.diff(np.append(occupied, occupied[0] + num_rows))  # free rows after each occupied row, plus one
    start = occupied[(int(np.argmax(gaps)) + 1) % occupied.size]
    return (rows - start) % num_rows


def priority_rank_correlations(sort_trace):
    """Per write head, :func:`mean_rank_correlation` of priority and the row written, over the vectors of each
    example that the answer contains (the ``J`` highest priorities), with rows read around the circular memory
    (:func:`circular_rows`): a list of ``W`` floats, near +1 or -1 for a head that files vectors by priority.

    Vectors left out of the answer need no place, and a model may write them all to one row.
    """
    priorities = np.asarray(sort_trace.priorities)  # [E, K]
    rows = rows_written(sort_trace.write_weights)  # [E, K, W]
    num_rows, answered = sort_trace.write_weights.shape[-1], sort_trace.read_weights.shape[1]
    kept = np.argsort(-priorities, axis=1, kind="stable")[:, :answered]  # [E, J]
    kept_priorities = np.take_along_axis(priorities, kept, axis=1)
    correlations = []
    for head in range(rows.shape[-1]):
        kept_rows = np.take_along_axis(rows[..., head], kept, axis=1)
        unwrapped = np.stack([circular_rows(example, num_rows) for example in kept_rows])
        correlations.append(mean_rank_correlation(kept_priorities, unwrapped))
    return correlations
