"""Priority-sort figure: the row each write head wrote every input vector to, against the vector's priority."""

from __future__ import annotations

import numpy as np
from matplotlib.gridspec import GridSpec

from ntm_cell.experiments.plotting.figures import new_figure, save
from ntm_cell.experiments.plotting.heads_plot import used_rows
from ntm_cell.experiments.traces import priority_rank_correlations, rows_written


HEAD_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def plot_priority_writes(sort_trace, title=None, threshold=0.05, path=None):
    """Where the heads write and read on priority sort (the idea of Graves 2014, Figure 17).

    Left: for every write head, the row it wrote each input vector to against that vector's priority, over all
    traced examples, with :func:`~ntm_cell.experiments.traces.priority_rank_correlations` in the legend (the mean
    over examples of Spearman's rank correlation between priority and row, over the answered vectors and around the
    circular memory: +1 or -1 for a head that files every sequence's vectors in priority order). Middle and right,
    for the first example: the write weightings (summed over write heads) of the input vectors sorted by descending
    priority, and the read weightings (summed over read heads) of the answer steps, which must then visit those rows
    in order.

    Args:
        sort_trace: :class:`~ntm_cell.experiments.traces.PrioritySortTrace`.
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
    return save(figure, path)
