"""The flags that choose one trained model, shared by ``scripts/evaluate.py`` and ``scripts/plot_heads.py``.

    --model_path=<file>.keras [--task=<task> [--task_kwargs=<json>]]   or   --run_dir=<logdir>/<task>/<model>/seed<k>

A script calls :func:`define_run_flags` where it defines its own flags and ``flags.adopt_module_key_flags(run_flags)``
so that its ``--help`` lists them; after parsing, :func:`given_path` and :func:`load_run` turn them into a
:class:`~ntm_cell.experiments.runs.LoadedRun`, raising ``app.UsageError`` (one clear line) for what the user got wrong.

Light to import, like :mod:`ntm_cell.experiments.configs`: TensorFlow is imported by :func:`load_run` only.
"""

import json
import os

from absl import app, flags

from ntm_cell.experiments import configs


def _is_json_object(text):
    """``None`` or the JSON text of an object (what ``--task_kwargs`` takes)."""
    if text is None:
        return True
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def define_run_flags(flag_values=flags.FLAGS):
    """Define ``--model_path`` and ``--run_dir`` (exactly one is required), ``--task`` and ``--task_kwargs`` (a JSON
    object, only with ``--task``) on ``flag_values``, with their validators."""
    flags.DEFINE_string("model_path", None, "A trained .keras model, e.g. experiments/trained_models/copy_ntm.keras. "
                        "Its task comes from <name>.json or config.json beside it, or else from --task.", flag_values=flag_values)
    flags.DEFINE_string("run_dir", None, "A training run directory, <logdir>/<task>/<model>/seed<k>/ (its "
                        "model.keras, or its newest checkpoint while training runs, and its config.json).",
                        flag_values=flag_values)
    flags.mark_flags_as_mutual_exclusive(["model_path", "run_dir"], required=True, flag_values=flag_values)
    flags.DEFINE_enum("task", None, configs.TASK_NAMES, "Task of a --model_path that has no config.json beside it.",
                      flag_values=flag_values)
    flags.DEFINE_string("task_kwargs", None, "With --task: JSON of task arguments over the paper's, e.g. "
                        "'{\"bits\": 3}'.", flag_values=flag_values)
    flags.register_validator("task_kwargs", _is_json_object, message="--task_kwargs must be a JSON object",
                             flag_values=flag_values)
    flags.register_multi_flags_validator(
        ["task_kwargs", "task"], lambda f: f["task_kwargs"] is None or f["task"] is not None,
        message="--task_kwargs needs --task", flag_values=flag_values)


def define_figure_flags(default_name, flag_values=flags.FLAGS):
    """Define ``--output_dir`` (default ``img``) and ``--output_name`` (default ``default_name``) of a figure script."""
    flags.DEFINE_string("output_dir", "img", "Where the figure goes.", flag_values=flag_values)
    flags.DEFINE_string("output_name", None, f"File name without .png (default {default_name}).",
                        flag_values=flag_values)


def figure_path(default_name, flag_values=flags.FLAGS):
    """``<--output_dir>/<--output_name or default_name>.png``."""
    return os.path.join(flag_values.output_dir, (flag_values.output_name or default_name) + ".png")


def given_path(flag_values=flags.FLAGS):
    """The ``--model_path`` or ``--run_dir`` given.

    Raises:
        app.UsageError: it does not exist.
    """
    path = flag_values.model_path or flag_values.run_dir
    if not os.path.exists(path):
        flag = "model_path" if flag_values.model_path else "run_dir"
        raise app.UsageError(f"--{flag}={path}: no such file or directory")
    return path


def load_run(path, flag_values=flags.FLAGS):
    """:func:`ntm_cell.experiments.runs.load_run` of ``path`` with the ``--task`` and ``--task_kwargs`` given.

    Raises:
        app.UsageError: nothing to load there, or what is there does not fit the task.
    """
    from ntm_cell.experiments import runs  # imports TensorFlow when it loads the model

    try:
        task_kwargs = json.loads(flag_values.task_kwargs) if flag_values.task_kwargs else None
        return runs.load_run(path, task=flag_values.task, task_kwargs=task_kwargs)
    except FileNotFoundError as error:
        raise app.UsageError(str(error))
    except (ValueError, TypeError) as error:
        raise app.UsageError(f"{path}: {error}")
