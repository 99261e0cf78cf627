"""The optimizers train.py uses, without TensorFlow (``experiments.jax_benchmark`` builds them under JAX)."""

import keras

from experiments.configs import OPTIMIZERS


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
