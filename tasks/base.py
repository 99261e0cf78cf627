"""Shared machinery for the algorithmic tasks: argument checks, padding, batching, tf.data streams.

A task builds one example at a time as three arrays

    inputs  [time, input_size]   float32
    targets [time, output_size]  float32
    mask    [time]               float32, 1 exactly on the answer steps

and `Task.sample` pads a list of such examples at the end to a common time length (mask 0 on padding).

This module imports only NumPy at import time; TensorFlow is imported inside `Task.dataset`, so data generation
can be used (e.g. in worker processes) without loading TensorFlow.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ntm_cell.arguments import check_int

Example = tuple[np.ndarray, np.ndarray, np.ndarray]
Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


# ----------------------------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------------------------


def check_range(min_name: str, min_value: int, max_name: str, max_value: int) -> None:
    """ValueError if min_value > max_value."""
    if min_value > max_value:
        raise ValueError(
            f"{min_name} must be <= {max_name}, got {min_name}={min_value} > {max_name}={max_value}")


def check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), got {type(rng)}")
    return rng


def batch_rng(seed: int, batch_index: int) -> np.random.Generator:
    """The generator for batch number `batch_index` of the stream with `seed` (both non-negative ints).

    Every batch has its own independent generator, so batch k can be produced without producing batches 0..k-1:
    `task.sample(batch_size, batch_rng(seed, k))` equals the k-th element (0-based) of `task.dataset(batch_size,
    seed)` (without length buckets).
    """
    return np.random.default_rng([seed, batch_index])


# ----------------------------------------------------------------------------------------------------------------
# Examples and batches
# ----------------------------------------------------------------------------------------------------------------


def random_bits(rng: np.random.Generator, shape: Sequence[int] | int) -> np.ndarray:
    """Independent Bernoulli(0.5) bits as float32, shape `shape`."""
    return rng.integers(0, 2, size=shape).astype(np.float32)


def empty_example(time: int, input_size: int, output_size: int) -> Example:
    """All-zero (inputs [time, input_size], targets [time, output_size], mask [time]) float32 arrays."""
    return (np.zeros((time, input_size), np.float32),
            np.zeros((time, output_size), np.float32),
            np.zeros((time,), np.float32))


def pad_examples(examples: Sequence[Example], pad_to: int | None = None) -> Batch:
    """Stacks examples into a batch, padding each at the end with zeros (mask 0).

    Args:
      examples: list of (inputs [T_i, I], targets [T_i, O], mask [T_i]).
      pad_to: fixed time length T of the batch; None pads to max_i T_i.
    Returns:
      (inputs [B, T, I], targets [B, T, O], mask [B, T]) float32.
    Raises:
      ValueError if an example is longer than `pad_to`.
    """
    if not examples:
        raise ValueError("pad_examples needs at least one example")
    longest = max(inputs.shape[0] for inputs, _, _ in examples)
    if pad_to is None:
        time = longest
    else:
        time = check_int("pad_to", pad_to, minimum=1)
        if longest > time:
            raise ValueError(f"pad_to={time} is shorter than the longest sequence in the batch ({longest} steps)")
    batch = len(examples)
    input_size = examples[0][0].shape[1]
    output_size = examples[0][1].shape[1]
    inputs = np.zeros((batch, time, input_size), np.float32)
    targets = np.zeros((batch, time, output_size), np.float32)
    mask = np.zeros((batch, time), np.float32)
    for row, (example_inputs, example_targets, example_mask) in enumerate(examples):
        length = example_inputs.shape[0]
        inputs[row, :length] = example_inputs
        targets[row, :length] = example_targets
        mask[row, :length] = example_mask
    return inputs, targets, mask


def format_example(inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray,
                   input_names: Sequence[str], target_names: Sequence[str]) -> str:
    """ASCII picture of one example, channels x time: '.' is 0, '1' is 1, other values as '+0.3'.

    Args:
      inputs [T, I], targets [T, O], mask [T]; input_names (I names), target_names (O names).
    Returns:
      A multi-line string (no trailing newline), one row per channel plus a time header and the mask.
    """
    def cell(value: float) -> str:
        if value == 0:
            return "."
        if value == 1:
            return "1"
        return f"{value:+.1f}"

    time = inputs.shape[0]
    rows: list[tuple[str, list[str]]] = [("time", [str(t) for t in range(time)])]
    rows += [(f"in  {name}", [cell(v) for v in inputs[:, c]]) for c, name in enumerate(input_names)]
    rows += [(f"out {name}", [cell(v) for v in targets[:, c]]) for c, name in enumerate(target_names)]
    rows.append(("mask", [cell(v) for v in mask]))
    label_width = max(len(label) for label, _ in rows)
    cell_width = max(len(c) for _, cells in rows for c in cells)
    lines = [label.ljust(label_width) + " " + " ".join(c.rjust(cell_width) for c in cells)
             for label, cells in rows]
    return "\n".join(line.rstrip() for line in lines)


# ----------------------------------------------------------------------------------------------------------------
# Task base class
# ----------------------------------------------------------------------------------------------------------------


class Task:
    """Base class of the algorithmic tasks.

    Subclasses set `name`, `range_names` (the constructor arguments that `sample`, `max_time` and `dataset`
    accept as overrides), the attributes `input_size` and `output_size`, and implement
    `_validate_ranges`, `_max_time` and `_sample_examples`; tasks of varying length also set `length_range`.
    """

    name: str = ""
    range_names: tuple[str, ...] = ()
    #: The ``(min, max)`` pair of `range_names` that sets how long a sequence is, for `length_buckets`; None for
    #: tasks whose sequences all have the same length.
    length_range: tuple[str, str] | None = None
    #: Where a length curriculum starts, for tasks whose ranges are not ``(min_x, max_x)`` pairs: range name ->
    #: its smallest value (a curriculum grows each from there to the task's value). None: each ``max_x`` starts
    #: at its ``min_x``, or, without such pairs, there is nothing to grow.
    curriculum_start: dict | None = None
    input_size: int
    output_size: int

    # -- subclass hooks -------------------------------------------------------------------------------------------

    def _validate_ranges(self, ranges: dict) -> dict:
        """Checks a full set of range values; returns them normalised (ints). Raises ValueError/TypeError."""
        raise NotImplementedError

    def _max_time(self, ranges: dict) -> int:
        raise NotImplementedError

    def _sample_examples(self, batch_size: int, rng: np.random.Generator, ranges: dict) -> list[Example]:
        raise NotImplementedError

    # -- public API -----------------------------------------------------------------------------------------------

    @property
    def ranges(self) -> dict:
        """The configured (training) values of the range arguments."""
        return {name: getattr(self, name) for name in self.range_names}

    def resolve_ranges(self, overrides: dict) -> dict:
        """The configured ranges updated with `overrides`, checked. TypeError on an unknown name."""
        unknown = sorted(set(overrides) - set(self.range_names))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown range argument(s) {unknown}; "
                            f"valid: {list(self.range_names)}")
        ranges = self.ranges
        ranges.update(overrides)
        return self._validate_ranges(ranges)

    def max_time(self, **range_overrides) -> int:
        """The longest time length (steps) an example of this configuration can have."""
        return self._max_time(self.resolve_ranges(range_overrides))

    def sample(self, batch_size: int, rng: np.random.Generator, pad_to: int | None = None,
               **range_overrides) -> Batch:
        """Draws a batch.

        Args:
          batch_size: number of sequences B >= 1.
          rng: numpy.random.Generator, the only source of randomness.
          pad_to: fixed time length T for every batch (for XLA); None pads to the batch's longest sequence.
          **range_overrides: any of `range_names`, e.g. longer sequences for evaluation.
        Returns:
          (inputs [B, T, input_size], targets [B, T, output_size], mask [B, T]) float32 NumPy arrays; mask is
          1 exactly on the answer steps and 0 elsewhere, including the padding at the end.
        Raises:
          ValueError on a bad batch_size or range, or if an example is longer than pad_to.
        """
        batch_size = check_int("batch_size", batch_size, minimum=1)
        rng = check_rng(rng)
        ranges = self.resolve_ranges(range_overrides)
        return pad_examples(self._sample_examples(batch_size, rng, ranges), pad_to)

    def length_buckets(self, buckets: int, **range_overrides) -> list[tuple[dict, float]]:
        """Splits the length range into at most `buckets` contiguous groups of (nearly) equal size.

        Drawing a group with its probability, then every sequence of a batch from that group alone, gives each
        sequence the same length distribution as `sample` with the whole range (lengths, item counts and so on
        are uniform over the range), but lets a batch be padded to its own group's longest time instead of the
        task's: the time spent on padding is what bucketing saves.

        Args:
          buckets: the most groups wanted (>= 1). There are never more groups than values in the range, and a
            task without a `length_range` (fixed-length sequences) has one.
          **range_overrides: as for `sample`; the range to split is the one they give.
        Returns:
          a list of `(ranges, probability)`, shortest group first: `ranges` is a full set of range values (pass
          them to `sample`, `max_time`), `probability` the share of the range's values in the group (sums to 1).
        """
        buckets = check_int("length_buckets", buckets, minimum=1)
        ranges = self.resolve_ranges(range_overrides)
        if self.length_range is None:
            return [(ranges, 1.0)]
        low_name, high_name = self.length_range
        values = np.arange(ranges[low_name], ranges[high_name] + 1)
        groups = [group for group in np.array_split(values, min(buckets, len(values))) if len(group)]
        return [({**ranges, low_name: int(group[0]), high_name: int(group[-1])}, len(group) / len(values))
                for group in groups]

    def dataset(self, batch_size: int, seed: int, pad_to: int | None = None, skip_batches: int = 0,
                length_buckets: int = 1, **range_overrides):
        """An infinite, reproducible tf.data.Dataset of (inputs, targets, mask) batches.

        Batch k (counting from 0, before skipping) is `self.sample(batch_size, batch_rng(seed, k), pad_to, ...)`,
        so `skip_batches=k` starts the stream at batch k at no cost (for resuming training).

        With `length_buckets` > 1, batch k first draws one group of `self.length_buckets(length_buckets, ...)`
        with `batch_rng(seed, k)` (with the group's probability), then all its sequences from that group with the
        same generator, padded to the group's `max_time`: one fixed shape per group (one XLA compilation each),
        and the lengths of the sequences keep their distribution. `pad_to` must then be None.

        Element shapes: inputs [batch_size, T, input_size], targets [batch_size, T, output_size],
        mask [batch_size, T], float32, with T = pad_to (static) or None (varies per batch).
        """
        import tensorflow as tf  # deferred: the rest of the package needs only NumPy

        batch_size = check_int("batch_size", batch_size, minimum=1)
        seed = check_int("seed", seed, minimum=0)
        skip_batches = check_int("skip_batches", skip_batches, minimum=0)
        ranges = self.resolve_ranges(range_overrides)
        groups = self.length_buckets(length_buckets, **ranges)
        if len(groups) > 1 and pad_to is not None:
            raise ValueError(f"pad_to={pad_to} and length_buckets={length_buckets} exclude each other: with length "
                             f"buckets every batch is padded to its own bucket's longest time")
        if pad_to is not None:
            pad_to = check_int("pad_to", pad_to, minimum=1)
            longest = self._max_time(ranges)
            if pad_to < longest:
                raise ValueError(f"pad_to={pad_to} is shorter than the longest possible sequence ({longest} "
                                 f"steps, see max_time())")

        probabilities = [probability for _, probability in groups]

        def batches() -> Iterable[Batch]:
            batch_index = skip_batches
            while True:
                rng = batch_rng(seed, batch_index)
                if len(groups) == 1:
                    yield self.sample(batch_size, rng, pad_to, **ranges)
                else:
                    group, _ = groups[rng.choice(len(groups), p=probabilities)]
                    yield self.sample(batch_size, rng, self._max_time(group), **group)
                batch_index += 1

        signature = (
            tf.TensorSpec((batch_size, pad_to, self.input_size), tf.float32),
            tf.TensorSpec((batch_size, pad_to, self.output_size), tf.float32),
            tf.TensorSpec((batch_size, pad_to), tf.float32),
        )
        return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(tf.data.AUTOTUNE)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({arguments})"

    def config(self) -> dict:
        """Constructor arguments that rebuild this task: `type(task)(**task.config())`."""
        raise NotImplementedError
