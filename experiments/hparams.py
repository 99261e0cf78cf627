"""A run's configuration as TensorBoard hparams, so that the HParams dashboard filters and sorts runs by it.

``train.py`` writes :func:`run_hparams` into every run directory (``tensorboard.plugins.hparams``), next to the
scalars that serve as the dashboard's metrics: ``bit_errors/eval`` (the last value is the final held-out error),
``bit_errors/eval_best`` (the lowest so far) and ``sequences_to_converge`` (written once, when the run converges).
:func:`ntm_cell.experiments.events.read_hparams` reads them back.
"""

#: The dashboard's metrics: scalar tags written by the training loop.
METRIC_TAGS = ("bit_errors/eval", "bit_errors/eval_best", "sequences_to_converge")


def run_hparams(config, model):
    """``{name: bool, int, float or str}``: what the run was trained with.

    Args:
        config: the run's :class:`~ntm_cell.experiments.configs.ExperimentConfig`.
        model: the built ``keras.Model``; the memory's size and initialisation come from its memory cell (the
            configuration holds only what differs from the cell's defaults). The LSTM baseline has none: ``0``
            rows and ``"none"``.
    """
    from ntm_cell.experiments.models import RECURRENT_LAYER

    try:
        cell = model.get_layer(RECURRENT_LAYER).cell
    except ValueError:
        cell = None
    return {
        "task": config.task,
        "model": config.model,
        "seed": config.seed,
        "optimizer": config.optimizer,
        "learning_rate": float(config.learning_rate),
        "batch_size": config.batch_size,
        "memory_size": getattr(cell, "memory_size", 0),
        "memory_width": getattr(cell, "memory_width", 0),
        "memory_init": getattr(cell, "memory_init", "none"),
        "initial_weighting": getattr(cell, "initial_weighting", "none"),
        "curriculum": config.curriculum,
        "length_buckets": config.length_buckets,
        "precision": config.precision,
    }


def write_hparams(writer, config, model):
    """Write :func:`run_hparams` with the run's TensorBoard ``writer`` (a ``tf.summary`` file writer)."""
    from tensorboard.plugins.hparams import api

    with writer.as_default():
        api.hparams(run_hparams(config, model), trial_id=f"{config.task}/{config.model}/seed{config.seed}")
    writer.flush()
