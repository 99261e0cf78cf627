"""What the cell test modules share: random input sequences, a one-layer sequence model, a tiny copy task.

Keras and NumPy only, so the modules that use it stay backend-agnostic (``test_jax_backend.py`` runs
``test_ntm_cell.py`` under JAX). pytest puts this folder on ``sys.path``, so test modules ``import helpers``.
"""

import keras
import numpy as np
from keras import ops

#: Features per time step of :func:`random_sequences` and of :func:`sequence_model`'s input.
INPUT_SIZE = 5


def np_(x):
    """A tensor of any backend as a NumPy array."""
    return ops.convert_to_numpy(x)


def random_sequences(batch, time, seed=0):
    """``[batch, time, INPUT_SIZE]`` float32 values uniform in ``[0, 1)``; the same for the same arguments."""
    return np.random.default_rng(seed).random((batch, time, INPUT_SIZE)).astype("float32")


def sequence_model(cell, name, **rnn_kwargs):
    """``keras.Model``: ``[B, T, INPUT_SIZE]`` -> ``[B, T, output_size]``, the cell in an RNN layer called ``name``."""
    inputs = keras.Input((None, INPUT_SIZE))
    outputs = keras.layers.RNN(cell, return_sequences=True, name=name, **rnn_kwargs)(inputs)
    return keras.Model(inputs, outputs)


def masked_final_state_model(cell):
    """``keras.Model``: ``[B, T, INPUT_SIZE]`` -> ``[final output, *final states]`` of the cell in an RNN layer
    (``return_state=True``), behind a ``Masking`` layer that masks the steps whose inputs are all zero."""
    inputs = keras.Input((None, INPUT_SIZE))
    masked = keras.layers.Masking(mask_value=0.0)(inputs)
    return keras.Model(inputs, keras.layers.RNN(cell, return_state=True)(masked))


# ---------------------------------------------------------------- a tiny copy task
#: Data bits per step, longest sequence, and steps per example (sequence, delimiter, answer).
COPY_BITS, COPY_MAX_LENGTH = 3, 3
COPY_TIME = 2 * COPY_MAX_LENGTH + 1


def tiny_copy_data(rng, count):
    """``count`` copy examples of 1 to ``COPY_MAX_LENGTH`` random ``COPY_BITS``-bit vectors.

    Returns:
        inputs ``[count, COPY_TIME, COPY_BITS + 1]`` (the bits, then a delimiter on the extra channel), targets
        ``[count, COPY_TIME, COPY_BITS]`` (the bits again after the delimiter) and the loss mask
        ``[count, COPY_TIME]`` (1 on the answer steps).
    """
    inputs = np.zeros((count, COPY_TIME, COPY_BITS + 1), "float32")
    targets = np.zeros((count, COPY_TIME, COPY_BITS), "float32")
    mask = np.zeros((count, COPY_TIME), "float32")
    for b in range(count):
        length = rng.integers(1, COPY_MAX_LENGTH + 1)
        bits = rng.integers(0, 2, (length, COPY_BITS)).astype("float32")
        inputs[b, :length, :COPY_BITS] = bits
        inputs[b, length, COPY_BITS] = 1.0
        targets[b, length + 1 : 2 * length + 1] = bits
        mask[b, length + 1 : 2 * length + 1] = 1.0
    return inputs, targets, mask


# ---------------------------------------------------------------- shared checks of the RNN cell contract
def assert_return_state_matches_trace(cell, x, state_names):
    """With ``return_state=True`` in a functional model, ``cell`` returns one ``[B, size]`` tensor per entry of
    its ``state_size``, its outputs equal ``cell.trace(x)["outputs"]``, and the final previous-output state and
    the final states ``state_names`` (keys of ``unpack_state`` and of ``trace``) equal the trace's last step.

    Args:
        x: ``[B, T, INPUT_SIZE]`` sequences.
    """
    inputs = keras.Input((None, INPUT_SIZE))
    outputs = keras.layers.RNN(cell, return_sequences=True, return_state=True)(inputs)
    model = keras.Model(inputs, outputs)
    results = model(x)
    assert len(results) == 1 + len(cell.state_size)
    for state, size in zip(results[1:], cell.state_size):
        assert tuple(state.shape) == (x.shape[0], size)
    trace = cell.trace(x)
    np.testing.assert_allclose(np_(results[0]), trace["outputs"], atol=1e-5)
    final = cell.unpack_state(results[1:])
    np.testing.assert_allclose(np_(final["output"]), trace["outputs"][:, -1], atol=1e-5)
    for name in state_names:
        np.testing.assert_allclose(np_(final[name]), trace[name][:, -1], atol=1e-5, err_msg=name)


def assert_mixed_precision_matches_float32(make_cell, x, path, memory_details=("read_weights", "memory")):
    """A cell under ``"mixed_float16"`` computes its layers and carries its states in float16, its memory side in
    float32, gives the float32 cell's outputs to float16 rounding, and round-trips through ``.keras``.

    Args:
        make_cell: ``dtype -> cell``, the same configuration for every dtype policy.
        x: ``[B, T, INPUT_SIZE]`` sequences.
        path: a ``.keras`` file path to save to.
        memory_details: keys of ``cell.trace`` that the memory side computes.
    """
    models = {}
    for policy in ("float32", "mixed_float16"):
        cell = make_cell(policy)
        inputs = keras.Input((None, INPUT_SIZE))
        outputs = keras.layers.RNN(cell, return_sequences=True, return_state=True, dtype=policy)(inputs)
        models[policy] = keras.Model(inputs, outputs)
    models["mixed_float16"].set_weights(models["float32"].get_weights())
    mixed = models["mixed_float16"]
    cell = mixed.layers[-1].cell
    assert cell.compute_dtype == "float16" and cell.interface_layer.compute_dtype == "float16"
    assert all(w.dtype == "float32" for w in mixed.weights)
    sequence, *states = mixed(x)
    assert ops.dtype(sequence) == "float16" and all(ops.dtype(s) == "float16" for s in states)
    trace = cell.trace(x)
    assert all(trace[name].dtype == np.float32 for name in memory_details), {k: v.dtype for k, v in trace.items()}
    expected = np_(models["float32"](x)[0])
    np.testing.assert_allclose(np_(sequence).astype("float32"), expected, atol=5e-3)
    mixed.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[-1].cell.dtype_policy.name == "mixed_float16"
    np.testing.assert_array_equal(np_(loaded(x)[0]), np_(sequence))


def assert_matrix_states_train_like_flat_states(flat_model, matrix_model, x, y):
    """Two sequence models of one cell configuration, one carrying its memory states flat and one as matrices
    (the cells' internal ``_matrix_states``), give the same outputs, loss and updated weights for one SGD step
    without XLA, starting from the same weights.

    Args:
        x: ``[B, T, INPUT_SIZE]`` sequences; ``y``: ``[B, T, output_size]`` targets.
    """
    matrix_model.set_weights(flat_model.get_weights())
    for model in (flat_model, matrix_model):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
    np.testing.assert_allclose(matrix_model.predict(x, verbose=0), flat_model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(matrix_model.train_on_batch(x, y), flat_model.train_on_batch(x, y), rtol=1e-6)
    for a, b in zip(matrix_model.get_weights(), flat_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
