"""Model builders: the NTM, the LSTM baseline and the DNC, each mapping [B, T, in] to logits [B, T, out]."""

import keras

from ntm_cell import DNCCell, NTMCell

#: Name of the recurrent layer in every built model (``model.get_layer(RECURRENT_LAYER).cell.trace(x)``).
RECURRENT_LAYER = "memory"


def build_ntm(input_size, output_size, dtype="float32", **cell_kwargs):
    """An NTM whose cell projects ``[h ; r]`` to ``output_size`` logits, under dtype policy ``dtype``.

    The cell carries its memory, read vectors and weightings between steps as matrices (the cell's internal
    ``_matrix_states``; faster under XLA, docs/performance.md): these models never return the RNN's final state,
    whose symbolic shapes Keras would give flat.
    """
    cell_kwargs.setdefault("_matrix_states", True)
    return _sequence_model(input_size, NTMCell(output_units=output_size, dtype=dtype, **cell_kwargs), "ntm", dtype)


def build_dnc(input_size, output_size, dtype="float32", **cell_kwargs):
    """A DNC whose cell projects ``[h ; r]`` to ``output_size`` logits, under dtype policy ``dtype``.

    Its states are matrices too (the temporal links as ``[B, W * N, N]``), as in :func:`build_ntm`.
    """
    cell_kwargs.setdefault("_matrix_states", True)
    return _sequence_model(input_size, DNCCell(output_units=output_size, dtype=dtype, **cell_kwargs), "dnc", dtype)


def build_lstm(input_size, output_size, units=256, layers=3, dtype="float32"):
    """The papers' LSTM baseline: ``layers`` stacked LSTMs of ``units`` and a linear output layer, under dtype
    policy ``dtype``."""
    inputs = keras.Input((None, input_size), name="inputs")
    x = inputs
    for i in range(layers):
        x = keras.layers.LSTM(units, return_sequences=True, name=f"lstm_{i}", dtype=dtype)(x)
    logits = keras.layers.Dense(output_size, name="logits", dtype=dtype)(x)
    return keras.Model(inputs, _float32_logits(logits, dtype), name="lstm")


def _float32_logits(logits, dtype):
    """``logits`` as float32: under a mixed policy a layer that casts them, so that the loss is computed in float32
    (nothing under ``"float32"``, so that float32 models keep the layers they were saved with)."""
    if dtype == "float32":
        return logits
    return keras.layers.Activation("linear", dtype="float32", name="float32_logits")(logits)


def _sequence_model(input_size, cell, name, dtype):
    """``keras.Model`` ``name``: ``[B, T, input_size]`` -> float32 logits, ``cell`` in an RNN layer under ``dtype``."""
    inputs = keras.Input((None, input_size), name="inputs")
    recurrent = keras.layers.RNN(cell, return_sequences=True, name=RECURRENT_LAYER, dtype=dtype)
    return keras.Model(inputs, _float32_logits(recurrent(inputs), dtype), name=name)


def memory_shape(model):
    """``(M, N)``, the memory width and rows of a built model's memory cell, or ``None`` for the LSTM baseline."""
    try:
        cell = model.get_layer(RECURRENT_LAYER).cell
    except ValueError:
        return None
    return cell.memory_width, cell.memory_size


BUILDERS = {"ntm": build_ntm, "lstm": build_lstm, "dnc": build_dnc}


def build_model(model, input_size, output_size, precision="float32", **model_kwargs):
    """Build ``model`` (``"ntm"``, ``"lstm"`` or ``"dnc"``) for a task's input and output sizes.

    Args:
        precision: the Keras dtype policy of its layers (``ntm_cell.experiments.configs.PRECISIONS``); the logits are
            float32 under every policy.

    Returns:
        a ``keras.Model`` from ``[B, T, input_size]`` to logits ``[B, T, output_size]``.
    """
    if model not in BUILDERS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(BUILDERS)}")
    return BUILDERS[model](input_size, output_size, dtype=precision, **model_kwargs)
