"""Algorithmic tasks of Graves et al. 2014 (§4.1–4.5): data generation and metrics.

Every task has `input_size`, `output_size` and

    sample(batch_size, rng, pad_to=None, **range_overrides) -> (inputs [B, T, I], targets [B, T, O], mask [B, T])
    max_time(**range_overrides) -> int
    dataset(batch_size, seed, pad_to=None, skip_batches=0, **range_overrides) -> infinite tf.data.Dataset

The mask is 1 exactly on the answer steps. Losses and metrics are in `ntm_cell.tasks.metrics` (imported on demand,
since it loads Keras). This package imports nothing from the model code.
"""

from ntm_cell.tasks.associative_recall import AssociativeRecallTask
from ntm_cell.tasks.base import Task, batch_rng, format_example
from ntm_cell.tasks.copy import CopyTask
from ntm_cell.tasks.ngrams import NGramsTask
from ntm_cell.tasks.priority_sort import PrioritySortTask
from ntm_cell.tasks.repeat_copy import RepeatCopyTask

TASKS: dict[str, type[Task]] = {
    "copy": CopyTask,
    "repeat_copy": RepeatCopyTask,
    "associative_recall": AssociativeRecallTask,
    "ngrams": NGramsTask,
    "priority_sort": PrioritySortTask,
}


def get_task(name: str, **kwargs) -> Task:
    """Builds the task registered as `name` with constructor arguments `kwargs`; ValueError for an unknown name."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name](**kwargs)


__all__ = [
    "AssociativeRecallTask",
    "CopyTask",
    "NGramsTask",
    "PrioritySortTask",
    "RepeatCopyTask",
    "TASKS",
    "Task",
    "batch_rng",
    "format_example",
    "get_task",
]
