"""The cells' argument choices and the checks that turn a bad argument into a clear error.

Imports nothing (no Keras), so that command-line front ends can offer these choices as flags, and the task
generators can check their arguments the same way, without loading a deep-learning framework.
"""

import numbers

#: Controllers of ``NTMCell`` and ``DNCCell``: an LSTM (forget bias 1) or a tanh feed-forward layer.
CONTROLLERS = ("lstm", "dense")
#: Initial memory schemes (see :mod:`ntm_cell.initial_state`).
MEMORY_INITS = ("learned", "constant", "random")
#: Where ``NTMCell``'s learned initial head weightings start: on row 0, or spread evenly.
INITIAL_WEIGHTINGS = ("focused", "uniform")
#: ``DNCCell``'s switches for the fixes of Csordás & Schmidhuber (2019), each a ``bool`` argument (default off).
DNC_FIXES = ("masked_content", "deallocation", "link_sharpness")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type, such as ``1.5`` where an integer is needed.

    Both a ``TypeError`` (its kind) and a ``ValueError`` (what the cells raise for every bad argument), so that
    either ``except`` catches it.
    """


def check_choice(name, value, choices):
    """Raise ``ValueError`` naming the argument unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, choices))}; got {value!r}")


def check_int(name, value, minimum=None):
    """``value`` as a Python int.

    Raises:
        ArgumentTypeError: ``value`` is not an integer (``bool`` counts as not one; NumPy integers do count).
        ValueError: it is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"`{name}` must be an integer; got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value!r}")
    return value


def check_bool(name, value):
    """``value`` if it is ``True`` or ``False``; anything else (``0``, ``1``, ``None``, ``"yes"``) raises
    ``ArgumentTypeError`` naming the argument."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"`{name}` must be True or False; got {value!r}")
    return value


def check_clip_value(clip_value):
    """``clip_value`` is ``None`` (no clipping) or a positive number."""
    if clip_value is not None and (isinstance(clip_value, bool) or not clip_value > 0):
        raise ValueError(f"`clip_value` must be a positive number or None; got {clip_value!r}")


def check_step_input_shape(cell_name, input_shape):
    """The number of features of one time step ``(batch, features)``; anything else is a user error.

    ``keras.layers.RNN`` passes the shape of one time step, so an RNN input of rank other than 3
    (``[batch, time, features]``) arrives here with the wrong rank.
    """
    shape = tuple(input_shape)
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"{cell_name} expects inputs of shape [batch, time, features] (one step: "
            f"[batch, features] with known features); got a step input of shape {shape}"
        )
    return shape[-1]
