"""Curricula: which sequence lengths (or item and repeat counts) training draws from, and when they grow.

- ``"none"``: the task's full training ranges from the first step.
- ``"adaptive"``: every ``max_*`` range starts at its ``min_*`` value (or each range of the task's
  ``curriculum_start`` at the value given there: priority sort's vector counts) and grows in ``levels`` equal steps
  to the task's training value; training moves up one level whenever the mean training error since the last
  check falls below ``advance_below`` bits per sequence. Tasks with nothing to grow (N-grams) have a single level.
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
        start: range name -> the value it starts from (a task's ``curriculum_start``), for ranges that are not
            ``(min_x, max_x)`` pairs; a start above the task's value starts at that value. None: each ``max_x``
            starts at ``min_x``.
    """

    def __init__(self, kind, task_ranges, levels=5, advance_below=1.0, start=None):
        if kind not in CURRICULA:
            raise ValueError(f"unknown curriculum {kind!r}; choose one of {', '.join(CURRICULA)}")
        self.kind = kind
        self.task_ranges = dict(task_ranges)
        self.advance_below = advance_below
        if start is not None:
            self.growing = {name: (min(low, task_ranges[name]), task_ranges[name]) for name, low in start.items()}
        else:
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
