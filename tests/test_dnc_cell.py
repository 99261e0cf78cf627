"""DNCCell inside Keras: the RNN cell contract, saving, masking, XLA, and a tiny learning task.

Written with Keras APIs only (except the one gradient test, which uses TensorFlow).
"""

import functools

import helpers
import keras
import numpy as np
import pytest
from helpers import COPY_BITS, INPUT_SIZE, np_, tiny_copy_data
from keras import ops

from ntm_cell import DNCCell

SMALL = dict(controller_units=8, memory_size=6, memory_width=4, read_heads=2, output_units=3)
# small_cell(**overrides), sequences(batch=3, time=6, seed=0), sequence_model(cell, **rnn_kwargs) (RNN layer "dnc")
small_cell = functools.partial(DNCCell, **SMALL)
sequences = functools.partial(helpers.random_sequences, batch=3, time=6)
sequence_model = functools.partial(helpers.sequence_model, name="dnc")


# ---------------------------------------------------------------- the cell contract
def test_eager_rnn_output_and_state_sizes():
    cell = small_cell(write_heads=2)
    out = keras.layers.RNN(cell, return_sequences=True)(sequences())
    assert out.shape == (3, 6, 3)
    n, m, r, w = 6, 4, 2, 2
    assert cell.state_size == [3, 8, 8, n * m, n, w * n * n, w * n, r * n, w * n, r * m]
    plain = small_cell(output_units=None, controller="dense")
    out = keras.layers.RNN(plain)(sequences())
    assert out.shape == (3, 8 + 2 * 4) and plain.output_size == 16
    assert plain.state_size == [16, 6 * 4, 6, 36, 6, 12, 6, 8]


def test_interface_has_the_papers_size():
    # W R + 3 W + 5 R + 3 for one write head (Methods); DeepMind defaults give 135.
    assert DNCCell()._interface_size == 16 * 4 + 3 * 16 + 5 * 4 + 3 == 135


def test_trace_details_are_proper_weightings():
    cell = small_cell(write_heads=2)
    keras.layers.RNN(cell)(sequences())
    trace = cell.trace(sequences(time=8))
    b, t, n, m = 3, 8, 6, 4
    assert trace["read_weights"].shape == (b, t, 2, n)
    assert trace["write_weights"].shape == (b, t, 2, n)
    assert trace["usage"].shape == (b, t, n)
    assert trace["read_modes"].shape == (b, t, 2, 5)
    assert trace["erase"].shape == trace["write_vectors"].shape == (b, t, 2, m)
    assert trace["outputs"].shape == (b, t, 3)
    assert np.all(trace["read_weights"].sum(-1) <= 1 + 1e-5)
    assert np.all(trace["write_weights"].sum(-1) <= 1 + 1e-5)
    assert np.all((trace["usage"] >= 0) & (trace["usage"] <= 1 + 1e-6))
    np.testing.assert_allclose(trace["read_modes"].sum(-1), 1.0, atol=1e-5)
    # Nothing was written before the first step, so its usage is zero and the first
    # head's allocation offers row 0.
    np.testing.assert_array_equal(trace["usage"][:, 0], 0.0)
    np.testing.assert_allclose(trace["allocation"][:, 0, 0], np.eye(n)[[0, 0, 0]], atol=1e-5)


def test_initial_state_is_zero_except_memory_and_read_vectors():
    cell = small_cell(memory_init="random")
    cell.build((None, INPUT_SIZE))
    state = cell.unpack_state(cell.get_initial_state(batch_size=2))
    for name in ("output", "usage", "link", "precedence", "read_weights", "write_weights"):
        np.testing.assert_array_equal(np_(state[name]), 0.0, err_msg=name)
    for h_or_c in state["controller"]:
        np.testing.assert_array_equal(np_(h_or_c), 0.0)
    memory = np_(ops.tanh(cell.initial_memory_weight))
    np.testing.assert_allclose(np_(state["memory"]), np.stack([memory.T, memory.T]), atol=1e-7)  # [B, M, N]
    reads = np_(ops.tanh(cell.initial_read_weight))
    np.testing.assert_allclose(np_(state["read_vectors"]), np.stack([reads, reads]), atol=1e-7)


def test_outputs_are_clipped():
    cell = small_cell(clip_value=0.01)
    out = np_(keras.layers.RNN(cell, return_sequences=True)(sequences() * 100))
    assert np.abs(out).max() <= 0.01 + 1e-7


def test_jit_compile_on_and_off_give_the_same_numbers():
    keras.utils.set_random_seed(2)
    model = sequence_model(small_cell(write_heads=2))
    x = sequences(batch=4, time=8)
    predictions = {}
    for jit in (False, True):
        model.compile(loss="mse", jit_compile=jit)
        predictions[jit] = model.predict(x, verbose=0)
    np.testing.assert_allclose(predictions[True], predictions[False], atol=1e-5)
    np.testing.assert_allclose(predictions[False], np_(model(x)), atol=1e-5)


def test_dynamic_batch_size():
    model = sequence_model(small_cell())
    model.compile(jit_compile=False)
    x = sequences(batch=5)
    for batch in (1, 2, 5):
        assert model.predict(x[:batch], verbose=0).shape == (batch, 6, 3)
    # Row 0 does not depend on the rest of the batch.
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), model.predict(x, verbose=0)[:1], atol=1e-6)


def test_return_state_in_functional_model_matches_trace():
    state_names = ["memory", "read_weights", "write_weights", "read_vectors"]
    helpers.assert_return_state_matches_trace(small_cell(), sequences(), state_names)


def test_masked_tail_leaves_final_state_of_unmasked_prefix():
    model = helpers.masked_final_state_model(small_cell())
    x = sequences(batch=2, time=7) + 0.1
    lengths = (3, 5)
    padded = x.copy()
    for b, length in enumerate(lengths):
        padded[b, length:] = 0.0
    with_tail = model(padded)
    for b, length in enumerate(lengths):
        prefix = model(x[b : b + 1, :length])
        for a, expected in zip(with_tail, prefix):
            np.testing.assert_allclose(np_(a)[b : b + 1], np_(expected), atol=1e-6)


# ---------------------------------------------------------------- saving and configuration
@pytest.mark.parametrize("memory_init", ["learned", "random", "constant"])
def test_keras_save_and_load_without_custom_objects(tmp_path, memory_init):
    model = sequence_model(small_cell(memory_init=memory_init, write_heads=2))
    x = sequences()
    expected = np_(model(x))
    path = tmp_path / "dnc.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("dnc").cell, DNCCell)
    np.testing.assert_array_equal(np_(loaded(x)), expected)


def test_mixed_float16_computes_layers_in_16_bits_and_the_memory_in_float32(tmp_path):
    helpers.assert_mixed_precision_matches_float32(
        lambda dtype: small_cell(dtype=dtype), sequences(), tmp_path / "d.keras",
        memory_details=("read_weights", "usage", "memory"),
    )


def test_get_config_from_config_round_trip():
    cell = DNCCell(
        controller_units=12,
        memory_size=5,
        memory_width=3,
        read_heads=3,
        write_heads=2,
        controller="dense",
        memory_init="constant",
        clip_value=None,
        output_units=7,
        name="my_dnc",
    )
    config = cell.get_config()
    clone = DNCCell.from_config(config)
    assert clone.get_config() == config
    assert clone.state_size == cell.state_size and clone.output_size == cell.output_size
    assert config["write_heads"] == 2 and config["clip_value"] is None and config["name"] == "my_dnc"


@pytest.mark.parametrize(
    "argument, value",
    [
        ("controller_units", 0),
        ("memory_size", 0),
        ("memory_width", -1),
        ("read_heads", 0),
        ("write_heads", 0),
        ("write_heads", 1.5),
        ("controller", "gru"),
        ("memory_init", "zeros"),
        ("clip_value", -1.0),
        ("output_units", 0),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(argument, value):
    with pytest.raises(ValueError, match=argument):
        DNCCell(**{argument: value})


def test_wrong_input_rank_is_a_value_error():
    with pytest.raises(ValueError, match="DNCCell"):
        small_cell().build((2, 3, INPUT_SIZE))


# ---------------------------------------------------------------- learning
def test_gradients_reach_learned_initial_memory_and_read_vectors():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("uses tf.GradientTape")
    cell = small_cell(memory_init="learned")
    model = sequence_model(cell)
    x = sequences()
    model(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(model(x) - 1.0))
    variables = [cell.initial_memory_weight, cell.initial_read_weight]
    gradients = tape.gradient(loss, [v.value for v in variables])
    for variable, gradient in zip(variables, gradients):
        assert gradient is not None, variable.path
        gradient = gradient.numpy()
        assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0, variable.path


BATCH, STEPS = 32, 300


def test_tiny_dnc_learns_to_copy():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cell = DNCCell(controller_units=32, memory_size=8, memory_width=6, read_heads=1, output_units=COPY_BITS)
    model = keras.Sequential([keras.Input((None, COPY_BITS + 1)), keras.layers.RNN(cell, return_sequences=True)])
    bit_loss = keras.losses.BinaryCrossentropy(from_logits=True)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=bit_loss,
        # TensorFlow: plain graph mode, as XLA would add ~15 s of compilation on 2 cores.
        # JAX: compiled, as its uncompiled mode runs op by op.
        jit_compile=keras.backend.backend() == "jax",
    )
    held_out = tiny_copy_data(np.random.default_rng(123), 64)

    def held_out_loss():  # eagerly: no second compiled function to build
        x, y, m = held_out
        return float(np_(bit_loss(y, model(x), sample_weight=m)))

    initial_memory = np_(cell.initial_memory_weight.value).copy()
    initial = held_out_loss()
    x, y, m = tiny_copy_data(rng, BATCH * STEPS)  # fresh sequences at every step
    history = model.fit(x, y, sample_weight=m, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    final = held_out_loss()
    assert np.isfinite(history.history["loss"][-1])
    assert final < 0.5 * initial, (initial, final)
    assert np.abs(np_(cell.initial_memory_weight.value) - initial_memory).max() > 0
