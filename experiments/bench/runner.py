"""Speed and memory of the real training step, the one ``scripts/train.py`` runs: :func:`benchmark`.

Every configuration is built exactly as :func:`ntm_cell.experiments.training.train` builds it: the paper configuration
from :func:`ntm_cell.experiments.configs.default_config`, :func:`ntm_cell.experiments.models.build_model`,
:func:`ntm_cell.experiments.optimizers.make_optimizer` (built before the first step) and the compiled step of
:func:`ntm_cell.experiments.train_step.make_train_step` under the default ``tf.distribute`` strategy, fed batches drawn
from the task and padded to ``task.max_time()``. As in the training loop, a step is timed until its three
results are Python floats.

With ``batch_splits`` other than 1 (train.py ``--batch_splits``; 0, the default of both, is one part per
TensorFlow thread) each batch's gradient is computed in that many parts at once, one thread each, as train.py
does (:func:`ntm_cell.experiments.train_step.make_train_step`).

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

TensorFlow and Keras are imported when a case is built (:class:`PreparedCase`), not by this module.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import ntm_cell
from ntm_cell.experiments.bench.cases import Case
from ntm_cell.experiments.bench.machine import (configure_threads, cpu_times, current_rss_mb, describe_machine,
                                                machine_info, peak_rss_mb, steal_percent)
from ntm_cell.experiments.bench.ratios import compute_ratios
from ntm_cell.experiments.bench.results import markdown_report, write_results


class PreparedCase:
    """A case built, compiled and ready to step, as the training loop would run it.

    Attributes:
        case: the :class:`~ntm_cell.experiments.bench.cases.Case`; ``config`` its configuration, ``task`` its task.
        time_steps: the padded length of a batch (with length buckets: the expected one).
        parameters: the model's parameter count.
        batch_splits: the parts each batch's gradient is computed in (``case.batch_splits``, 0 resolved as train.py
            resolves it, at most the batch size).
        batches: the ``(inputs, targets, mask)`` batches the steps take, as tensors.
        sample_s: median seconds to draw one batch.
        compile_s: seconds of the first call (:meth:`compile`), ``None`` before it.
    """

    def __init__(self, case, seed=0, num_batches=4):
        import keras
        import tensorflow as tf

        from ntm_cell import tasks
        from ntm_cell.experiments.models import build_model
        from ntm_cell.experiments.optimizers import make_optimizer
        from ntm_cell.experiments.train_step import default_batch_splits, make_train_step

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
            self.optimizer = make_optimizer(config)
            self.optimizer.build(self.model.trainable_variables)
        self.parameters = int(self.model.count_params())
        self.batch_splits = min(case.batch_splits or default_batch_splits(case.batch_size, case.jit_compile,
                                                                          case.model), case.batch_size)
        self.train_step = make_train_step(self.model, self.optimizer, strategy, case.jit_compile, self.batch_splits)
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

    The child (:func:`memory_worker`) builds and compiles the case and takes ``warmup + 2`` steps; its ``VmHWM``
    is the peak. The child imports the ``ntm_cell`` this process imported: its folder's parent comes first on
    ``PYTHONPATH``.
    """
    home = Path(ntm_cell.__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(home), env.get("PYTHONPATH")) if p)
    code = ("import sys; from ntm_cell.experiments.bench import runner; "
            "runner.memory_worker(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])")
    arguments = [case.to_json(), str(warmup), str(seed), str(intra_op_threads)]
    result = subprocess.run([sys.executable, "-c", code, *arguments], env=env,
                            capture_output=True, text=True, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.startswith("MEMORY ")]
    if result.returncode != 0 or not lines:
        tail = (result.stdout + result.stderr)[-2000:]
        raise RuntimeError(f"memory measurement of {case.label()} failed (exit {result.returncode}):\n{tail}")
    return json.loads(lines[-1][len("MEMORY "):])


def memory_worker(case_json, warmup, seed, intra_op_threads="0"):
    """The child of :func:`measure_memory_in_subprocess` (arguments as strings, from its command line): prints
    ``MEMORY {"peak_rss_mb": ..., "step_rss_mb": ...}``, in MB."""
    configure_threads(int(intra_op_threads))
    prepared = PreparedCase(Case.from_json(case_json), seed=int(seed))
    before = current_rss_mb()
    prepared.compile()
    for _ in range(int(warmup) + 2):
        prepared.step()
    peak = peak_rss_mb()
    print("MEMORY " + json.dumps({"peak_rss_mb": peak, "step_rss_mb": peak - before}), flush=True)


def percentile(values, q):
    """The ``q``-th percentile (0-100) of ``values``, as a float."""
    return float(np.percentile(np.asarray(values), q))


def run_benchmark(cases, steps=30, warmup=5, seed=0, isolate_memory=True, intra_op_threads=0, printer=print):
    """Compile every case, then time ``steps`` interleaved rounds after ``warmup`` discarded rounds.

    Returns:
        ``(rows, samples)``: one dict per case with the keys in :data:`ntm_cell.experiments.bench.results.COLUMNS`, and
        per case label the list of timed step durations in seconds (round by round, for paired ratios).
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

    from ntm_cell.experiments.models import memory_shape

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
            "memory_size": (memory_shape(item.model) or ("", ""))[1],
            "max_length": item.config.task_kwargs.get("max_length", ""),
            "length_buckets": item.case.length_buckets,
            "batch_splits": item.batch_splits,
            "precision": item.case.precision,
            "time_steps": item.time_steps,
            "parameters": item.parameters,
            "compile_s": item.compile_s,
            "median_ms": 1e3 * median,
            "p10_ms": 1e3 * percentile(times, 10),
            "p90_ms": 1e3 * percentile(times, 90),
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


def benchmark(cases, output_dir="benchmarks", name="benchmark", steps=30, warmup=5, seed=0, isolate_memory=True,
              intra_op_threads=0, command="", printer=print, profile_steps=0, profiler=None):
    """Run :func:`run_benchmark`, print the Markdown table and write CSV, JSON and Markdown.

    With ``profile_steps``, also profile that many steps of the cases with ``profiler`` and write its Markdown to
    ``<name>_profile.md``: ``profiler(cases, steps=profile_steps, seed=seed, printer=printer)`` returns Markdown,
    as :func:`ntm_cell.experiments.bench.profiling.profile_cases` (time per kernel group and the slowest kernels of
    every XLA case) does.

    Returns:
        dict with ``rows``, ``ratios``, ``machine``, ``markdown`` and ``paths``.

    Raises:
        ValueError: ``profile_steps`` without a ``profiler``.
    """
    if profile_steps and profiler is None:
        raise ValueError("profile_steps needs a profiler (experiments.bench.profiling.profile_cases)")
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
        profile = profiler(cases, steps=profile_steps, seed=seed, printer=printer)
        paths["profile"] = Path(output_dir) / f"{name}_profile.md"
        paths["profile"].write_text(f"{describe_machine(machine)}\n\nCommand: `{command}`\n\n{profile}")
        printer(profile)
    printer("Wrote " + ", ".join(str(p) for p in paths.values()))
    return {"rows": rows, "ratios": ratios, "machine": machine, "markdown": markdown, "paths": paths}
