"""Priority sort task (Graves et al. 2014, §4.5).

`num_inputs` random binary vectors are shown, one per step, each with a scalar priority drawn from U[-1, 1] on its
own input channel. Then one step with the delimiter on, then `num_outputs` steps of zero input during which the
target is the `num_outputs` highest-priority vectors in order of descending priority.
Total time num_inputs + 1 + num_outputs.

Channels: input_size = bits + 2 (0..bits-1 data, `bits` priority, `bits+1` delimiter); output_size = bits.
The mask is 1 on the `num_outputs` answer steps.

Example, bits=2, num_inputs=4, num_outputs=3, priorities (0.3, -0.6, 0.9, 0.1): the target is
vector 2, vector 0, vector 3 ('.' is 0):

    time             0    1    2    3    4    5    6    7
    in  bit 0        1    1    .    1    .    .    .    .
    in  bit 1        .    1    1    1    .    .    .    .
    in  priority  +0.3 -0.6 +0.9 +0.1    .    .    .    .
    in  delimiter    .    .    .    .    1    .    .    .
    out bit 0        .    .    .    .    .    .    1    1
    out bit 1        .    .    .    .    .    1    .    1
    mask             .    .    .    .    .    1    1    1
"""

from __future__ import annotations

import numpy as np

from ntm_cell.arguments import check_int
from ntm_cell.tasks.base import Example, Task, check_range, empty_example, random_bits


def build_priority_sort_example(vectors: np.ndarray, priorities: np.ndarray, num_outputs: int) -> Example:
    """Lays out one priority-sort example.

    Args:
      vectors: [num_inputs, bits] binary vectors.
      priorities: [num_inputs] scalar priorities.
      num_outputs: how many of the highest-priority vectors the target holds, <= num_inputs.
    Returns:
      inputs [T, bits+2], targets [T, bits], mask [T] with T = num_inputs + 1 + num_outputs.
    """
    num_inputs, bits = vectors.shape
    inputs, targets, mask = empty_example(num_inputs + 1 + num_outputs, bits + 2, bits)
    inputs[:num_inputs, :bits] = vectors
    inputs[:num_inputs, bits] = priorities
    inputs[num_inputs, bits + 1] = 1.0               # delimiter
    order = np.argsort(-priorities, kind="stable")[:num_outputs]
    targets[num_inputs + 1:, :] = vectors[order]
    mask[num_inputs + 1:] = 1.0
    return inputs, targets, mask


class PrioritySortTask(Task):
    """Priority sort: output the num_outputs highest-priority of num_inputs vectors, by descending priority."""

    name = "priority_sort"
    range_names = ("num_inputs", "num_outputs")
    #: A curriculum starts from 4 vectors and the 3 highest of them, and grows both to the task's counts.
    curriculum_start = {"num_inputs": 4, "num_outputs": 3}

    def __init__(self, bits: int = 8, num_inputs: int = 20, num_outputs: int = 16):
        self.bits = check_int("bits", bits, minimum=1)
        ranges = self._validate_ranges({"num_inputs": num_inputs, "num_outputs": num_outputs})
        self.num_inputs = ranges["num_inputs"]
        self.num_outputs = ranges["num_outputs"]
        self.input_size = self.bits + 2
        self.output_size = self.bits

    def config(self) -> dict:
        return {"bits": self.bits, **self.ranges}

    def _validate_ranges(self, ranges: dict) -> dict:
        num_inputs = check_int("num_inputs", ranges["num_inputs"], minimum=1)
        num_outputs = check_int("num_outputs", ranges["num_outputs"], minimum=1)
        check_range("num_outputs", num_outputs, "num_inputs", num_inputs)
        return {"num_inputs": num_inputs, "num_outputs": num_outputs}

    def _max_time(self, ranges: dict) -> int:
        return ranges["num_inputs"] + 1 + ranges["num_outputs"]

    def _sample_examples(self, batch_size: int, rng: np.random.Generator, ranges: dict) -> list[Example]:
        examples = []
        for _ in range(batch_size):
            vectors = random_bits(rng, (ranges["num_inputs"], self.bits))
            priorities = rng.uniform(-1.0, 1.0, size=ranges["num_inputs"]).astype(np.float32)
            examples.append(build_priority_sort_example(vectors, priorities, ranges["num_outputs"]))
        return examples
