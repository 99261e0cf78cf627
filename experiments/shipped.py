"""Trained models shipped with the package, so that ``evaluate.py`` and ``plot_heads.py`` work without training.

``experiments/trained_models/<task>_<model>.keras`` is a trained model; ``<task>_<model>.json`` beside it is the
:class:`~ntm_cell.experiments.configs.ExperimentConfig` it was trained with (so
:func:`ntm_cell.experiments.runs.load_run` knows its task), and ``README.md`` there says which run each file came from.

    python scripts/evaluate.py --model_path=experiments/trained_models/copy_ntm.keras
    python scripts/ship_models.py --logdir=logs --tasks=copy,associative_recall,repeat_copy
"""

import json
import shutil
from pathlib import Path

from ntm_cell.experiments.configs import TASK_NAMES
from ntm_cell.experiments.convergence import convergence

SHIPPED_DIR = Path(__file__).resolve().parent / "trained_models"
#: The tasks a shipped NTM is promised for.
SHIPPED_TASKS = ("copy", "associative_recall", "repeat_copy", "ngrams", "priority_sort")


def shipped_model_path(task, model="ntm", directory=SHIPPED_DIR):
    """Path of the shipped ``.keras`` file of ``model`` trained on ``task``.

    Raises:
        FileNotFoundError: nothing is shipped for that task and model (the message lists what is).
    """
    path = Path(directory) / f"{task}_{model}.keras"
    if not path.exists():
        present = ", ".join(sorted(p.stem for p in Path(directory).glob("*.keras"))) or "none"
        raise FileNotFoundError(f"no shipped model {path.name} in {directory} (shipped: {present})")
    return path


def best_run(logdir, task, model="ntm"):
    """The finished run (with ``model.keras``) of ``model`` on ``task`` with the lowest final held-out error;
    ties go to the run that converged in fewer sequences.

    Returns:
        ``(run_dir, summary)`` where ``summary`` is :func:`ntm_cell.experiments.convergence.convergence`'s dict.

    Raises:
        FileNotFoundError: no finished run under ``<logdir>/<task>/<model>/``.
    """
    if task not in TASK_NAMES:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASK_NAMES)}")
    runs = sorted(p for p in (Path(logdir) / task / model).glob("seed*") if (p / "model.keras").exists())
    if not runs:
        raise FileNotFoundError(f"no finished {model} run on {task} under {Path(logdir) / task / model}")
    summaries = [(run, convergence(run)) for run in runs]

    def rank(item):
        summary = item[1]
        converged = summary["converged_sequences"]
        return summary["final_bit_errors"], converged if converged is not None else float("inf")

    return min(summaries, key=rank)


def ship(run_dir, task, model="ntm", directory=SHIPPED_DIR, summary=None, model_file="model.keras"):
    """Copy ``run_dir/<model_file>`` and its ``config.json`` to ``<directory>/<task>_<model>.keras`` / ``.json``,
    and record where it came from in ``<directory>/provenance.json`` and ``README.md``.

    ``model_file`` is ``"model.keras"`` (the last step) or ``"best.keras"`` (the checkpoint with the lowest
    held-out error).

    ``summary`` is the run's :func:`ntm_cell.experiments.convergence.convergence` dict when the caller has it already
    (it is read from the event files otherwise).

    Returns:
        the path of the shipped ``.keras`` file.
    """
    run_dir, directory = Path(run_dir), Path(directory)
    if model_file not in ("model.keras", "best.keras"):
        raise ValueError(f"model_file must be model.keras or best.keras, not {model_file!r}")
    if not (run_dir / model_file).exists():
        raise FileNotFoundError(f"{run_dir / model_file} does not exist")
    config = json.loads((run_dir / "config.json").read_text())
    if (config["task"], config["model"]) != (task, model):
        raise ValueError(f"{run_dir} trained {config['model']} on {config['task']}, not {model} on {task}")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{task}_{model}.keras"
    shutil.copyfile(run_dir / model_file, target)
    shutil.copyfile(run_dir / "config.json", target.with_suffix(".json"))
    summary = summary or convergence(run_dir)
    provenance_path = directory / "provenance.json"
    provenance = json.loads(provenance_path.read_text()) if provenance_path.exists() else {}
    provenance[target.name] = {
        "run": str(run_dir),
        "file": model_file,
        "seed": config["seed"],
        "steps": summary["steps"],
        "sequences": summary["steps"] * config["batch_size"],
        "final_held_out_bit_errors": summary["final_bit_errors"],
        "converged_at_sequences": summary["converged_sequences"],
    }
    provenance_path.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    (directory / "README.md").write_text(provenance_markdown(provenance))
    return target


def provenance_markdown(provenance):
    """The ``README.md`` of the shipped-models directory: one row per file."""
    lines = [
        "# Shipped trained models",
        "",
        "Written by `python scripts/ship_models.py`: for each task, the finished run under `logs/` with the lowest",
        "final held-out error, or the run named with `--run_dir`. `<name>.json` is the configuration it was trained",
        "with (`scripts/train.py`).",
        "",
        "| file | run | training sequences | final held-out bit errors / seq | converged (< 0.1) at sequences |",
        "|---|---|---:|---:|---:|",
    ]
    for name, entry in sorted(provenance.items()):
        converged = entry["converged_at_sequences"]
        lines.append(
            f"| {name} | {entry['run']}{' (best.keras)' if entry.get('file') == 'best.keras' else ''} | "
            f"{entry['sequences']:,} | {entry['final_held_out_bit_errors']:.3f} | "
            + (f"{converged:,} |" if converged is not None else "not converged |")
        )
    return "\n".join(lines) + "\n"
