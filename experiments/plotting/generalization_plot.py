"""Generalisation figures: bit errors per sequence against the swept length, repeats or items."""

from __future__ import annotations

import math

import numpy as np
from matplotlib import ticker

from ntm_cell.experiments.generalization import METRIC_COLUMNS
from ntm_cell.experiments.plotting.figures import VARIABLE_LABELS, new_figure, save


def _mode(values):
    """The most frequent value (the smallest among equals)."""
    unique, counts = np.unique(np.asarray(values), return_counts=True)
    return unique[np.argmax(counts)].item()


def sweep_panels(rows):
    """Split generalisation rows into panels: ``[(variable or None, {fixed: value}, rows)]``.

    A variable whose value changes across rows gets a panel of the rows in which every other changing variable
    has its most frequent value (e.g. repeat copy: repeats at the usual length, lengths at the usual repeats).
    With no changing variable there is one panel of all rows, variable ``None``.
    """
    names = [key for key in rows[0] if key not in METRIC_COLUMNS]
    varying = [name for name in names if len({row.get(name) for row in rows}) > 1]
    if not varying:
        return [(None, {name: rows[0][name] for name in names}, rows)]
    panels = []
    for name in varying:
        fixed = {other: _mode([row[other] for row in rows]) for other in varying if other != name}
        members = [row for row in rows if all(row[key] == value for key, value in fixed.items())]
        members.sort(key=lambda row: row[name])
        panels.append((name, fixed, members))
    return panels


def plot_generalization(rows, title=None, training=None, path=None):
    """Bit errors per sequence (mean ± standard error) against the swept variable, one panel per variable.

    N-gram rows (with ``cost_bits``) show the cost in bits per sequence beside the optimal estimator's instead.

    Args:
        rows: rows of :func:`ntm_cell.experiments.generalization.generalization`.
        title: figure title.
        training: ``{variable: (low, high)}`` training ranges
            (:func:`ntm_cell.experiments.generalization.training_ranges`), shaded so that generalisation beyond them
            shows.
        path: where to save the PNG (optional).

    Returns:
        the Figure.
    """
    if not rows:
        raise ValueError("plot_generalization needs at least one row")
    training = training or {}
    cost = "cost_bits" in rows[0]
    panels = sweep_panels(rows)
    figure = new_figure(5.2 * len(panels) + 0.6, 4.2)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, fixed, members) in zip(axes, panels):
        if name is None:
            _single_point_panel(ax, members, fixed, cost)
        else:
            x = np.array([row[name] for row in members], float)
            if cost:
                _errorbar(ax, x, members, "cost_bits", "cost_stderr", "model", "#1f77b4", "o")
                _errorbar(ax, x, members, "optimal_cost_bits", "optimal_stderr", "optimal estimator", "0.3", "s")
                ax.set_ylabel("cost (bits per sequence)")
            else:
                _errorbar(ax, x, members, "bit_errors", "stderr", "model (mean ± s.e.)", "#1f77b4", "o")
                top = max(row["bit_errors"] + _finite(row.get("stderr")) for row in members)
                chance = np.array([row.get("scored_bits", np.nan) / 2 for row in members], float)
                # Chance is drawn where the model comes near it; otherwise it would squash the model's curve.
                if np.all(np.isfinite(chance)) and top >= 0.25 * chance.max():
                    ax.plot(x, chance, ":", color="0.5", label="chance (half the answer bits)")
                    top = max(top, chance.max())
                ax.set_ylabel("bit errors per sequence")
                ax.set_ylim(0, max(top * 1.12, 1.0))
            margin = 0.04 * max(np.ptp(x), 1.0)
            ax.set_xlim(x.min() - margin - 0.5, x.max() + margin + 0.5)
            subtitle = [f"{key} = {value}" for key, value in fixed.items()]
            if name in training:
                low, high = training[name]
                plural = {"length": "lengths"}.get(name, name)
                subtitle.append(f"training {plural} {low}–{high}" if low != high else f"training {name} {low}")
                if high + 0.5 > x.min() - margin - 0.5 and low - 0.5 < x.max() + margin + 0.5:
                    ax.axvspan(low - 0.5, high + 0.5, color="0.88", zorder=0, label="training range")
            ax.set_xlabel(VARIABLE_LABELS.get(name, name))
            gaps = np.diff(np.unique(x))
            if len(x) <= 12 and (gaps.size == 0 or gaps.min() >= 0.05 * np.ptp(x)):  # label every point if they fit
                ax.set_xticks(x)
            else:
                ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
            if subtitle:
                ax.set_title(", ".join(subtitle), fontsize=10)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8, loc="best")
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return save(figure, path)


def _finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else 0.0


def _errorbar(ax, x, rows, key, error_key, label, color, marker):
    y = np.array([row[key] for row in rows], float)
    errors = np.array([row.get(error_key, np.nan) for row in rows], float)
    errors = np.where(np.isfinite(errors), errors, 0.0)
    ax.errorbar(x, y, yerr=errors, marker=marker, color=color, capsize=3, label=label, markersize=4)


def _single_point_panel(ax, rows, fixed, cost):
    row = rows[0]
    description = ", ".join(f"{key} = {value}" for key, value in fixed.items())
    if cost:
        labels = ["model", "optimal estimator"]
        values = [row["cost_bits"], row["optimal_cost_bits"]]
        errors = [row.get("cost_stderr", 0.0), row.get("optimal_stderr", 0.0)]
        colors = ["#1f77b4", "0.55"]
        ax.set_ylabel("cost (bits per sequence)")
    else:
        labels = ["model"]
        values = [row["bit_errors"]]
        errors = [row.get("stderr", 0.0)]
        colors = ["#1f77b4"]
        ax.set_ylabel("bit errors per sequence")
        if "scored_bits" in row:
            ax.axhline(row["scored_bits"] / 2, ls=":", color="0.5", label="chance (half the answer bits)")
            ax.legend(fontsize=8, loc="upper right")
    errors = [e if math.isfinite(e) else 0.0 for e in errors]
    bars = ax.bar(labels, values, yerr=errors, color=colors, capsize=4, width=0.5)
    for bar, value, error in zip(bars, values, errors):
        ax.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value + error),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-0.8, len(labels) - 0.2)
    ax.set_ylim(0, max(max(values), row.get("scored_bits", 0) / 2 if not cost else 0) * 1.25 or 1)
    ax.set_title(f"{description} ({row.get('sequences', '?')} sequences)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
