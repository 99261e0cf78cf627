"""Ratios of median step times between the configurations of one run, timed side by side: NTM (and DNC) over
LSTM, XLA off over on, without over with length buckets or batch parts, float32 over mixed precision, and each row
of a sweep over the smallest of its group.
"""

from __future__ import annotations

import numpy as np

from ntm_cell.experiments.bench.cases import SWEEP_GROUP_FIELDS


def _key(row, *fields):
    """The values of ``fields`` in ``row``, as a tuple."""
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
    index of that first row (the smallest, in the order :func:`ntm_cell.experiments.bench.cases.make_cases` gives).

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
