"""The optimizers train.py uses and its learning-rate schedule after convergence.

Free of TensorFlow: ``ntm_cell.experiments.bench.jax_step`` builds the same optimizers under JAX.
"""

import keras

from ntm_cell.experiments.configs import OPTIMIZERS


def make_optimizer(config):
    """The optimizer named by ``config.optimizer``, clipping gradients to a global norm of ``config.clip_norm``.

    ``"rmsprop"`` is Graves' variant (Graves 2013, eqs. 38-41), which Keras' centred RMSprop computes exactly:
    decay 0.95, momentum 0.9 and epsilon 1e-4 inside the square root.

    With ``config.precision == "mixed_float16"`` it is wrapped in ``keras.optimizers.LossScaleOptimizer``: the
    training step multiplies the loss by its ``scale_loss`` so that small float16 gradients do not round to zero,
    and the wrapper divides the gradients by the scale again, skips an update whose gradients overflowed and
    adapts the scale.

    Raises:
        ValueError: unknown optimizer name.
    """
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clip_norm)
    elif config.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(
            config.learning_rate, rho=0.95, momentum=0.9, epsilon=1e-4, centered=True,
            global_clipnorm=config.clip_norm,
        )
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if config.precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def loss_scale(optimizer):
    """The factor ``optimizer`` multiplies the loss by before differentiating: its dynamic scale for a
    ``keras.optimizers.LossScaleOptimizer`` (a variable), else 1."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.dynamic_scale
    return 1.0


def learning_rate_at(config, step, converged_at):
    """The learning rate of ``config`` at ``step`` of a run that first converged at step ``converged_at``.

    Before convergence (``converged_at == 0``) it is ``config.learning_rate``; from the convergence step on it is
    that rate times ``config.converged_learning_rate_factor``, halved every
    ``config.converged_learning_rate_half_life`` steps after convergence when that is positive.

    Args:
        config: an :class:`~ntm_cell.experiments.configs.ExperimentConfig`.
        step: the current step (>= ``converged_at``).
        converged_at: the step of the first held-out evaluation under ``CONVERGED_BIT_ERRORS``; 0 if none yet.

    Returns:
        a Python float.
    """
    if converged_at <= 0:
        return config.learning_rate
    rate = config.learning_rate * config.converged_learning_rate_factor
    if config.converged_learning_rate_half_life > 0:
        rate *= 0.5 ** (max(step - converged_at, 0) / config.converged_learning_rate_half_life)
    return rate
