"""The NTM's addressing and writing with hand-written gradients: what the cells run.

:func:`fast_address` and :func:`fast_write` compute exactly what :func:`ntm_cell.addressing.address` and
:func:`ntm_cell.addressing.write` compute, with the same arguments and shapes (see :mod:`ntm_cell.addressing`),
but carry hand-written gradients (``keras.ops.custom_gradient``). Automatic differentiation through a recurrent
loop keeps every intermediate of every step for the backward pass; these backward passes keep only what they
need, recompute the memory-sized ``1 - w e^T`` and cheap elementwise values such as ``log(w~)`` instead of
storing them, and need fewer operations (docs/performance.md measures the gain). Their gradients agree with
automatic differentiation of the reference functions to float64 round-off (``tests/test_addressing.py``).
"""

from keras import ops

from ntm_cell.addressing import EPSILON, check_shifts, interpolate, norm


def fast_address(memory, previous_weights, keys, strengths, gates, shifts, gammas):
    """:func:`ntm_cell.addressing.address` (same arguments, shapes and result) with a hand-written gradient.

    Shapes: memory ``[B, M, N]``, previous_weights ``[B, H, N]``, keys ``[B, H, M]``, strengths, gates and
    gammas ``[B, H, 1]``, shifts ``[B, H, S]``; returns the new weightings ``[B, H, N]``.
    """
    check_shifts(shifts)
    arguments = [ops.convert_to_tensor(x) for x in (memory, previous_weights, keys, strengths, gates, shifts, gammas)]
    return _address(*arguments)


def _shift_sum(weights, shifts, direction):
    """``sum_k shifts[k] * roll(weights, direction * (k - R))``: the shift (+1) or its transpose (-1)."""
    shift_range = (shifts.shape[-1] - 1) // 2
    shifted = 0.0
    for k in range(shifts.shape[-1]):
        shifted = shifted + shifts[:, :, k : k + 1] * ops.roll(weights, direction * (k - shift_range), axis=-1)
    return shifted


def _softmax_backward(softmax, upstream):
    """Gradient of ``softmax(z)`` (over the last axis) with respect to ``z``."""
    return softmax * (upstream - ops.sum(softmax * upstream, axis=-1, keepdims=True))


@ops.custom_gradient
def _address(memory, previous_weights, keys, strengths, gates, shifts, gammas):
    # Forward: the same operations as content_weights, interpolate, shift_weights and sharpen.
    memory_norm = norm(memory, axis=1)  # [B, N]
    key_norm = norm(keys)  # [B, H]
    dot = ops.einsum("bhm,bmn->bhn", keys, memory)
    denominator = key_norm[:, :, None] * memory_norm[:, None, :] + EPSILON
    similarity = dot / denominator
    content = ops.softmax(strengths * similarity, axis=-1)
    gated = interpolate(content, previous_weights, gates)
    shifted = _shift_sum(gated, shifts, 1)
    log_shifted = ops.log(shifted + EPSILON)
    weights = ops.softmax(gammas * log_shifted, axis=-1)

    def gradient(*args, upstream=None):
        if upstream is None:  # TensorFlow and JAX pass the upstream gradient positionally
            (upstream,) = args
        # Cheap elementwise values are recomputed rather than kept from the forward pass: inside a recurrent
        # loop every kept tensor is one more per-step copy onto a stack.
        log_shifted = ops.log(shifted + EPSILON)
        gated = interpolate(content, previous_weights, gates)
        denominator = key_norm[:, :, None] * memory_norm[:, None, :] + EPSILON
        # Sharpening: weights = softmax(gammas * log(shifted + eps)).
        d_logits = _softmax_backward(weights, upstream)
        d_gammas = ops.sum(d_logits * log_shifted, axis=-1, keepdims=True)
        d_shifted = d_logits * gammas / (shifted + EPSILON)
        # Circular convolution: its transpose rolls the other way.
        d_gated = _shift_sum(d_shifted, shifts, -1)
        shift_range = (shifts.shape[-1] - 1) // 2
        d_shifts = ops.concatenate(
            [
                ops.sum(d_shifted * ops.roll(gated, k - shift_range, axis=-1), axis=-1, keepdims=True)
                for k in range(shifts.shape[-1])
            ],
            axis=-1,
        )
        # Interpolation.
        d_content = gates * d_gated
        d_previous = (1.0 - gates) * d_gated
        d_gates = ops.sum(d_gated * (content - previous_weights), axis=-1, keepdims=True)
        # Content weighting: content = softmax(strengths * similarity).
        d_scaled = _softmax_backward(content, d_content)
        d_strengths = ops.sum(d_scaled * similarity, axis=-1, keepdims=True)
        # Cosine similarity: dot / (|k| |M(i)| + eps).
        d_dot = strengths * d_scaled / denominator
        d_denominator = -d_dot * similarity
        d_key_norm = ops.sum(d_denominator * memory_norm[:, None, :], axis=-1)  # [B, H]
        d_memory_norm = ops.sum(d_denominator * key_norm[:, :, None], axis=1)  # [B, N]
        # One matrix-vector product per head: XLA on CPU runs the batched [H, N] x [N, M] product of
        # einsum("bhn,bmn->bhm") several times slower than H separate products once H > 1.
        d_keys_dot = ops.stack([ops.einsum("bn,bmn->bm", d_dot[:, h], memory) for h in range(d_dot.shape[1])], axis=1)
        d_keys = d_keys_dot + (d_key_norm / key_norm)[:, :, None] * keys
        d_memory = ops.einsum("bhn,bhm->bmn", d_dot, keys) + (d_memory_norm / memory_norm)[:, None, :] * memory
        return d_memory, d_previous, d_keys, d_strengths, d_gates, d_shifts, d_gammas

    return weights, gradient


def fast_write(memory, weights, erase, add):
    """:func:`ntm_cell.addressing.write` (same arguments, shapes and result), each head's erase and add with a
    hand-written gradient: memory ``[B, M, N]``, weights ``[B, W, N]``, erase and add ``[B, W, M]``."""
    memory, weights, erase, add = (ops.convert_to_tensor(x) for x in (memory, weights, erase, add))
    for head in range(weights.shape[1]):
        memory = _write_head(memory, weights[:, head], erase[:, head], add[:, head])
    return memory


@ops.custom_gradient
def _write_head(memory, weights, erase, add):
    """One head's erase and add: memory ``[B, M, N]``, weights ``[B, N]``, erase and add ``[B, M]``."""
    w = weights[:, None, :]
    keep = 1.0 - w * erase[:, :, None]
    new_memory = memory * keep + w * add[:, :, None]

    def gradient(*args, upstream=None):
        if upstream is None:  # TensorFlow and JAX pass the upstream gradient positionally
            (upstream,) = args
        # ``keep`` is recomputed rather than kept from the forward pass: it is memory-sized.
        d_memory = upstream * (1.0 - w * erase[:, :, None])
        upstream_times_memory = upstream * memory
        d_weights = ops.einsum("bmn,bm->bn", upstream, add) - ops.einsum("bmn,bm->bn", upstream_times_memory, erase)
        d_erase = -ops.einsum("bmn,bn->bm", upstream_times_memory, weights)
        d_add = ops.einsum("bmn,bn->bm", upstream, weights)
        return d_memory, d_weights, d_erase, d_add

    return new_memory, gradient
