"""Memory addressing of the Neural Turing Machine as small pure functions: the reference definitions.

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
``memory[:, :, i]`` is the paper's row ``M(i)``; every memory-sized operation then runs along
the long ``N`` axis, which vectorises well.

Everything is written with ``keras.ops`` so it runs on every Keras backend, and is differentiated
automatically. :mod:`ntm_cell.fast_addressing` computes :func:`address` and :func:`write` again with
hand-written gradients; that is what the cells run, and the tests check it against these.
"""

from keras import ops

#: Added under square roots and logarithms so zero vectors give finite values and gradients.
EPSILON = 1e-8


def norm(x, axis=-1, epsilon=EPSILON):
    """``sqrt(sum(x ** 2) + epsilon)`` over ``axis``."""
    return ops.sqrt(ops.sum(ops.square(x), axis=axis) + epsilon)


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
    memory_norm = norm(memory, axis=1, epsilon=epsilon)  # [B, N]
    key_norm = norm(keys, epsilon=epsilon)  # [B, H]
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
    check_shifts(shifts)
    num_shifts = shifts.shape[-1]
    shift_range = (num_shifts - 1) // 2
    shifted = 0.0
    for k in range(num_shifts):
        offset = k - shift_range
        shifted = shifted + shifts[:, :, k : k + 1] * ops.roll(weights, offset, axis=-1)
    return shifted


def check_shifts(shifts):
    """``ValueError`` unless the last axis of ``shifts`` (``[..., S]``) is static and odd: shifts ``-R..R``."""
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

    ``sharpen(shift_weights(interpolate(content_weights(memory, keys, strengths), previous_weights, gates),
    shifts), gammas)``.

    Args:
        memory: ``[B, M, N]``.
        previous_weights: ``[B, H, N]``.
        keys: ``[B, H, M]``; strengths, gates, gammas: ``[B, H, 1]``; shifts: ``[B, H, S]``.

    Returns:
        ``[B, H, N]`` the heads' new weightings.
    """
    content = content_weights(memory, keys, strengths)
    return sharpen(shift_weights(interpolate(content, previous_weights, gates), shifts), gammas)


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

    For each head ``h`` in turn: ``M(i) <- M(i) * (1 - w_h(i) e_h) + w_h(i) a_h``.

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
        w = weights[:, head][:, None, :]
        memory = memory * (1.0 - w * erase[:, head][:, :, None]) + w * add[:, head][:, :, None]
    return memory
