"""Learning curves read back from run directories: one run's scalar against the sequences it had seen.

A curve is read from a run's TensorBoard event files, or from a small CSV exported from them
(:func:`write_curve_csvs`), kept in the same ``<root>/<task>/<model>/seed<k>/`` layout so that the figures can be
redrawn after the event files are gone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ntm_cell.experiments import reports
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


def _run_dirs(logdir, task):
    """``<logdir>/<task>/<model>/seed<k>`` directories, sorted."""
    return [run_dir for run_dir in sorted((Path(logdir) / task).glob("*/seed*"))
            if run_dir.is_dir() and run_dir.name[4:].isdigit()]


def _in_model_order(curves):
    """``{model: [Curve]}`` with models in the order ntm, lstm, dnc (others after, by name), seeds ascending."""
    order = {name: index for index, name in enumerate(MODELS)}
    return {name: sorted(curves[name], key=lambda c: c.seed)
            for name in sorted(curves, key=lambda n: (order.get(n, len(order)), n))}


def load_learning_curves(logdir, task, tag="bit_errors/eval"):
    """Read ``<logdir>/<task>/<model>/seed<k>/`` event files: ``{model: [Curve per seed]}``.

    Models come in the order ntm, lstm, dnc (others after, by name); runs without ``tag`` are left out.
    """
    curves = {}
    for run_dir in _run_dirs(logdir, task):
        scalars = read_scalars(run_dir)
        if tag not in scalars or len(scalars[tag].steps) == 0:
            continue
        steps, values = scalars[tag].steps, scalars[tag].values
        sequences = _sequences_at(steps, scalars, run_dir)
        curves.setdefault(run_dir.parent.name, []).append(Curve(int(run_dir.name[4:]), sequences, values, run_dir))
    return _in_model_order(curves)


def curve_csv_name(tag):
    """File name of a ``tag`` curve inside a run's CSV directory: ``"bit_errors/eval"`` -> ``bit_errors_eval.csv``."""
    return tag.replace("/", "_") + ".csv"


def write_curve_csvs(runs, csv_dir, task, tag="bit_errors/eval"):
    """Write each curve of ``runs`` (``{model: [Curve]}``) to ``<csv_dir>/<task>/<model>/seed<k>/<tag>.csv``.

    Two columns, ``sequences`` and ``tag``, one row per evaluation, with the 9 digits that give a float32 back
    exactly. Returns the paths written.
    """
    paths = []
    for model, seeds in runs.items():
        for curve in seeds:
            rows = [{"sequences": int(sequences), tag: f"{value:.9g}"}
                    for sequences, value in zip(curve.sequences, curve.values)]
            path = Path(csv_dir) / task / model / f"seed{curve.seed}" / curve_csv_name(tag)
            paths.append(reports.write_csv(rows, path, ["sequences", tag]))
    return paths


def load_curve_csvs(csv_dir, task, tag="bit_errors/eval"):
    """Read the CSVs :func:`write_curve_csvs` wrote: ``{model: [Curve per seed]}``, like :func:`load_learning_curves`.

    Raises:
        ValueError: a CSV whose header is not ``sequences,<tag>`` or whose rows are not two numbers.
    """
    curves = {}
    for run_dir in _run_dirs(csv_dir, task):
        path = run_dir / curve_csv_name(tag)
        if not path.exists():
            continue
        rows = reports.read_csv(path)
        if not rows:
            continue
        if set(rows[0]) - {"sequences", tag}:
            raise ValueError(f"{path}: header {','.join(rows[0])!r}, expected 'sequences,{tag}'")
        try:
            table = np.array([[row["sequences"], row[tag]] for row in rows], np.float64)
        except (KeyError, ValueError) as error:
            raise ValueError(f"{path}: every row must be two numbers, sequences and value ({error!r})") from None
        curves.setdefault(run_dir.parent.name, []).append(
            Curve(int(run_dir.name[4:]), table[:, 0], table[:, 1], run_dir))
    return _in_model_order(curves)


def merge_curves(*sources):
    """Runs of several ``{model: [Curve]}`` sources as one; for a model and seed in more than one, the first wins."""
    curves = {}
    for source in sources:
        for model, seeds in source.items():
            kept = curves.setdefault(model, [])
            have = {curve.seed for curve in kept}
            kept.extend(curve for curve in seeds if curve.seed not in have)
    return _in_model_order(curves)


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
