"""Model builders: the NTM, the LSTM baseline and the DNC, each mapping [B, T, in] to logits [B, T, out]."""

import keras

from ntm_cell import NTMCell

#: Name of the recurrent layer in every built model (``model.get_layer(RECURRENT_LAYER).cell.trace(x)``).
RECURRENT_LAYER = "memory"


def build_ntm(input_size, output_size, **cell_kwargs):
    """An NTM whose cell projects ``[h ; r]`` to ``output_size`` logits.

    The memory is carried as a ``[B, M, N]`` matrix (``memory_state_shape="matrix"``, faster under XLA on a
    CPU) unless ``cell_kwargs`` say otherwise: these models never return the RNN's final state.
    """
    cell_kwargs.setdefault("memory_state_shape", "matrix")
    cell = NTMCell(output_units=output_size, **cell_kwargs)
    return _sequence_model(input_size, keras.layers.RNN(cell, return_sequences=True, name=RECURRENT_LAYER), "ntm")


def build_dnc(input_size, output_size, **cell_kwargs):
    """A DNC whose cell projects ``[h ; r]`` to ``output_size`` logits."""
    from ntm_cell import DNCCell  # the DNC lives in its own module; import it only when asked for

    cell = DNCCell(output_units=output_size, **cell_kwargs)
    return _sequence_model(input_size, keras.layers.RNN(cell, return_sequences=True, name=RECURRENT_LAYER), "dnc")


def build_lstm(input_size, output_size, units=256, layers=3):
    """The papers' LSTM baseline: ``layers`` stacked LSTMs of ``units`` and a linear output layer."""
    inputs = keras.Input((None, input_size), name="inputs")
    x = inputs
    for i in range(layers):
        x = keras.layers.LSTM(units, return_sequences=True, name=f"lstm_{i}")(x)
    logits = keras.layers.Dense(output_size, name="logits")(x)
    return keras.Model(inputs, logits, name="lstm")


def _sequence_model(input_size, recurrent_layer, name):
    inputs = keras.Input((None, input_size), name="inputs")
    return keras.Model(inputs, recurrent_layer(inputs), name=name)


BUILDERS = {"ntm": build_ntm, "lstm": build_lstm, "dnc": build_dnc}


def build_model(model, input_size, output_size, **model_kwargs):
    """Build ``model`` (``"ntm"``, ``"lstm"`` or ``"dnc"``) for a task's input and output sizes.

    Returns:
        a ``keras.Model`` from ``[B, T, input_size]`` to logits ``[B, T, output_size]``.
    """
    if model not in BUILDERS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(BUILDERS)}")
    return BUILDERS[model](input_size, output_size, **model_kwargs)
