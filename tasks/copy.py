"""Copy task (Graves et al. 2014, §4.1).

A sequence of `length` random binary vectors (each bit Bernoulli(0.5)) is shown, then one step with the delimiter
flag on, then `length` steps of zero input during which the target is the sequence. Total time 2*length + 1.

Channels: input_size = bits + 1 (inputs 0..bits-1 data, input `bits` the delimiter flag); output_size = bits.
The mask is 1 on the `length` answer steps.

Example, bits=3, length=3 ('.' is 0):

    time          0 1 2 3 4 5 6
    in  bit 0     1 . 1 . . . .
    in  bit 1     . 1 1 . . . .
    in  bit 2     1 1 . . . . .
    in  delimiter . . . 1 . . .
    out bit 0     . . . . 1 . 1
    out bit 1     . . . . . 1 1
    out bit 2     . . . . 1 1 .
    mask          . . . . 1 1 1
"""

from __future__ import annotations

import numpy as np

from ntm_cell.arguments import check_int
from ntm_cell.tasks.base import Example, Task, check_range, empty_example, random_bits


def build_copy_example(sequence: np.ndarray) -> Example:
    """Lays out one copy example.

    Args:
      sequence: [length, bits] binary vectors.
    Returns:
      inputs [2L+1, bits+1], targets [2L+1, bits], mask [2L+1] (L = length).
    """
    length, bits = sequence.shape
    inputs, targets, mask = empty_example(2 * length + 1, bits + 1, bits)
    inputs[:length, :bits] = sequence
    inputs[length, bits] = 1.0                # delimiter
    targets[length + 1:, :] = sequence
    mask[length + 1:] = 1.0
    return inputs, targets, mask


class CopyTask(Task):
    """Copy: reproduce a random binary sequence of length U{min_length..max_length} after a delimiter."""

    name = "copy"
    range_names = ("min_length", "max_length")
    length_range = ("min_length", "max_length")

    def __init__(self, bits: int = 8, min_length: int = 1, max_length: int = 20):
        self.bits = check_int("bits", bits, minimum=1)
        ranges = self._validate_ranges({"min_length": min_length, "max_length": max_length})
        self.min_length = ranges["min_length"]
        self.max_length = ranges["max_length"]
        self.input_size = self.bits + 1
        self.output_size = self.bits

    def config(self) -> dict:
        return {"bits": self.bits, "min_length": self.min_length, "max_length": self.max_length}

    def _validate_ranges(self, ranges: dict) -> dict:
        min_length = check_int("min_length", ranges["min_length"], minimum=1)
        max_length = check_int("max_length", ranges["max_length"], minimum=1)
        check_range("min_length", min_length, "max_length", max_length)
        return {"min_length": min_length, "max_length": max_length}

    def _max_time(self, ranges: dict) -> int:
        return 2 * ranges["max_length"] + 1

    def _sample_examples(self, batch_size: int, rng: np.random.Generator, ranges: dict) -> list[Example]:
        lengths = rng.integers(ranges["min_length"], ranges["max_length"] + 1, size=batch_size)
        return [build_copy_example(random_bits(rng, (length, self.bits))) for length in lengths]
