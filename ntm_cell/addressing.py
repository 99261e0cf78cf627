"""Memory addressing of the Neural Turing Machine as small pure functions.

Graves, Wayne & Danihelka (2014), "Neural Turing Machines", section 3. Every function
works on a whole group of heads at once, so the cell addresses all its heads with one
call per stage instead of looping over them.

Shape letters used in the docstrings:

- ``B``: batch size
- ``H``: number of heads handled together
- ``N``: memory rows (locations)
- ``M``: memory width (the length of one memory row)
- ``S``: number of allowed shifts, ``2 * shift_range + 1``

Memory layout: the memory matrix is held as ``[B, M, N]``, one column per location, so that
``memory[:, :, i]`` is the paper's row ``M(i)``. Every memory-sized operation then runs along
the long ``N`` axis, which XLA vectorises; with the paper's ``[B, N, M]`` it runs along
``M = 20``, which does not fill a vector register. On the project's 2-core CPU the whole
training step gained only ~1.05-1.1x from it (README, Performance).

Everything is written with ``keras.ops`` so it runs on every Keras backend.

Speed: :func:`address` and :func:`write` compute exactly what the step-by-step functions
compute (``address`` is ``sharpen(shift_weights(interpolate(content_weights(...))))``), but
carry hand-written gradients (``keras.ops.custom_gradient``). Automatic differentiation
through a recurrent loop stores every intermediate of every step for the backward pass (under
XLA each one is a separate per-step copy into a stack); the hand-written backward passes keep
only what they need (they recompute the memory-sized ``1 - w e^T`` and cheap elementwise values such
as ``log(w~)`` instead of storing them), and need fewer operations. Measured on a 2-core CPU, this made
the XLA training step of the default copy model about 5-15% faster at batch 32, and recomputing the
elementwise values made it 1.2x faster at batch 1 (README, Performance). The gradients agree
with automatic differentiation of the step-by-step functions to float64 round-off.
"""

from keras import ops

#: Added under square roots and logarithms so zero vectors give finite values and gradients.
EPSILON = 1e-8


def cosine_similarity(memory, keys, epsilon=EPSILON):
    """Cosine similarity between every key and every memory row (the paper's K[u, v]).

    ``K(i) = <M(i), k> / (|M(i)| |k| + epsilon)``. The norms are taken as
    ``sqrt(sum(x ** 2) + epsilon)`` so an all-zero row or key gives a similarity of 0
    with finite gradients instead of NaN.

    Args:
        memory: ``[B, M, N]`` memory, one column per location.
        keys: ``[B, H, M]`` one key per head.
        epsilon: small positive float.

    Returns:
        ``[B, H, N]`` similarities in ``[-1, 1]``.
    """
    dot = ops.einsum("bhm,bmn->bhn", keys, memory)
    memory_norm = _norm(memory, axis=1, epsilon=epsilon)  # [B, N]
    key_norm = _norm(keys, epsilon=epsilon)  # [B, H]
    return dot / (key_norm[:, :, None] * memory_norm[:, None, :] + epsilon)


def content_weights(memory, keys, strengths, epsilon=EPSILON):
    """Content-based weighting: ``softmax(beta * K(memory, key))`` over memory rows (eq. 5).

    Args:
        memory: ``[B, M, N]``.
        keys: ``[B, H, M]``.
        strengths: ``[B, H, 1]`` key strengths ``beta >= 0``.

    Returns:
        ``[B, H, N]`` weightings; each row sums to 1.
    """
    similarity = cosine_similarity(memory, keys, epsilon)
    return ops.softmax(strengths * similarity, axis=-1)


def interpolate(content, previous, gates):
    """Interpolation gate (eq. 7): ``w_g = g * w_c + (1 - g) * w_{t-1}``.

    Args:
        content: ``[B, H, N]`` content weightings of this step.
        previous: ``[B, H, N]`` the heads' weightings of the previous step.
        gates: ``[B, H, 1]`` interpolation gates in ``[0, 1]``.

    Returns:
        ``[B, H, N]``.
    """
    return gates * content + (1.0 - gates) * previous


def shift_weights(weights, shifts):
    """Circular convolution of each weighting with its shift distribution (eq. 8).

    ``w~(i) = sum_j w(j) s((i - j) mod N)``. Entry ``k`` of ``shifts`` is the probability
    of moving the focus by ``d = k - (S - 1) // 2`` rows, so with shift range 1 the three
    entries mean "one row back", "stay" and "one row forward". Implemented as ``S`` rolls
    of the weighting: ``O(N * S)`` work, never an ``N x N`` matrix. Rows wrap around at
    both ends of memory.

    Args:
        weights: ``[B, H, N]``.
        shifts: ``[B, H, S]`` with ``S`` odd; each row a distribution over shifts.

    Returns:
        ``[B, H, N]``.
    """
    _check_shifts(shifts)
    num_shifts = shifts.shape[-1]
    shift_range = (num_shifts - 1) // 2
    shifted = 0.0
    for k in range(num_shifts):
        offset = k - shift_range
        shifted = shifted + shifts[:, :, k : k + 1] * ops.roll(weights, offset, axis=-1)
    return shifted


def _check_shifts(shifts):
    num_shifts = shifts.shape[-1]
    if num_shifts is None or num_shifts % 2 != 1:
        raise ValueError(f"shifts must have an odd, static last dimension; got {shifts.shape}")


def sharpen(weights, gammas, epsilon=EPSILON):
    """Sharpening (eq. 9): ``w(i) = w~(i) ** gamma / sum_j w~(j) ** gamma``.

    Computed in log space as ``softmax(gamma * log(w~ + epsilon))``: the naive power
    underflows to 0/0 in float32 for a diffuse weighting (``N = 1024``, ``gamma = 21``
    gives ``(1/1024) ** 21 = 0``), this form stays finite, and so do its gradients.

    Args:
        weights: ``[B, H, N]`` non-negative weightings.
        gammas: ``[B, H, 1]`` sharpening exponents ``gamma >= 1``.

    Returns:
        ``[B, H, N]``; each row sums to 1.
    """
    return ops.softmax(gammas * ops.log(weights + epsilon), axis=-1)


def address(memory, previous_weights, keys, strengths, gates, shifts, gammas):
    """The whole addressing pipeline of Figure 2: content, interpolate, shift, sharpen.

    Equal to ``sharpen(shift_weights(interpolate(content_weights(memory, keys, strengths),
    previous_weights, gates), shifts), gammas)``, with a hand-written gradient (see the
    module docstring).

    Args:
        memory: ``[B, M, N]``.
        previous_weights: ``[B, H, N]``.
        keys: ``[B, H, M]``; strengths, gates, gammas: ``[B, H, 1]``; shifts: ``[B, H, S]``.

    Returns:
        ``[B, H, N]`` the heads' new weightings.
    """
    _check_shifts(shifts)
    arguments = [ops.convert_to_tensor(x) for x in (memory, previous_weights, keys, strengths, gates, shifts, gammas)]
    return _address(*arguments)


def _norm(x, axis=-1, epsilon=EPSILON):
    """``sqrt(sum(x ** 2) + epsilon)`` over ``axis``."""
    return ops.sqrt(ops.sum(ops.square(x), axis=axis) + epsilon)


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
    memory_norm = _norm(memory, axis=1)  # [B, N]
    key_norm = _norm(keys)  # [B, H]
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
        # loop every kept tensor is one more per-step copy onto a stack (1.2x faster steps at batch 1).
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


def read(memory, weights):
    """Read vectors (eq. 2): ``r = sum_i w(i) M(i)``.

    Args:
        memory: ``[B, M, N]``.
        weights: ``[B, H, N]`` read weightings.

    Returns:
        ``[B, H, M]`` one read vector per head.
    """
    return ops.einsum("bhn,bmn->bhm", weights, memory)


def write(memory, weights, erase, add):
    """Erase then add (eqs. 3-4), one write head after another in head order.

    For each head ``h`` in turn: ``M(i) <- M(i) * (1 - w_h(i) e_h) + w_h(i) a_h``. Each head's
    update has a hand-written gradient (see the module docstring).

    Args:
        memory: ``[B, M, N]`` memory, one column per location.
        weights: ``[B, W, N]`` write weightings.
        erase: ``[B, W, M]`` erase vectors in ``[0, 1]``.
        add: ``[B, W, M]`` add vectors.

    Returns:
        ``[B, M, N]`` the memory after all writes.
    """
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
