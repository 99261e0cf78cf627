"""How fast a run converged, read back from its TensorBoard events.

"Converged" follows Collier & Beel (2018): held-out bit errors per sequence below 0.1. Wall-clock time is measured
from the run's first event (written after the first ``summary_every`` steps, so compilation is mostly excluded)
to the first converged evaluation, from the events' own timestamps. A run stopped and resumed from its checkpoint
counts only the time its processes were training: each event file's span, not the gaps between them.
"""

import json
import math
from pathlib import Path

import numpy as np

from ntm_cell.experiments.configs import CONVERGED_BIT_ERRORS
from ntm_cell.experiments.events import read_scalars_and_spans, running_seconds
from ntm_cell.experiments import reports


def convergence(run_dir, threshold=CONVERGED_BIT_ERRORS):
    """Summary of one run directory.

    Returns:
        dict with ``run``, ``steps`` (last evaluated step), ``final_bit_errors``, ``converged_step``,
        ``converged_sequences``, ``converged_seconds`` (``None`` when the run never went below ``threshold``)
        and ``worst_after`` (the highest held-out error after convergence).
    """
    run_dir = Path(run_dir)
    batch_size = json.loads((run_dir / "config.json").read_text())["batch_size"]
    scalars, spans = read_scalars_and_spans(run_dir)
    if "bit_errors/eval" not in scalars:
        raise ValueError(f"{run_dir} has no held-out evaluations yet")
    steps, values, times = scalars["bit_errors/eval"]
    if len(steps) == 0:
        raise ValueError(f"{run_dir} has no held-out evaluations yet")
    summary = {
        "run": str(run_dir),
        "steps": int(steps[-1]),
        "final_bit_errors": float(values[-1]),
        "converged_step": None,
        "converged_sequences": None,
        "converged_seconds": None,
        "worst_after": None,
    }
    below = np.flatnonzero(values < threshold)
    if below.size:
        i = int(below[0])
        summary.update(
            converged_step=int(steps[i]),
            converged_sequences=int(steps[i]) * batch_size,
            converged_seconds=float(running_seconds(spans, times[i])),
            worst_after=float(values[i:].max()),
        )
    return summary


#: The columns of :func:`markdown_table`.
TABLE_COLUMNS = (("run", "run"), ("steps", "steps"), ("final_bit_errors", "final bit errors"),
                 ("converged_sequences", "converged (< 0.1) at sequences"), ("converged_seconds", "wall-clock"),
                 ("worst_after", "worst after"))


def _cell(summary, key):
    value = summary[key]
    if key in ("run", "steps"):
        return str(value)
    if key == "final_bit_errors":
        return f"{value:.3f}"
    if summary["converged_step"] is None:
        return "not converged" if key == "converged_sequences" else "–"
    if key == "converged_sequences":
        return f"{value:,}"
    return f"{value / 60:.1f} min" if key == "converged_seconds" else f"{value:.3f}"


def markdown_table(summaries):
    """One row per run: steps, final error, sequences and wall-clock to convergence, the worst error after."""
    return reports.markdown_table(summaries, TABLE_COLUMNS, _cell, left_aligned=("run",))


def median_convergence(summaries):
    """Median over runs of the sequences and wall-clock to convergence; a run that never converged counts as
    slower than every run that did (so the median is ``None`` when half or more did not converge).

    Returns:
        dict with ``runs``, ``converged`` (count), ``median_sequences``, ``median_seconds`` and ``worst_after``
        (the highest held-out error after convergence over all converged runs, ``None`` if none converged).
    """
    def median(key):
        values = sorted(s[key] if s[key] is not None else math.inf for s in summaries)
        middle = len(values) // 2
        value = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
        return None if math.isinf(value) else value

    converged = [s for s in summaries if s["converged_step"] is not None]
    return {
        "runs": len(summaries),
        "converged": len(converged),
        "median_sequences": median("converged_sequences"),
        "median_seconds": median("converged_seconds"),
        "worst_after": max((s["worst_after"] for s in converged), default=None),
    }


def median_line(summaries):
    """One sentence: how many runs converged, their median sequences and wall-clock, the worst error after."""
    m = median_convergence(summaries)
    text = f"{m['converged']} of {m['runs']} runs converged"
    if m["median_sequences"] is None:
        return text + "; median: not converged"
    return (f"{text}; median {m['median_sequences']:,.0f} sequences, {m['median_seconds'] / 60:.1f} min; "
            f"worst held-out error after convergence {m['worst_after']:.3f}")
