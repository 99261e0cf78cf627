"""The hand-written gradients of :mod:`ntm_cell.fast_dnc_addressing` against automatic differentiation of the
reference functions of :mod:`ntm_cell.dnc_addressing` and :mod:`ntm_cell.addressing`: values and gradients, in
float64 (to round-off) and float32, with one and two write heads, on random, tied, zero and full usage.

The comparisons take gradients with TensorFlow; under another Keras backend the module is skipped, and
test_hand_written_gradients_equal_autodiff_under_jax runs the JAX comparison in a child process.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ntm_cell import addressing
from ntm_cell import dnc_addressing as dnc
from ntm_cell import fast_dnc_addressing as fast

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="takes gradients with TensorFlow")

#: ``(rtol, atol)`` of the comparisons, per dtype: float64 to round-off; float32 to what the reference itself
#: computes to (its products and sums are taken in another order).
TOLERANCES = {"float64": (1e-10, 1e-13), "float32": (2e-5, 2e-7)}
B, R, N = 3, 3, 7


def _np(x):
    return ops.convert_to_numpy(x)


def _values_and_gradients(function, arguments, upstreams):
    """The outputs of ``function(*arguments)`` and the gradients of ``sum_k sum(output_k * upstream_k)`` with respect
    to every argument."""
    variables = [tf.Variable(a) for a in arguments]
    with tf.GradientTape() as tape:
        outputs = function(*variables)
        if not isinstance(outputs, (tuple, list)):
            outputs = (outputs,)
        loss = sum(tf.reduce_sum(o * u) for o, u in zip(outputs, upstreams))
    gradients = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [o.numpy() for o in outputs], [g.numpy() for g in gradients]


def _assert_same(fast_function, reference, arguments, upstreams, dtype, names):
    rtol, atol = TOLERANCES[dtype]
    got_values, got_gradients = _values_and_gradients(fast_function, arguments, upstreams)
    want_values, want_gradients = _values_and_gradients(reference, arguments, upstreams)
    for got, want in zip(got_values, want_values):
        assert got.dtype == want.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    for name, got, want in zip(names, got_gradients, want_gradients):
        assert np.abs(want).max() > 0, name
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * np.abs(want).max(), err_msg=name)


def _usages(rng, dtype):
    """``[6, N]`` usages: random, with ties, with zeros (blank rows), with ones (full rows), all tied, all zero."""
    usage = rng.random((6, N))
    usage[1, [0, 3, 5]] = usage[1, 2]
    usage[2, :4] = 0.0
    usage[3, [1, 4]] = 1.0
    usage[4] = 0.5
    usage[5] = 0.0
    return usage.astype(dtype)


def test_materialised_returns_its_argument_exactly():
    x = np.array([[0.0, -0.0, 1e-38, 3.5, -2.0, 1e30]], "float32")
    np.testing.assert_array_equal(_np(fast.materialised(x)), x)
    x64 = np.random.default_rng(0).normal(size=(2, 3, 5))
    np.testing.assert_array_equal(_np(fast.materialised(x64)), x64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_allocation_hand_written_gradient_equals_autodiff(dtype):
    rng = np.random.default_rng(1)
    usage = _usages(rng, dtype)
    upstream = rng.normal(size=usage.shape).astype(dtype)
    _assert_same(fast.fast_allocation_weights, dnc.allocation_weights, [usage], [upstream], dtype, ["usage"])


def test_allocation_without_a_sort_keeps_the_references_order_and_values():
    # Ties go to the lowest index, blank memory fills row 0 first, full memory allocates nothing.
    usage = np.array([[0.3, 0.3, 0.1, 0.3], [0.0, 0.0, 0.0, 0.0], [0.6, 0.2, 0.6, 0.2], [1.0, 1.0, 1.0, 1.0]],
                     "float32")
    for epsilon in (0.0, dnc.ALLOCATION_EPSILON):
        np.testing.assert_allclose(_np(fast.fast_allocation_weights(usage, epsilon)),
                                   _np(dnc.allocation_weights(usage, epsilon)), atol=1e-7)
    np.testing.assert_allclose(_np(fast.fast_allocation_weights(usage, 0.0))[1], [1, 0, 0, 0], atol=0)
    np.testing.assert_array_equal(_np(fast.fast_allocation_weights(usage))[3], 0.0)
    # On blank memory a[1] = (1 - u'[1]) u'[0], so d a[1] / d u[0] is about 1.
    blank = tf.Variable(tf.zeros((1, 4)))
    with tf.GradientTape() as tape:
        second = fast.fast_allocation_weights(blank)[0, 1]
    np.testing.assert_allclose(tape.gradient(second, blank).numpy()[0, 0], 1.0, atol=1e-4)


@pytest.mark.parametrize("write_heads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_write_allocation_hand_written_gradient_equals_autodiff(write_heads, dtype):
    rng = np.random.default_rng(2)
    usage = _usages(rng, dtype)
    gates = rng.random((usage.shape[0], write_heads, 1)).astype(dtype)
    upstream = rng.normal(size=(usage.shape[0], write_heads, N)).astype(dtype)
    # With one head the gate only scales the usage after the last allocation, which nothing uses.
    _assert_same(fast.fast_write_allocation_weights, dnc.write_allocation_weights, [usage, gates], [upstream], dtype,
                 ["usage", "write_gates"][:write_heads])


def _link_arguments(rng, write_heads, dtype):
    """A previous link (with a non-zero diagonal, which the update must ignore), precedence, write weights."""
    link = rng.random((B, write_heads, N, N)) / N
    precedence = rng.random((B, write_heads, N)) / N
    weights = rng.random((B, write_heads, N)) / N
    weights[0, :, 2] = 0.9  # a sharp write
    return [x.astype(dtype) for x in (link, precedence, weights)]


@pytest.mark.parametrize("write_heads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_link_update_hand_written_gradient_equals_autodiff(write_heads, dtype):
    rng = np.random.default_rng(3)
    arguments = _link_arguments(rng, write_heads, dtype)
    upstream = rng.normal(size=(B, write_heads, N, N)).astype(dtype)
    _assert_same(fast.fast_update_link, dnc.update_link, arguments, [upstream], dtype,
                 ["previous_link", "previous_precedence", "write_weights"])


def _link_then_directional(previous_link, previous_precedence, write_weights, previous_read_weights):
    link = dnc.update_link(previous_link, previous_precedence, write_weights)
    return (link,) + tuple(dnc.directional_weights(link, previous_read_weights))


@pytest.mark.parametrize("write_heads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_link_and_directional_weights_hand_written_gradient_equals_autodiff(write_heads, dtype):
    rng = np.random.default_rng(4)
    read_weights = rng.random((B, R, N))
    read_weights = (read_weights / read_weights.sum(-1, keepdims=True)).astype(dtype)
    arguments = _link_arguments(rng, write_heads, dtype) + [read_weights]
    upstreams = [rng.normal(size=(B, write_heads, N, N)), rng.normal(size=(B, R, write_heads, N)),
                 rng.normal(size=(B, R, write_heads, N))]
    _assert_same(fast.fast_link_and_directional_weights, _link_then_directional, arguments,
                 [u.astype(dtype) for u in upstreams], dtype,
                 ["previous_link", "previous_precedence", "write_weights", "previous_read_weights"])
    # Each output alone: the others' upstream gradients are zeros.
    for k in range(3):
        alone = [u.astype(dtype) * (k == j) for j, u in enumerate(upstreams)]
        _assert_same(fast.fast_link_and_directional_weights, _link_then_directional, arguments, alone, dtype,
                     ["previous_link", "previous_precedence", "write_weights", "previous_read_weights"][: 4 - (k == 0)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_content_weights_and_read_equal_the_reference_and_its_gradients(dtype):
    rng = np.random.default_rng(5)
    width, heads = 5, 4
    memory = rng.normal(size=(B, width, N))
    memory[0, :, 3] = 0.0  # an all-zero row
    keys = rng.normal(size=(B, heads, width))
    strengths = rng.uniform(0.5, 5.0, size=(B, heads, 1))
    arguments = [x.astype(dtype) for x in (memory, keys, strengths)]
    upstream = rng.normal(size=(B, heads, N)).astype(dtype)
    _assert_same(fast.fast_content_weights, addressing.content_weights, arguments, [upstream], dtype,
                 ["memory", "keys", "strengths"])
    weights = rng.random((B, heads, N)).astype(dtype)
    upstream = rng.normal(size=(B, heads, width)).astype(dtype)
    _assert_same(fast.fast_read, addressing.read, [arguments[0], weights], [upstream], dtype, ["memory", "weights"])


def test_fast_functions_differentiate_under_xla_in_a_loop_with_dynamic_batch():
    # What keras.layers.RNN does in a jit-compiled train step: a while loop, an unknown batch size and a gradient
    # through every step; the gradients equal those without XLA.
    def gradient_of_three_steps(logits):
        with tf.GradientTape() as tape:
            tape.watch(logits)

            def step(t, usage, link, precedence, reads, total):
                allocation = fast.fast_allocation_weights(usage)
                written = (0.5 * tf.nn.softmax(logits) + 0.5 * allocation)[:, None]
                link, forward, backward = fast.fast_link_and_directional_weights(link, precedence, written, reads)
                precedence = dnc.update_precedence(precedence, written)
                reads = tf.nn.softmax(logits[:, None] + forward[:, :, 0] - backward[:, :, 0])
                usage = dnc.update_usage(usage, written, tf.ones_like(usage))
                return t + 1, usage, link, precedence, reads, total + tf.reduce_sum(reads * logits[:, None])

            batch = tf.shape(logits)[0]
            loop_vars = (0, tf.zeros_like(logits), tf.zeros((batch, 1, 5, 5)), tf.zeros((batch, 1, 5)),
                         tf.zeros((batch, 2, 5)), 0.0)
            *_, total = tf.while_loop(lambda t, *_: t < 3, step, loop_vars, maximum_iterations=3)
        return tape.gradient(total, logits)

    compiled = tf.function(gradient_of_three_steps, jit_compile=True,
                           input_signature=[tf.TensorSpec([None, 5], tf.float32)])
    for batch in (1, 3):
        logits = tf.random.stateless_normal((batch, 5), seed=(1, 2))
        gradient = compiled(logits).numpy()
        assert gradient.shape == (batch, 5) and np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0
        np.testing.assert_allclose(gradient, gradient_of_three_steps(logits).numpy(), rtol=1e-4, atol=1e-6)


UNDER_JAX = """
import jax, numpy as np
jax.config.update("jax_enable_x64", True)
import keras
from ntm_cell import addressing, dnc_addressing as dnc, fast_dnc_addressing as fast
assert keras.backend.backend() == "jax"
rng = np.random.default_rng(0)

def check(fast_function, reference, arguments):
    def loss(function):
        def total(*xs):
            outputs = function(*xs)
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            return sum((o * np.cos(np.arange(o.size).reshape(o.shape))).sum() for o in outputs)
        return total
    for got, want in zip(jax.grad(loss(fast_function), argnums=tuple(range(len(arguments))))(*arguments),
                         jax.grad(loss(reference), argnums=tuple(range(len(arguments))))(*arguments)):
        assert np.abs(want).max() > 0
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(jax.jit(loss(fast_function))(*arguments), loss(reference)(*arguments), rtol=1e-12)

usage = rng.random((3, 6)); usage[0, :3] = 0.0; usage[1, 1] = usage[1, 4]
check(fast.fast_write_allocation_weights, dnc.write_allocation_weights, [usage, rng.random((3, 2, 1))])
link = rng.random((3, 2, 6, 6)) / 6
precedence, weights, reads = rng.random((3, 2, 6)) / 6, rng.random((3, 2, 6)) / 6, rng.random((3, 4, 6)) / 6
def reference(link, precedence, weights, reads):
    new = dnc.update_link(link, precedence, weights)
    return (new,) + tuple(dnc.directional_weights(new, reads))
check(fast.fast_link_and_directional_weights, reference, [link, precedence, weights, reads])
check(fast.fast_update_link, dnc.update_link, [link, precedence, weights])
memory, keys, strengths = rng.normal(size=(3, 5, 6)), rng.normal(size=(3, 4, 5)), rng.uniform(1, 3, size=(3, 4, 1))
check(fast.fast_content_weights, addressing.content_weights, [memory, keys, strengths])
check(fast.fast_read, addressing.read, [memory, rng.random((3, 4, 6))])
print("JAX OK")
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_hand_written_gradients_equal_autodiff_under_jax():
    # Keras picks its backend once per process; JAX passes the upstream gradients of several outputs as one tuple.
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(UNDER_JAX)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0 and "JAX OK" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
