"""Figures of results: generalisation sweeps, head weightings over time, learning curves.

Every plotting function builds a ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot, no display, no global
state), saves it when given ``path`` and returns it. TensorBoard event files are read by
``experiments.events`` (TensorFlow is imported only by the readers).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec

from experiments.configs import MODELS
from experiments.evaluation import METRIC_COLUMNS, priority_rank_correlations, rows_written
from experiments.events import scalar_events

#: One colour per model, the same in every figure.
MODEL_COLORS = {"ntm": "#1f77b4", "lstm": "#ff7f0e", "dnc": "#2ca02c"}
MODEL_LABELS = {"ntm": "NTM", "lstm": "LSTM", "dnc": "DNC"}
VARIABLE_LABELS = {
    "length": "sequence length",
    "repeats": "number of repeats",
    "items": "number of items",
    "num_inputs": "number of inputs",
    "num_outputs": "number of outputs",
}


def new_figure(width, height):
    """A Figure on an Agg canvas (``fig.savefig`` writes PNGs without pyplot)."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    return figure


def model_label(name):
    return MODEL_LABELS.get(name, name)


# ----------------------------------------------------------------------------------------------------------------
# Generalisation
# ----------------------------------------------------------------------------------------------------------------


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
        rows: rows of :func:`experiments.evaluation.generalization`.
        title: figure title.
        training: ``{variable: (low, high)}`` training ranges (:func:`experiments.evaluation.training_ranges`),
            shaded so that generalisation beyond them shows.
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
    return _save(figure, path)


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


# ----------------------------------------------------------------------------------------------------------------
# Heads
# ----------------------------------------------------------------------------------------------------------------


def used_rows(weights, threshold=0.05, margin=1):
    """Memory rows to show: the shortest circular window that holds every row some head weighted ≥ threshold.

    Args:
        weights: ``[T, H, N]`` head weightings (any number of heads).
        threshold: weight above which a row counts as used.
        margin: extra rows on each side.

    Returns:
        row indices in display order (may wrap around from N-1 to 0); all rows when none or all are used.
    """
    weights = np.asarray(weights)
    size = weights.shape[-1]
    used = weights.reshape(-1, size).max(axis=0) >= threshold
    if used.all() or not used.any():
        return np.arange(size)
    # The longest circular run of unused rows is what we leave out.
    doubled = np.concatenate([used, used])
    best_start, best_length, run_start = 0, 0, None
    for index, flag in enumerate(doubled):
        if not flag and run_start is None:
            run_start = index
        if (flag or index == len(doubled) - 1) and run_start is not None:
            end = index if flag else index + 1
            length = min(end - run_start, size)
            if length > best_length:
                best_start, best_length = run_start, length
            run_start = None
    shown = size - best_length + 2 * margin
    if shown >= size:
        return np.arange(size)
    first = (best_start + best_length - margin) % size
    return (first + np.arange(shown)) % size


def select_rows(trace, memory_rows="used", threshold=0.05):
    """The memory rows :func:`plot_heads` shows: ``"all"``, ``"used"`` (:func:`used_rows`), or ``(start, stop)``."""
    size = np.asarray(trace["read_weights"]).shape[-1]
    if memory_rows == "all" or memory_rows is None:
        return np.arange(size)
    if memory_rows == "used":
        weights = np.concatenate([np.asarray(trace["read_weights"]), np.asarray(trace["write_weights"])], axis=-2)
        return used_rows(weights, threshold)
    start, stop = memory_rows
    if not 0 <= start < stop <= size:
        raise ValueError(f"memory rows {start}:{stop} are outside the memory's {size} rows")
    return np.arange(start, stop)


class _Panel(NamedTuple):
    title: str
    image: np.ndarray  # [rows, time]
    cmap: str
    vmin: float
    vmax: float
    ylabel: str
    ticklabels: list | None
    colorbar_label: str


def _io_limits(*arrays):
    low = min(float(np.min(a)) for a in arrays)
    high = max(float(np.max(a)) for a in arrays)
    if low >= 0 and high <= 1:
        return "Greys", 0.0, 1.0
    bound = max(abs(low), abs(high), 1.0)
    return "RdBu_r", -bound, bound


def plot_heads(trace, inputs, targets, outputs, mask=None, memory_rows="used", title=None, input_names=None,
               output_names=None, threshold=0.05, heads=None, path=None):
    """One figure of an example and what the memory heads did, every panel against the same time axis.

    Panels, top to bottom: the input, the target and the output (the sigmoid of the logits) as channel × time
    images; then, for each read head, its weighting as a memory-location × time heatmap; for each write head its
    weighting, add vector and erase vector (the DNC's write vector stands in for the add vector). A dashed line
    marks where the answer starts. Traces without ``read_weights``/``write_weights`` get the first three panels only.

    Args:
        trace: a cell's ``trace`` (arrays ``[T, ...]``, or ``[B, T, ...]`` with ``inputs`` ``[B, T, I]``, of
            which the first sequence is drawn).
        inputs: ``[T, I]``; targets: ``[T, O]``; outputs: ``[T, O]`` probabilities; mask: ``[T]`` answer steps.
        memory_rows: ``"used"`` (only the rows some head weighted ≥ ``threshold``, so a 128-row memory shows
            its pattern), ``"all"``, or ``(start, stop)``.
        title: figure title.
        input_names, output_names: channel names for the y axes.
        threshold: see ``memory_rows``.
        heads: 1-based numbers of the read and write heads to draw (e.g. ``[1]`` for the first read and the first
            write head of a 5+5-head model); default all.
        path: where to save the PNG (optional).

    Returns:
        the Figure.
    """
    inputs, targets, outputs = (np.asarray(a, np.float32) for a in (inputs, targets, outputs))
    if inputs.ndim == 3:
        inputs, targets, outputs = inputs[0], targets[0], outputs[0]
        mask = None if mask is None else np.asarray(mask)[0]
        trace = {key: np.asarray(value)[0] for key, value in trace.items()}
    time_steps = inputs.shape[0]
    cmap, low, high = _io_limits(inputs)
    panels = [
        _Panel("input", inputs.T, cmap, low, high, "input channel", input_names, "value"),
        _Panel("target", targets.T, "Greys", 0.0, 1.0, "output channel", output_names, "value"),
        _Panel("output (sigmoid of the logits)", outputs.T, "Greys", 0.0, 1.0, "output channel", output_names,
               "probability"),
    ]
    rows_note = ""
    if "read_weights" in trace and "write_weights" in trace:
        rows = select_rows(trace, memory_rows, threshold)
        size = np.asarray(trace["read_weights"]).shape[-1]
        labels = [str(r) for r in rows]
        if len(rows) < size:
            rows_note = f" ({len(rows)} of {size} rows)"
        read_weights = np.asarray(trace["read_weights"])
        write_weights = np.asarray(trace["write_weights"])
        read_heads, write_heads = chosen_heads(heads, read_weights.shape[1], write_weights.shape[1])
        for head in read_heads:
            panels.append(_Panel(f"read head {head + 1}: weighting{rows_note}", read_weights[:, head, rows].T,
                                 "magma", 0.0, 1.0, "memory location", labels, "weight"))
        add = trace.get("add", trace.get("write_vectors"))
        add_name = "add vector" if "add" in trace else "write vector"
        for head in write_heads:
            panels.append(_Panel(f"write head {head + 1}: weighting{rows_note}", write_weights[:, head, rows].T,
                                 "magma", 0.0, 1.0, "memory location", labels, "weight"))
            if add is not None:
                vectors = np.asarray(add)[:, head].T
                bound = max(1.0, float(np.abs(vectors).max()))
                panels.append(_Panel(f"write head {head + 1}: {add_name}", vectors, "RdBu_r", -bound, bound,
                                     "memory column", None, "value"))
            if "erase" in trace:
                panels.append(_Panel(f"write head {head + 1}: erase vector", np.asarray(trace["erase"])[:, head].T,
                                     "viridis", 0.0, 1.0, "memory column", None, "value"))

    # Rows of the grid per panel: weightings up to 24, vectors (add, erase) up to 14, at least 6.
    heights = [min(max(panel.image.shape[0], 6), 14 if panel.ylabel == "memory column" else 24) for panel in panels]
    inches_per_row, gap, top, bottom = 0.11, 0.34, 0.6, 0.6  # inches; gap leaves room for the panel titles
    axes_height = inches_per_row * sum(heights)
    fig_height = axes_height + gap * (len(panels) - 1) + top + bottom
    width = min(max(7.0, 0.06 * time_steps + 3.0), 18.0)
    figure = new_figure(width, fig_height)
    grid = GridSpec(len(panels), 2, figure=figure, width_ratios=[1, 0.018], height_ratios=heights,
                    hspace=gap / (axes_height / len(panels)), wspace=0.02, left=0.8 / width,
                    right=1 - 0.75 / width, top=1 - top / fig_height, bottom=bottom / fig_height)
    answer_start = None
    if mask is not None and np.any(np.asarray(mask) > 0):
        answer_start = int(np.argmax(np.asarray(mask) > 0))
    first_axis = None
    for index, panel in enumerate(panels):
        ax = figure.add_subplot(grid[index, 0], sharex=first_axis)
        first_axis = first_axis or ax
        rows_count = panel.image.shape[0]
        image = ax.imshow(panel.image, aspect="auto", interpolation="nearest", cmap=panel.cmap, vmin=panel.vmin,
                          vmax=panel.vmax, extent=(-0.5, time_steps - 0.5, rows_count - 0.5, -0.5))
        ax.set_title(panel.title, fontsize=9, loc="left", pad=3)
        ax.set_ylabel(panel.ylabel, fontsize=8)
        _row_ticks(ax, rows_count, panel.ticklabels)
        if answer_start is not None:
            ax.axvline(answer_start - 0.5, color="#d62728", ls="--", lw=1)
        if index < len(panels) - 1:
            ax.tick_params(labelbottom=False)
        colorbar = figure.colorbar(image, cax=figure.add_subplot(grid[index, 1]))
        colorbar.ax.tick_params(labelsize=7)
        colorbar.set_label(panel.colorbar_label, fontsize=7)
    first_axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=20))
    ax.set_xlabel("time step" + ("   (dashed line: the answer starts)" if answer_start is not None else ""))
    if title:
        figure.suptitle(title, fontsize=11, y=1 - 0.15 / fig_height, va="top")
    return _save(figure, path)


def chosen_heads(heads, read_count, write_count):
    """0-based read and write head indices for 1-based ``heads`` (``None``: all)."""
    if heads is None:
        return list(range(read_count)), list(range(write_count))
    heads = sorted(set(int(h) for h in heads))
    most = max(read_count, write_count)
    if not heads or heads[0] < 1 or heads[-1] > most:
        raise ValueError(f"heads must be numbers from 1 to {most} (the model has {read_count} read and "
                         f"{write_count} write heads), got {heads}")
    return [h - 1 for h in heads if h <= read_count], [h - 1 for h in heads if h <= write_count]


def _row_ticks(ax, count, labels):
    if labels is None:
        labels = [str(i) for i in range(count)]
    step = 1 if count <= 12 else math.ceil(count / 8)
    positions = list(range(0, count, step))
    ax.set_yticks(positions)
    ax.set_yticklabels([labels[p] for p in positions], fontsize=7)


# ----------------------------------------------------------------------------------------------------------------
# Learning curves
# ----------------------------------------------------------------------------------------------------------------


class Curve(NamedTuple):
    """One run's scalar against the number of training sequences seen."""

    seed: int
    sequences: np.ndarray
    values: np.ndarray
    run_dir: Path


def read_scalars(run_dir):
    """Every scalar of a run directory's event files: ``{tag: (steps int64 [K], values float64 [K])}``.

    Steps are sorted; where a resumed run wrote a step twice, the later file's value wins.
    """
    by_tag = {}
    for tag, step, value, _ in scalar_events(run_dir):
        by_tag.setdefault(tag, {})[step] = value
    scalars = {}
    for tag, points in by_tag.items():
        steps = np.array(sorted(points), np.int64)
        scalars[tag] = (steps, np.array([points[s] for s in steps], np.float64))
    return scalars


def _sequences_at(steps, scalars, run_dir):
    """Sequences seen at ``steps``: from the ``sequences_seen`` scalar, else step × the config's batch size."""
    if "sequences_seen" in scalars:
        seen_steps, seen = scalars["sequences_seen"]
        if seen_steps.size and seen_steps[-1] > 0:
            exact = dict(zip(seen_steps.tolist(), seen.tolist()))
            batch_size = seen[-1] / seen_steps[-1]  # for steps at which sequences_seen was not written
            return np.array([exact.get(int(step), step * batch_size) for step in steps], np.float64)
    config = Path(run_dir) / "config.json"
    if config.exists():
        return steps * float(json.loads(config.read_text())["batch_size"])
    raise ValueError(f"{run_dir}: no sequences_seen scalar and no config.json to tell the batch size")


def load_learning_curves(logdir, task, tag="bit_errors/eval"):
    """Read ``<logdir>/<task>/<model>/seed<k>/`` event files: ``{model: [Curve per seed]}``.

    Models come in the order ntm, lstm, dnc (others after, by name); runs without ``tag`` are left out.
    """
    root = Path(logdir) / task
    curves = {}
    for run_dir in sorted(root.glob("*/seed*")):
        if not run_dir.is_dir() or not run_dir.name[4:].isdigit():
            continue
        scalars = read_scalars(run_dir)
        if tag not in scalars or len(scalars[tag][0]) == 0:
            continue
        steps, values = scalars[tag]
        sequences = _sequences_at(steps, scalars, run_dir)
        curves.setdefault(run_dir.parent.name, []).append(Curve(int(run_dir.name[4:]), sequences, values, run_dir))
    order = {name: index for index, name in enumerate(MODELS)}
    return {name: sorted(curves[name], key=lambda c: c.seed)
            for name in sorted(curves, key=lambda n: (order.get(n, len(order)), n))}


def load_compared_curves(groups, task, model, tag="bit_errors/eval"):
    """One model's runs from several log roots: ``{label: [Curve per seed]}``, in the order of ``groups``.

    Args:
        groups: ``[(label, logdir), ...]``, e.g. ``[("learned", "logs"), ("constant", "logs/memory_init/constant")]``.
        task: task name.
        model: model name (``"ntm"``...).

    Labels whose logdir has no runs of ``model`` are left out.
    """
    runs = {}
    for label, logdir in groups:
        curves = load_learning_curves(logdir, task, tag=tag).get(model)
        if curves:
            runs[label] = curves
    return runs


def aggregate(curves):
    """Median, minimum and maximum over seeds on the union of their x values (each seed interpolated
    linearly within its own range). Returns ``(x, median, low, high, seeds_at_x)``."""
    x = np.unique(np.concatenate([curve.sequences for curve in curves]))
    stacked = np.full((len(curves), len(x)), np.nan)
    for row, curve in enumerate(curves):
        order = np.argsort(curve.sequences)
        xs, ys = curve.sequences[order], curve.values[order]
        inside = (x >= xs[0]) & (x <= xs[-1])
        stacked[row, inside] = np.interp(x[inside], xs, ys)
    return (x, np.nanmedian(stacked, axis=0), np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0),
            np.isfinite(stacked).sum(axis=0))


def plot_learning_curves(runs, title=None, ylabel="bit errors per sequence (held-out batch)", yscale="auto",
                         references=(), max_sequences=None, path=None):
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
    ax.legend(handles, labels, loc="upper right", fontsize=9)
    if title:
        ax.set_title(title)
    figure.tight_layout()
    return _save(figure, path)


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


HEAD_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def plot_priority_writes(sort_trace, title=None, threshold=0.05, path=None):
    """Where the heads write and read on priority sort (the idea of Graves 2014, Figure 17).

    Left: for every write head, the row it wrote each input vector to against that vector's priority, over all
    traced examples, with the mean over examples of Spearman's rank correlation between priority and row in the
    legend (+1 or -1 for a head that files every sequence's vectors in priority order). Middle and right, for the first example: the write weightings (summed over write
    heads) of the input vectors sorted by descending priority, and the read weightings (summed over read heads) of
    the answer steps, which must then visit those rows in order.

    Args:
        sort_trace: :class:`~experiments.evaluation.PrioritySortTrace`.
        title: figure title.
        threshold: weight above which a memory row is shown in the heatmaps (:func:`used_rows`).
        path: PNG to write (``None``: only return the figure).

    Returns:
        the figure.
    """
    priorities = np.asarray(sort_trace.priorities)  # [E, K]
    writes = np.asarray(sort_trace.write_weights)  # [E, K, W, N]
    reads = np.asarray(sort_trace.read_weights)  # [E, J, R, N]
    locations = rows_written(writes)  # [E, K, W]
    figure = new_figure(15, 5.2)
    grid = GridSpec(1, 3, figure=figure, width_ratios=[1.1, 1, 1], wspace=0.35)
    ax = figure.add_subplot(grid[0, 0])
    for head, rho in enumerate(priority_rank_correlations(sort_trace)):
        ax.scatter(priorities.ravel(), locations[:, :, head].ravel(), s=9, alpha=0.5,
                   color=HEAD_COLORS[head % len(HEAD_COLORS)], label=f"write head {head + 1} (ρ = {rho:+.2f})")
    ax.set_xlabel("priority of the input vector")
    ax.set_ylabel("memory row written (argmax of the write weighting)")
    ax.set_title(f"where each vector is written ({priorities.shape[0]} examples)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)

    order = np.argsort(-priorities[0], kind="stable")
    written = writes[0].sum(axis=1)[order]  # [K, N], highest priority first
    read = reads[0].sum(axis=1)  # [J, N]
    rows = used_rows(np.concatenate([written, read])[:, None, :], threshold)
    for column, (image, name, ylabel, labels) in enumerate([
        (written, "write weightings, inputs by priority", "input vector (priority)",
         [f"{p:+.2f}" for p in priorities[0][order]]),
        (read, "read weightings, answer steps", "answer step", [str(j + 1) for j in range(read.shape[0])]),
    ]):
        ax = figure.add_subplot(grid[0, column + 1])
        shown = np.clip(image[:, rows], 0.0, 1.0)
        im = ax.imshow(shown, aspect="auto", cmap="magma", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"example 1: {name}")
        ax.set_xlabel("memory row")
        ax.set_ylabel(ylabel)
        step = max(1, len(rows) // 10)
        ax.set_xticks(np.arange(0, len(rows), step), [str(r) for r in rows[::step]], fontsize=7)
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=6)
        figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="weight")
    if title:
        figure.suptitle(title)
    figure.subplots_adjust(left=0.06, right=0.95, top=0.86, bottom=0.11)
    return _save(figure, path)
