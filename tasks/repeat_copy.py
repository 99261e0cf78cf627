"""Repeat copy task (Graves et al. 2014, §4.2).

A sequence of `length` random binary vectors is shown, then one step carrying the delimiter flag and the
normalised repeat count, then the model must output the sequence `repeats` times followed by one step with the
end marker on. Total time length + 1 + length*repeats + 1.

Channels:
  inputs  (input_size = bits + 2): 0..bits-1 data, `bits` delimiter flag, `bits+1` normalised repeat count.
  outputs (output_size = bits + 1): 0..bits-1 data, `bits` end marker.
The mask is 1 on the length*repeats copy steps and on the end-marker step (the end-marker channel is scored as 0
during the copies, so stopping early is an error).

Repeat-count normalisation: the paper normalises the count to zero mean and unit variance. The count channel holds
(repeats - repeat_mean) / repeat_std, where repeat_mean and repeat_std are the mean and standard deviation of the
uniform integer distribution on [min_repeats, max_repeats] of the *training* configuration (the constructor):

    repeat_mean = (min_repeats + max_repeats) / 2
    repeat_std  = sqrt(((max_repeats - min_repeats + 1)**2 - 1) / 12)    (1 if min_repeats == max_repeats)

They are stored on the task and kept when sampling with overridden (e.g. larger) repeats; pass repeat_mean and
repeat_std explicitly to build an evaluation task that matches a training task with a different range. The
defaults (1..10) give mean 5.5, std 2.872. The separate delimiter flag keeps the count step visible even when
the normalised count is 0.

Example, bits=2, length=2, repeats=2, training repeats 1..10 (count = (2 - 5.5) / 2.872 = -1.2; '.' is 0):

    time              0    1    2    3    4    5    6    7
    in  bit 0         1    .    .    .    .    .    .    .
    in  bit 1         1    1    .    .    .    .    .    .
    in  delimiter     .    .    1    .    .    .    .    .
    in  repeats       .    . -1.2    .    .    .    .    .
    out bit 0         .    .    .    1    .    1    .    .
    out bit 1         .    .    .    1    1    1    1    .
    out end marker    .    .    .    .    .    .    .    1
    mask              .    .    .    1    1    1    1    1
"""

from __future__ import annotations

import math

import numpy as np

from ntm_cell.arguments import check_int
from ntm_cell.tasks.base import Example, Task, check_range, empty_example, random_bits


def uniform_integer_mean_std(low: int, high: int) -> tuple[float, float]:
    """Mean and standard deviation of the uniform distribution on the integers low..high (std 1 if low == high)."""
    mean = (low + high) / 2.0
    count = high - low + 1
    std = math.sqrt((count * count - 1) / 12.0) if count > 1 else 1.0
    return mean, std


def build_repeat_copy_example(sequence: np.ndarray, repeats: int, normalised_repeats: float) -> Example:
    """Lays out one repeat-copy example.

    Args:
      sequence: [length, bits] binary vectors.
      repeats: number of copies the target contains.
      normalised_repeats: the value shown on the repeat-count channel.
    Returns:
      inputs [T, bits+2], targets [T, bits+1], mask [T], with T = length + 1 + length*repeats + 1.
    """
    length, bits = sequence.shape
    answer_start = length + 1
    end_step = answer_start + length * repeats
    inputs, targets, mask = empty_example(end_step + 1, bits + 2, bits + 1)
    inputs[:length, :bits] = sequence
    inputs[length, bits] = 1.0                       # delimiter
    inputs[length, bits + 1] = normalised_repeats    # repeat count
    targets[answer_start:end_step, :bits] = np.tile(sequence, (repeats, 1))
    targets[end_step, bits] = 1.0                    # end marker
    mask[answer_start:end_step + 1] = 1.0
    return inputs, targets, mask


class RepeatCopyTask(Task):
    """Repeat copy: length U{min_length..max_length}, repeats U{min_repeats..max_repeats}, then an end marker."""

    name = "repeat_copy"
    range_names = ("min_length", "max_length", "min_repeats", "max_repeats")
    length_range = ("min_length", "max_length")

    def __init__(self, bits: int = 8, min_length: int = 1, max_length: int = 10, min_repeats: int = 1,
                 max_repeats: int = 10, repeat_mean: float | None = None, repeat_std: float | None = None):
        self.bits = check_int("bits", bits, minimum=1)
        ranges = self._validate_ranges({"min_length": min_length, "max_length": max_length,
                                        "min_repeats": min_repeats, "max_repeats": max_repeats})
        for name, value in ranges.items():
            setattr(self, name, value)
        mean, std = uniform_integer_mean_std(self.min_repeats, self.max_repeats)
        self.repeat_mean = float(mean if repeat_mean is None else repeat_mean)
        self.repeat_std = float(std if repeat_std is None else repeat_std)
        if not self.repeat_std > 0:
            raise ValueError(f"repeat_std must be > 0, got repeat_std={repeat_std}")
        self.input_size = self.bits + 2
        self.output_size = self.bits + 1

    def config(self) -> dict:
        return {"bits": self.bits, **self.ranges, "repeat_mean": self.repeat_mean, "repeat_std": self.repeat_std}

    def normalise_repeats(self, repeats):
        """The repeat-count channel value: (repeats - repeat_mean) / repeat_std (training statistics)."""
        return (repeats - self.repeat_mean) / self.repeat_std

    def _validate_ranges(self, ranges: dict) -> dict:
        checked = {name: check_int(name, ranges[name], minimum=1) for name in self.range_names}
        check_range("min_length", checked["min_length"], "max_length", checked["max_length"])
        check_range("min_repeats", checked["min_repeats"], "max_repeats", checked["max_repeats"])
        return checked

    def _max_time(self, ranges: dict) -> int:
        return ranges["max_length"] * (ranges["max_repeats"] + 1) + 2

    def _sample_examples(self, batch_size: int, rng: np.random.Generator, ranges: dict) -> list[Example]:
        lengths = rng.integers(ranges["min_length"], ranges["max_length"] + 1, size=batch_size)
        repeats = rng.integers(ranges["min_repeats"], ranges["max_repeats"] + 1, size=batch_size)
        return [build_repeat_copy_example(random_bits(rng, (length, self.bits)), int(count),
                                          self.normalise_repeats(int(count)))
                for length, count in zip(lengths, repeats)]
