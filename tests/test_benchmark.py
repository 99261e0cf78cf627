"""scripts/benchmark.py runs a tiny configuration end to end and writes its table, CSV and JSON.

No timing is asserted: the numbers depend on the machine and its load.
"""

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ntm_cell.experiments.bench.cases import (LENGTH_SWEEP, MEMORY_SWEEP, TINY_MODEL_KWARGS, Case, make_cases,
                                              parse_bools)
from ntm_cell.experiments.bench.machine import (cpu_allocator, cpu_times, describe_machine, machine_info,
                                                steal_percent)
from ntm_cell.experiments.bench.ratios import compute_ratios
from ntm_cell.experiments.bench.results import COLUMNS, TABLE_COLUMNS, markdown_report
from ntm_cell.experiments.bench.runner import PreparedCase, run_benchmark

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK_PY = ROOT / "scripts" / "benchmark.py"


def test_benchmark_script_writes_table_csv_and_json(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, str(BENCHMARK_PY), "--model=ntm", "--tiny", "--max_length=3", "--steps=2", "--warmup=1",
         "--batch_sizes=2", "--jit_compile=false", f"--output_dir={tmp_path}", "--name=tiny"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # The precision column only appears when a row is not float32.
    header = "| " + " | ".join(title for c, title in TABLE_COLUMNS if c != "precision") + " |"
    assert header in result.stdout
    markdown = (tmp_path / "tiny.md").read_text()
    assert header in markdown and "Machine:" in markdown and "--tiny" in markdown

    with open(tmp_path / "tiny.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and tuple(rows[0]) == COLUMNS
    row = rows[0]
    assert (row["model"], row["batch_size"], row["jit_compile"], row["time_steps"]) == ("ntm", "2", "False", "7")
    assert row["memory_scope"] == "isolated process"
    for column in ("median_ms", "p10_ms", "p90_ms", "sequences_per_s", "ms_per_time_step", "compile_s",
                   "peak_rss_mb", "step_rss_mb"):
        assert float(row[column]) >= 0, column

    report = json.loads((tmp_path / "tiny.json").read_text())
    assert report["columns"] == list(COLUMNS)
    assert len(report["results"]) == 1 and set(report["results"][0]) == set(COLUMNS)
    for key in ("cpu_model", "logical_cores", "tensorflow", "keras", "backend"):
        assert report["machine"][key], key
    if cpu_times() is not None:  # Linux: the share of CPU time the host took during the run
        assert 0 <= report["machine"]["cpu_steal_percent"] <= 100
        assert f"stolen by the host during the run {report['machine']['cpu_steal_percent']}%" in markdown
    assert report["command"].startswith("python scripts/benchmark.py")
    assert f"CPU allocator {cpu_allocator(env)};" in markdown


def test_cpu_allocator_reads_the_variable_tensorflow_reads():
    assert cpu_allocator({}) == "default"
    assert cpu_allocator({"TF_CPU_ALLOCATOR_USE_BFC": "True"}) == "BFC"
    assert cpu_allocator({"TF_CPU_ALLOCATOR_USE_BFC": "1"}) == "BFC"
    assert cpu_allocator({"TF_CPU_ALLOCATOR_USE_BFC": "false"}) == "default"


def test_cpu_steal_is_the_stolen_share_of_the_cpu_time_between_two_readings():
    # /proc/stat's cpu line: user nice system idle iowait irq softirq steal guest guest_nice (clock ticks).
    start = cpu_times("cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 50 0 25 400 5 0 0 20 0 0\n")
    end = cpu_times("cpu  160 0 70 860 10 0 0 100 7 0\ncpu0 80 0 35 430 5 0 0 50 3 0\n")
    assert start == {"total": 1000, "steal": 40} and end == {"total": 1200, "steal": 100}  # guest is in user
    assert steal_percent(start, end) == 30.0
    assert cpu_times("cpu  1 2 3 4\n") == {"total": 10, "steal": 0}  # kernels without a steal column
    assert steal_percent(None, end) is None and steal_percent(end, end) is None
    machine = dict(machine_info(), cpu_steal_percent=30.0)
    assert describe_machine(machine).endswith("CPU time stolen by the host during the run 30.0%")


def test_make_cases_and_flags():
    cases = make_cases(models=["ntm", "lstm"], batch_sizes=[1, 32], jit_compile=[True, False])
    assert len(cases) == 8 and {c.model for c in cases} == {"ntm", "lstm"}
    memory = make_cases(sweep="memory")
    assert [c.config().model_kwargs["memory_size"] for c in memory] == list(MEMORY_SWEEP)
    assert all(c.batch_size == 32 and c.jit_compile for c in memory)
    length = make_cases(sweep="length")
    assert [c.config().task_kwargs["max_length"] for c in length] == list(LENGTH_SWEEP)
    assert parse_bools(["both"]) == [True, False]
    assert parse_bools(["false", "on"]) == [False, True]
    with pytest.raises(ValueError):
        parse_bools(["maybe"])
    with pytest.raises(ValueError):
        make_cases(task="ngrams", max_length=5)


def test_length_buckets_time_one_step_per_bucket_and_report_the_speed_up():
    cases = make_cases(models=["ntm"], batch_sizes=[2], jit_compile=[False], tiny=True, max_length=6,
                       length_buckets=[1, 3])
    assert [c.length_buckets for c in cases] == [1, 3] and cases[1].label().endswith("buckets=3")
    assert cases[1].config().length_buckets == 3
    bucketed = PreparedCase(cases[1])
    # Buckets 1-2, 3-4, 5-6: one batch each, padded to 5, 9 and 13 steps; the expected length is their mean.
    assert [b[0].shape[1] for b in bucketed.batches] == [5, 9, 13] and bucketed.time_steps == 9
    assert bucketed.probabilities == [1 / 3] * 3
    rows, samples = run_benchmark(cases, steps=2, warmup=0, isolate_memory=False, printer=lambda *_: None)
    assert [(r["length_buckets"], r["time_steps"]) for r in rows] == [(1, 13), (3, 9)]
    ratios = compute_ratios(rows, samples, cases)
    assert [r["kind"] for r in ratios] == ["bucket_speedup"]  # and no sweep ratio between the two
    assert ratios[0]["ratio"] == pytest.approx(rows[0]["median_ms"] / rows[1]["median_ms"])
    with pytest.raises(ValueError, match="length_buckets"):
        make_cases(length_buckets=[0])


def test_batch_splits_time_the_parts_step_and_report_the_speed_up():
    cases = make_cases(models=["ntm"], batch_sizes=[4], jit_compile=[False], tiny=True, max_length=3,
                       batch_splits=[1, 2])
    assert [(c.batch_size, c.batch_splits) for c in cases] == [(4, 1), (4, 2)]
    assert cases[1].label().endswith("parts=2") and "parts" not in cases[0].label()
    assert Case("ntm", batch_splits=0).label().endswith("parts=auto")
    rows, samples = run_benchmark(cases, steps=2, warmup=0, isolate_memory=False, printer=lambda *_: None)
    assert [r["batch_splits"] for r in rows] == [1, 2]
    ratios = compute_ratios(rows, samples, cases)
    assert [r["kind"] for r in ratios] == ["split_speedup"]
    assert ratios[0]["numerator"] == cases[0].label() and ratios[0]["denominator"] == cases[1].label()
    # A batch of one sequence is never split.
    assert PreparedCase(dataclasses.replace(cases[1], batch_size=1)).batch_splits == 1
    with pytest.raises(ValueError, match="batch_splits"):
        make_cases(batch_splits=[-1])


def test_precisions_time_the_mixed_policy_and_report_the_speed_up():
    cases = make_cases(models=["ntm"], batch_sizes=[2], jit_compile=[False], tiny=True, max_length=3,
                       precision=["float32", "mixed_float16"])
    assert [c.config().precision for c in cases] == ["float32", "mixed_float16"]
    assert cases[1].label().endswith("mixed_float16") and "float" not in cases[0].label()
    rows, samples = run_benchmark(cases, steps=2, warmup=0, isolate_memory=False, printer=lambda *_: None)
    ratios = compute_ratios(rows, samples, cases)
    assert [r["kind"] for r in ratios] == ["precision_speedup"]  # and no sweep ratio between the two
    assert ratios[0]["numerator"] == cases[0].label() and ratios[0]["denominator"] == cases[1].label()
    table = markdown_report(rows, ratios, machine_info(), "cmd", 2, 0)
    assert "| precision |" in table and "| mixed_float16 |" in table
    float32_only = markdown_report(rows[:1], [], machine_info(), "cmd", 2, 0)
    assert "precision" not in float32_only
    with pytest.raises(ValueError, match="precision"):
        make_cases(precision=["float64"])


def test_benchmark_script_rejects_a_profile_of_length_buckets():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, str(BENCHMARK_PY), "--length_buckets=1,4", "--profile_steps=2"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "--profile_steps" in result.stderr


def test_profile_sorts_every_kernel_of_a_compiled_step_into_groups(tmp_path):
    from ntm_cell.experiments.bench import profiling

    case = Case("ntm", batch_size=2, jit_compile=True, model_overrides=dict(TINY_MODEL_KWARGS["ntm"]),
                task_overrides={"max_length": 3})
    prepared = PreparedCase(case)
    prepared.compile()
    groups, rows = profiling.profile_case(prepared, steps=2, logdir=str(tmp_path))
    assert set(groups) == set(profiling.GROUPS)
    # The recurrent loop's gradient keeps per-step intermediates: there are pushes, pops and matmuls every step.
    for group in ("stack push", "stack pop", "matmul"):
        ms, per_time_step = groups[group]
        assert ms > 0 and per_time_step >= 1, group
    assert rows and all(ms >= 0 and calls > 0 for _, _, ms, calls, _ in rows)
    assert sum(ms for _, _, ms, _, _ in rows) == pytest.approx(sum(ms for ms, _ in groups.values()))
    assert "| stack push |" in profiling.markdown_profile("tiny", groups, rows)


def test_profile_reads_the_kernels_of_the_profiled_model_when_another_was_compiled_first(tmp_path):
    # The trace embeds every module the process compiled, with kernel names that repeat between modules: each
    # kernel must be looked up in the module it ran in, not in the largest one (here the DNC's).
    from ntm_cell.experiments.bench import profiling

    cases = [Case(model, batch_size=2, jit_compile=True, model_overrides=dict(TINY_MODEL_KWARGS[model]),
                  task_overrides={"max_length": 3}) for model in ("dnc", "ntm")]
    dnc, ntm = (PreparedCase(case) for case in cases)
    dnc.compile()
    ntm.compile()
    _, rows = profiling.profile_case(ntm, steps=2, logdir=str(tmp_path))
    cell_ops = [kernel.op_name for kernel, *_ in rows if "_cell" in kernel.op_name]
    assert cell_ops and all("ntm_cell" in op and "dnc_cell" not in op for op in cell_ops)


def test_models_and_xla_settings_are_compared_at_the_parts_train_py_would_use():
    # With the default batch_splits=0 the XLA case runs in 2 parts and the one without XLA in 1 (as train.py
    # would run them); they are still compared with each other, and not with a case that asked for 1 part.
    cases = [Case("ntm", jit_compile=True, batch_splits=0), Case("ntm", jit_compile=False,
             batch_splits=0), Case("ntm", jit_compile=True, batch_splits=1)]
    rows = []
    for case, splits, ms in zip(cases, (2, 1, 1), (20.0, 100.0, 30.0)):
        rows.append(dict(model="ntm", task="copy", batch_size=32, jit_compile=case.jit_compile, memory_size=128,
                         max_length=20, time_steps=41, length_buckets=1, batch_splits=splits, precision="float32",
                         median_ms=ms))
    samples = {case.label(): [row["median_ms"] / 1e3] for case, row in zip(cases, rows)}
    ratios = {(r["kind"], r["numerator"], r["denominator"]): r["ratio"]
              for r in compute_ratios(rows, samples, cases)}
    assert ratios == {
        ("jit_speedup", cases[1].label(), cases[0].label()): pytest.approx(5.0),
        ("split_speedup", cases[2].label(), cases[0].label()): pytest.approx(1.5),
    }


def test_a_memory_sweep_in_two_part_settings_is_compared_within_each_setting():
    # --sweep=memory --batch_splits=1,2: each N against N = 128 of the same parts, each N's parts speed-up named.
    cases, rows = [], []
    for splits in (1, 2):
        for memory_size, ms in ((128, 10.0), (1024, 40.0)):
            cases.append(Case("ntm", batch_size=32, jit_compile=True, batch_splits=splits,
                              model_overrides={"memory_size": memory_size}))
            rows.append(dict(model="ntm", task="copy", batch_size=32, jit_compile=True, memory_size=memory_size,
                             max_length=20, time_steps=41, length_buckets=1, batch_splits=splits,
                             precision="float32", median_ms=ms / splits, ms_per_time_step=ms / splits / 41))
    samples = {case.label(): [row["median_ms"] / 1e3] for case, row in zip(cases, rows)}
    ratios = compute_ratios(rows, samples, cases)
    found = {(r["kind"], r["numerator"], r["denominator"]): (r["ratio"], r["description"]) for r in ratios}
    assert set(found) == {
        ("vs_smallest", cases[1].label(), cases[0].label()), ("vs_smallest", cases[3].label(), cases[2].label()),
        ("split_speedup", cases[0].label(), cases[2].label()), ("split_speedup", cases[1].label(), cases[3].label()),
    }
    ratio, description = found[("vs_smallest", cases[3].label(), cases[2].label())]
    assert ratio == pytest.approx(4.0) and description.endswith("step time, 2 parts")
    ratio, description = found[("split_speedup", cases[1].label(), cases[3].label())]
    assert ratio == pytest.approx(2.0) and description.endswith(", N=1024")
