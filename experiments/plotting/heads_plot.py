"""Head figures: input, target and output of one example, and every head's weighting over memory at every step."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from matplotlib import ticker
from matplotlib.gridspec import GridSpec

from ntm_cell.experiments.plotting.figures import new_figure, save


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
    images; then, for each read head, its weighting as a memory-location × time heatmap (and, for a DNC, its read
    modes: how much of the weighting came from the backward links, content and the forward links); for each write
    head its weighting (and, for a DNC, its allocation weighting), add vector and erase vector (the DNC's write
    vector stands in for the add vector); for a DNC last the usage of every location. A dashed line marks where the
    answer starts. Traces without ``read_weights``/``write_weights`` get the first three panels only.

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
            if "read_modes" in trace:
                modes = np.asarray(trace["read_modes"])[:, head].T  # [2 W + 1, T]
                panels.append(_Panel(f"read head {head + 1}: read modes", modes, "cividis", 0.0, 1.0, "mode",
                                     _mode_names(modes.shape[0]), "share"))
        add = trace.get("add", trace.get("write_vectors"))
        add_name = "add vector" if "add" in trace else "write vector"
        for head in write_heads:
            panels.append(_Panel(f"write head {head + 1}: weighting{rows_note}", write_weights[:, head, rows].T,
                                 "magma", 0.0, 1.0, "memory location", labels, "weight"))
            if "allocation" in trace:
                panels.append(_Panel(f"write head {head + 1}: allocation weighting{rows_note}",
                                     np.asarray(trace["allocation"])[:, head, rows].T, "magma", 0.0, 1.0,
                                     "memory location", labels, "weight"))
            if add is not None:
                vectors = np.asarray(add)[:, head].T
                bound = max(1.0, float(np.abs(vectors).max()))
                panels.append(_Panel(f"write head {head + 1}: {add_name}", vectors, "RdBu_r", -bound, bound,
                                     "memory column", None, "value"))
            if "erase" in trace:
                panels.append(_Panel(f"write head {head + 1}: erase vector", np.asarray(trace["erase"])[:, head].T,
                                     "viridis", 0.0, 1.0, "memory column", None, "value"))
        if "usage" in trace:
            panels.append(_Panel(f"usage{rows_note}", np.asarray(trace["usage"])[:, rows].T, "viridis", 0.0, 1.0,
                                 "memory location", labels, "usage"))

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
    return save(figure, path)


def _mode_names(count):
    """Names of a DNC's ``2 W + 1`` read modes, in the cell's order: backward per write head, content, forward."""
    writes = (count - 1) // 2
    suffix = (lambda h: f" {h + 1}") if writes > 1 else (lambda h: "")
    return ([f"backward{suffix(h)}" for h in range(writes)] + ["content"]
            + [f"forward{suffix(h)}" for h in range(writes)])


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
