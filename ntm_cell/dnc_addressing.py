"""Dynamic memory allocation and temporal links of the Differentiable Neural Computer.

Graves et al. (2016), "Hybrid computing using a neural network with dynamic external
memory", Nature, Methods section. The content lookups, reads and writes are the same as
the NTM's and live in :mod:`ntm_cell.addressing`; this module holds what the DNC adds:

- **usage and allocation**: free gates release what the read heads read last step
  (:func:`retention`), writes mark locations as used (:func:`update_usage`), and the
  least-used locations are offered to the write heads (:func:`allocation_weights`,
  :func:`write_allocation_weights`, :func:`mix_write_weights`);
- **temporal links**: a precedence weighting (:func:`update_precedence`) and a link
  matrix (:func:`update_link`) remember the order of writes, so read heads can step
  forwards or backwards through it (:func:`directional_weights`, :func:`mix_read_weights`).

Shape letters used in the docstrings:

- ``B``: batch size
- ``R``: number of read heads
- ``W``: number of write heads
- ``N``: memory rows (locations)

Several write heads are handled as in DeepMind's reference implementation: usage
combines them as ``1 - prod_h (1 - w_h)``, allocation hands out locations one head
after another, and every write head keeps its own precedence weighting and link matrix.
Everything is written with ``keras.ops`` so it runs on every Keras backend and
compiles under XLA.
"""

from keras import ops

#: Usage is squashed into ``[ALLOCATION_EPSILON, 1]`` before allocation, see
#: :func:`allocation_weights`.
ALLOCATION_EPSILON = 1e-6


def retention(free_gates, previous_read_weights):
    """Memory retention vector ``psi = prod_i (1 - f_i w^r_{t-1,i})`` over the read heads.

    ``psi[n]`` is how much of location ``n`` survives the free gates: a read head that
    read location ``n`` last step and now opens its free gate (``f_i = 1``) releases it.

    Args:
        free_gates: ``[B, R, 1]`` free gates in ``[0, 1]``.
        previous_read_weights: ``[B, R, N]`` the read weightings of the previous step.

    Returns:
        ``[B, N]`` retention in ``[0, 1]``.
    """
    return ops.prod(1.0 - free_gates * previous_read_weights, axis=1)


def combine_write_weights(write_weights):
    """How strongly any write head wrote each location: ``1 - prod_h (1 - w_h)``.

    Args:
        write_weights: ``[B, W, N]``.

    Returns:
        ``[B, N]``; equals ``write_weights[:, 0]`` when ``W = 1``.
    """
    return 1.0 - ops.prod(1.0 - write_weights, axis=1)


def update_usage(previous_usage, previous_write_weights, retention_vector):
    """Usage vector ``u_t = (u_{t-1} + w - u_{t-1} * w) * psi_t``.

    ``w`` is the previous step's write weighting; with several write heads it is
    :func:`combine_write_weights` of them.

    Args:
        previous_usage: ``[B, N]`` usage ``u_{t-1}`` in ``[0, 1]``.
        previous_write_weights: ``[B, W, N]`` write weightings ``w^w_{t-1}``.
        retention_vector: ``[B, N]`` ``psi_t`` from :func:`retention`.

    Returns:
        ``[B, N]`` usage in ``[0, 1]``.
    """
    written = combine_write_weights(previous_write_weights)
    return (previous_usage + written - previous_usage * written) * retention_vector


def exclusive_cumprod(x):
    """Cumulative product along the last axis that leaves out the current entry.

    ``out[..., j] = prod_{i < j} x[..., i]`` (so ``out[..., 0] = 1``), computed as the
    ordinary cumulative product of ``x`` shifted one place to the right.

    Args:
        x: ``[..., N]``.

    Returns:
        ``[..., N]``.
    """
    ones = ops.ones_like(x[..., :1])
    return ops.cumprod(ops.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)


def sort_permutation(values):
    """Permutation matrices that sort ``values`` in ascending order, ties by lowest index.

    ``P[b, s, n] = 1`` when location ``n`` comes ``s``-th in the sorted order, so
    ``sum_n P[s, n] x[n]`` puts ``x`` in sorted order and ``sum_s P[s, n] y[s]`` puts a
    sorted ``y`` back in memory order (``P`` transposed is the inverse permutation).

    The order comes from ``ops.argsort``, which sorts stably on every backend
    (TensorFlow's sort is a stable top-k, eagerly and under XLA; JAX and torch sort
    stably), so equal values keep their index order. The permutation is applied with
    one-hot matrices rather than ``ops.take_along_axis``: with TensorFlow, the latter
    broadcasts to a shape computed at run time, and XLA then cannot differentiate it
    inside the RNN loop when the batch size is dynamic. The ``[B, N, N]`` matrix costs
    no more than the temporal link matrix, and multiplying by exact zeros and ones keeps
    the gathered values exact (no matrix multiply, so no reduced-precision TF32).

    Args:
        values: ``[B, N]``.

    Returns:
        ``[B, N, N]`` 0/1 matrices in ``values.dtype``; the sort order is a constant
        for differentiation.
    """
    order = ops.argsort(values, axis=-1)  # [B, N]: sorted position -> location
    return ops.one_hot(order, values.shape[-1], dtype=values.dtype)


def allocation_weights(usage, epsilon=ALLOCATION_EPSILON):
    """Allocation weighting: the free list, sorted by usage (Methods, "Dynamic memory allocation").

    With ``phi`` the locations sorted by ascending usage,
    ``a[phi_j] = (1 - u[phi_j]) prod_{i<j} u[phi_i]``: the least-used location gets
    almost all of the weight, unless it is itself in use.

    Choices:

    - Usage is first mapped to ``epsilon + (1 - epsilon) u`` (as DeepMind's code does),
      so no factor of the cumulative product is exactly 0. The TensorFlow gradient of a
      cumulative product divides by its entries and would be wrong at zero usage, which
      is exactly where every sequence starts. Fully used memory (``u = 1``) still gets
      an allocation of exactly 0; blank memory gives ``1 - epsilon`` to its first row.
    - Ties are broken by location index, lowest first (a stable sort), so a blank
      memory is filled from row 0 upwards.
    - The sort order is a constant for differentiation; gradients flow through the
      sorted usage values into ``usage``, as in the paper.
    - Sorting and unsorting use the permutation matrices of :func:`sort_permutation`,
      which compile under XLA on every backend.

    Args:
        usage: ``[B, N]`` usage in ``[0, 1]``.
        epsilon: small positive float.

    Returns:
        ``[B, N]`` allocation weighting; sums to at most 1.
    """
    usage = epsilon + (1.0 - epsilon) * usage
    permutation = sort_permutation(usage)  # [B, sorted position, location]
    sorted_usage = ops.sum(permutation * usage[:, None, :], axis=-1)
    sorted_allocation = (1.0 - sorted_usage) * exclusive_cumprod(sorted_usage)
    return ops.sum(permutation * sorted_allocation[:, :, None], axis=1)


def write_allocation_weights(usage, write_gates, epsilon=ALLOCATION_EPSILON, allocate=allocation_weights):
    """Allocation weightings for several write heads, handed out one head at a time.

    Head ``h`` gets :func:`allocation_weights` of a usage that already counts the
    earlier heads' allocations as used: after each head,
    ``u <- u + (1 - u) * g_h * a_h`` with ``g_h`` the head's allocation gate times its
    write gate. Two heads that both allocate therefore get different locations.

    Args:
        usage: ``[B, N]`` usage ``u_t``.
        write_gates: ``[B, W, 1]`` per head ``g^a * g^w`` in ``[0, 1]``.
        epsilon: see :func:`allocation_weights`.
        allocate: ``(usage, epsilon) -> [B, N]``, one head's allocation weighting:
            :func:`allocation_weights`, or a function that computes the same, such as
            :func:`ntm_cell.fast_dnc_addressing.fast_allocation_weights`.

    Returns:
        ``[B, W, N]``.
    """
    allocations = []
    for head in range(write_gates.shape[1]):
        allocation = allocate(usage, epsilon)
        allocations.append(allocation)
        usage = usage + (1.0 - usage) * write_gates[:, head] * allocation
    return ops.stack(allocations, axis=1)


def mix_write_weights(content, allocation, allocation_gates, write_gates):
    """Write weighting ``w^w = g^w (g^a a + (1 - g^a) c^w)``.

    Args:
        content: ``[B, W, N]`` write content weightings ``c^w``.
        allocation: ``[B, W, N]`` allocation weightings ``a`` from
            :func:`write_allocation_weights`.
        allocation_gates: ``[B, W, 1]`` ``g^a`` in ``[0, 1]``.
        write_gates: ``[B, W, 1]`` ``g^w`` in ``[0, 1]``.

    Returns:
        ``[B, W, N]``; each row sums to at most 1.
    """
    return write_gates * (allocation_gates * allocation + (1.0 - allocation_gates) * content)


def update_precedence(previous_precedence, write_weights):
    """Precedence ``p_t = (1 - sum_i w^w_t(i)) p_{t-1} + w^w_t``, one per write head.

    ``p_t(i)`` is the degree to which location ``i`` was the last one written.

    Args:
        previous_precedence: ``[B, W, N]``.
        write_weights: ``[B, W, N]`` this step's write weightings.

    Returns:
        ``[B, W, N]``; each row sums to at most 1.
    """
    written = ops.sum(write_weights, axis=-1, keepdims=True)
    return (1.0 - written) * previous_precedence + write_weights


def update_link(previous_link, previous_precedence, write_weights):
    """Temporal link matrix update, one matrix per write head.

    ``L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p_{t-1}[j]`` with ``L_t[i, i] = 0``:
    ``L_t[i, j]`` is the degree to which location ``i`` was written right after
    location ``j``.

    Args:
        previous_link: ``[B, W, N, N]``.
        previous_precedence: ``[B, W, N]`` precedence ``p_{t-1}`` (before this step's
            update).
        write_weights: ``[B, W, N]`` this step's write weightings.

    Returns:
        ``[B, W, N, N]`` with a zero diagonal; rows and columns sum to at most 1.
    """
    w_i = write_weights[..., :, None]
    w_j = write_weights[..., None, :]
    link = (1.0 - w_i - w_j) * previous_link + w_i * previous_precedence[..., None, :]
    size = write_weights.shape[-1]
    off_diagonal = 1.0 - ops.eye(size, dtype=link.dtype)
    return link * off_diagonal


def directional_weights(link, previous_read_weights):
    """Forward and backward weightings ``f = L w^r_{t-1}`` and ``b = L^T w^r_{t-1}``.

    Every read head follows every write head's link matrix.

    Args:
        link: ``[B, W, N, N]``.
        previous_read_weights: ``[B, R, N]``.

    Returns:
        ``(forward, backward)``, each ``[B, R, W, N]``.
    """
    forward = ops.einsum("bwij,brj->brwi", link, previous_read_weights)
    backward = ops.einsum("bwij,bri->brwj", link, previous_read_weights)
    return forward, backward


def mix_read_weights(content, forward, backward, read_modes):
    """Read weighting: mix of backward, content and forward weightings by the read modes.

    ``w^r = sum_h pi[h] b_h + pi[W] c + sum_h pi[W + 1 + h] f_h``. The modes are ordered
    as in the paper, backward then content then forward; with ``W`` write heads there is
    one backward and one forward mode per write head, ``2 W + 1`` in all (3 for one
    write head).

    Args:
        content: ``[B, R, N]`` read content weightings.
        forward: ``[B, R, W, N]`` from :func:`directional_weights`.
        backward: ``[B, R, W, N]``.
        read_modes: ``[B, R, 2 W + 1]``; each row a distribution (softmax).

    Returns:
        ``[B, R, N]``.
    """
    num_writes = forward.shape[2]
    backward_modes = read_modes[:, :, :num_writes, None]
    content_mode = read_modes[:, :, num_writes : num_writes + 1]
    forward_modes = read_modes[:, :, num_writes + 1 :, None]
    return (
        ops.sum(backward_modes * backward, axis=2)
        + content_mode * content
        + ops.sum(forward_modes * forward, axis=2)
    )
