"""The configurations a benchmark compares: :class:`Case` (a model on a task at a batch size, XLA on or off, and
train.py's batch parts, length buckets and precision), the sweeps, and :func:`make_cases`, which makes them from
``scripts/benchmark.py``'s flags.
"""

from __future__ import annotations

import dataclasses
import json

from ntm_cell.experiments import configs

SWEEPS = ("none", "memory", "length")
#: ``--sweep=memory``: NTM memory rows.
MEMORY_SWEEP = (128, 256, 512, 1024)
#: ``--sweep=length``: copy lengths L (2L + 1 time steps).
LENGTH_SWEEP = (20, 100, 500)
#: Sweeps run the NTM at this batch size with XLA.
SWEEP_BATCH_SIZE = 32
#: The settings that tell one group of a sweep's rows from another (the rows of a group differ in memory size or
#: copy length only): see :func:`ntm_cell.experiments.bench.ratios.sweep_pairs`.
SWEEP_GROUP_FIELDS = ("model", "task", "batch_size", "jit_compile", "length_buckets", "batch_splits", "precision")

#: ``tiny=True``: models small enough to compile and run in a few seconds (for tests and smoke runs).
TINY_MODEL_KWARGS = {
    "ntm": dict(controller_units=16, memory_size=8, memory_width=5),
    "lstm": dict(units=8, layers=1),
    "dnc": dict(controller_units=16, memory_size=8, memory_width=5, read_heads=1),
}


@dataclasses.dataclass
class Case:
    """One configuration to time: a model on a task at a batch size, with or without XLA.

    Attributes:
        model: ``"ntm"``, ``"lstm"`` or ``"dnc"``.
        task: task name.
        batch_size: sequences per step.
        jit_compile: compile the step with XLA.
        model_overrides: replaces entries of the paper configuration's ``model_kwargs``.
        task_overrides: replaces entries of its ``task_kwargs`` (e.g. ``max_length``).
        length_buckets: batches drawn and padded per length bucket, as train.py ``--length_buckets`` (1: off).
        batch_splits: parts each batch's gradient is computed in at once, as train.py ``--batch_splits`` (0: one
            per TensorFlow thread, train.py's default; 1: the whole batch in one program).
        precision: the Keras dtype policy, as train.py ``--precision``.
    """

    model: str
    task: str = "copy"
    batch_size: int = 32
    jit_compile: bool = True
    model_overrides: dict = dataclasses.field(default_factory=dict)
    task_overrides: dict = dataclasses.field(default_factory=dict)
    length_buckets: int = 1
    batch_splits: int = 1
    precision: str = "float32"

    def config(self):
        """The :class:`~ntm_cell.experiments.configs.ExperimentConfig` train.py would run for this case."""
        config = configs.default_config(self.task, self.model)
        config.model_kwargs.update(self.model_overrides)
        config.task_kwargs.update(self.task_overrides)
        config.batch_size = self.batch_size
        config.length_buckets = self.length_buckets
        config.precision = self.precision
        return config

    def label(self):
        """The case's name in printouts, tables and ratios, e.g. ``"ntm b32 xla memory_size=256 parts=2"``; unique
        among the cases of one run."""
        parts = [self.model, f"b{self.batch_size}", "xla" if self.jit_compile else "noxla"]
        parts += [f"{k}={v}" for k, v in sorted({**self.model_overrides, **self.task_overrides}.items())]
        if self.length_buckets > 1:
            parts.append(f"buckets={self.length_buckets}")
        if self.batch_splits != 1:
            parts.append(f"parts={self.batch_splits or 'auto'}")
        if self.precision != "float32":
            parts.append(self.precision)
        return " ".join(parts)

    def to_json(self):
        """The case as JSON (:meth:`from_json` reads it back), to hand it to a subprocess."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


def parse_bools(values):
    """``["true", "false"]``, ``["both"]``, ``["on"]``... -> a list of distinct bools, in the order given."""
    names = {"true": [True], "on": [True], "1": [True], "yes": [True],
             "false": [False], "off": [False], "0": [False], "no": [False], "both": [True, False]}
    result = []
    for value in values:
        key = str(value).strip().lower()
        if key not in names:
            raise ValueError(f"not a boolean: {value!r} (use true, false or both)")
        result += [b for b in names[key] if b not in result]
    return result


def make_cases(models=("ntm", "lstm"), task="copy", batch_sizes=(1, 32), jit_compile=(True, False), sweep="none",
               tiny=False, memory_size=None, max_length=None, length_buckets=(1,), batch_splits=(1,),
               precision=("float32",)):
    """The configurations a benchmark run compares.

    Args:
        models: model names; ignored by the sweeps (which time the NTM).
        task: task name.
        batch_sizes: ignored by the sweeps (batch ``SWEEP_BATCH_SIZE``).
        jit_compile: list of bools; ignored by the sweeps (XLA on).
        sweep: ``"none"``, ``"memory"`` (``MEMORY_SWEEP`` rows) or ``"length"`` (copy lengths ``LENGTH_SWEEP``).
        tiny: shrink every model to ``TINY_MODEL_KWARGS`` (for tests).
        memory_size: memory rows of the NTM and DNC (``None``: the paper's).
        max_length: overrides the task's ``max_length`` (copy, repeat copy).
        length_buckets: the ``length_buckets`` values to time (each case of the sweeps or of models x batch
            sizes x XLA settings once per value).
        batch_splits: the ``batch_splits`` values to time, likewise (0: one part per TensorFlow thread).
        precision: the dtype policies to time (``configs.PRECISIONS``), likewise.

    Raises:
        ValueError: unknown sweep, model or task, ``max_length`` for a task without one, a batch size or a
            length bucket count < 1, a batch split count < 0 or an unknown precision.
    """
    if sweep not in SWEEPS:
        raise ValueError(f"unknown sweep {sweep!r}; choose one of {', '.join(SWEEPS)}")
    for model in models:
        configs.default_config(task, model)  # raises on an unknown task or model
    if not models:
        raise ValueError("no model to benchmark")
    if not batch_sizes or any(int(b) != b or b < 1 for b in batch_sizes):
        raise ValueError("batch sizes must be >= 1")
    if not length_buckets or any(int(k) != k or k < 1 for k in length_buckets):
        raise ValueError(f"length_buckets must be integers >= 1, got {list(length_buckets)}")
    if not batch_splits or any(int(k) != k or k < 0 for k in batch_splits):
        raise ValueError(f"batch_splits must be integers >= 0, got {list(batch_splits)}")
    if not precision or any(p not in configs.PRECISIONS for p in precision):
        raise ValueError(f"precision must be among {', '.join(configs.PRECISIONS)}, got {list(precision)}")
    task_overrides = {}
    if max_length is not None:
        if "max_length" not in configs.TASK_KWARGS[task]:
            raise ValueError(f"task {task!r} has no max_length to override")
        task_overrides["max_length"] = max_length

    def model_overrides(model):
        overrides = dict(TINY_MODEL_KWARGS[model]) if tiny else {}
        if memory_size is not None and model != "lstm":
            overrides["memory_size"] = memory_size
        return overrides

    variants = [(buckets, splits, p) for buckets in length_buckets for splits in batch_splits for p in precision]
    if sweep == "memory":
        return [Case("ntm", task, SWEEP_BATCH_SIZE, True, dict(model_overrides("ntm"), memory_size=n),
                     dict(task_overrides), *variant) for variant in variants for n in MEMORY_SWEEP]
    if sweep == "length":
        if task != "copy":
            raise ValueError("--sweep=length times the copy task")
        return [Case("ntm", task, SWEEP_BATCH_SIZE, True, model_overrides("ntm"), dict(task_overrides, max_length=n),
                     *variant) for variant in variants for n in LENGTH_SWEEP]
    return [Case(model, task, batch, jit, model_overrides(model), dict(task_overrides), *variant)
            for model in models for batch in batch_sizes for jit in jit_compile for variant in variants]


def default_name(task, models, sweep):
    """The base name of a run's output files: ``<task>_<models>``, or ``<task>_sweep_<sweep>`` for a sweep."""
    return f"{task}_sweep_{sweep}" if sweep != "none" else f"{task}_{'_'.join(models)}"
