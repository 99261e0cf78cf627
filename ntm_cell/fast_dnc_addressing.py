"""The DNC's allocation, temporal links, content lookups and reads with hand-written gradients: what
:class:`~ntm_cell.DNCCell` runs.

:func:`fast_allocation_weights`, :func:`fast_write_allocation_weights`, :func:`fast_update_link`,
:func:`fast_link_and_directional_weights`, :func:`fast_content_weights` and :func:`fast_read` compute what
:func:`ntm_cell.dnc_addressing.allocation_weights`, :func:`~ntm_cell.dnc_addressing.write_allocation_weights`,
:func:`~ntm_cell.dnc_addressing.update_link`, :func:`~ntm_cell.dnc_addressing.directional_weights`,
:func:`ntm_cell.addressing.content_weights` and :func:`ntm_cell.addressing.read` compute (shape letters as in
:mod:`ntm_cell.dnc_addressing`), but carry hand-written gradients (``keras.ops.custom_gradient``), as
:mod:`ntm_cell.fast_addressing` does for the NTM (:func:`fast_read`, a product, is only written in the form XLA runs
fastest). Automatic differentiation through the recurrent loop keeps every intermediate of every step for the
backward pass, among them ``[B, N, N]`` sort permutations and link-sized products; these backward passes keep only
the inputs and a few ``[B, N]`` vectors, and recompute the rest. Their values and gradients agree with automatic
differentiation of the reference functions to float64 round-off (``tests/test_fast_dnc_addressing.py``).

How they are written for XLA on the CPU (docs/performance.md measures the choices):

- No sort: the allocation order is a comparison of every pair of locations, reduced at once (the sort and the
  gathers it needs are slower than the ``[B, N, N]`` comparison, and ``take_along_axis`` cannot be differentiated
  there, see :func:`ntm_cell.dnc_addressing.sort_permutation`).
- :func:`materialised` in front of every ``[B, N]`` operand of a ``[B, N, N]`` computation. Left alone, XLA
  recomputes a chain of cheap elementwise operations (or reads a per-step stack of the backward pass) for every
  element of the ``N x N`` result instead of once per location. The link's masked gradient, which three
  ``[B, N, N]`` kernels of the backward pass read, is materialised too.
- One ``[B, N, N]`` link matrix per write head; the products that contract its last axis (and the memory's) are
  one matrix-vector product per vector, which XLA runs faster than the batched matrix product.
"""

from keras import ops

from ntm_cell.addressing import EPSILON, norm
from ntm_cell.dnc_addressing import ALLOCATION_EPSILON, write_allocation_weights


def materialised(x):
    """``x`` unchanged, divided by a computed 1 so that XLA keeps it as an array of its own.

    A division is one of the operations XLA will not duplicate into a consumer that reads each of its elements
    many times (as a ``[B, N, N]`` broadcast of a ``[B, N]`` vector does), so the vector is computed once instead
    of once per element of the consumer. ``1 + 0 x`` is exactly 1 for finite ``x``, and ``x / 1`` is exactly
    ``x``; other backends just pay one cheap division.

    Args:
        x: ``[..., K]``, finite.

    Returns:
        ``x``, same shape and values.
    """
    return x / (1.0 + 0.0 * x[..., :1])


def _upstreams(args, upstream):
    """The upstream gradients as a tuple, however the backend passes them: TensorFlow passes one positional
    argument per output, JAX one tuple of them, a caller may pass the keyword ``upstream``."""
    if upstream is not None:
        args = (upstream,)
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return args


# ---------------------------------------------------------------- allocation
def _comes_before(usage):
    """``[B, N(k), N(j)]`` booleans: whether location ``k`` comes before location ``j`` in the stable ascending
    order of ``usage`` ``[B, N]`` (smaller usage, or equal usage and smaller index)."""
    index = ops.arange(usage.shape[-1])
    lower_index = (index[:, None] < index[None, :])[None]
    u_k = usage[:, :, None]
    u_j = usage[:, None, :]
    return ops.logical_or(u_k < u_j, ops.logical_and(u_k == u_j, lower_index))


def fast_allocation_weights(usage, epsilon=ALLOCATION_EPSILON):
    """:func:`ntm_cell.dnc_addressing.allocation_weights` (same arguments, shapes and result) with a hand-written
    gradient, computed without a sort.

    With ``u' = epsilon + (1 - epsilon) u`` and ``P_j`` the product of ``u'_k`` over the locations ``k`` that come
    before ``j`` in the stable ascending order of ``u'`` (smaller usage, or equal usage and lower index),
    ``a_j = (1 - u'_j) P_j``: the products are one reduction over a ``[B, N, N]`` comparison of every pair of
    locations. The gradient holds the order constant, as the reference does:
    ``du'_k = -g_k P_k + (1 / u'_k) sum_{j after k} g_j a_j`` and ``du = (1 - epsilon) du'``; the backward pass
    keeps ``u'``, ``P`` and ``a`` (``[B, N]`` each) and compares the pairs again.

    Args:
        usage: ``[B, N]`` usage in ``[0, 1]``.
        epsilon: small float; the gradient needs it positive (it divides by ``u'``), as the reference's does.

    Returns:
        ``[B, N]`` allocation weighting.
    """
    usage = ops.convert_to_tensor(usage)

    @ops.custom_gradient
    def allocation(usage):
        mapped = epsilon + (1.0 - epsilon) * usage
        ones = ops.ones((), dtype=mapped.dtype)
        kept = materialised(mapped)
        products = ops.prod(ops.where(_comes_before(kept), kept[:, :, None], ones), axis=1)  # over k before j
        weights = (1.0 - mapped) * products

        def gradient(*args, upstream=None):
            (upstream,) = _upstreams(args, upstream)
            zeros = ops.zeros((), dtype=mapped.dtype)
            weighted = materialised(upstream * weights)  # g_j a_j
            before = _comes_before(materialised(mapped))
            later = ops.sum(ops.where(before, weighted[:, None, :], zeros), axis=2)  # over j after k
            return (1.0 - epsilon) * (later / mapped - upstream * products)

        return weights, gradient

    return allocation(usage)


def fast_write_allocation_weights(usage, write_gates, epsilon=ALLOCATION_EPSILON):
    """:func:`ntm_cell.dnc_addressing.write_allocation_weights` (same arguments, shapes and result), every head's
    allocation computed by :func:`fast_allocation_weights`.

    Args:
        usage: ``[B, N]``.
        write_gates: ``[B, W, 1]``.
        epsilon: small positive float.

    Returns:
        ``[B, W, N]``.
    """
    return write_allocation_weights(usage, write_gates, epsilon, allocate=fast_allocation_weights)


# ---------------------------------------------------------------- temporal links
def _per_vector_products(vectors, matrix):
    """``out[b, h, m] = sum_n vectors[b, h, n] matrix[b, m, n]`` (vectors ``[B, H, N]``, matrix ``[B, M, N]``) as
    one matrix-vector product per ``h``: XLA on the CPU runs these faster than the batched matrix product that
    contracts the matrix's last axis."""
    return ops.stack([ops.einsum("bmn,bn->bm", matrix, vectors[:, h]) for h in range(vectors.shape[1])], axis=1)


def _off_diagonal(size, dtype):
    return 1.0 - ops.eye(size, dtype=dtype)


def _new_link(previous_link, previous_precedence, write_weights):
    """One head's link update, ``[B, N, N]`` from ``[B, N, N]``, ``[B, N]``, ``[B, N]``, as
    ``(L - w_i L - L w_j + w_i p_j)`` off the diagonal."""
    w_i = write_weights[:, :, None]
    w_j = write_weights[:, None, :]
    link = previous_link - w_i * previous_link - previous_link * w_j + w_i * previous_precedence[:, None, :]
    return link * _off_diagonal(write_weights.shape[-1], link.dtype)


def _link_backward(masked, previous_link, previous_precedence, write_weights):
    """Gradients of :func:`_new_link` from ``masked``, the ``[B, N, N]`` upstream gradient with a zero diagonal:
    ``(d_link, d_precedence, d_weights)``.

    ``dL_{t-1} = G (1 - w_i - w_j)``, ``dp_j = sum_i G_ij w_i``,
    ``dw_k = sum_j G_kj (p_j - L_{t-1}[k, j]) - sum_i G_ik L_{t-1}[i, k]``; the sums are matrix-vector products.
    """
    w_i = write_weights[:, :, None]
    w_j = write_weights[:, None, :]
    d_link = masked - w_i * masked - masked * w_j
    d_precedence = ops.einsum("bi,bij->bj", write_weights, masked)
    kept = masked * previous_link
    ones = ops.ones_like(write_weights)
    d_weights = (
        ops.einsum("bij,bj->bi", masked, previous_precedence)
        - ops.einsum("bij,bj->bi", kept, ones)
        - ops.einsum("bi,bij->bj", ones, kept)
    )
    return d_link, d_precedence, d_weights


def _per_head(function, previous_link, *head_arguments):
    """Apply ``function`` to every write head's ``[B, N, N]`` link and ``[B, N]`` vectors."""
    return [
        function(previous_link[:, head], *(x[:, head] for x in head_arguments))
        for head in range(previous_link.shape[1])
    ]


def fast_update_link(previous_link, previous_precedence, write_weights):
    """:func:`ntm_cell.dnc_addressing.update_link` (same arguments, shapes and result) with a hand-written gradient
    that keeps only the three inputs.

    Args:
        previous_link: ``[B, W, N, N]``.
        previous_precedence: ``[B, W, N]``.
        write_weights: ``[B, W, N]``.

    Returns:
        ``[B, W, N, N]``.
    """
    arguments = [ops.convert_to_tensor(x) for x in (previous_link, previous_precedence, write_weights)]
    return ops.stack(_per_head(_update_link_head, *arguments), axis=1)


@ops.custom_gradient
def _update_link_head(previous_link, previous_precedence, write_weights):
    """One head: ``[B, N, N]``, ``[B, N]``, ``[B, N]`` -> ``[B, N, N]``."""
    precedence, weights = materialised(previous_precedence), materialised(write_weights)
    link = _new_link(previous_link, precedence, weights)

    def gradient(*args, upstream=None):
        (upstream,) = _upstreams(args, upstream)
        masked = upstream * _off_diagonal(upstream.shape[-1], upstream.dtype)
        return _link_backward(masked, previous_link, materialised(previous_precedence), materialised(write_weights))

    return link, gradient


def fast_link_and_directional_weights(previous_link, previous_precedence, write_weights, previous_read_weights):
    """:func:`ntm_cell.dnc_addressing.update_link`, then :func:`~ntm_cell.dnc_addressing.directional_weights` of
    the new link, as one operation per write head with a hand-written gradient.

    The backward pass keeps only the four inputs: it recomputes the new link from the previous one, adds the
    directional weightings' gradient ``sum_r (df_r w^r_r^T + w^r_r db_r^T)`` to the link's (off the diagonal) and
    goes on as :func:`fast_update_link`'s; the read weightings get ``L^T df + L db``.

    Args:
        previous_link: ``[B, W, N, N]``.
        previous_precedence: ``[B, W, N]`` precedence ``p_{t-1}``.
        write_weights: ``[B, W, N]`` this step's write weightings.
        previous_read_weights: ``[B, R, N]``.

    Returns:
        ``(link, forward, backward)``: ``[B, W, N, N]`` and twice ``[B, R, W, N]``.
    """
    previous_link, previous_precedence, write_weights, previous_read_weights = (
        ops.convert_to_tensor(x) for x in (previous_link, previous_precedence, write_weights, previous_read_weights)
    )
    heads = _per_head(
        lambda link, precedence, weights: _link_and_directional_head(link, precedence, weights, previous_read_weights),
        previous_link, previous_precedence, write_weights,
    )
    links, forwards, backwards = zip(*heads)
    if len(heads) == 1:
        return links[0][:, None], forwards[0][:, :, None], backwards[0][:, :, None]
    return ops.stack(links, axis=1), ops.stack(forwards, axis=2), ops.stack(backwards, axis=2)


@ops.custom_gradient
def _link_and_directional_head(previous_link, previous_precedence, write_weights, read_weights):
    """One head: ``[B, N, N]``, ``[B, N]``, ``[B, N]``, ``[B, R, N]`` -> ``[B, N, N]``, ``[B, R, N]`` twice."""
    precedence, weights, reads = (materialised(x) for x in (previous_precedence, write_weights, read_weights))
    link = _new_link(previous_link, precedence, weights)
    forward = _per_vector_products(reads, link)  # f_i = sum_j L_ij w^r_j
    backward = ops.einsum("bri,bij->brj", reads, link)  # b_j = sum_i L_ij w^r_i

    def gradient(*args, upstream=None):
        d_link, d_forward, d_backward = _upstreams(args, upstream)
        precedence, weights, reads = (materialised(x) for x in (previous_precedence, write_weights, read_weights))
        d_forward, d_backward = materialised(d_forward), materialised(d_backward)
        link = _new_link(previous_link, precedence, weights)
        d_reads = ops.einsum("bri,bij->brj", d_forward, link) + _per_vector_products(d_backward, link)
        # The directional weightings' share of the link gradient, one outer product per read head.
        total = d_link
        for head in range(reads.shape[1]):
            total = (total + d_forward[:, head, :, None] * reads[:, head, None, :]
                     + reads[:, head, :, None] * d_backward[:, head, None, :])
        # Computed once: left alone, XLA repeats the sum of the 2 R outer products in each of the three kernels
        # that read it.
        masked = materialised(total * _off_diagonal(total.shape[-1], total.dtype))
        d_previous, d_precedence, d_weights = _link_backward(masked, previous_link, precedence, weights)
        return d_previous, d_precedence, d_weights, d_reads

    return (link, forward, backward), gradient


# ---------------------------------------------------------------- content lookups and reads
def fast_content_weights(memory, keys, strengths):
    """:func:`ntm_cell.addressing.content_weights` (same arguments, shapes and result) with the hand-written
    gradient of the content part of :func:`ntm_cell.fast_addressing.fast_address`.

    Shapes: memory ``[B, M, N]``, keys ``[B, H, M]``, strengths ``[B, H, 1]``; returns ``[B, H, N]``.
    """
    return _content_weights(*(ops.convert_to_tensor(x) for x in (memory, keys, strengths)))


@ops.custom_gradient
def _content_weights(memory, keys, strengths):
    memory_norm = norm(memory, axis=1)  # [B, N]
    key_norm = norm(keys)  # [B, H]
    dot = ops.einsum("bhm,bmn->bhn", keys, memory)
    similarity = dot / (key_norm[:, :, None] * memory_norm[:, None, :] + EPSILON)
    content = ops.softmax(strengths * similarity, axis=-1)

    def gradient(*args, upstream=None):
        (upstream,) = _upstreams(args, upstream)
        denominator = key_norm[:, :, None] * memory_norm[:, None, :] + EPSILON
        d_scaled = content * (upstream - ops.sum(content * upstream, axis=-1, keepdims=True))
        d_strengths = ops.sum(d_scaled * similarity, axis=-1, keepdims=True)
        d_dot = strengths * d_scaled / denominator
        d_denominator = -d_dot * similarity
        d_key_norm = ops.sum(d_denominator * memory_norm[:, None, :], axis=-1)  # [B, H]
        d_memory_norm = ops.sum(d_denominator * key_norm[:, :, None], axis=1)  # [B, N]
        d_keys = _per_vector_products(d_dot, memory) + (d_key_norm / key_norm)[:, :, None] * keys
        d_memory = ops.einsum("bhn,bhm->bmn", d_dot, keys) + (d_memory_norm / memory_norm)[:, None, :] * memory
        return d_memory, d_keys, d_strengths

    return content, gradient


def fast_read(memory, weights):
    """:func:`ntm_cell.addressing.read` (same arguments, shapes and result): memory ``[B, M, N]``, weights
    ``[B, H, N]`` -> ``[B, H, M]``, one matrix-vector product per head (automatic differentiation then gives
    the memory's gradient as a sum of outer products and the weightings' as products with the memory)."""
    return _per_vector_products(ops.convert_to_tensor(weights), ops.convert_to_tensor(memory))
