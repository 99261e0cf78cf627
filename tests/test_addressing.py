"""NTM addressing functions against NumPy references written with plain loops."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ntm_cell import addressing, fast_addressing

RNG = np.random.default_rng(0)


def _np(x):
    return ops.convert_to_numpy(x)


def columns(memory_rows):
    """``[..., N, M]`` memory written row by row, as the paper does -> the library's ``[..., M, N]``."""
    return np.ascontiguousarray(np.swapaxes(memory_rows, -1, -2))


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def reference_cosine(memory, key, eps=addressing.EPSILON):
    """memory [N, M], key [M] -> [N]."""
    out = np.zeros(memory.shape[0])
    key_norm = np.sqrt(np.sum(key**2) + eps)
    for i in range(memory.shape[0]):
        row_norm = np.sqrt(np.sum(memory[i] ** 2) + eps)
        out[i] = np.dot(memory[i], key) / (row_norm * key_norm + eps)
    return out


def reference_shift(w, s):
    """w [N], s [2R+1] -> [N]: w~(i) = sum_j w(j) s((i - j) mod N), s indexed by offset."""
    n, num = len(w), len(s)
    r = (num - 1) // 2
    out = np.zeros(n)
    for i in range(n):
        for j in range(n):
            offset = (i - j) % n
            for k in range(num):
                if (k - r) % n == offset:
                    out[i] += w[j] * s[k]
    return out


def reference_sharpen(w, gamma):
    p = w**gamma
    return p / p.sum()


def test_cosine_similarity_matches_reference_and_zero_rows():
    memory = RNG.normal(size=(2, 5, 4)).astype("float32")
    memory[0, 2] = 0.0  # a zero row
    keys = RNG.normal(size=(2, 3, 4)).astype("float32")
    got = _np(addressing.cosine_similarity(columns(memory), keys))
    assert got.shape == (2, 3, 5)
    for b in range(2):
        for h in range(3):
            np.testing.assert_allclose(got[b, h], reference_cosine(memory[b], keys[b, h]), atol=1e-5)
    np.testing.assert_allclose(got[0, :, 2], 0.0, atol=1e-6)
    np.testing.assert_allclose(addressing.cosine_similarity(columns(memory[:, :1]), memory[:, :1])[:, 0, 0], 1, atol=1e-5)


def test_content_weights_are_softmax_of_scaled_similarity():
    memory = RNG.normal(size=(1, 6, 3)).astype("float32")
    keys = RNG.normal(size=(1, 2, 3)).astype("float32")
    strengths = np.array([[[0.5], [7.0]]], "float32")
    got = _np(addressing.content_weights(columns(memory), keys, strengths))
    for h in range(2):
        expected = _softmax(strengths[0, h, 0] * reference_cosine(memory[0], keys[0, h]))
        np.testing.assert_allclose(got[0, h], expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)


def test_interpolate():
    content = RNG.random((2, 1, 4)).astype("float32")
    previous = RNG.random((2, 1, 4)).astype("float32")
    gates = np.array([[[0.0]], [[0.25]]], "float32")
    got = _np(addressing.interpolate(content, previous, gates))
    np.testing.assert_allclose(got[0], previous[0], atol=1e-7)
    np.testing.assert_allclose(got[1], 0.25 * content[1] + 0.75 * previous[1], atol=1e-7)


@pytest.mark.parametrize("shift_range", [1, 2])
def test_shift_matches_reference(shift_range):
    n = 7
    w = RNG.random((1, 3, n)).astype("float32")
    s = RNG.random((1, 3, 2 * shift_range + 1)).astype("float32")
    s /= s.sum(-1, keepdims=True)
    got = _np(addressing.shift_weights(w, s))
    for h in range(3):
        np.testing.assert_allclose(got[0, h], reference_shift(w[0, h], s[0, h]), atol=1e-6)


def test_shift_wraps_around_both_ends():
    n = 5
    w = np.zeros((1, 2, n), "float32")
    w[0, 0, n - 1] = 1.0  # focus on the last row, shift forward by one
    w[0, 1, 0] = 1.0  # focus on the first row, shift back by one
    s = np.array([[[0, 0, 1], [1, 0, 0]]], "float32")  # offsets -1, 0, +1
    got = _np(addressing.shift_weights(w, s))
    np.testing.assert_allclose(got[0, 0], np.eye(n)[0], atol=1e-7)  # last -> first
    np.testing.assert_allclose(got[0, 1], np.eye(n)[n - 1], atol=1e-7)  # first -> last


def test_shift_range_two_moves_by_two():
    w = np.eye(6, dtype="float32")[None, 1:2]  # focus on row 1, one head
    s = np.array([[[0, 0, 0, 0, 1]]], "float32")  # offset +2
    np.testing.assert_allclose(_np(addressing.shift_weights(w, s))[0, 0], np.eye(6)[3], atol=1e-7)
    s = np.array([[[1, 0, 0, 0, 0]]], "float32")  # offset -2 wraps to row 5
    np.testing.assert_allclose(_np(addressing.shift_weights(w, s))[0, 0], np.eye(6)[5], atol=1e-7)


def test_shift_rejects_even_number_of_shifts():
    with pytest.raises(ValueError, match="odd"):
        addressing.shift_weights(np.ones((1, 1, 4), "float32"), np.ones((1, 1, 2), "float32"))


@pytest.mark.parametrize("gamma", [1.0, 20.0])
def test_sharpen_matches_reference(gamma):
    w = RNG.random((1, 2, 8)).astype("float32") + 0.2  # away from zero: reference is exact
    w /= w.sum(-1, keepdims=True)
    got = _np(addressing.sharpen(w, np.full((1, 2, 1), gamma, "float32")))
    for h in range(2):
        np.testing.assert_allclose(got[0, h], reference_sharpen(w[0, h].astype("float64"), gamma), rtol=1e-4, atol=1e-6)


def test_sharpen_with_exact_zeros_keeps_them_zero():
    w = np.array([[[0.0, 0.5, 0.5, 0.0]]], "float32")
    got = _np(addressing.sharpen(w, np.full((1, 1, 1), 3.0, "float32")))
    np.testing.assert_allclose(got, [[[0.0, 0.5, 0.5, 0.0]]], atol=1e-6)


@pytest.mark.parametrize("address", [addressing.address, fast_addressing.fast_address])
def test_diffuse_weighting_over_1024_rows_stays_finite_with_finite_gradients(address):
    n, m = 1024, 20
    memory = tf.constant(RNG.normal(size=(2, m, n)).astype("float32"))
    memory_with_zero_rows = tf.concat([tf.zeros((2, m, 4)), memory[:, :, 4:]], axis=2)
    previous = tf.fill((2, 1, n), 1.0 / n)
    keys = tf.constant(RNG.normal(size=(2, 1, m)).astype("float32"))
    strengths = tf.zeros((2, 1, 1))  # beta = 0: content weighting is uniform
    gates = tf.fill((2, 1, 1), 0.5)
    shifts = tf.constant([[[0.1, 0.8, 0.1]]] * 2)
    gammas = tf.fill((2, 1, 1), 21.0)
    # The naive formula really does fail here: (1/1024) ** 21 underflows to 0 in float32.
    naive = previous**21
    assert float(tf.reduce_sum(naive)) == 0.0
    with tf.GradientTape() as tape:
        tape.watch([memory_with_zero_rows, keys, gammas, previous])
        weights = address(memory_with_zero_rows, previous, keys, strengths, gates, shifts, gammas)
        loss = tf.reduce_sum(weights * tf.range(n, dtype=tf.float32))
    grads = tape.gradient(loss, [memory_with_zero_rows, keys, gammas, previous])
    assert np.all(np.isfinite(weights.numpy()))
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, atol=1e-4)
    np.testing.assert_allclose(weights.numpy(), 1.0 / n, rtol=1e-3)  # diffuse stays diffuse
    for g in grads:
        assert g is not None and np.all(np.isfinite(g.numpy()))


def test_read_is_weighted_sum_of_rows():
    memory = RNG.normal(size=(2, 4, 3)).astype("float32")
    weights = RNG.random((2, 2, 4)).astype("float32")
    got = _np(addressing.read(columns(memory), weights))
    for b in range(2):
        for h in range(2):
            expected = sum(weights[b, h, i] * memory[b, i] for i in range(4))
            np.testing.assert_allclose(got[b, h], expected, atol=1e-6)


@pytest.mark.parametrize("write", [addressing.write, fast_addressing.fast_write])
def test_write_erases_then_adds_one_head_after_another(write):
    memory = RNG.normal(size=(1, 4, 3)).astype("float32")
    weights = RNG.random((1, 2, 4)).astype("float32")
    erase = RNG.random((1, 2, 3)).astype("float32")
    add = RNG.normal(size=(1, 2, 3)).astype("float32")
    expected = memory[0].astype("float64").copy()
    for h in range(2):
        for i in range(4):
            for j in range(3):
                expected[i, j] = expected[i, j] * (1 - weights[0, h, i] * erase[0, h, j]) + weights[0, h, i] * add[0, h, j]
    got = _np(write(columns(memory), weights, erase, add))[0]
    np.testing.assert_allclose(got, expected.T, atol=1e-5)


@pytest.mark.parametrize("write", [addressing.write, fast_addressing.fast_write])
def test_full_erase_of_a_focused_row_replaces_it(write):
    memory = np.ones((1, 2, 3), "float32")  # [B, M, N]
    weights = np.array([[[0.0, 1.0, 0.0]]], "float32")
    got = _np(write(memory, weights, np.ones((1, 1, 2), "float32"), np.array([[[5.0, -5.0]]], "float32")))
    np.testing.assert_allclose(got[0].T, [[1, 1], [5, -5], [1, 1]], atol=1e-7)


def _gradients(function, arguments, upstream):
    """Gradients of ``sum(function(*arguments) * upstream)`` with respect to every argument."""
    variables = [tf.Variable(a) for a in arguments]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(function(*variables) * upstream)
    return [g.numpy() for g in tape.gradient(loss, variables)]


def _address_step_by_step(memory, previous, keys, strengths, gates, shifts, gammas):
    weights = addressing.content_weights(memory, keys, strengths)
    weights = addressing.interpolate(weights, previous, gates)
    return addressing.sharpen(addressing.shift_weights(weights, shifts), gammas)


def test_reference_address_is_the_four_stages_in_order():
    rng = np.random.default_rng(5)
    arguments = [rng.normal(size=(2, 5, 7)), _softmax(rng.normal(size=(2, 3, 7))), rng.normal(size=(2, 3, 5)),
                 rng.uniform(0.5, 5.0, size=(2, 3, 1)), rng.uniform(size=(2, 3, 1)),
                 _softmax(rng.normal(size=(2, 3, 3))), rng.uniform(1.0, 4.0, size=(2, 3, 1))]
    np.testing.assert_allclose(_np(addressing.address(*arguments)), _np(_address_step_by_step(*arguments)),
                               rtol=1e-12)


@pytest.mark.parametrize("shift_range", [1, 2])
def test_address_hand_written_gradient_equals_autodiff(shift_range):
    rng = np.random.default_rng(3)
    batch, heads, rows, width = 2, 3, 7, 5
    arguments = [
        rng.normal(size=(batch, width, rows)),
        _softmax(rng.normal(size=(batch, heads, rows))),
        np.tanh(rng.normal(size=(batch, heads, width))),
        rng.uniform(0.5, 5.0, size=(batch, heads, 1)),
        rng.uniform(size=(batch, heads, 1)),
        _softmax(rng.normal(size=(batch, heads, 2 * shift_range + 1))),
        rng.uniform(1.0, 4.0, size=(batch, heads, 1)),
    ]
    upstream = rng.normal(size=(batch, heads, rows))
    np.testing.assert_allclose(
        _np(fast_addressing.fast_address(*arguments)), _np(addressing.address(*arguments)), rtol=1e-10, atol=1e-12
    )
    hand = _gradients(fast_addressing.fast_address, arguments, upstream)
    auto = _gradients(addressing.address, arguments, upstream)
    for name, h, a in zip(("memory", "previous", "keys", "strengths", "gates", "shifts", "gammas"), hand, auto):
        assert np.abs(h).max() > 0, name
        np.testing.assert_allclose(h, a, rtol=1e-7, atol=1e-10, err_msg=name)


def test_write_hand_written_gradient_equals_autodiff():
    rng = np.random.default_rng(4)
    batch, heads, rows, width = 2, 2, 6, 4
    arguments = [
        rng.normal(size=(batch, width, rows)),
        _softmax(rng.normal(size=(batch, heads, rows))),
        rng.uniform(size=(batch, heads, width)),
        np.tanh(rng.normal(size=(batch, heads, width))),
    ]
    upstream = rng.normal(size=(batch, width, rows))
    np.testing.assert_allclose(_np(fast_addressing.fast_write(*arguments)), _np(addressing.write(*arguments)),
                               rtol=1e-12)
    hand = _gradients(fast_addressing.fast_write, arguments, upstream)
    auto = _gradients(addressing.write, arguments, upstream)
    for name, h, a in zip(("memory", "weights", "erase", "add"), hand, auto):
        assert np.abs(h).max() > 0, name
        np.testing.assert_allclose(h, a, rtol=1e-9, atol=1e-12, err_msg=name)
