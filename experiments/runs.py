"""Run directories: where a run lives, checking a resumed run's configuration, loading a trained model back.

A run lives in ``<logdir>/<task>/<model>/seed<k>/``: ``config.json`` (its
:class:`~ntm_cell.experiments.configs.ExperimentConfig`), TensorBoard events, ``checkpoints/`` and, once training has
finished, ``model.keras``. Shipped models are ``<name>.keras`` files with ``<name>.json`` beside them.

TensorFlow and Keras are imported by the functions that need them (without TensorFlow's CPU-only start-up lines,
see :mod:`ntm_cell.experiments.startup`), so command-line scripts can check their flags first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from ntm_cell import tasks
from ntm_cell.experiments import configs
from ntm_cell.experiments.configs import ExperimentConfig


class ConfigMismatchError(ValueError):
    """A run directory holds a run with another configuration."""


def run_directory(logdir, task, model, seed):
    """``<logdir>/<task>/<model>/seed<seed>``: one directory per run, so TensorBoard compares them."""
    return Path(logdir) / task / model / f"seed{seed}"


def prepare_run_directory(run_dir, config, write_to=None):
    """Check that an existing run in ``run_dir`` matches ``config``, then create ``write_to`` (default ``run_dir``)
    and its ``config.json``.

    ``config.json`` is written whole or not at all (a new file renamed over it), so that another process checking
    the same run at the same moment (a worker of a multi-worker run) reads either none or all of it.

    Raises:
        ConfigMismatchError: the directory holds checkpoints of another configuration.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if config_path.exists():
        saved = ExperimentConfig.from_json(config_path.read_text())
        if saved.identity() != config.identity():
            differences = {
                key: (saved.identity()[key], value)
                for key, value in config.identity().items()
                if saved.identity().get(key) != value
            }
            details = "; ".join(f"{k}: saved {old!r}, now {new!r}" for k, (old, new) in differences.items())
            raise ConfigMismatchError(
                f"{run_dir} holds a run with a different configuration ({details}). "
                "Use another --logdir or --seed, or delete that directory to start over."
            )
    elif (run_dir / "checkpoints").exists():
        raise ConfigMismatchError(f"{run_dir}/checkpoints exists but has no config.json; refusing to overwrite it")
    write_to = run_dir if write_to is None else Path(write_to)
    write_to.mkdir(parents=True, exist_ok=True)
    partial = write_to / f".config.json.{os.getpid()}"
    partial.write_text(config.to_json())
    os.replace(partial, write_to / "config.json")


class LoadedRun(NamedTuple):
    """What :func:`load_run` returns.

    Attributes:
        model: the ``keras.Model``.
        task: the :class:`ntm_cell.tasks.Task` it was trained on (its training ranges).
        config: the run's :class:`~ntm_cell.experiments.configs.ExperimentConfig`, or ``None`` for a bare
            ``.keras`` file.
        model_name: ``"ntm"``, ``"lstm"``, ``"dnc"`` (or the Keras model's name if it is none of those).
        source: the file the weights came from.
    """

    model: Any
    task: tasks.Task
    config: configs.ExperimentConfig | None
    model_name: str
    source: Path


def config_file(path):
    """Where :func:`load_run` reads the configuration of ``path``: ``config.json`` in a run directory; for a file
    ``<name>.keras``, ``<name>.json`` beside it if there is one (shipped models), else ``config.json`` beside it."""
    path = Path(path)
    if path.is_dir():
        return path / "config.json"
    beside = path.with_suffix(".json")
    return beside if beside.exists() else path.parent / "config.json"


def read_config(path):
    """The :class:`~ntm_cell.experiments.configs.ExperimentConfig` of the run or model file at ``path``, or ``None``."""
    config_path = config_file(path)
    return ExperimentConfig.from_json(config_path.read_text()) if config_path.exists() else None


def load_run(path, task=None, task_kwargs=None):
    """Load a trained model and the task it was trained on.

    Args:
        path: a run directory (``<logdir>/<task>/<model>/seed<k>/``) or a ``.keras`` file. A run directory
            gives ``model.keras``, or, while training has not finished, the newest checkpoint rebuilt from
            ``config.json``. The task comes from the ``config.json`` in the directory (or, for a file
            ``<name>.keras``, from ``<name>.json`` or ``config.json`` beside it).
        task: the task name, needed only when there is no ``config.json``.
        task_kwargs: constructor arguments of that task over the paper's (``configs.TASK_KWARGS``); only
            without ``config.json``.

    Returns:
        a :class:`LoadedRun`.

    Raises:
        FileNotFoundError: no model file (or checkpoint) at ``path``.
        ValueError: no ``config.json`` and no ``task``; a ``task`` that contradicts ``config.json``; a task whose
            channel counts do not match the model.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    model_path = path / "model.keras" if path.is_dir() else path
    config_path = config_file(path)
    config = read_config(path)
    if config is not None:
        if task is not None and task != config.task:
            raise ValueError(f"{config_path} says the model was trained on {config.task!r}, not {task!r}")
        if task_kwargs:
            raise ValueError(f"{config_path} already fixes the task's arguments; do not pass task_kwargs")
        task_object = tasks.get_task(config.task, **config.task_kwargs)
    elif task is None:
        raise ValueError(
            f"{model_path} has no config.json beside it, so the task it was trained on is unknown: name the task"
        )
    else:
        if task not in configs.TASK_KWARGS:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(configs.TASK_NAMES)}")
        task_object = tasks.get_task(task, **dict(configs.TASK_KWARGS[task], **(task_kwargs or {})))

    from ntm_cell.experiments.startup import import_tensorflow_quietly

    import_tensorflow_quietly()  # the first import of TensorFlow in the scripts that load a run
    import keras

    from ntm_cell import DNCCell, NTMCell  # noqa: F401  (registers the cells with Keras' serialisation)

    if model_path.exists():
        model = keras.models.load_model(model_path, compile=False)
        source = model_path
    elif config is not None and (path / "checkpoints").is_dir():
        model, source = _restore_checkpoint(config, task_object, path / "checkpoints")
    else:
        raise FileNotFoundError(f"{path} holds neither model.keras nor checkpoints/")

    input_size, output_size = model.input_shape[-1], model.output_shape[-1]
    if (input_size, output_size) != (task_object.input_size, task_object.output_size):
        raise ValueError(
            f"the model maps {input_size} input channels to {output_size} outputs, but {task_object!r} has "
            f"{task_object.input_size} and {task_object.output_size}"
            + ("" if config else "; give the task's arguments it was trained with")
        )
    name = config.model if config else (model.name or "model")
    return LoadedRun(model, task_object, config, name, source)


def _restore_checkpoint(config, task, checkpoint_dir):
    import tensorflow as tf

    from ntm_cell.experiments.models import build_model

    latest = tf.train.latest_checkpoint(str(checkpoint_dir))
    if latest is None:
        raise FileNotFoundError(f"{checkpoint_dir} holds no checkpoint")
    from ntm_cell.experiments.optimizers import make_optimizer

    model = build_model(config.model, task.input_size, task.output_size, config.precision, **config.model_kwargs)
    # With the optimizer, as train() saved it: the optimizer's list of trainable variables reaches every weight.
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)
    tf.train.Checkpoint(model=model, optimizer=optimizer).restore(latest).expect_partial()
    return model, Path(latest)
