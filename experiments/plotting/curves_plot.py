"""Learning-curve figures: held-out bit errors against sequences seen, median and spread over seeds per model."""

from __future__ import annotations

import math

import numpy as np
from matplotlib import ticker

from ntm_cell.experiments.curves import aggregate
from ntm_cell.experiments.plotting.figures import MODEL_COLORS, model_label, new_figure, save


class AxisRangeError(ValueError):
    """A requested axis limit that the figure's data or scale cannot have (e.g. ``ymin`` above the top)."""


def plot_learning_curves(runs, title=None, ylabel="bit errors per sequence (held-out batch)", yscale="auto",
                         references=(), max_sequences=None, ymin=None, path=None):
    """One line per model: the median over seeds against sequences seen, the min–max spread shaded.

    Args:
        runs: ``{model: [Curve, ...]}`` (:func:`load_learning_curves`).
        title: figure title.
        ylabel: y-axis label.
        yscale: ``"linear"``, ``"log"`` (symmetric-log when there are zeros), or ``"auto"`` (log when the values
            span more than 1.5 decades).
        references: ``(label, value)`` pairs drawn as dashed horizontal lines (e.g. the optimal estimator's cost).
        max_sequences: draw the x axis only up to this many sequences (default: to the longest run), so that
            short baseline runs are not squeezed against a long one.
        ymin: bottom of the y axis (default: 0 on a linear axis, below the smallest value on a log axis), e.g. just
            under an optimal estimator's cost so that curves near it are told apart.
        path: where to save the PNG (optional).

    Returns:
        the Figure; its axes hold exactly one labelled line per model (``figure.axes[0].get_lines()``).
    """
    if not runs:
        raise ValueError("plot_learning_curves needs at least one model with runs")
    figure = new_figure(8.0, 4.8)
    ax = figure.subplots()
    all_values = []
    for index, (name, curves) in enumerate(runs.items()):
        x, median, low, high, _ = aggregate(curves)
        color = MODEL_COLORS.get(name, f"C{(index + 3) % 10}")
        seeds = len(curves)
        label = f"{model_label(name)} (median of {seeds} seeds)" if seeds > 1 else f"{model_label(name)} (1 seed)"
        ax.plot(x, median, color=color, lw=1.8, label=label)
        if seeds > 1:
            ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0)
        all_values.append(np.concatenate([c.values for c in curves]))
    for index, (label, value) in enumerate(references):
        ax.axhline(value, color="0.25", ls=("--", ":", "-.")[index % 3], lw=1.2, label=f"{label} ({value:g})")
        all_values.append(np.array([value]))
    values = np.concatenate(all_values)
    _set_yscale(ax, values, yscale)
    if ymin is not None:
        top = ax.get_ylim()[1]
        if ymin >= top or (ax.get_yscale() == "log" and ymin <= 0):
            raise AxisRangeError(f"ymin={ymin:g} must lie below the top of the y axis ({top:g}) and be positive "
                                 f"on a log axis ({ax.get_yscale()} here)")
        ax.set_ylim(bottom=ymin)
    ax.xaxis.set_major_formatter(ticker.EngFormatter(sep=""))
    ax.set_xlabel("training sequences seen")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, max_sequences)
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if any(len(curves) > 1 for curves in runs.values()):
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.6", alpha=0.4, lw=0))
        labels.append("min–max over seeds")
    ax.legend(handles, labels, loc="best", fontsize=9)
    if title:
        ax.set_title(title)
    figure.tight_layout()
    return save(figure, path)


def _set_yscale(ax, values, yscale):
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    if yscale == "linear" or positive.size == 0:
        ax.set_ylim(bottom=0)
        return
    spread = positive.max() / positive.min()
    if yscale == "auto" and spread < 10**1.5:
        ax.set_ylim(bottom=0)
        return
    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    if np.any(finite <= 0):
        # Linear below the smallest positive value, but at most 4 decades under the largest.
        threshold = 10 ** max(math.floor(math.log10(positive.min())), math.floor(math.log10(positive.max())) - 4)
        ax.set_yscale("symlog", linthresh=threshold, linscale=0.5)
        ax.set_ylim(bottom=0)
    else:
        ax.set_yscale("log")
        decades = math.log10(positive.max() / positive.min())
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0) if decades < 3 else (1.0,)))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.yaxis.set_major_formatter(plain)
