"""DNC memory allocation and temporal-link functions, and the options of :mod:`ntm_cell.dnc_options`, against
NumPy references written with loops."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ntm_cell import addressing
from ntm_cell import dnc_addressing as dnc
from ntm_cell import dnc_options

B, R, W, N = 3, 2, 2, 5


def _np(x):
    return ops.convert_to_numpy(x)


def _f32(x):
    return np.asarray(x, dtype="float32")


def _distributions(rng, shape, total=1.0):
    """Random non-negative rows that sum to ``total`` (or, with an array, to each entry)."""
    x = rng.random(shape)
    return _f32(x / x.sum(axis=-1, keepdims=True) * total)


def _sub_distributions(rng, shape):
    """Rows that sum to a random amount in [0, 1], like gated write weightings."""
    return _distributions(rng, shape) * _f32(rng.random(shape[:-1] + (1,)))


# ---------------------------------------------------------------- references
def reference_retention(free_gates, read_weights):
    """free_gates [R], read_weights [R, N] -> [N]."""
    psi = np.ones(read_weights.shape[1])
    for i in range(read_weights.shape[0]):
        for n in range(read_weights.shape[1]):
            psi[n] *= 1.0 - free_gates[i] * read_weights[i, n]
    return psi


def reference_usage(usage, write_weights, psi):
    """usage [N], write_weights [W, N], psi [N] -> [N]; heads combined as 1 - prod(1 - w)."""
    out = np.zeros_like(usage)
    for n in range(len(usage)):
        not_written = 1.0
        for h in range(write_weights.shape[0]):
            not_written *= 1.0 - write_weights[h, n]
        written = 1.0 - not_written
        out[n] = (usage[n] + written - usage[n] * written) * psi[n]
    return out


def reference_allocation(usage, eps=0.0):
    """usage [N] -> [N]: a[phi_j] = (1 - u[phi_j]) prod_{i<j} u[phi_i], ties by lowest index."""
    u = [eps + (1.0 - eps) * float(x) for x in usage]
    order = sorted(range(len(u)), key=lambda n: u[n])  # Python's sort is stable
    out = np.zeros(len(u))
    product = 1.0
    for location in order:
        out[location] = (1.0 - u[location]) * product
        product *= u[location]
    return out


def reference_write_allocation(usage, gates, eps):
    """usage [N], gates [W] -> [W, N], heads allocated one after another."""
    usage = usage.astype("float64")
    out = []
    for h in range(len(gates)):
        a = reference_allocation(usage, eps)
        out.append(a)
        usage = usage + (1.0 - usage) * gates[h] * a
    return np.stack(out)


def reference_precedence(precedence, write_weights):
    """precedence [N], write_weights [N] -> [N]."""
    total = sum(write_weights)
    return np.array([(1.0 - total) * precedence[n] + write_weights[n] for n in range(len(precedence))])


def reference_link(link, precedence, write_weights):
    """link [N, N], precedence [N] (previous), write_weights [N] -> [N, N]."""
    n = len(precedence)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                kept = (1.0 - write_weights[i] - write_weights[j]) * link[i, j]
                out[i, j] = kept + write_weights[i] * precedence[j]
    return out


def reference_directional(link, read_weights):
    """link [N, N], read_weights [N] -> (forward, backward), each [N]."""
    n = len(read_weights)
    forward, backward = np.zeros(n), np.zeros(n)
    for i in range(n):
        for j in range(n):
            forward[i] += link[i, j] * read_weights[j]
            backward[i] += link[j, i] * read_weights[j]
    return forward, backward


# ---------------------------------------------------------------- retention and usage
def test_retention_matches_loops():
    rng = np.random.default_rng(1)
    free_gates = _f32(rng.random((B, R, 1)))
    read_weights = _distributions(rng, (B, R, N))
    psi = _np(dnc.retention(free_gates, read_weights))
    assert psi.shape == (B, N)
    for b in range(B):
        expected = reference_retention(free_gates[b, :, 0], read_weights[b])
        np.testing.assert_allclose(psi[b], expected, atol=1e-6)


def test_closed_free_gates_retain_everything_and_open_ones_free_what_was_read():
    read_weights = _f32([[[0.0, 1.0, 0.0]]])
    np.testing.assert_allclose(_np(dnc.retention(_f32([[[0.0]]]), read_weights)), [[1, 1, 1]])
    np.testing.assert_allclose(_np(dnc.retention(_f32([[[1.0]]]), read_weights)), [[1, 0, 1]])


@pytest.mark.parametrize("write_heads", [1, 2])
def test_usage_update_matches_loops(write_heads):
    rng = np.random.default_rng(2)
    usage = _f32(rng.random((B, N)))
    write_weights = _sub_distributions(rng, (B, write_heads, N))
    psi = _f32(rng.random((B, N)))
    new_usage = _np(dnc.update_usage(usage, write_weights, psi))
    for b in range(B):
        expected = reference_usage(usage[b], write_weights[b], psi[b])
        np.testing.assert_allclose(new_usage[b], expected, atol=1e-6)
    assert np.all((new_usage >= 0) & (new_usage <= 1))


def test_one_write_head_usage_is_the_paper_formula():
    usage, written, psi = _f32([[0.5, 0.0]]), _f32([[[0.5, 1.0]]]), _f32([[1.0, 0.5]])
    np.testing.assert_allclose(_np(dnc.update_usage(usage, written, psi)), [[0.75, 0.5]])


# ---------------------------------------------------------------- allocation
def test_allocation_hand_computed_three_locations():
    # Sorted by usage: location 1 (0.2), location 0 (0.5), location 2 (0.9).
    # a[1] = 0.8, a[0] = 0.5 * 0.2 = 0.1, a[2] = 0.1 * 0.2 * 0.5 = 0.01.
    usage = _f32([[0.5, 0.2, 0.9]])
    np.testing.assert_allclose(_np(dnc.allocation_weights(usage, epsilon=0.0)), [[0.1, 0.8, 0.01]], atol=1e-7)
    # The default epsilon changes this by about epsilon only.
    np.testing.assert_allclose(_np(dnc.allocation_weights(usage)), [[0.1, 0.8, 0.01]], atol=1e-5)


@pytest.mark.parametrize("epsilon", [0.0, dnc.ALLOCATION_EPSILON])
def test_allocation_matches_loops_on_random_usage(epsilon):
    rng = np.random.default_rng(3)
    usage = _f32(rng.random((4, 7)))
    allocation = _np(dnc.allocation_weights(usage, epsilon=epsilon))
    for b in range(4):
        np.testing.assert_allclose(allocation[b], reference_allocation(usage[b], epsilon), atol=1e-6)
    assert np.all(allocation >= 0) and np.all(allocation.sum(-1) <= 1 + 1e-6)


def test_allocation_ties_go_to_the_lowest_index_first():
    usage = _f32([[0.3, 0.3, 0.1, 0.3], [0.0, 0.0, 0.0, 0.0], [0.6, 0.2, 0.6, 0.2]])
    expected = [
        [0.7 * 0.1, 0.7 * 0.1 * 0.3, 0.9, 0.7 * 0.1 * 0.3 * 0.3],
        [1.0, 0.0, 0.0, 0.0],
        [0.4 * 0.2 * 0.2, 0.8, 0.4 * 0.2 * 0.2 * 0.6, 0.8 * 0.2],
    ]
    np.testing.assert_allclose(_np(dnc.allocation_weights(usage, epsilon=0.0)), expected, atol=1e-7)
    for b in range(3):
        np.testing.assert_allclose(expected[b], reference_allocation(usage[b]), atol=1e-7)
    # The same order, eagerly and compiled by XLA.
    compiled = tf.function(dnc.allocation_weights, jit_compile=True)
    eager = _np(dnc.allocation_weights(usage))
    np.testing.assert_allclose(_np(compiled(tf.constant(usage))), eager, atol=1e-6)


def test_blank_memory_allocates_row_zero_and_full_memory_allocates_nothing():
    blank = _np(dnc.allocation_weights(np.zeros((2, 6), "float32")))
    np.testing.assert_allclose(blank, np.eye(6)[[0, 0]], atol=1e-5)
    full = _np(dnc.allocation_weights(np.ones((2, 6), "float32")))
    np.testing.assert_allclose(full, 0.0, atol=1e-12)


def test_gradients_through_the_sort_are_finite_and_right_at_zero_usage():
    usage = tf.Variable(_f32([[0.0, 0.0, 0.5, 1.0, 0.5, 0.2], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]))
    weights = tf.constant(np.random.default_rng(4).normal(size=(2, 6)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(weights * dnc.allocation_weights(usage))
    gradient = tape.gradient(loss, usage).numpy()
    assert np.all(np.isfinite(gradient))
    assert np.abs(gradient).max() > 0
    # On blank memory a[1] = (1 - u'[1]) u'[0], so d a[1] / d u[0] is about 1: the epsilon
    # keeps the TensorFlow cumprod gradient (which divides by its entries) correct at u = 0.
    blank = tf.Variable(tf.zeros((1, 4)))
    with tf.GradientTape() as tape:
        second = dnc.allocation_weights(blank)[0, 1]
    np.testing.assert_allclose(tape.gradient(second, blank).numpy()[0, 0], 1.0, atol=1e-4)


def test_allocation_differentiates_under_xla_in_a_loop_with_dynamic_batch():
    # What keras.layers.RNN does in a jit-compiled train step: a while loop, an unknown
    # batch size and a gradient through every step. (ops.take_along_axis fails here.)
    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, 5], tf.float32)])
    def gradient_of_three_steps(logits):
        with tf.GradientTape() as tape:
            tape.watch(logits)

            def step(t, usage, total):
                allocation = dnc.allocation_weights(usage)
                written = 0.5 * tf.nn.softmax(logits) + 0.5 * allocation
                usage = dnc.update_usage(usage, written[:, None], tf.ones_like(usage))
                return t + 1, usage, total + tf.reduce_sum(allocation * logits)

            loop_vars = [0, tf.zeros_like(logits), 0.0]
            _, _, total = tf.while_loop(lambda t, *_: t < 3, step, loop_vars, maximum_iterations=3)
        return tape.gradient(total, logits)

    for batch in (1, 3):
        gradient = gradient_of_three_steps(tf.random.stateless_normal((batch, 5), seed=(1, 2))).numpy()
        assert gradient.shape == (batch, 5) and np.all(np.isfinite(gradient))


def test_write_allocation_hands_out_different_rows_to_each_head():
    rng = np.random.default_rng(5)
    usage = _f32(rng.random((B, N)))
    gates = _f32(rng.random((B, W, 1)))
    allocation = _np(dnc.write_allocation_weights(usage, gates))
    assert allocation.shape == (B, W, N)
    for b in range(B):
        expected = reference_write_allocation(usage[b], gates[b, :, 0], dnc.ALLOCATION_EPSILON)
        np.testing.assert_allclose(allocation[b], expected, atol=1e-6)
    # Two fully open heads on blank memory: the first takes row 0, the second another row.
    # (Which one: row 0 leaves usages 1e-6, 1e-12, 1e-18 behind it, so the last row is
    # the least used.)
    both = _np(dnc.write_allocation_weights(np.zeros((1, 4), "float32"), np.ones((1, 2, 1), "float32")))
    np.testing.assert_allclose(both[0], np.eye(4)[[0, 3]], atol=1e-5)


def test_write_weights_mix_allocation_and_content_under_the_write_gate():
    rng = np.random.default_rng(6)
    content = _distributions(rng, (B, W, N))
    allocation = _sub_distributions(rng, (B, W, N))
    allocation_gates = _f32(rng.random((B, W, 1)))
    write_gates = _f32(rng.random((B, W, 1)))
    weights = _np(dnc.mix_write_weights(content, allocation, allocation_gates, write_gates))
    for b in range(B):
        for h in range(W):
            ga, gw = allocation_gates[b, h, 0], write_gates[b, h, 0]
            for n in range(N):
                expected = gw * (ga * allocation[b, h, n] + (1 - ga) * content[b, h, n])
                np.testing.assert_allclose(weights[b, h, n], expected, atol=1e-6)


# ---------------------------------------------------------------- temporal links
def test_precedence_matches_loops():
    rng = np.random.default_rng(7)
    precedence = _sub_distributions(rng, (B, W, N))
    write_weights = _sub_distributions(rng, (B, W, N))
    new = _np(dnc.update_precedence(precedence, write_weights))
    for b in range(B):
        for h in range(W):
            expected = reference_precedence(precedence[b, h], write_weights[b, h])
            np.testing.assert_allclose(new[b, h], expected, atol=1e-6)


def test_link_update_matches_loops():
    rng = np.random.default_rng(8)
    link = _f32(rng.random((B, W, N, N)) / N)
    precedence = _sub_distributions(rng, (B, W, N))
    write_weights = _sub_distributions(rng, (B, W, N))
    new = _np(dnc.update_link(link, precedence, write_weights))
    for b in range(B):
        for h in range(W):
            expected = reference_link(link[b, h], precedence[b, h], write_weights[b, h])
            np.testing.assert_allclose(new[b, h], expected, atol=1e-6)


def test_link_keeps_zero_diagonal_and_bounded_sums_over_random_writes():
    rng = np.random.default_rng(9)
    link = np.zeros((B, W, N, N), "float32")
    precedence = np.zeros((B, W, N), "float32")
    for _ in range(25):
        # Sharp and diffuse write weightings alike, gated, summing to at most 1.
        logits = rng.normal(scale=rng.choice([0.5, 5.0]), size=(B, W, N))
        weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        write_weights = _f32(weights * rng.random((B, W, 1)))
        link = dnc.update_link(link, precedence, write_weights)
        precedence = dnc.update_precedence(precedence, write_weights)
        as_array = _np(link)
        assert np.all(np.diagonal(as_array, axis1=-2, axis2=-1) == 0)
        assert np.all(as_array >= -1e-7)
        assert np.all(as_array.sum(-1) <= 1 + 1e-5), "a row sums to more than 1"
        assert np.all(as_array.sum(-2) <= 1 + 1e-5), "a column sums to more than 1"
        assert np.all(_np(precedence).sum(-1) <= 1 + 1e-5)


def test_link_follows_a_sequence_of_one_hot_writes():
    n = 4
    link = np.zeros((1, 1, n, n), "float32")
    precedence = np.zeros((1, 1, n), "float32")
    for location in (2, 0, 3):
        write_weights = np.eye(n, dtype="float32")[None, None, location]
        link = dnc.update_link(link, precedence, write_weights)
        precedence = dnc.update_precedence(precedence, write_weights)
    expected = np.zeros((n, n))
    expected[0, 2] = expected[3, 0] = 1.0  # 0 was written after 2, then 3 after 0
    np.testing.assert_allclose(_np(link)[0, 0], expected, atol=1e-7)
    np.testing.assert_allclose(_np(precedence)[0, 0], np.eye(n)[3], atol=1e-7)
    # Reading location 0, forward reaches 3 and backward reaches 2.
    forward, backward = dnc.directional_weights(link, np.eye(n, dtype="float32")[None, None, 0])
    np.testing.assert_allclose(_np(forward)[0, 0, 0], np.eye(n)[3], atol=1e-7)
    np.testing.assert_allclose(_np(backward)[0, 0, 0], np.eye(n)[2], atol=1e-7)


def test_directional_weights_match_loops():
    rng = np.random.default_rng(10)
    link = _f32(rng.random((B, W, N, N)) / N)
    read_weights = _distributions(rng, (B, R, N))
    forward, backward = (_np(x) for x in dnc.directional_weights(link, read_weights))
    assert forward.shape == backward.shape == (B, R, W, N)
    for b in range(B):
        for r in range(R):
            for h in range(W):
                f, bw = reference_directional(link[b, h], read_weights[b, r])
                np.testing.assert_allclose(forward[b, r, h], f, atol=1e-6)
                np.testing.assert_allclose(backward[b, r, h], bw, atol=1e-6)


@pytest.mark.parametrize("write_heads", [1, 2])
def test_read_weights_mix_backward_content_forward(write_heads):
    rng = np.random.default_rng(11)
    content = _distributions(rng, (B, R, N))
    forward = _distributions(rng, (B, R, write_heads, N))
    backward = _distributions(rng, (B, R, write_heads, N))
    modes = _distributions(rng, (B, R, 2 * write_heads + 1))
    mixed = _np(dnc.mix_read_weights(content, forward, backward, modes))
    for b in range(B):
        for r in range(R):
            expected = modes[b, r, write_heads] * content[b, r]
            for h in range(write_heads):
                expected = expected + modes[b, r, h] * backward[b, r, h]
                expected = expected + modes[b, r, write_heads + 1 + h] * forward[b, r, h]
            np.testing.assert_allclose(mixed[b, r], expected, atol=1e-6)
    # One write head: modes are (backward, content, forward).
    if write_heads == 1:
        pure = _np(dnc.mix_read_weights(content, forward, backward, np.tile(_f32([0, 0, 1]), (B, R, 1))))
        np.testing.assert_allclose(pure, forward[:, :, 0], atol=1e-7)


# ---------------------------------------------------------------- the options of Csordás & Schmidhuber (2019)
M = 4


def reference_masked_content(rows, key, strength, mask):
    """rows [N, M] (the memory rows), key [M], strength, mask [M] -> [N]: softmax of beta * cos(k m, M(i) m)."""
    masked_key = [key[j] * mask[j] for j in range(len(key))]
    scores = []
    for row in rows:
        masked_row = [row[j] * mask[j] for j in range(len(row))]
        dot = sum(a * b for a, b in zip(masked_key, masked_row))
        lengths = np.sqrt(sum(a * a for a in masked_key)) * np.sqrt(sum(b * b for b in masked_row))
        scores.append(strength * dot / lengths)
    e = np.exp(np.array(scores) - max(scores))
    return e / e.sum()


def reference_sharpen(d, s):
    """d [N] positive, s -> [N]: d^s / sum(d^s)."""
    powered = np.array([float(x) ** s for x in d])
    return powered / powered.sum()


def test_masked_content_weights_match_loops():
    rng = np.random.default_rng(20)
    memory = _f32(rng.normal(size=(B, M, N)))
    keys = _f32(rng.normal(size=(B, R, M)))
    strengths = _f32(1 + 3 * rng.random((B, R, 1)))
    masks = _f32(rng.random((B, R, M)))
    weights = _np(dnc_options.masked_content_weights(memory, keys, strengths, masks))
    assert weights.shape == (B, R, N)
    for b in range(B):
        for h in range(R):
            expected = reference_masked_content(memory[b].T, keys[b, h], strengths[b, h, 0], masks[b, h])
            np.testing.assert_allclose(weights[b, h], expected, atol=1e-5)


def test_all_ones_mask_is_plain_content_weighting_and_masked_out_parts_do_not_count():
    rng = np.random.default_rng(21)
    memory = _f32(rng.normal(size=(B, M, N)))
    keys = _f32(rng.normal(size=(B, R, M)))
    strengths = _f32(1 + 3 * rng.random((B, R, 1)))
    plain = _np(addressing.content_weights(memory, keys, strengths))
    ones = _np(dnc_options.masked_content_weights(memory, keys, strengths, np.ones((B, R, M), "float32")))
    np.testing.assert_allclose(ones, plain, atol=1e-6)
    # Mask (1, 1, 0, 0): rows 0 and 1 share their first half (the "key" part), so they get the same weight
    # whatever their second half (the "value" part) and whatever the key's second half.
    memory[:, :2, 1] = memory[:, :2, 0]
    masks = np.tile(_f32([1, 1, 0, 0]), (B, R, 1))
    weights = _np(dnc_options.masked_content_weights(memory, keys, strengths, masks))
    np.testing.assert_allclose(weights[..., 0], weights[..., 1], atol=1e-7)
    keys[..., 2:] = 100.0
    np.testing.assert_allclose(_np(dnc_options.masked_content_weights(memory, keys, strengths, masks)), weights,
                               atol=1e-6)
    # An all-zero mask compares nothing: every similarity is 0 and the weighting is uniform.
    closed = _np(dnc_options.masked_content_weights(memory, keys, strengths, np.zeros((B, R, M), "float32")))
    np.testing.assert_allclose(closed, 1.0 / N, atol=1e-7)


def test_deallocate_scales_every_row_by_its_retention():
    rng = np.random.default_rng(22)
    memory = _f32(rng.normal(size=(B, M, N)))
    psi = _f32(rng.random((B, N)))
    cleared = _np(dnc_options.deallocate(memory, psi))
    for b in range(B):
        for i in range(N):
            np.testing.assert_allclose(cleared[b, :, i], memory[b, :, i] * psi[b, i], atol=1e-7)
    np.testing.assert_array_equal(_np(dnc_options.deallocate(memory, np.ones((B, N), "float32"))), memory)
    # A read head that read row 1 and opens its free gate clears row 1 and keeps the rest.
    psi = dnc.retention(_f32([[[1.0]]]), _f32([[[0.0, 1.0, 0.0]]]))
    cleared = _np(dnc_options.deallocate(np.ones((1, 2, 3), "float32"), psi))
    np.testing.assert_array_equal(cleared, [[[1, 0, 1], [1, 0, 1]]])


def test_sharpen_distribution_matches_the_power_formula():
    rng = np.random.default_rng(23)
    d = _sub_distributions(rng, (B, R, N)) + _f32(0.01)
    s = _f32(1 + 4 * rng.random((B, R, 1)))
    exact = _np(dnc_options.sharpen_distribution(d, s, epsilon=0.0))
    stable = _np(dnc_options.sharpen_distribution(d, s))
    for b in range(B):
        for h in range(R):
            expected = reference_sharpen(d[b, h], s[b, h, 0])
            np.testing.assert_allclose(exact[b, h], expected, atol=1e-6)
            np.testing.assert_allclose(stable[b, h], expected, atol=1e-3)
    # Sharper with a larger exponent: the largest entry grows.
    assert np.all(_np(dnc_options.sharpen_distribution(d, s + 1.0)).max(-1) >= exact.max(-1) - 1e-7)


def test_exponent_one_keeps_a_distribution_and_all_zero_weights_become_uniform():
    d = _distributions(np.random.default_rng(24), (B, R, N))
    ones = np.ones((B, R, 1), "float32")
    np.testing.assert_allclose(_np(dnc_options.sharpen_distribution(d, ones)), d, atol=N * 1e-6)
    zeros = tf.zeros((B, R, N))
    s = tf.Variable(2.0 * ones)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(zeros)
        uniform = dnc_options.sharpen_distribution(zeros, s)
        loss = tf.reduce_sum(uniform * tf.range(N, dtype=tf.float32))
    np.testing.assert_allclose(_np(uniform), 1.0 / N, atol=1e-7)
    for gradient in (tape.gradient(loss, zeros), tape.gradient(loss, s)):
        assert np.all(np.isfinite(_np(gradient)))
    np.testing.assert_allclose(_np(tape.gradient(loss, s)), 0.0, atol=1e-6)  # uniform for every s


def test_sharpened_directional_weights_match_loops_and_start_uniform():
    rng = np.random.default_rng(25)
    link = _f32(rng.random((B, W, N, N)) / N + 0.01)
    read_weights = _distributions(rng, (B, R, N))
    s_f, s_b = _f32(1 + 3 * rng.random((B, R, W, 1))), _f32(1 + 3 * rng.random((B, R, W, 1)))
    forward, backward = (_np(x) for x in dnc_options.sharpened_directional_weights(link, read_weights, s_f, s_b))
    assert forward.shape == backward.shape == (B, R, W, N)
    for b in range(B):
        for r in range(R):
            for h in range(W):
                f, bw = reference_directional(link[b, h], read_weights[b, r])
                np.testing.assert_allclose(forward[b, r, h], reference_sharpen(f, s_f[b, r, h, 0]), atol=1e-4)
                np.testing.assert_allclose(backward[b, r, h], reference_sharpen(bw, s_b[b, r, h, 0]), atol=1e-4)
    ones = np.ones((B, R, W, 1), "float32")
    plain = [_np(x) for x in dnc.directional_weights(link, read_weights)]
    unsharpened = [_np(x) for x in dnc_options.sharpened_directional_weights(link, read_weights, ones, ones)]
    for x, y in zip(unsharpened, plain):
        np.testing.assert_allclose(x, y / y.sum(-1, keepdims=True), atol=1e-5)
    blank = dnc_options.sharpened_directional_weights(np.zeros((B, W, N, N), "float32"), read_weights, s_f, s_b)
    for x in blank:
        np.testing.assert_allclose(_np(x), 1.0 / N, atol=1e-7)
