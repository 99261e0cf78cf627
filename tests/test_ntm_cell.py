"""NTMCell inside Keras: the RNN cell contract, integration with Keras layers, saving.

Written with Keras APIs only, so ``test_jax_backend.py`` runs this same module under
``KERAS_BACKEND=jax``.
"""

import functools

import helpers
import keras
import numpy as np
import pytest
from helpers import INPUT_SIZE, np_
from keras import ops

from ntm_cell import NTMCell, addressing

SMALL = dict(controller_units=8, memory_size=6, memory_width=4, output_units=3)
# small_cell(**overrides), sequences(batch=3, time=7, seed=0), sequence_model(cell, **rnn_kwargs) (RNN layer "ntm")
small_cell = functools.partial(NTMCell, **SMALL)
sequences = functools.partial(helpers.random_sequences, batch=3, time=7)
sequence_model = functools.partial(helpers.sequence_model, name="ntm")


def test_rnn_eager_output_and_state_sizes():
    cell = small_cell()
    out = keras.layers.RNN(cell)(sequences())
    assert out.shape == (3, 3)
    assert cell.output_size == 3
    assert cell.state_size == [3, 8, 8, 6 * 4, 4, 2 * 6]
    no_projection = small_cell(output_units=None, read_heads=2)
    out = keras.layers.RNN(no_projection, return_sequences=True)(sequences())
    assert out.shape == (3, 7, 8 + 2 * 4) and no_projection.output_size == 16


def test_dense_controller_has_no_controller_state():
    cell = small_cell(controller="dense")
    out = keras.layers.RNN(cell, return_sequences=True)(sequences())
    assert out.shape == (3, 7, 3)
    assert cell.state_size == [3, 6 * 4, 4, 2 * 6]


def test_stacked_controller_feeds_each_layer_the_one_below():
    cell = small_cell(controller_layers=2)
    keras.layers.RNN(cell)(sequences())
    assert cell.state_size == [3, 8, 8, 8, 8, 6 * 4, 4, 2 * 6]
    states = cell.get_initial_state(batch_size=3)
    states[1:5] = [ops.convert_to_tensor(np.random.default_rng(k).normal(size=(3, 8)).astype("float32")) for k in range(4)]
    x = sequences()[:, 0]
    _, new_states, _ = cell.step(x, states)
    reads = cell.unpack_state(states)["read_vectors"]
    bottom_h, (h0, c0) = cell.controller_layer(ops.concatenate([x, ops.reshape(reads, (3, -1))], axis=-1), states[1:3])
    top_h, (h1, c1) = cell.upper_controller_layers[0](bottom_h, states[3:5])
    for got, expected in zip(new_states[1:5], (h0, c0, h1, c1)):
        np.testing.assert_allclose(np_(got), np_(expected), atol=1e-6)
    # The interface and the output read the top layer, so training moves its weights.
    model = sequence_model(small_cell(controller_layers=2))
    top = model.get_layer("ntm").cell.upper_controller_layers[0]
    before = [np_(w.value).copy() for w in top.weights]
    _one_sgd_step(model, sequences(), np.ones((3, 7, 3), "float32"))
    assert all(np.abs(np_(w.value) - b).max() > 0 for w, b in zip(top.weights, before))


def test_fit_lowers_loss_and_stays_finite():
    keras.utils.set_random_seed(1)
    model = sequence_model(small_cell())
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=True)
    x = sequences(batch=8)
    y = np.tanh(x[..., :3])
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_jit_compile_on_and_off_give_the_same_numbers():
    keras.utils.set_random_seed(2)
    model = sequence_model(small_cell(read_heads=2, write_heads=2))
    x = sequences(batch=4)
    y = np.zeros((4, 7, 3), "float32")
    results = {}
    for jit in (True, False):
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        clone.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit)
        prediction = clone.predict(x, verbose=0)
        loss = clone.train_on_batch(x, y)
        results[jit] = (prediction, loss, clone.predict(x, verbose=0))
    np.testing.assert_allclose(results[True][0], results[False][0], atol=1e-5)
    np.testing.assert_allclose(results[True][1], results[False][1], rtol=1e-5)
    np.testing.assert_allclose(results[True][2], results[False][2], atol=1e-5)


def test_dynamic_batch_size():
    model = sequence_model(small_cell())
    model.compile(jit_compile=True)
    for batch in (1, 2, 5):
        assert model.predict(sequences(batch=batch), verbose=0).shape == (batch, 7, 3)
    # The same weights serve every batch: row 0 does not depend on the rest of the batch.
    x = sequences(batch=5)
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), model.predict(x, verbose=0)[:1], atol=1e-6)


def test_return_state_in_functional_model_matches_trace():
    helpers.assert_return_state_matches_trace(small_cell(), sequences(), ["memory", "read_vectors"])


def test_masked_tail_leaves_final_state_of_unmasked_prefix():
    model = helpers.masked_final_state_model(small_cell())
    x = sequences(batch=2, time=7) + 0.1
    padded = x.copy()
    padded[:, 4:] = 0.0  # the last three steps are masked
    with_tail = model(padded)
    prefix = model(x[:, :4])
    for a, b in zip(with_tail, prefix):
        np.testing.assert_allclose(np_(a), np_(b), atol=1e-6)


def test_go_backwards_equals_reversed_sequence():
    cell = small_cell()
    forward = keras.layers.RNN(cell)
    backward = keras.layers.RNN(cell, go_backwards=True)
    x = sequences()
    np.testing.assert_allclose(np_(backward(x)), np_(forward(x[:, ::-1])), atol=1e-6)


def test_return_sequences_last_step_equals_final_output():
    cell = small_cell()
    x = sequences()
    sequence = keras.layers.RNN(cell, return_sequences=True)(x)
    last = keras.layers.RNN(cell)(x)
    np.testing.assert_allclose(np_(sequence)[:, -1], np_(last), atol=1e-6)


def test_stacked_with_lstm_cell():
    stacked = keras.layers.StackedRNNCells([small_cell(), keras.layers.LSTMCell(6)])
    inputs = keras.Input((None, INPUT_SIZE))
    outputs = keras.layers.RNN(stacked, return_sequences=True, return_state=True)(inputs)
    model = keras.Model(inputs, outputs)
    results = keras.tree.flatten(model(sequences()))
    assert results[0].shape == (3, 7, 6)
    # outputs, the NTM's six states, then the LSTM's h and c
    shapes = [(3, 3), (3, 8), (3, 8), (3, 24), (3, 4), (3, 12), (3, 6), (3, 6)]
    assert [tuple(r.shape) for r in results[1:]] == shapes
    assert all(np.all(np.isfinite(np_(r))) for r in results)


def test_bidirectional():
    inputs = keras.Input((None, INPUT_SIZE))
    outputs = keras.layers.Bidirectional(keras.layers.RNN(small_cell(), return_sequences=True))(inputs)
    model = keras.Model(inputs, outputs)
    out = np_(model(sequences()))
    assert out.shape == (3, 7, 6) and np.all(np.isfinite(out))
    # The two directions have their own weights, so their halves differ.
    assert not np.allclose(out[..., :3], out[..., 3:])


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"memory_init": "constant", "controller": "dense"},
        {"memory_init": "random", "read_heads": 2, "write_heads": 2, "shift_range": 2, "output_units": None},
        {"initial_weighting": "uniform"},
        {"controller_layers": 2},
        {"controller_layers": 3, "controller": "dense"},
        {"_matrix_states": True, "write_heads": 2},
    ],
)
def test_keras_save_and_load_without_custom_objects(tmp_path, options):
    model = sequence_model(small_cell(**options))
    x = sequences()
    expected = np_(model(x))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np_(loaded(x)), expected)
    assert loaded.get_layer("ntm").cell.get_config() == model.get_layer("ntm").cell.get_config()


def test_mixed_float16_computes_layers_in_16_bits_and_the_memory_in_float32(tmp_path):
    helpers.assert_mixed_precision_matches_float32(
        lambda dtype: small_cell(read_heads=2, write_heads=2, dtype=dtype), sequences(), tmp_path / "m.keras"
    )


def test_initial_weighting_starts_focused_on_row_zero_or_uniform():
    focused = small_cell(read_heads=2, write_heads=1)
    sequence_model(focused)
    weights = np_(focused.unpack_state(focused.get_initial_state(batch_size=3))["weights"])
    assert weights.shape == (3, 3, focused.memory_size)
    rows = focused.memory_size
    np.testing.assert_allclose(weights[:, :, 0], rows * np.e**4 / (rows * np.e**4 + rows - 1), rtol=1e-5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    uniform = small_cell(initial_weighting="uniform")
    sequence_model(uniform)
    weights = np_(uniform.unpack_state(uniform.get_initial_state(batch_size=1))["weights"])
    np.testing.assert_allclose(weights, 1.0 / uniform.memory_size, rtol=1e-2)


def test_get_config_from_config_round_trip():
    cell = small_cell(read_heads=2, write_heads=3, shift_range=2, controller="dense", memory_init="random", clip_value=5.0,
                      initial_weighting="uniform")
    config = cell.get_config()
    assert config["initial_weighting"] == "uniform"
    clone = NTMCell.from_config(config)
    assert clone.get_config() == config
    layer, clone_layer = keras.layers.RNN(cell), keras.layers.RNN(clone)
    x = sequences()
    layer(x), clone_layer(x)
    clone_layer.set_weights(layer.get_weights())
    np.testing.assert_allclose(np_(layer(x)), np_(clone_layer(x)), atol=1e-6)


@pytest.mark.parametrize(
    "argument, value",
    [
        ("memory_size", 0),
        ("memory_width", -1),
        ("read_heads", -1),
        ("write_heads", -2),
        ("read_heads", 0),
        ("controller_units", 0),
        ("controller", "gru"),
        ("memory_init", "zeros"),
        ("initial_weighting", "random"),
        ("shift_range", -1),
        ("clip_value", -1.0),
        ("output_units", 0),
        ("controller_layers", 0),
    ],
)
def test_bad_arguments_name_the_argument_and_value(argument, value):
    with pytest.raises(ValueError, match=f"{argument}.*{value!r}"):
        NTMCell(**{argument: value})


def test_shift_range_larger_than_memory_is_rejected():
    with pytest.raises(ValueError, match="shift_range"):
        NTMCell(memory_size=4, shift_range=3)


@pytest.mark.parametrize("shape", [(2, 7), (2, 7, 5, 1)])
def test_wrong_input_rank_is_a_value_error(shape):
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        keras.layers.RNN(small_cell())(np.zeros(shape, "float32"))


def _one_sgd_step(model, x, y):
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    model.train_on_batch(x, y)


def _initial_state_weights(cell):
    return {w.path.split("/")[-1]: np_(w.value).copy() for w in cell.weights if "initial" in w.path}


def test_gradients_reach_learned_initial_memory_reads_and_weightings():
    cell = small_cell(memory_init="learned")
    model = sequence_model(cell)
    x = sequences()
    model(x)
    trainable = {w.path.split("/")[-1] for w in cell.trainable_weights}
    assert {"initial_memory", "initial_read_vectors", "initial_weighting_logits"} <= trainable
    before = _initial_state_weights(cell)
    _one_sgd_step(model, x, np.ones((3, 7, 3), "float32"))
    after = _initial_state_weights(cell)
    for name in ("initial_memory", "initial_read_vectors", "initial_weighting_logits"):
        assert np.abs(after[name] - before[name]).max() > 0, f"no gradient reached {name}"


@pytest.mark.parametrize("memory_init", ["constant", "random"])
def test_frozen_memory_inits_get_no_update(memory_init):
    cell = small_cell(memory_init=memory_init)
    model = sequence_model(cell)
    x = sequences()
    model(x)
    assert "initial_memory" not in {w.path.split("/")[-1] for w in cell.trainable_weights}
    before = _initial_state_weights(cell)
    _one_sgd_step(model, x, np.ones((3, 7, 3), "float32"))
    after = _initial_state_weights(cell)
    if memory_init == "random":
        np.testing.assert_array_equal(after["initial_memory"], before["initial_memory"])
    else:
        assert "initial_memory" not in after
        memory = np_(cell.unpack_state(cell.get_initial_state(batch_size=2))["memory"])
        np.testing.assert_allclose(memory, 1e-6)
    # The read vectors and weightings are learned under every memory scheme.
    assert np.abs(after["initial_read_vectors"] - before["initial_read_vectors"]).max() > 0


def test_initial_state_is_tiled_learned_values():
    cell = small_cell()
    keras.layers.RNN(cell)(sequences())
    state = cell.unpack_state(cell.get_initial_state(batch_size=4))
    memory = np_(state["memory"])
    assert memory.shape == (4, 4, 6)  # [B, M, N]: one column per location
    np.testing.assert_allclose(memory[0].T, np.tanh(np_(cell.initial_memory_weight.value)), atol=1e-6)
    np.testing.assert_allclose(memory[3], memory[0])
    np.testing.assert_allclose(np_(state["weights"]).sum(-1), 1.0, atol=1e-5)
    assert all(np.all(np_(s) == 0) for s in state["controller"])


def test_reads_see_memory_before_this_steps_writes_and_writes_apply_in_head_order():
    keras.utils.set_random_seed(3)
    cell = small_cell(read_heads=2, write_heads=3)
    x = sequences(batch=2, time=4)
    trace = cell.trace(x)
    previous = np_(cell.unpack_state(cell.get_initial_state(batch_size=2))["memory"]).astype("float64")
    for t in range(4):
        reads = np.einsum("bhn,bmn->bhm", trace["read_weights"][:, t], previous)
        np.testing.assert_allclose(trace["read_vectors"][:, t], reads, atol=1e-5)
        memory = previous.copy()
        for head in range(3):  # erase then add, head 0 first
            w = trace["write_weights"][:, t, head][:, None, :]
            memory = memory * (1 - w * trace["erase"][:, t, head][:, :, None]) + w * trace["add"][:, t, head][:, :, None]
        np.testing.assert_allclose(trace["memory"][:, t], memory, atol=1e-5)
        previous = trace["memory"][:, t].astype("float64")
    assert trace["read_weights"].shape == (2, 4, 2, 6)
    assert trace["write_weights"].shape == (2, 4, 3, 6)
    np.testing.assert_allclose(trace["write_weights"].sum(-1), 1.0, atol=1e-5)


def test_trace_of_a_model_matches_its_outputs_and_changes_no_weight():
    model = sequence_model(small_cell())
    x = sequences()
    expected = np_(model(x))
    weights = [w.copy() for w in model.get_weights()]
    trace = model.get_layer("ntm").cell.trace(x)
    np.testing.assert_allclose(trace["outputs"], expected, atol=1e-5)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_outputs_and_interface_are_clipped():
    cell = small_cell(clip_value=0.5)
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = sequences() * 100.0
    layer(x)
    for sub in (cell.output_layer, cell.interface_layer):
        sub.kernel.assign(np.full(sub.kernel.shape, 50.0, "float32"))
    out = np_(layer(x))
    assert np.abs(out).max() <= 0.5 + 1e-6
    assert np.isclose(np.abs(out).max(), 0.5)
    # With the interface clipped to 0.5, the sharpening exponent is at most 1 + softplus(0.5).
    h = np.ones((1, 8), "float32")
    gammas = np_(cell._head_interface(h)["gammas"])
    assert gammas.max() <= 1 + np.log1p(np.exp(0.5)) + 1e-5


def test_step_uses_the_addressing_functions():
    """A direct check of one step against the addressing pipeline, from the initial state."""
    cell = small_cell()
    x = sequences(batch=2, time=1)
    trace = cell.trace(x)
    state = cell.unpack_state(cell.get_initial_state(batch_size=2))
    h, _ = cell.controller_layer(
        np.concatenate([x[:, 0], np_(ops.reshape(state["read_vectors"], (2, -1)))], -1),
        state["controller"],
    )
    head = cell._head_interface(h)
    weights = addressing.address(
        state["memory"], state["weights"], head["keys"], head["strengths"], head["gates"], head["shifts"], head["gammas"]
    )
    np.testing.assert_allclose(trace["read_weights"][:, 0], np_(weights)[:, :1], atol=1e-6)
    np.testing.assert_allclose(trace["write_weights"][:, 0], np_(weights)[:, 1:], atol=1e-6)


def test_matrix_memory_state_gives_the_numbers_of_the_flat_one():
    # Without XLA only: train.py's models carry matrix states and train with XLA in tests/test_training.py, and
    # test_jit_compile_on_and_off_give_the_same_numbers compares the two settings (with XLA this took 22 s).
    flat = sequence_model(small_cell(read_heads=2, write_heads=2))
    matrix_cell = small_cell(read_heads=2, write_heads=2, _matrix_states=True)
    matrix = sequence_model(matrix_cell)
    x = sequences()
    states = matrix_cell.get_initial_state(batch_size=3)
    assert [tuple(s.shape) for s in states[3:]] == [(3, 4, 6), (3, 2, 4), (3, 4, 6)]
    assert tuple(matrix_cell.unpack_state(states)["memory"].shape) == (3, 4, 6)
    helpers.assert_matrix_states_train_like_flat_states(flat, matrix, x, np.ones((3, 7, 3), "float32"))


def test_matrix_memory_state_cell_keeps_a_flat_initial_state_flat():
    cell = small_cell(_matrix_states=True)
    flat_cell = small_cell()
    x = sequences()
    layer = keras.layers.RNN(cell, return_state=True)
    flat_layer = keras.layers.RNN(flat_cell, return_state=True)
    flat_layer(x)
    layer(x)
    layer.set_weights(flat_layer.get_weights())
    flat_states = flat_cell.get_initial_state(batch_size=3)
    output, *states = layer(x, initial_state=flat_states)
    flat_output, *expected = flat_layer(x)
    assert [tuple(s.shape) for s in states[3:]] == [(3, 24), (3, 4), (3, 12)]
    np.testing.assert_allclose(np_(output), np_(flat_output), atol=1e-6)
    for state, flat_state in zip(states, expected):
        np.testing.assert_allclose(np_(state), np_(flat_state), atol=1e-6)
    _, *matrix_states = layer(x)
    assert [tuple(s.shape) for s in matrix_states[3:]] == [(3, 4, 6), (3, 1, 4), (3, 2, 6)]
    for state, flat_state in zip(matrix_states, expected):
        np.testing.assert_allclose(np_(ops.reshape(state, flat_state.shape)), np_(flat_state), atol=1e-6)
