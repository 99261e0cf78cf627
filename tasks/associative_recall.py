"""Associative recall task (Graves et al. 2014, §4.3).

`num_items` (U{min_items..max_items}) distinct items are shown, each `item_length` random `bits`-bit vectors
preceded by one step with the item delimiter on. Then a query delimiter step, a copy of one item other than the
last (chosen uniformly) as the query, the query delimiter again, and `item_length` steps of zero input during
which the target is the item that followed the query item. All items in one sequence are distinct, so the answer
is unambiguous. Total time num_items*(item_length+1) + 2*item_length + 2.

Channels: input_size = bits + 2 (0..bits-1 data, `bits` item delimiter, `bits+1` query delimiter);
output_size = bits. The mask is 1 on the `item_length` answer steps.

Example, bits=2, item_length=2, 3 items, query = item 0, so the answer is item 1 ('.' is 0):

    time                 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14
    in  bit 0            .  1  .  .  1  1  .  .  .  .  1  .  .  .  .
    in  bit 1            .  .  1  .  1  .  .  1  1  .  .  1  .  .  .
    in  item delimiter   1  .  .  1  .  .  1  .  .  .  .  .  .  .  .
    in  query delimiter  .  .  .  .  .  .  .  .  .  1  .  .  1  .  .
    out bit 0            .  .  .  .  .  .  .  .  .  .  .  .  .  1  1
    out bit 1            .  .  .  .  .  .  .  .  .  .  .  .  .  1  .
    mask                 .  .  .  .  .  .  .  .  .  .  .  .  .  1  1
"""

from __future__ import annotations

import numpy as np

from ntm_cell.arguments import check_int
from ntm_cell.tasks.base import Example, Task, check_range, empty_example, random_bits


def recall_time(num_items: int, item_length: int) -> int:
    """Time steps of an example: items with their delimiters, bracketed query, answer."""
    return num_items * (item_length + 1) + 2 * item_length + 2


def build_recall_example(items: np.ndarray, query_index: int) -> Example:
    """Lays out one associative-recall example.

    Args:
      items: [num_items, item_length, bits] binary vectors.
      query_index: which item is the query, 0 <= query_index < num_items - 1; the target is item query_index+1.
    Returns:
      inputs [T, bits+2], targets [T, bits], mask [T] with T = recall_time(num_items, item_length).
    """
    num_items, item_length, bits = items.shape
    if not 0 <= query_index < num_items - 1:
        raise ValueError(f"query_index must be in [0, {num_items - 2}], got query_index={query_index}")
    item_delimiter, query_delimiter = bits, bits + 1
    inputs, targets, mask = empty_example(recall_time(num_items, item_length), bits + 2, bits)
    for index, item in enumerate(items):
        start = index * (item_length + 1)
        inputs[start, item_delimiter] = 1.0
        inputs[start + 1:start + 1 + item_length, :bits] = item
    query_start = num_items * (item_length + 1)
    inputs[query_start, query_delimiter] = 1.0
    inputs[query_start + 1:query_start + 1 + item_length, :bits] = items[query_index]
    inputs[query_start + 1 + item_length, query_delimiter] = 1.0
    answer_start = query_start + item_length + 2
    targets[answer_start:, :] = items[query_index + 1]
    mask[answer_start:] = 1.0
    return inputs, targets, mask


def items_are_distinct(items: np.ndarray) -> bool:
    """Whether the binary items [num_items, item_length, bits] are pairwise distinct.

    Items of up to 62 bits are compared as the integers their bits spell (this check ran for every sequence, and
    ``np.unique(..., axis=0)`` made the associative-recall batches slow to draw); longer ones row by row.
    """
    flat = items.reshape(len(items), -1)
    if flat.shape[1] <= 62:
        codes = flat.astype(np.int64) @ (np.int64(1) << np.arange(flat.shape[1], dtype=np.int64))
        return len(set(codes.tolist())) == len(items)
    return len(np.unique(flat, axis=0)) == len(items)


def draw_distinct_items(rng: np.random.Generator, num_items: int, item_length: int, bits: int) -> np.ndarray:
    """[num_items, item_length, bits] random binary items, pairwise distinct (redrawn until they are)."""
    while True:
        items = random_bits(rng, (num_items, item_length, bits))
        if items_are_distinct(items):
            return items


class AssociativeRecallTask(Task):
    """Associative recall: after the items and a query item, output the item that followed the query."""

    name = "associative_recall"
    range_names = ("min_items", "max_items")
    length_range = ("min_items", "max_items")

    def __init__(self, bits: int = 6, item_length: int = 3, min_items: int = 2, max_items: int = 6):
        self.bits = check_int("bits", bits, minimum=1)
        self.item_length = check_int("item_length", item_length, minimum=1)
        ranges = self._validate_ranges({"min_items": min_items, "max_items": max_items})
        self.min_items = ranges["min_items"]
        self.max_items = ranges["max_items"]
        self.input_size = self.bits + 2
        self.output_size = self.bits

    def config(self) -> dict:
        return {"bits": self.bits, "item_length": self.item_length, **self.ranges}

    def _validate_ranges(self, ranges: dict) -> dict:
        min_items = check_int("min_items", ranges["min_items"], minimum=2)
        max_items = check_int("max_items", ranges["max_items"], minimum=2)
        check_range("min_items", min_items, "max_items", max_items)
        distinct_items = 2 ** (self.bits * self.item_length)
        if max_items > distinct_items:
            raise ValueError(f"max_items={max_items} exceeds the {distinct_items} distinct items of "
                             f"item_length={self.item_length} x bits={self.bits}")
        return {"min_items": min_items, "max_items": max_items}

    def _max_time(self, ranges: dict) -> int:
        return recall_time(ranges["max_items"], self.item_length)

    def _sample_examples(self, batch_size: int, rng: np.random.Generator, ranges: dict) -> list[Example]:
        counts = rng.integers(ranges["min_items"], ranges["max_items"] + 1, size=batch_size)
        examples = []
        for num_items in counts:
            items = draw_distinct_items(rng, int(num_items), self.item_length, self.bits)
            query_index = int(rng.integers(0, num_items - 1))
            examples.append(build_recall_example(items, query_index))
        return examples
