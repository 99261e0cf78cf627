"""Learning curves read back from run directories: one run's scalar against the sequences it had seen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ntm_cell.experiments.configs import MODELS
from ntm_cell.experiments.events import read_scalars


class Curve(NamedTuple):
    """One run's scalar against the number of training sequences seen."""

    seed: int
    sequences: np.ndarray
    values: np.ndarray
    run_dir: Path


def _sequences_at(steps, scalars, run_dir):
    """Sequences seen at ``steps``: from the ``sequences_seen`` scalar, else step × the config's batch size."""
    if "sequences_seen" in scalars:
        seen_steps, seen = scalars["sequences_seen"].steps, scalars["sequences_seen"].values
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
        if tag not in scalars or len(scalars[tag].steps) == 0:
            continue
        steps, values = scalars[tag].steps, scalars[tag].values
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
