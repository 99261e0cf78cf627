"""What a benchmark run writes: the CSV columns, the Markdown report (machine, command, table, ratios) and the
``.csv``, ``.json`` and ``.md`` files.

Times in the rows are in milliseconds (``compile_s`` in seconds), memory in MB; tables are written by
:func:`ntm_cell.experiments.reports.markdown_table`, cells formatted by :func:`format_cell`.
"""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path

from ntm_cell.experiments import reports
from ntm_cell.experiments.bench.machine import describe_machine


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

#: Text columns of the table (left-aligned); the others are numbers (right-aligned).
LEFT_ALIGNED = ("model", "precision")
#: Columns of the ratio table: ``(key of a ratio of compute_ratios, title)``.
RATIO_COLUMNS = (("description", "ratio"), ("ratio", "median / median"), ("paired", "paired per round"))


def format_cell(row, column):
    """``row[column]`` as a table shows it: bools as on/off, counts of sequences per second and MB without
    decimals, compile seconds with one, per-time-step times with three, other times with one from 10 on (two
    below), parameter counts with thousands separators."""
    value = row[column]
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


def _format_ratio(ratio, column):
    """A cell of the ratio table: the description as is, ratios with two decimals (and the per-time-step ratio of
    a sweep row after the step-time ratio)."""
    if column == "description":
        return ratio["description"]
    if column == "ratio" and "per_time_step" in ratio:
        return f"{ratio['ratio']:.2f} (per time step {ratio['per_time_step']:.2f})"
    return f"{ratio[column]:.2f}"


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
    columns = [(c, title) for c, title in TABLE_COLUMNS if c != "precision" or mixed]
    out.write(reports.markdown_table(rows, columns, format_cell, LEFT_ALIGNED) + "\n")
    if ratios:
        out.write("\n" + reports.markdown_table(ratios, RATIO_COLUMNS, _format_ratio, ("description",)) + "\n")
    return out.getvalue()


def write_results(output_dir, name, rows, ratios, machine, command, settings, markdown):
    """Write ``<name>.csv``, ``<name>.json`` and ``<name>.md`` into ``output_dir``; returns their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: output_dir / f"{name}.{kind}" for kind in ("csv", "json", "md")}
    reports.write_csv(rows, paths["csv"], COLUMNS)
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
