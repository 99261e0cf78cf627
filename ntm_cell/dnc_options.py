"""The DNC improvements of Csordás & Schmidhuber (2019) as small pure functions.

Csordás & Schmidhuber (2019), "Improving Differentiable Neural Computers through memory masking,
de-allocation, and link distribution sharpness control", ICLR, section 3. Each one is an option of
:class:`~ntm_cell.DNCCell`, off by default:

- **masked content-based addressing** (DNC-M, :func:`masked_content_weights`): a head compares only the
  parts of its key and of each memory row that its mask lets through, so a row can hold a key part to be
  found by and a value part to be retrieved;
- **de-allocation** (DNC-D, :func:`deallocate`): the locations that the free gates release are also
  cleared, so a content lookup no longer finds what was freed;
- **link distribution sharpness** (DNC-S, :func:`sharpen_distribution`,
  :func:`sharpened_directional_weights`): the forward and backward weightings are raised to a power
  ``s >= 1`` and renormalised, which removes the noise that the temporal links pick up from blurred writes.

Shape letters as in :mod:`ntm_cell.dnc_addressing` (``B`` batch, ``R`` read heads, ``W`` write heads,
``N`` memory rows), plus ``H`` heads handled together and ``M`` memory width. The memory is held as
``[B, M, N]``, one column per location (see :mod:`ntm_cell.addressing`).
"""

from keras import ops

from ntm_cell.addressing import EPSILON, norm
from ntm_cell.dnc_addressing import directional_weights

#: Added to a weighting before its logarithm in :func:`sharpen_distribution`.
SHARPNESS_EPSILON = 1e-6


def masked_content_weights(memory, keys, strengths, masks, epsilon=EPSILON):
    """Masked content weighting ``softmax(beta * K(M(i) * m, k * m))`` over memory rows.

    ``K`` is the cosine similarity of :func:`ntm_cell.addressing.cosine_similarity` (the same ``epsilon``
    guards), taken between the masked key ``k * m`` and every masked memory row ``M(i) * m``: the head's mask
    ``m`` multiplies the key and every row elementwise. With ``m`` all ones this is
    :func:`ntm_cell.addressing.content_weights`. Computed without a ``[B, H, M, N]`` intermediate:
    ``<k m, M(i) m> = <k m^2, M(i)>`` and ``|M(i) m|^2 = <m^2, M(i)^2>``.

    Args:
        memory: ``[B, M, N]``.
        keys: ``[B, H, M]``.
        strengths: ``[B, H, 1]`` key strengths ``beta >= 0``.
        masks: ``[B, H, M]`` masks in ``[0, 1]``, one per head.
        epsilon: small positive float.

    Returns:
        ``[B, H, N]`` weightings; each row sums to 1.
    """
    squared_masks = ops.square(masks)
    dot = ops.einsum("bhm,bmn->bhn", keys * squared_masks, memory)
    memory_norm = ops.sqrt(ops.einsum("bhm,bmn->bhn", squared_masks, ops.square(memory)) + epsilon)  # [B, H, N]
    key_norm = norm(keys * masks, epsilon=epsilon)  # [B, H]
    similarity = dot / (key_norm[:, :, None] * memory_norm + epsilon)
    return ops.softmax(strengths * similarity, axis=-1)


def deallocate(memory, retention_vector):
    """Clear what the free gates released: every memory row ``i`` times ``psi_t[i]``.

    Applied to ``M_{t-1}`` before the write, this gives the paper's
    ``M_t = M_{t-1} * (psi_t 1^T) * (E - w e^T) + w v^T``; ``psi = 1`` leaves the memory unchanged.

    Args:
        memory: ``[B, M, N]``.
        retention_vector: ``[B, N]`` ``psi_t`` from :func:`ntm_cell.dnc_addressing.retention` (the vector
            that also scales the usage).

    Returns:
        ``[B, M, N]``.
    """
    return memory * retention_vector[:, None, :]


def sharpen_distribution(weights, sharpness, epsilon=SHARPNESS_EPSILON):
    """``S(d, s)_j = d_j^s / sum_k d_k^s``, computed as ``softmax(s * log(d + epsilon))`` over the last axis.

    The result always sums to 1, as in the paper. The ``epsilon`` keeps the logarithm finite: an all-zero
    ``d`` (nothing linked yet, as at the first step) gives the uniform weighting ``1 / N``, and ``s = 1``
    gives ``(d + epsilon) / sum_k (d_k + epsilon)``, which is ``d`` to within ``N * epsilon`` when ``d`` sums
    to 1. Negative rounding noise in ``d`` is clipped to 0 first.

    Args:
        weights: ``[..., N]`` non-negative weightings ``d``.
        sharpness: ``[..., 1]`` exponents ``s`` (``>= 1`` from ``oneplus`` in the cell).
        epsilon: small positive float.

    Returns:
        ``[..., N]`` distributions.
    """
    return ops.softmax(sharpness * ops.log(ops.maximum(weights, 0.0) + epsilon), axis=-1)


def sharpened_directional_weights(link, previous_read_weights, forward_sharpness, backward_sharpness,
                                  epsilon=SHARPNESS_EPSILON):
    """Sharpened forward and backward weightings ``S(L w^r_{t-1}, s_f)`` and ``S(L^T w^r_{t-1}, s_b)``.

    :func:`ntm_cell.dnc_addressing.directional_weights`, each result passed through
    :func:`sharpen_distribution`; every read head has one exponent per write head's link matrix and
    direction.

    Args:
        link: ``[B, W, N, N]``.
        previous_read_weights: ``[B, R, N]``.
        forward_sharpness: ``[B, R, W, 1]`` exponents ``s_f``.
        backward_sharpness: ``[B, R, W, 1]`` exponents ``s_b``.
        epsilon: see :func:`sharpen_distribution`.

    Returns:
        ``(forward, backward)``, each ``[B, R, W, N]``; every row sums to 1.
    """
    forward, backward = directional_weights(link, previous_read_weights)
    return (sharpen_distribution(forward, forward_sharpness, epsilon),
            sharpen_distribution(backward, backward_sharpness, epsilon))
