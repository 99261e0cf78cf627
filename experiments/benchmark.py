"""Speed and memory of the real training step, the one ``scripts/train.py`` runs.

Every configuration is built exactly as :func:`experiments.training.train` builds it: the paper configuration
from :func:`experiments.configs.default_config`, :func:`experiments.models.build_model`,
:func:`experiments.training.make_optimizer` (built before the first step) and the compiled step of
:func:`experiments.training.make_train_step` under the default ``tf.distribute`` strategy, fed batches drawn
from the task and padded to ``task.max_time()``. As in the training loop, a step is timed until its three
results are Python floats.

With ``batch_splits`` other than 1 (train.py ``--batch_splits``; 0, the default of both, is one part per
TensorFlow thread) each batch's gradient is computed in that many parts at once, one thread each, as train.py
does (:func:`experiments.training.make_train_step`).

With ``length_buckets`` > 1 (train.py ``--length_buckets``) a case holds one batch per length bucket, each
padded to its bucket's longest time, and one timed "step" runs a step of every bucket: its time is their
probability-weighted sum, the expected time of one training step, and ``time_steps`` is the expected padded
length. Compilation (one XLA program per bucket) is timed over all buckets.

How the numbers are taken (the machine may be shared, so timings are noisy):

- Every configuration is compiled (the first call, timed as ``compile_s``) before any timing starts.
- The configurations are then **interleaved**: in each round every configuration runs one step, in an order
  shuffled per round. ``warmup`` rounds are discarded, then ``steps`` rounds are timed. A load burst hits every
  configuration alike, so the ratios between them are meaningful even when absolute times drift.
- The table gives the median and the 10th/90th percentiles of the timed steps; ratios are ratios of medians
  (the JSON also holds the median of per-round ratios, which pairs steps taken at the same moment).
- Peak resident memory is per process. With ``isolate_memory`` (the default) every configuration is run again,
  alone, in a fresh subprocess (build, compile, ``warmup`` + 2 steps), and its ``VmHWM`` is reported
  (``peak_rss_mb``), together with the growth over the resident size just before the first step
  (``step_rss_mb``: compilation plus what the step keeps for backpropagation). Without it, the numbers are
  read in the benchmarking process itself and are cumulative over the configurations prepared before.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from experiments import configs

SWEEPS = ("none", "memory", "length")
#: ``--sweep=memory``: NTM memory rows.
MEMORY_SWEEP = (128, 256, 512, 1024)
#: ``--sweep=length``: copy lengths L (2L + 1 time steps).
LENGTH_SWEEP = (20, 100, 500)
#: Sweeps run the NTM at this batch size with XLA.
SWEEP_BATCH_SIZE = 32
#: The settings that tell one group of a sweep's rows from another (the rows of a group differ in memory size or
#: copy length only): see :func:`sweep_pairs`.
SWEEP_GROUP_FIELDS = ("model", "task", "batch_size", "jit_compile", "length_buckets", "batch_splits", "precision")

#: ``tiny=True``: models small enough to compile and run in a few seconds (for tests and smoke runs).
TINY_MODEL_KWARGS = {
    "ntm": dict(controller_units=16, memory_size=8, memory_width=5),
    "lstm": dict(units=8, layers=1),
    "dnc": dict(controller_units=16, memory_size=8, memory_width=5, read_heads=1),
}

#: Columns of the CSV, in order (the Markdown table shows a subset, see ``TABLE_COLUMNS``).
COLUMNS = (
    "model",
    "task",
    "batch_size",
    "jit_compile",
    "memory_size",
    "max_length",
    "length_buckets",
    "batch_splits",
    "precision",
    "time_steps",
    "parameters",
    "compile_s",
    "median_ms",
    "p10_ms",
    "p90_ms",
    "sequences_per_s",
    "ms_per_time_step",
    "us_per_sequence_step",
    "peak_rss_mb",
    "step_rss_mb",
    "memory_scope",
    "sample_ms",
    "timed_steps",
)

TABLE_COLUMNS = (
    ("model", "model"),
    ("batch_size", "batch"),
    ("jit_compile", "XLA"),
    ("memory_size", "N"),
    ("length_buckets", "buckets"),
    ("batch_splits", "parts"),
    ("precision", "precision"),  # only when a row is not float32
    ("time_steps", "T"),
    ("parameters", "params"),
    ("compile_s", "compile s"),
    ("median_ms", "step ms (median)"),
    ("p10_ms", "p10"),
    ("p90_ms", "p90"),
    ("sequences_per_s", "seq/s"),
    ("ms_per_time_step", "ms / time step"),
    ("peak_rss_mb", "peak RSS MB"),
    ("step_rss_mb", "step RSS MB"),
)


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
        """The :class:`~experiments.configs.ExperimentConfig` train.py would run for this case."""
        config = configs.default_config(self.task, self.model)
        config.model_kwargs.update(self.model_overrides)
        config.task_kwargs.update(self.task_overrides)
        config.batch_size = self.batch_size
        config.length_buckets = self.length_buckets
        config.precision = self.precision
        return config

    def label(self):
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


# --------------------------------------------------------------------------------------------------- machine


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _meminfo_gb():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def configure_threads(intra_op_threads):
    """Limit TensorFlow (and XLA:CPU) to ``intra_op_threads`` threads as ``train.py --threads`` does; 0 keeps
    TensorFlow's default.

    Must run before TensorFlow executes anything.
    """
    if intra_op_threads:
        from experiments import training

        training.set_threads(intra_op_threads)


def machine_info():
    """CPU, cores, memory, library versions and backend, as a dict (goes into the JSON and the table header)."""
    import keras
    import tensorflow as tf

    from experiments import training

    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": training.usable_cores(),
        "memory_gb": _meminfo_gb(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "backend": keras.backend.backend(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default",
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def cpu_times(stat_text=None):
    """The machine's CPU time counters: ``{"total", "steal"}`` clock ticks since boot, summed over its CPUs.

    Read from the ``cpu`` line of ``/proc/stat`` (or ``stat_text``): user, nice, system, idle, iowait, irq, softirq
    and steal time. "Steal" is time a virtual CPU was ready to run but its host ran something else; on a shared
    virtual machine it slows every step without showing in the load average. ``None`` where there is no such file
    (not Linux).
    """
    try:
        text = Path("/proc/stat").read_text() if stat_text is None else stat_text
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(x) for x in fields[1:9]] + [0] * (9 - len(fields))  # older kernels: no steal column
            return {"total": sum(ticks), "steal": ticks[7]}
    return None


def steal_percent(start, end):
    """Percent of the CPU time between two :func:`cpu_times` readings that was stolen by the host, or ``None``."""
    if not start or not end or end["total"] <= start["total"]:
        return None
    return round(100.0 * (end["steal"] - start["steal"]) / (end["total"] - start["total"]), 1)


def describe_machine(info):
    gpus = ", ".join(info["gpus"]) or "no GPU"
    return (f"{info['cpu_model']}, {info['usable_cores']} usable of {info['logical_cores']} logical cores, "
            f"{info['memory_gb']} GB RAM, {gpus}; TensorFlow {info['tensorflow']}, Keras {info['keras']} "
            f"(backend {info['backend']}), Python {info['python']}; TensorFlow threads {info['intra_op_threads']}; "
            f"load average at start "
            f"{' / '.join(str(x) for x in info['load_average'])}"
            + (f"; CPU time stolen by the host during the run {info['cpu_steal_percent']}%"
               if info.get("cpu_steal_percent") is not None else ""))


# ---------------------------------------------------------------------------------------------------- memory


def _proc_status_kb(field):
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mb():
    """This process's peak resident set size in MB (``VmHWM``, else ``ru_maxrss``)."""
    kb = _proc_status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":
            kb /= 1024
    return kb / 1024


def current_rss_mb():
    kb = _proc_status_kb("VmRSS")
    return None if kb is None else kb / 1024


# -------------------------------------------------------------------------------------------------- one case


class PreparedCase:
    """A case built, compiled and ready to step, as the training loop would run it."""

    def __init__(self, case, seed=0, num_batches=4):
        import keras
        import tensorflow as tf

        import tasks
        from experiments import training
        from experiments.models import build_model

        self.case = case
        config = case.config()
        self.config = config
        self.task = tasks.get_task(config.task, **config.task_kwargs)
        buckets = self.task.length_buckets(case.length_buckets)
        self.bucketed = len(buckets) > 1
        self.probabilities = [probability for _, probability in buckets]
        # The expected padded length of a batch (the task's longest without buckets).
        self.time_steps = (sum(p * self.task.max_time(**ranges) for ranges, p in buckets) if self.bucketed
                           else self.task.max_time())
        keras.utils.set_random_seed(seed)
        strategy = tf.distribute.get_strategy()
        with strategy.scope():
            self.model = build_model(config.model, self.task.input_size, self.task.output_size, config.precision,
                                     **config.model_kwargs)
            self.optimizer = training.make_optimizer(config)
            self.optimizer.build(self.model.trainable_variables)
        self.parameters = int(self.model.count_params())
        self.batch_splits = min(case.batch_splits or training.default_batch_splits(case.batch_size, case.jit_compile,
                                                                                   case.model), case.batch_size)
        self.train_step = training.make_train_step(self.model, self.optimizer, strategy, case.jit_compile,
                                                   self.batch_splits)
        sample_times, self.batches = [], []
        # Without buckets: num_batches batches, taken in turn. With: one per bucket, all run by every step.
        for k, (ranges, _) in enumerate(buckets if self.bucketed else [({}, 1.0)] * num_batches):
            started = time.perf_counter()
            batch = self.task.sample(case.batch_size, tasks.batch_rng(seed, k), pad_to=self.task.max_time(**ranges),
                                     **ranges)
            sample_times.append(time.perf_counter() - started)
            self.batches.append(tuple(tf.constant(a) for a in batch))
        self.sample_s = float(np.median(sample_times))
        self.steps_taken = 0
        self.compile_s = None

    def _run(self, batch):
        """One training step on ``batch``, timed until its results are Python floats; returns seconds."""
        started = time.perf_counter()
        loss, _, _ = (float(v) for v in self.train_step(*batch))
        elapsed = time.perf_counter() - started
        if not np.isfinite(loss):
            raise FloatingPointError(f"{self.case.label()}: the loss became {loss}")
        return elapsed

    def step(self):
        """One training step on the next batch; returns seconds. With length buckets: one step on every
        bucket's batch, and the probability-weighted sum of their times (the expected time of a step)."""
        if self.bucketed:
            self.steps_taken += 1
            return sum(p * self._run(batch) for p, batch in zip(self.probabilities, self.batches))
        batch = self.batches[self.steps_taken % len(self.batches)]
        self.steps_taken += 1
        return self._run(batch)

    def compile(self):
        """The first call (tracing, compilation and one step) on every bucket's batch. Returns (and stores) the
        wall time, summed over the buckets."""
        self.compile_s = sum(self._run(batch) for batch in self.batches) if self.bucketed else self.step()
        return self.compile_s


def measure_memory_in_subprocess(case, warmup, seed=0, intra_op_threads=0, timeout=3600):
    """Run ``case`` alone in a fresh Python process; returns ``{"peak_rss_mb", "step_rss_mb"}``.

    The child builds and compiles the case and takes ``warmup + 2`` steps; its ``VmHWM`` is the peak.
    """
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = ("import sys; from experiments import benchmark; "
            "benchmark._memory_worker(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])")
    arguments = [case.to_json(), str(warmup), str(seed), str(intra_op_threads)]
    result = subprocess.run([sys.executable, "-c", code, *arguments], env=env,
                            capture_output=True, text=True, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.startswith("MEMORY ")]
    if result.returncode != 0 or not lines:
        tail = (result.stdout + result.stderr)[-2000:]
        raise RuntimeError(f"memory measurement of {case.label()} failed (exit {result.returncode}):\n{tail}")
    return json.loads(lines[-1][len("MEMORY "):])


def _memory_worker(case_json, warmup, seed, intra_op_threads="0"):
    configure_threads(int(intra_op_threads))
    prepared = PreparedCase(Case.from_json(case_json), seed=int(seed))
    before = current_rss_mb()
    prepared.compile()
    for _ in range(int(warmup) + 2):
        prepared.step()
    peak = peak_rss_mb()
    print("MEMORY " + json.dumps({"peak_rss_mb": peak, "step_rss_mb": peak - before}), flush=True)


# ------------------------------------------------------------------------------------------------ the runner


def _percentile(values, q):
    return float(np.percentile(np.asarray(values), q))


def run_benchmark(cases, steps=30, warmup=5, seed=0, isolate_memory=True, intra_op_threads=0, printer=print):
    """Compile every case, then time ``steps`` interleaved rounds after ``warmup`` discarded rounds.

    Returns:
        ``(rows, samples)``: one dict per case with the keys in ``COLUMNS``, and per case label the list of
        timed step durations in seconds (round by round, for paired ratios).
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0; got steps={steps}, warmup={warmup}")
    prepared, memory = [], {}
    for case in cases:
        before = current_rss_mb()
        item = PreparedCase(case, seed=seed)
        item.compile()
        memory[case.label()] = {"peak_rss_mb": peak_rss_mb(), "step_rss_mb": max(0.0, peak_rss_mb() - (before or 0.0))}
        printer(f"compiled {case.label():40s} {item.compile_s:7.2f} s  (T={item.time_steps}, "
                f"{item.parameters:,} parameters)")
        prepared.append(item)

    order_rng = np.random.default_rng(seed)
    samples = {item.case.label(): [] for item in prepared}
    for round_index in range(warmup + steps):
        for index in order_rng.permutation(len(prepared)):
            item = prepared[index]
            elapsed = item.step()
            if round_index >= warmup:
                samples[item.case.label()].append(elapsed)
    printer(f"timed {steps} interleaved rounds of {len(prepared)} configurations after {warmup} warm-up rounds")

    scope = "shared process (cumulative)"
    if isolate_memory:
        scope = "isolated process"
        for case in cases:
            memory[case.label()] = measure_memory_in_subprocess(case, warmup, seed, intra_op_threads)
            printer(f"memory   {case.label():40s} peak {memory[case.label()]['peak_rss_mb']:8.0f} MB")

    rows = []
    for item in prepared:
        label = item.case.label()
        times = samples[label]
        median = float(np.median(times))
        rows.append({
            "model": item.case.model,
            "task": item.case.task,
            "batch_size": item.case.batch_size,
            "jit_compile": item.case.jit_compile,
            "memory_size": item.config.model_kwargs.get("memory_size", ""),
            "max_length": item.config.task_kwargs.get("max_length", ""),
            "length_buckets": item.case.length_buckets,
            "batch_splits": item.batch_splits,
            "precision": item.case.precision,
            "time_steps": item.time_steps,
            "parameters": item.parameters,
            "compile_s": item.compile_s,
            "median_ms": 1e3 * median,
            "p10_ms": 1e3 * _percentile(times, 10),
            "p90_ms": 1e3 * _percentile(times, 90),
            "sequences_per_s": item.case.batch_size / median,
            "ms_per_time_step": 1e3 * median / item.time_steps,
            "us_per_sequence_step": 1e6 * median / (item.time_steps * item.case.batch_size),
            "peak_rss_mb": memory[label]["peak_rss_mb"],
            "step_rss_mb": memory[label]["step_rss_mb"],
            "memory_scope": scope,
            "sample_ms": 1e3 * item.sample_s,
            "timed_steps": len(times),
        })
    return rows, samples


def _key(row, *fields):
    return tuple(row[f] for f in fields)


def _describe_field(field, value):
    """``field``'s value as words for a ratio's description (``"2 parts"``, ``"XLA on"``, ``"batch 32"``)."""
    if field == "jit_compile":
        return f"XLA {'on' if value else 'off'}"
    if field == "batch_splits":
        return f"{value} part{'s' if value > 1 else ''}"
    if field == "length_buckets":
        return f"{value} length bucket{'s' if value > 1 else ''}"
    if field == "batch_size":
        return f"batch {value}"
    return str(value)


def _varying(rows, *fields):
    """The ``fields`` that take more than one value across ``rows`` (an LSTM row has no memory size: "")."""
    return [field for field in fields if len({row[field] for row in rows} - {"", None}) > 1]


def sweep_pairs(rows, group_fields=SWEEP_GROUP_FIELDS):
    """For sweeps: ``(i, j, description)`` for every row ``rows[i]`` that is not the first of its group, ``j`` the
    index of that first row (the smallest, in the order :func:`make_cases` gives).

    A group is the rows equal in ``group_fields`` (they differ in memory size or copy length). Where the rows form
    several groups, the description names the fields that tell them apart, e.g.
    ``"N=1024, T=41 vs N=128, T=41: step time, 2 parts"``.
    """
    distinguishing = _varying(rows, *group_fields)
    firsts = {}
    for i, row in enumerate(rows):
        j = firsts.setdefault(_key(row, *group_fields), i)
        if j != i:
            base = rows[j]
            context = "".join(f", {_describe_field(field, row[field])}" for field in distinguishing)
            yield i, j, (f"N={row['memory_size']}, T={row['time_steps']} vs N={base['memory_size']}, "
                         f"T={base['time_steps']}: step time{context}")


def compute_ratios(rows, samples, cases):
    """Ratios of median step times between configurations timed side by side.

    - ``ntm_over_lstm`` (and ``dnc_over_lstm``): same task, batch and XLA setting.
    - ``jit_speedup``: step time without XLA over step time with XLA, same model and batch.
      These two compare cases that asked for the same ``batch_splits``: with the default 0 each runs as train.py
      would run it, in the parts its model and XLA setting get by default.
    - ``bucket_speedup``: step time without length buckets over step time with them (the expected step time),
      same model, batch, XLA setting and memory size: how much faster training goes per sequence.
    - ``split_speedup``: step time of the whole batch in one program over step time in several parts at once,
      same model, batch, XLA setting, memory size and buckets.
    - ``precision_speedup``: float32 step time over mixed-precision step time, all else the same.
    - ``vs_smallest``: for sweeps, within each group of rows that differ only in memory size or copy length,
      each row's step time (and time per time step) over the group's first's (the smallest).

    Where the run varies the memory size or copy length, the other ratios' descriptions name them.

    All but ``precision_speedup`` compare rows of one precision.

    Each ratio also carries ``paired``: the median over rounds of the ratio of the two steps of that round.
    """
    labels = [case.label() for case in cases]
    by_label = dict(zip(labels, rows))
    # Models and XLA settings are compared as train.py runs them: at the batch parts asked for (0: each its default).
    requested = {label: case.batch_splits for label, case in zip(labels, cases)}
    ratios = []

    def add(kind, numerator, denominator, description):
        a, b = samples[numerator], samples[denominator]
        ratios.append({
            "kind": kind,
            "description": description,
            "numerator": numerator,
            "denominator": denominator,
            "ratio": by_label[numerator]["median_ms"] / by_label[denominator]["median_ms"],
            "paired": float(np.median(np.asarray(a) / np.asarray(b))),
        })

    for label, row in by_label.items():
        if row["model"] in ("ntm", "dnc"):
            for other_label, other in by_label.items():
                if other["model"] == "lstm" and requested[other_label] == requested[label] and \
                        _key(other, "task", "batch_size", "jit_compile", "time_steps", "precision") == \
                        _key(row, "task", "batch_size", "jit_compile", "time_steps", "precision"):
                    add(f"{row['model']}_over_lstm", label, other_label,
                        f"{row['model']} / lstm step time, batch {row['batch_size']}, "
                        f"XLA {'on' if row['jit_compile'] else 'off'}")
    for label, row in by_label.items():
        if not row["jit_compile"]:
            for other_label, other in by_label.items():
                if other["jit_compile"] and requested[other_label] == requested[label] and \
                        _key(other, "model", "task", "batch_size", "memory_size", "time_steps", "precision") == \
                        _key(row, "model", "task", "batch_size", "memory_size", "time_steps", "precision"):
                    add("jit_speedup", label, other_label,
                        f"{row['model']} XLA speed-up (off / on), batch {row['batch_size']}")
    swept = _varying(rows, "memory_size", "max_length")

    def sizes(row):
        # The memory size and copy length of the row, where the run varies them.
        return "".join(f", {'N' if field == 'memory_size' else 'length'}={row[field]}" for field in swept
                       if row[field] not in ("", None))

    def speedups(field, kind, noun, other_field, other_noun):
        # Rows with ``field`` 1 against rows with ``field`` > 1 that agree in everything else that is varied.
        same = ("model", "task", "batch_size", "jit_compile", "memory_size", "max_length", "precision", other_field)
        for label, row in by_label.items():
            for other_label, other in by_label.items():
                if row[field] == 1 and other[field] > 1 and _key(other, *same) == _key(row, *same):
                    add(kind, label, other_label,
                        f"{row['model']} speed-up from {other[field]} {noun} (step time without / with), "
                        f"batch {row['batch_size']}, XLA {'on' if row['jit_compile'] else 'off'}"
                        + (f", {row[other_field]} {other_noun}" if row[other_field] > 1 else "") + sizes(row))

    speedups("length_buckets", "bucket_speedup", "length buckets", "batch_splits", "parts")
    speedups("batch_splits", "split_speedup", "batch parts at once", "length_buckets", "buckets")
    same = ("model", "task", "batch_size", "jit_compile", "memory_size", "max_length", "length_buckets", "batch_splits")
    for label, row in by_label.items():
        for other_label, other in by_label.items():
            if row["precision"] == "float32" != other["precision"] and _key(other, *same) == _key(row, *same):
                add("precision_speedup", label, other_label,
                    f"{row['model']} {other['precision']} speed-up (float32 / {other['precision']}), "
                    f"batch {row['batch_size']}, XLA {'on' if row['jit_compile'] else 'off'}" + sizes(row))
    for i, j, description in sweep_pairs(rows):
        add("vs_smallest", labels[i], labels[j], description)
        ratios[-1]["per_time_step"] = rows[i]["ms_per_time_step"] / rows[j]["ms_per_time_step"]
    return ratios


# ------------------------------------------------------------------------------------------------- reporting


def _format(value, column):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        if column in ("sequences_per_s", "peak_rss_mb", "step_rss_mb"):
            return f"{value:,.0f}"
        if column in ("compile_s",):
            return f"{value:.1f}"
        if column in ("ms_per_time_step", "us_per_sequence_step"):
            return f"{value:.3f}"
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    if isinstance(value, int) and column == "parameters":
        return f"{value:,}"
    return str(value)


def markdown_table(rows, columns=TABLE_COLUMNS):
    """``rows`` (dicts) as a Markdown table of ``columns``, ``(key, title)`` pairs; text columns left-aligned."""
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "|".join("---" if c in ("model", "precision") else "---:" for c, _ in columns) + "|"]
    lines += ["| " + " | ".join(_format(row[c], c) for c, _ in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_report(rows, ratios, machine, command, steps, warmup):
    """The results as Markdown: a header naming the machine and the command, the table and the ratios."""
    out = io.StringIO()
    out.write(f"Machine: {describe_machine(machine)}.\n\n")
    out.write(f"Command: `{command}`\n\n")
    scope = rows[0]["memory_scope"] if rows else ""
    out.write(f"Median and 10th/90th percentiles of {steps} timed training steps per configuration, interleaved "
              f"round by round after {warmup} warm-up rounds; compile s = wall time of the first call (trace, "
              f"compile, one step); ms / time step = median / T; peak RSS = VmHWM of the {scope}; "
              f"step RSS = its growth from just before the first step.")
    if any(row["length_buckets"] > 1 for row in rows):
        out.write(" With length buckets, a step is one step on a batch of every bucket, its time their "
                  "probability-weighted sum (the expected time of a training step), T the expected padded length "
                  "and compile s the sum over the buckets.")
    out.write("\n\n")
    mixed = any(row["precision"] != "float32" for row in rows)
    out.write(markdown_table(rows, [(c, title) for c, title in TABLE_COLUMNS if c != "precision" or mixed]))
    if ratios:
        out.write("\n| ratio | median / median | paired per round |\n|---|---:|---:|\n")
        for ratio in ratios:
            extra = f" (per time step {ratio['per_time_step']:.2f})" if "per_time_step" in ratio else ""
            out.write(f"| {ratio['description']} | {ratio['ratio']:.2f}{extra} | {ratio['paired']:.2f} |\n")
    return out.getvalue()


def write_results(output_dir, name, rows, ratios, machine, command, settings, markdown):
    """Write ``<name>.csv``, ``<name>.json`` and ``<name>.md`` into ``output_dir``; returns their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: output_dir / f"{name}.{kind}" for kind in ("csv", "json", "md")}
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    paths["json"].write_text(json.dumps({
        "machine": machine,
        "command": command,
        "settings": settings,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "columns": list(COLUMNS),
        "results": rows,
        "ratios": ratios,
    }, indent=2))
    paths["md"].write_text(markdown)
    return paths


def default_name(task, models, sweep):
    return f"{task}_sweep_{sweep}" if sweep != "none" else f"{task}_{'_'.join(models)}"


def benchmark(cases, output_dir="benchmarks", name="benchmark", steps=30, warmup=5, seed=0, isolate_memory=True,
              intra_op_threads=0, command="", printer=print, profile_steps=0):
    """Run :func:`run_benchmark`, print the Markdown table and write CSV, JSON and Markdown.

    With ``profile_steps``, also trace that many steps of every XLA case and write the time per kernel group and
    the slowest kernels to ``<name>_profile.md`` (:mod:`experiments.profiling`).

    Returns:
        dict with ``rows``, ``ratios``, ``machine``, ``markdown`` and ``paths``.
    """
    configure_threads(intra_op_threads)
    machine = machine_info()
    printer(describe_machine(machine))
    started = cpu_times()
    rows, samples = run_benchmark(cases, steps=steps, warmup=warmup, seed=seed, isolate_memory=isolate_memory,
                                  intra_op_threads=intra_op_threads, printer=printer)
    machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    machine["cpu_steal_percent"] = steal_percent(started, cpu_times())
    ratios = compute_ratios(rows, samples, cases)
    markdown = markdown_report(rows, ratios, machine, command, steps, warmup)
    settings = {"steps": steps, "warmup": warmup, "seed": seed, "isolate_memory": isolate_memory,
                "intra_op_threads": intra_op_threads,
                "cases": [dataclasses.asdict(c) for c in cases]}
    paths = write_results(output_dir, name, rows, ratios, machine, command, settings, markdown)
    printer("")
    printer(markdown)
    if profile_steps:
        from experiments import profiling

        profile = profiling.profile_cases(cases, steps=profile_steps, seed=seed, printer=printer)
        paths["profile"] = Path(output_dir) / f"{name}_profile.md"
        paths["profile"].write_text(f"{describe_machine(machine)}\n\nCommand: `{command}`\n\n{profile}")
        printer(profile)
    printer("Wrote " + ", ".join(str(p) for p in paths.values()))
    return {"rows": rows, "ratios": ratios, "machine": machine, "markdown": markdown, "paths": paths}
