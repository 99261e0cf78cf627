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


def test_matrix_memory_state_gives_the_numbers_of_the_flat_one():
    # The internal layout experiments.models gives its DNCs: the memory state carried as matrices. Without XLA only;
    # test_jit_compile_on_and_off_give_the_same_numbers compares the two settings.
    flat = sequence_model(small_cell(write_heads=2))
    matrix_cell = small_cell(write_heads=2, _matrix_states=True)
    matrix = sequence_model(matrix_cell)
    x = sequences()
    states = matrix_cell.get_initial_state(batch_size=3)
    assert [tuple(s.shape) for s in states[3:]] == [(3, 4, 6), (3, 6), (3, 12, 6), (3, 2, 6), (3, 2, 6), (3, 2, 6),
                                                     (3, 2, 4)]
    assert tuple(matrix_cell.unpack_state(states)["link"].shape) == (3, 2, 6, 6)
    assert DNCCell.from_config(matrix_cell.get_config())._matrix_states
    helpers.assert_matrix_states_train_like_flat_states(flat, matrix, x, np.ones((3, 6, 3), "float32"))


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


def train_on_tiny_copies(make_cell, steps):
    """Seed 0, put ``make_cell()`` in a copy model and train it on ``steps`` batches of fresh tiny copy sequences.

    Returns:
        dict with ``initial`` and ``final`` (the held-out loss before and after), ``last_loss`` (the last
        training loss), ``cell`` and ``memory_before`` (its initial-memory weight before training, or ``None``).
    """
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cell = make_cell()
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

    weight = cell.initial_memory_weight
    result = dict(cell=cell, initial=held_out_loss(), memory_before=None if weight is None else np_(weight.value).copy())
    x, y, m = tiny_copy_data(rng, BATCH * steps)  # fresh sequences at every step
    history = model.fit(x, y, sample_weight=m, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return dict(result, final=held_out_loss(), last_loss=history.history["loss"][-1])


def test_tiny_dnc_learns_to_copy():
    run = train_on_tiny_copies(
        lambda: DNCCell(controller_units=32, memory_size=8, memory_width=6, read_heads=1, output_units=COPY_BITS),
        STEPS,
    )
    initial, final, cell = run["initial"], run["final"], run["cell"]
    assert np.isfinite(run["last_loss"])
    assert final < 0.5 * initial, (initial, final)
    assert np.abs(np_(cell.initial_memory_weight.value) - run["memory_before"]).max() > 0


# ---------------------------------------------------------------- the options (Csordás & Schmidhuber 2019; usage gradient)
#: Each option alone, the three 2019 fixes together (their DNC-MDS) and all four.
OPTIONS = {
    "masked": dict(masked_content=True),
    "deallocation": dict(deallocation=True),
    "sharpness": dict(link_sharpness=True),
    "no_usage_gradient": dict(usage_gradient=False),
    "mds": dict(masked_content=True, deallocation=True, link_sharpness=True),
    "all": dict(masked_content=True, deallocation=True, link_sharpness=True, usage_gradient=False),
}
with_options = pytest.mark.parametrize("options", list(OPTIONS.values()), ids=list(OPTIONS))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _oneplus(x):
    return 1.0 + np.log1p(np.exp(x))


def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def np_lookup(rows, key, strength, mask):
    """rows [N, M] -> [N]: softmax over rows of strength * cos(key * mask, row * mask)."""
    k = key * mask
    return _softmax(np.array([strength * k @ (row * mask) / (np.linalg.norm(k) * np.linalg.norm(row * mask))
                              for row in rows]))


def np_allocation(usage, eps=1e-6):
    """usage [N] -> [N]: the free list in order of ascending (squashed) usage, ties by lowest index. The order
    is taken in float32, as the cell sorts: a second write head sees usages like 1e-6 + 1e-18, which tie there."""
    u = eps + (1.0 - eps) * usage
    out, product = np.zeros_like(u), 1.0
    for i in np.argsort(u.astype("float32"), kind="stable"):
        out[i] = (1.0 - u[i]) * product
        product *= u[i]
    return out


def np_sharpen(d, s, eps=1e-6):
    """The documented S(d, s) = (d + eps)^s / sum((d + eps)^s)."""
    powered = (d + eps) ** s
    return powered / powered.sum()


def parse_interface(xi, r, w, m, masked, sharp):
    """One example's clipped interface vector -> (read heads, write heads), lists of dicts, as documented."""
    position = 0

    def take(size):
        nonlocal position
        position += size
        return xi[position - size : position]

    reads, writes = [], []
    for _ in range(r):
        head = dict(key=take(m), beta=_oneplus(take(1)[0]), free=_sigmoid(take(1)[0]), modes=_softmax(take(2 * w + 1)))
        head["mask"] = _sigmoid(take(m)) if masked else np.ones(m)
        if sharp:
            head["s_f"], head["s_b"] = _oneplus(take(w)), _oneplus(take(w))
        reads.append(head)
    for _ in range(w):
        head = dict(key=take(m), beta=_oneplus(take(1)[0]), erase=_sigmoid(take(m)), vector=take(m),
                    alloc=_sigmoid(take(1)[0]), gate=_sigmoid(take(1)[0]))
        head["mask"] = _sigmoid(take(m)) if masked else np.ones(m)
        writes.append(head)
    assert position == len(xi)
    return reads, writes


def np_memory_step(reads, writes, s, deallocation, sharp):
    """One example's memory step (Nature Methods, with the 2019 options) on a state dict ``s`` of NumPy arrays:
    memory rows [N, M], usage [N], link [W, N, N], precedence [W, N], read_weights [R, N], write_weights [W, N].
    Returns the new state dict with read_vectors [R, M] added."""
    psi = np.prod([1.0 - head["free"] * wr for head, wr in zip(reads, s["read_weights"])], axis=0)
    written = 1.0 - np.prod(1.0 - s["write_weights"], axis=0)
    usage = (s["usage"] + written - s["usage"] * written) * psi
    u, write_weights = usage.copy(), []
    for head in writes:
        a = np_allocation(u)
        c = np_lookup(s["memory"], head["key"], head["beta"], head["mask"])
        write_weights.append(head["gate"] * (head["alloc"] * a + (1.0 - head["alloc"]) * c))
        u = u + (1.0 - u) * head["alloc"] * head["gate"] * a
    memory = s["memory"] * psi[:, None] if deallocation else s["memory"]
    links, precedences = [], []
    for head, ww, link, p in zip(writes, write_weights, s["link"], s["precedence"]):
        memory = memory * (1.0 - np.outer(ww, head["erase"])) + np.outer(ww, head["vector"])
        link = (1.0 - ww[:, None] - ww[None, :]) * link + np.outer(ww, p)
        np.fill_diagonal(link, 0.0)
        links.append(link)
        precedences.append((1.0 - ww.sum()) * p + ww)
    read_weights = []
    for head, previous in zip(reads, s["read_weights"]):
        weights = head["modes"][len(writes)] * np_lookup(memory, head["key"], head["beta"], head["mask"])
        for h, link in enumerate(links):
            forward, backward = link @ previous, link.T @ previous
            if sharp:
                forward, backward = np_sharpen(forward, head["s_f"][h]), np_sharpen(backward, head["s_b"][h])
            weights = weights + head["modes"][h] * backward + head["modes"][len(writes) + 1 + h] * forward
        read_weights.append(weights)
    return dict(memory=memory, usage=usage, link=np.array(links), precedence=np.array(precedences),
                read_weights=np.array(read_weights), write_weights=np.array(write_weights),
                read_vectors=np.array(read_weights) @ memory)


def numpy_dnc(cell, x, options):
    """Run ``cell``'s weights over ``x`` [B, T, INPUT_SIZE] in NumPy (float64), from the cell's initial state;
    one LSTM controller layer. Returns per-step lists of (output [B, out], state dicts, read heads)."""
    r, w, m = cell.read_heads, cell.write_heads, cell.memory_width
    masked, sharp = options.get("masked_content", False), options.get("link_sharpness", False)
    get = lambda v: np_(v).astype("float64")  # noqa: E731
    lstm, interface, projection = cell.controller_layer, cell.interface_layer, cell.output_layer
    start = cell.unpack_state(cell.get_initial_state(batch_size=x.shape[0]))
    h, c = (get(v) for v in start["controller"])
    states = [dict(memory=get(start["memory"][b]).T, usage=get(start["usage"][b]), link=get(start["link"][b]),
                   precedence=get(start["precedence"][b]), read_weights=get(start["read_weights"][b]),
                   write_weights=get(start["write_weights"][b]), read_vectors=get(start["read_vectors"][b]))
              for b in range(x.shape[0])]
    steps = []
    for t in range(x.shape[1]):
        controller_in = np.concatenate([x[:, t], np.stack([s["read_vectors"].ravel() for s in states])], axis=-1)
        z = controller_in @ get(lstm.kernel) + h @ get(lstm.recurrent_kernel) + get(lstm.bias)
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        xi = np.clip(h @ get(interface.kernel) + get(interface.bias), -cell.clip_value, cell.clip_value)
        heads = [parse_interface(xi[b], r, w, m, masked, sharp) for b in range(x.shape[0])]
        states = [np_memory_step(*heads[b], states[b], options.get("deallocation", False), sharp)
                  for b in range(x.shape[0])]
        reads = np.stack([s["read_vectors"].ravel() for s in states])
        output = np.clip(np.concatenate([h, reads], -1) @ get(projection.kernel) + get(projection.bias),
                         -cell.clip_value, cell.clip_value)
        steps.append((output, states, heads))
    return steps


@pytest.mark.parametrize("options, write_heads", [(o, 1) for o in OPTIONS.values()] + [(OPTIONS["all"], 2)],
                         ids=list(OPTIONS) + ["all-2-write-heads"])
def test_option_steps_match_a_numpy_dnc(options, write_heads):
    keras.utils.set_random_seed(3)
    cell = small_cell(memory_init="random", write_heads=write_heads, **options)
    x = sequences(batch=2, time=5)
    trace = cell.trace(x)
    for t, (output, states, heads) in enumerate(numpy_dnc(cell, x.astype("float64"), options)):
        np.testing.assert_allclose(trace["outputs"][:, t], output, atol=2e-5, err_msg=f"step {t}")
        for name in ("usage", "read_weights", "write_weights", "read_vectors"):
            expected = np.stack([s[name] for s in states])
            np.testing.assert_allclose(trace[name][:, t], expected, atol=2e-5, err_msg=f"{name}, step {t}")
        memory = np.stack([s["memory"].T for s in states])
        np.testing.assert_allclose(trace["memory"][:, t], memory, atol=2e-5, err_msg=f"memory, step {t}")
        if options.get("masked_content"):
            for name, group in (("read_masks", 0), ("write_masks", 1)):
                expected = [[head["mask"] for head in example[group]] for example in heads]
                np.testing.assert_allclose(trace[name][:, t], expected, atol=1e-6)
        if options.get("link_sharpness"):
            for name, key in (("forward_sharpness", "s_f"), ("backward_sharpness", "s_b")):
                expected = [[head[key] for head in example[0]] for example in heads]
                np.testing.assert_allclose(trace[name][:, t], expected, atol=1e-5)
                assert np.all(trace[name][:, t] >= 1.0)
    if options.get("deallocation"):  # the option matters here: without it the memory differs
        without = numpy_dnc(cell, x.astype("float64"), dict(options, deallocation=False))
        assert np.abs(np.stack([s["memory"] for s in without[-1][1]]) - memory.transpose(0, 2, 1)).max() > 1e-3


def expected_interface(options, r=4, w=1, m=16):
    """(interface size, the columns of the values the options add), from the documented layout."""
    masked, sharp = options.get("masked_content", False), options.get("link_sharpness", False)
    base_read, base_write = m + 2 + 2 * w + 1, 3 * m + 3
    read = base_read + (m if masked else 0) + (2 * w if sharp else 0)
    write = base_write + (m if masked else 0)
    added = [i * read + j for i in range(r) for j in range(base_read, read)]
    added += [r * read + h * write + j for h in range(w) for j in range(base_write, write)]
    return r * read + w * write, added


def test_options_grow_the_interface_by_exactly_their_values():
    # masked_content adds a mask (M) per read and write head, link_sharpness two exponents per read head.
    sizes = {name: DNCCell(**options)._interface_size for name, options in OPTIONS.items()}
    assert sizes == dict(masked=135 + 5 * 16, deallocation=135, sharpness=135 + 8, no_usage_gradient=135,
                         mds=135 + 80 + 8, all=135 + 80 + 8)
    for options in OPTIONS.values():
        for r, w in ((2, 1), (3, 2)):
            cell = DNCCell(memory_width=4, read_heads=r, write_heads=w, **options)
            assert cell._interface_size == expected_interface(options, r, w, 4)[0]
    # The options that add no interface values add no weights either.
    cells = [small_cell(), small_cell(deallocation=True, usage_gradient=False)]
    for cell in cells:
        keras.layers.RNN(cell)(sequences())
    assert cells[0].count_params() == cells[1].count_params()


def test_options_are_stored_in_the_config_and_checked():
    cell = small_cell(**OPTIONS["all"])
    config = cell.get_config()
    assert {k: config[k] for k in OPTIONS["all"]} == OPTIONS["all"]
    clone = DNCCell.from_config(config)
    assert clone.get_config() == config and clone._interface_size == cell._interface_size
    assert {k: small_cell().get_config()[k] for k in OPTIONS["all"]} == dict(
        masked_content=False, deallocation=False, link_sharpness=False, usage_gradient=True)


@pytest.mark.parametrize("argument", ["masked_content", "deallocation", "link_sharpness", "usage_gradient"])
@pytest.mark.parametrize("value", [1, 0, None, "yes"])
def test_non_bool_option_values_raise_value_error_naming_the_option(argument, value):
    with pytest.raises(ValueError, match=argument):
        small_cell(**{argument: value})


def loss_gradients(model, x, variables):
    """Gradients of ``sum((model(x) - 1)^2)`` with respect to ``variables`` (trainable weights of ``model``),
    as NumPy arrays (zeros where nothing flows), under TensorFlow or JAX."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x) - 1.0))
        gradients = tape.gradient(loss, [v.value for v in variables])
        return [np.zeros(v.shape) if g is None else np_(g) for v, g in zip(variables, gradients)]
    if keras.backend.backend() == "jax":
        import jax

        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss(trainable):
            y, _ = model.stateless_call(trainable, non_trainable, x)
            return jax.numpy.sum(jax.numpy.square(y - 1.0))

        gradients = jax.grad(loss)([v.value for v in model.trainable_variables])
        where = {id(v): k for k, v in enumerate(model.trainable_variables)}
        return [np_(gradients[where[id(v)]]) for v in variables]
    pytest.skip("gradients here are taken with TensorFlow or JAX")


def input_gradient(function, tensor):
    """Gradient of the scalar ``function(tensor)`` with respect to ``tensor`` (zeros where nothing flows)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(tensor)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            value = function(tensor)
        gradient = tape.gradient(value, tensor)
        return np.zeros(tensor.shape) if gradient is None else np_(gradient)
    if keras.backend.backend() == "jax":
        import jax

        return np_(jax.grad(function)(ops.convert_to_tensor(tensor)))
    pytest.skip("gradients here are taken with TensorFlow or JAX")


@with_options
def test_option_gradients_are_finite_and_reach_the_new_interface_values(options):
    cell = small_cell(**options)
    model = sequence_model(cell)
    x = sequences(time=6)
    model(x)
    gradients = loss_gradients(model, x, model.trainable_variables)
    for variable, gradient in zip(model.trainable_variables, gradients):
        assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0, variable.path
    size, added = expected_interface(options, r=2, w=1, m=4)
    assert cell._interface_size == size
    kernel = gradients[[v is cell.interface_layer.kernel for v in model.trainable_variables].index(True)]
    if added:  # every column of the values the options add gets a gradient
        assert np.all(np.abs(kernel[:, added]).max(axis=0) > 0), np.abs(kernel[:, added]).max(axis=0)


def test_without_usage_gradient_nothing_flows_from_the_usage_into_the_previous_write_weights():
    x = sequences(batch=2, time=1)[:, 0]
    previous_writes = np.random.default_rng(4).dirichlet(np.ones(6), size=2).astype("float32") * 0.8
    usage_gradients, models = {}, {}
    for usage_gradient in (True, False):
        keras.utils.set_random_seed(5)
        cell = small_cell(usage_gradient=usage_gradient)
        cell.build((None, INPUT_SIZE))
        states = list(cell.get_initial_state(batch_size=2))

        def total_usage(writes):  # the usage after this step's free gates, from the previous step's writes
            return ops.sum(cell.step(x, states[:-2] + [writes, states[-1]])[2]["usage"])

        usage_gradients[usage_gradient] = input_gradient(total_usage, previous_writes)
        models[usage_gradient] = sequence_model(small_cell(usage_gradient=usage_gradient))
    # Nothing was read yet (psi = 1) and usage starts at 0, so d usage / d w = (1 - u) psi = 1.
    np.testing.assert_allclose(usage_gradients[True], 1.0, atol=1e-6)
    np.testing.assert_array_equal(usage_gradients[False], 0.0)
    # Over a sequence: the same weights give the same outputs, but other gradients (the allocation no longer
    # passes gradient back through the usage into earlier writes).
    models[False].set_weights(models[True].get_weights())
    x = sequences(time=6)
    np.testing.assert_array_equal(np_(models[False](x)), np_(models[True](x)))
    kernels = [loss_gradients(m, x, [m.layers[-1].cell.interface_layer.kernel])[0] for m in models.values()]
    assert np.abs(kernels[0] - kernels[1]).max() > 1e-6


@with_options
def test_option_keras_save_and_load_round_trip(tmp_path, options):
    model = sequence_model(small_cell(memory_init="learned", **options))
    x = sequences()
    expected = np_(model(x))
    model.save(tmp_path / "dnc.keras")
    loaded = keras.models.load_model(tmp_path / "dnc.keras")
    cell = loaded.get_layer("dnc").cell
    assert {k: getattr(cell, k) for k in options} == options
    np.testing.assert_array_equal(np_(loaded(x)), expected)


#: Shorter than the plain cell's run: a falling loss is what these runs check.
OPTION_STEPS = 100


@pytest.mark.parametrize("options", [OPTIONS["mds"], OPTIONS["all"]], ids=["mds", "all"])
def test_tiny_dnc_with_options_learns_to_copy(options):
    # The two runs between them enable every option; the tests above check each option alone.
    run = train_on_tiny_copies(
        lambda: DNCCell(controller_units=32, memory_size=8, memory_width=6, read_heads=1, output_units=COPY_BITS,
                        **options),
        OPTION_STEPS,
    )
    assert np.isfinite(run["last_loss"])
    assert run["final"] < 0.8 * run["initial"], (run["initial"], run["final"])

