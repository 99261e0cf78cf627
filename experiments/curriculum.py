"""Curricula: which sequence lengths (or item and repeat counts) training draws from, and when they grow.

- ``"none"``: the task's full training ranges from the first step.
- ``"adaptive"``: every ``max_*`` range starts at its ``min_*`` value and grows in ``levels`` equal steps to
  the task's training maximum; training moves up one level whenever the mean training error since the last
  check falls below ``advance_below`` bits per sequence. Tasks without such ranges (N-grams, priority sort)
  have a single level.
"""

import math

from ntm_cell.experiments.configs import CURRICULA


class Curriculum:
    """Maps a curriculum level to range overrides for a task's ``sample``/``dataset``.

    Args:
        kind: ``"none"`` or ``"adaptive"``.
        task_ranges: the task's training ranges, e.g. ``{"min_length": 1, "max_length": 20}``.
        levels: number of growth steps of the adaptive curriculum.
        advance_below: bit errors per sequence under which the adaptive curriculum moves up.
    """

    def __init__(self, kind, task_ranges, levels=5, advance_below=1.0):
        if kind not in CURRICULA:
            raise ValueError(f"unknown curriculum {kind!r}; choose one of {', '.join(CURRICULA)}")
        self.kind = kind
        self.task_ranges = dict(task_ranges)
        self.advance_below = advance_below
        self.growing = {
            name: (task_ranges["min_" + name[4:]], value)
            for name, value in task_ranges.items()
            if name.startswith("max_") and "min_" + name[4:] in task_ranges
        }
        adaptive = kind == "adaptive" and any(low < high for low, high in self.growing.values())
        self.final_level = levels if adaptive else 0

    def ranges(self, level):
        """Range overrides at ``level`` (0 .. ``final_level``); the training ranges at the final level."""
        level = min(max(int(level), 0), self.final_level)
        if level == self.final_level:
            return dict(self.task_ranges)
        fraction = level / self.final_level
        ranges = dict(self.task_ranges)
        for name, (low, high) in self.growing.items():
            ranges[name] = low + math.ceil((high - low) * fraction)
        return ranges

    def next_level(self, level, mean_bit_errors):
        """The level after a check at which training made ``mean_bit_errors`` per sequence."""
        if level < self.final_level and mean_bit_errors < self.advance_below:
            return level + 1
        return level
