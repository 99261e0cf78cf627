"""``DNCCell``: the Differentiable Neural Computer (Graves et al. 2016) as a Keras 3 RNN cell."""

import keras
from keras import ops

from ntm_cell import dnc_addressing, dnc_options, fast_addressing, fast_dnc_addressing
from ntm_cell.arguments import check_bool
from ntm_cell.memory_cell import MEMORY_DTYPE, MemoryCell, clip, split_heads


def oneplus(x):
    """``1 + softplus(x)``: the paper's activation for key strengths, values in ``[1, inf)``."""
    return 1.0 + ops.softplus(x)


@keras.saving.register_keras_serializable(package="ntm_cell")
class DNCCell(MemoryCell):
    """A Differentiable Neural Computer step, for use inside ``keras.layers.RNN``.

    Graves et al. (2016), "Hybrid computing using a neural network with dynamic external
    memory", Methods. One step, with ``R`` read heads, ``W`` write heads, ``N x M``
    memory:

    1. The controller (an LSTM or a feed-forward layer) reads ``[x_t ; r_{t-1}]``: the
       step's input and the ``R`` read vectors of the previous step.
    2. One linear layer maps the controller output ``h_t`` to the interface vector,
       clipped to ``+-clip_value``. Per read head: a key (``M``, unconstrained, as in the
       paper), a strength (oneplus), a free gate (sigmoid) and ``2 W + 1`` read modes
       (softmax; backward, content, forward for one write head). Per write head: a key
       (``M``, unconstrained), a strength (oneplus), an erase vector (sigmoid, ``M``), a
       write vector (``M``, unconstrained), an allocation gate and a write gate
       (sigmoid). With ``R = 4, W = 1, M = 16`` that is the paper's
       ``W R + 3 W + 5 R + 3 = 135`` values.
    3. The free gates release the locations read at ``t - 1`` and the usage is updated
       with the write weightings of ``t - 1`` (:func:`~ntm_cell.dnc_addressing.update_usage`).
    4. Each write head mixes content lookup in ``M_{t-1}`` and allocation of the least
       used locations (allocation gate), scaled by its write gate; several write heads
       allocate one after another, each avoiding what the earlier ones took.
    5. The write heads erase and add, one after another in head order
       (:func:`ntm_cell.fast_addressing.fast_write`, shared with the NTM), giving ``M_t``. With one
       write head this is the paper's write; with several, a later head's erase also
       acts on what an earlier head added in the same step (DeepMind's code instead
       applies all erasures before all additions). Then the precedence weightings and
       temporal link matrices (one per write head) are updated.
    6. **Reads happen after writes**, as in the paper: each read head mixes content
       lookup in ``M_t`` with the forward and backward weightings obtained by following
       the link matrices from its previous read weighting, and reads ``r_t`` from ``M_t``.
    7. The output is ``[h_t ; r_t]`` (``controller_units + R * M`` values), or, with
       ``output_units``, a linear projection of it clipped to ``+-clip_value``.

    The allocation, the link update with the forward and backward weightings, the content lookups
    and the reads run as :mod:`ntm_cell.fast_dnc_addressing`'s functions with hand-written
    gradients; they compute what the reference functions of :mod:`ntm_cell.dnc_addressing` and
    :mod:`ntm_cell.addressing` compute.

    Options (all off by default, which is the paper's DNC above); the first three are the fixes of
    Csordás & Schmidhuber (2019), see :mod:`ntm_cell.dnc_options`, and all three together are their DNC-MDS:

    - ``masked_content`` (DNC-M): every read and write head also emits a mask (sigmoid, ``M``) and its
      content lookup compares the masked key with the masked memory rows
      (:func:`~ntm_cell.dnc_options.masked_content_weights`).
    - ``deallocation`` (DNC-D): before the write, every memory row is multiplied by the retention ``psi_t``
      that also scales the usage (:func:`~ntm_cell.dnc_options.deallocate`), so freed locations are cleared.
      The write content lookup still reads ``M_{t-1}`` as it was.
    - ``link_sharpness`` (DNC-S): every read head also emits one exponent (oneplus) per write head for the
      forward and one for the backward weighting, which are sharpened and renormalised
      (:func:`~ntm_cell.dnc_options.sharpened_directional_weights`); an all-zero link weighting (as in the
      first steps) becomes uniform.
    - ``usage_gradient=False``: the usage update sees the previous write weightings through
      ``stop_gradient``, so no gradient flows from the usage (and allocation) into them, as in
      deepmind/dnc.

    Interface layout: the read heads' values, head after head, then the write heads'. Per read head:
    key (``M``), strength (1), free gate (1), read modes (``2 W + 1``), then the mask (``M``) with
    ``masked_content``, then the forward exponents (``W``) and the backward exponents (``W``) with
    ``link_sharpness``. Per write head: key (``M``), strength (1), erase (``M``), write vector (``M``),
    allocation gate (1), write gate (1), then the mask (``M``) with ``masked_content``. So
    ``masked_content`` adds ``(R + W) M`` values and ``link_sharpness`` ``2 R W``; the other two add none.

    Initial state: previous output and controller state zeros; the initial read vectors are
    ``tanh(learned)`` (a trainable weight); usage, link matrices, precedence and all
    read and write weightings start at zero (nothing read, written or allocated yet);
    the initial memory follows ``memory_init`` (see :mod:`ntm_cell.initial_state`):
    ``"learned"`` (trainable), ``"constant"`` (1e-6, frozen) or ``"random"`` (drawn
    once, frozen).

    State layout: a flat list of rank-2 tensors (flat so that ``return_state=True``
    works in functional models):

    ============  ==============================  ===========================================
    index         shape                           meaning
    ============  ==============================  ===========================================
    0             ``[B, output_size]``            the previous step's output
    (LSTM only)   ``[B, controller_units]`` x 2L  ``h`` and ``c`` of each of the L layers
    next          ``[B, M * N]``                  memory, one column per location
    next          ``[B, N]``                      usage
    next          ``[B, W * N * N]``              link matrices, ``L[w, i, j]`` row-major
    next          ``[B, W * N]``                  precedence weightings
    next          ``[B, R * N]``                  read weightings of the last step
    next          ``[B, W * N]``                  write weightings of the last step
    last          ``[B, R * M]``                  read vectors of the last step
    ============  ==============================  ===========================================

    The previous output comes first because Keras' JAX and torch backends, on a masked
    step, repeat ``states[0]`` as that step's output (as in :class:`~ntm_cell.NTMCell`).

    Use :meth:`unpack_state` to get them back as shaped tensors and :meth:`trace` to
    record what every head did at every time step.

    Example:

    ```python
    cell = DNCCell(controller_units=64, memory_size=16, memory_width=16, read_heads=4,
                   output_units=8)
    model = keras.Sequential([keras.Input((None, 9)), keras.layers.RNN(cell, return_sequences=True)])
    ```

    Args: those of :class:`~ntm_cell.memory_cell.MemoryCell` (``controller_units``, ``memory_size``,
    ``memory_width``, ``read_heads``, ``write_heads``, ``controller``, ``memory_init``, ``clip_value``,
    ``output_units``, ``controller_layers``, ``**kwargs``), with deepmind/dnc's defaults, and the options
    ``masked_content``, ``deallocation``, ``link_sharpness`` and ``usage_gradient`` (``True`` or
    ``False``, described above).

    Calling it: as :class:`~ntm_cell.memory_cell.MemoryCell`, with the state list described above.
    """

    def __init__(
        self,
        controller_units=64,
        memory_size=16,
        memory_width=16,
        read_heads=4,
        write_heads=1,
        controller="lstm",
        memory_init="learned",
        clip_value=20.0,
        output_units=None,
        controller_layers=1,
        masked_content=False,
        deallocation=False,
        link_sharpness=False,
        usage_gradient=True,
        **kwargs,
    ):
        # Internal to experiments.models: carry the memory state between steps as matrices ([B, M, N], [B, N],
        # [B, W * N, N], ..., see _matrix_shapes) instead of flat (the same numbers; Keras' symbolic state shapes
        # stay flat, so a model that returns the final state must not use it).
        self._matrix_states = bool(kwargs.pop("_matrix_states", False))
        super().__init__(
            controller_units, memory_size, memory_width, read_heads, write_heads,
            controller, memory_init, clip_value, output_units, controller_layers, **kwargs,
        )
        self.masked_content = check_bool("masked_content", masked_content)
        self.deallocation = check_bool("deallocation", deallocation)
        self.link_sharpness = check_bool("link_sharpness", link_sharpness)
        self.usage_gradient = check_bool("usage_gradient", usage_gradient)
        mask_size = memory_width if masked_content else 0
        # Per read head: key (M), strength, free gate, read modes (2W + 1), [mask (M)], [exponents (2W)].
        self._read_params = (memory_width + 2 + self.num_read_modes + mask_size
                             + (2 * write_heads if link_sharpness else 0))
        # Per write head: key (M), strength, erase (M), write vector (M), two gates, [mask (M)].
        self._write_params = 3 * memory_width + 3 + mask_size
        self._interface_size = read_heads * self._read_params + write_heads * self._write_params
        self._add_sublayers(self._interface_size)

        n, m, r, w = memory_size, memory_width, read_heads, write_heads
        self.state_size = self._flat_state_size([n * m, n, w * n * n, w * n, r * n, w * n, r * m])

    @property
    def num_read_modes(self):
        """``2 * write_heads + 1``: a backward and a forward mode per write head, and content."""
        return 2 * self.write_heads + 1

    # ------------------------------------------------------------------ state
    def get_initial_state(self, batch_size=None):
        """The state a sequence starts from, tiled over ``batch_size``.

        ``batch_size`` may be a Python int or a scalar tensor (dynamic batch).
        """
        n, r, w = self.memory_size, self.read_heads, self.write_heads

        def zeros(width):
            return ops.zeros((batch_size, width), dtype=self.compute_dtype)

        memory_state = [
            self._tiled_initial_memory(batch_size),
            zeros(n),  # usage
            zeros(w * n * n),  # link matrices
            zeros(w * n),  # precedence
            zeros(r * n),  # read weightings
            zeros(w * n),  # write weightings
            self._tiled_initial_read_vectors(batch_size),
        ]
        if self._matrix_states:
            memory_state = [ops.reshape(x, (-1,) + shape) for x, shape in zip(memory_state, self._matrix_shapes)]
        return self._initial_output_and_controller_state(batch_size) + memory_state

    @property
    def _memory_state_shapes(self):
        """Per-sequence shapes of the memory state entries, as :meth:`unpack_state` gives them."""
        n, m, r, w = self.memory_size, self.memory_width, self.read_heads, self.write_heads
        return (m, n), (n,), (w, n, n), (w, n), (r, n), (w, n), (r, m)

    @property
    def _matrix_shapes(self):
        """Per-sequence shapes of the memory state entries with ``_matrix_states``: those of :meth:`unpack_state`,
        except the link matrices, carried as ``[W * N, N]`` (one write head: exactly the ``[N, N]`` matrix that
        the link operations take)."""
        shapes = list(self._memory_state_shapes)
        w, n, _ = shapes[2]
        shapes[2] = (w * n, n)
        return tuple(shapes)

    def unpack_state(self, states):
        """Split a flat state list into named, shaped tensors.

        Returns:
            dict with ``output`` ``[B, output_size]`` (the previous step's output),
            ``controller`` (list of ``[B, controller_units]``), ``memory``
            ``[B, M, N]`` (one column per location), ``usage`` ``[B, N]``, ``link`` ``[B, W, N, N]``,
            ``precedence`` ``[B, W, N]``, ``read_weights`` ``[B, R, N]``,
            ``write_weights`` ``[B, W, N]`` and ``read_vectors`` ``[B, R, M]``.
        """
        output, controller_state, memory_state = self._split_state(states)
        names = ("memory", "usage", "link", "precedence", "read_weights", "write_weights", "read_vectors")
        shaped = {name: ops.reshape(x, (-1,) + shape)
                  for name, x, shape in zip(names, memory_state, self._memory_state_shapes)}
        return dict(output=output, controller=controller_state, **shaped)

    # ------------------------------------------------------------------ step
    def _interface(self, h):
        """Controller output ``[B, C]`` -> dict of activated interface values.

        Read-head values are ``[B, R, ...]``, write-head values ``[B, W, ...]``; gates and
        strengths keep a trailing axis of 1. With ``masked_content``, ``read_masks`` ``[B, R, M]``
        and ``write_masks`` ``[B, W, M]``; with ``link_sharpness``, ``forward_sharpness`` and
        ``backward_sharpness`` ``[B, R, W, 1]``.
        """
        m, w = self.memory_width, self.write_heads
        per_read, per_write = split_heads(
            clip(ops.cast(self.interface_layer(h), MEMORY_DTYPE), self.clip_value),
            [(self.read_heads, self._read_params), (self.write_heads, self._write_params)],
        )
        modes_end = m + 2 + self.num_read_modes
        interface = {
            "read_keys": per_read[:, :, :m],
            "read_strengths": oneplus(per_read[:, :, m : m + 1]),
            "free_gates": ops.sigmoid(per_read[:, :, m + 1 : m + 2]),
            "read_modes": ops.softmax(per_read[:, :, m + 2 : modes_end], axis=-1),
            "write_keys": per_write[:, :, :m],
            "write_strengths": oneplus(per_write[:, :, m : m + 1]),
            "erase": ops.sigmoid(per_write[:, :, m + 1 : 2 * m + 1]),
            "write_vectors": per_write[:, :, 2 * m + 1 : 3 * m + 1],
            "allocation_gates": ops.sigmoid(per_write[:, :, 3 * m + 1 : 3 * m + 2]),
            "write_gates": ops.sigmoid(per_write[:, :, 3 * m + 2 : 3 * m + 3]),
        }
        exponents_start = modes_end
        if self.masked_content:
            interface["read_masks"] = ops.sigmoid(per_read[:, :, modes_end : modes_end + m])
            interface["write_masks"] = ops.sigmoid(per_write[:, :, 3 * m + 3 : 4 * m + 3])
            exponents_start += m
        if self.link_sharpness:
            exponents = oneplus(per_read[:, :, exponents_start : exponents_start + 2 * w])[..., None]
            interface["forward_sharpness"] = exponents[:, :, :w]
            interface["backward_sharpness"] = exponents[:, :, w:]
        return interface

    def _content_weights(self, memory, interface, head):
        """Content weightings of the ``"read"`` or ``"write"`` heads in ``memory`` ``[B, M, N]``, masked
        with ``masked_content``."""
        keys, strengths = interface[f"{head}_keys"], interface[f"{head}_strengths"]
        if self.masked_content:
            return dnc_options.masked_content_weights(memory, keys, strengths, interface[f"{head}_masks"])
        return fast_dnc_addressing.fast_content_weights(memory, keys, strengths)

    def step(self, inputs, states, training=None):
        """One step with every intermediate: ``(output, new_states, details)``.

        ``details`` holds ``read_weights`` ``[B, R, N]``, ``write_weights`` ``[B, W, N]``,
        ``usage`` ``[B, N]`` (``u_t``: the last step's writes counted, this step's free
        gates applied, this step's writes not yet),
        ``allocation`` ``[B, W, N]``, ``erase`` and ``write_vectors`` ``[B, W, M]``,
        ``free_gates`` ``[B, R]``, ``allocation_gates`` and ``write_gates`` ``[B, W]``,
        ``read_modes`` ``[B, R, 2 W + 1]``, ``read_vectors`` ``[B, R, M]`` and the memory
        after this step's writes, ``memory`` ``[B, M, N]``; with ``masked_content`` also
        ``read_masks`` ``[B, R, M]`` and ``write_masks`` ``[B, W, M]``, with ``link_sharpness``
        ``forward_sharpness`` and ``backward_sharpness`` ``[B, R, W]``.
        """
        state = self.unpack_state(states)
        h, controller_state = self._run_controller(
            inputs, state["read_vectors"], state["controller"], training
        )
        interface = self._interface(h)
        for name in ("memory", "usage", "link", "precedence", "read_weights", "write_weights"):
            state[name] = ops.cast(state[name], MEMORY_DTYPE)

        # Dynamic memory allocation, then writing.
        retention = dnc_addressing.retention(interface["free_gates"], state["read_weights"])
        previous_writes = state["write_weights"]
        if not self.usage_gradient:
            previous_writes = ops.stop_gradient(previous_writes)
        usage = dnc_addressing.update_usage(state["usage"], previous_writes, retention)
        allocation = fast_dnc_addressing.fast_write_allocation_weights(
            usage, interface["allocation_gates"] * interface["write_gates"]
        )
        write_content = self._content_weights(state["memory"], interface, "write")
        write_weights = dnc_addressing.mix_write_weights(
            write_content, allocation, interface["allocation_gates"], interface["write_gates"]
        )
        memory = state["memory"]
        if self.deallocation:
            memory = dnc_options.deallocate(memory, retention)
        memory = fast_addressing.fast_write(memory, write_weights, interface["erase"], interface["write_vectors"])

        # Temporal links, then reading from the new memory.
        link, forward, backward = fast_dnc_addressing.fast_link_and_directional_weights(
            state["link"], state["precedence"], write_weights, state["read_weights"]
        )
        precedence = dnc_addressing.update_precedence(state["precedence"], write_weights)
        if self.link_sharpness:
            forward = dnc_options.sharpen_distribution(forward, interface["forward_sharpness"])
            backward = dnc_options.sharpen_distribution(backward, interface["backward_sharpness"])
        read_content = self._content_weights(memory, interface, "read")
        read_weights = dnc_addressing.mix_read_weights(
            read_content, forward, backward, interface["read_modes"]
        )
        read_vectors = fast_dnc_addressing.fast_read(memory, read_weights)

        output, _ = self._cell_output(h, read_vectors)
        # Each memory state keeps the shape it came in: [B, M * N] etc. ("flat") or [B, M, N] etc. ("matrix").
        _, _, previous = self._split_state(states)
        new_memory_state = (memory, usage, link, precedence, read_weights, write_weights, read_vectors)
        new_states = [output] + controller_state + [
            ops.cast(ops.reshape(x, (-1,) + tuple(p.shape[1:])), self.compute_dtype)
            for x, p in zip(new_memory_state, previous)
        ]
        details = {
            "read_weights": read_weights,
            "write_weights": write_weights,
            "usage": usage,
            "allocation": allocation,
            "erase": interface["erase"],
            "write_vectors": interface["write_vectors"],
            "free_gates": interface["free_gates"][:, :, 0],
            "allocation_gates": interface["allocation_gates"][:, :, 0],
            "write_gates": interface["write_gates"][:, :, 0],
            "read_modes": interface["read_modes"],
            "read_vectors": read_vectors,
            "memory": memory,
        }
        details.update({k: interface[k] for k in ("read_masks", "write_masks") if k in interface})
        details.update({k: interface[k][..., 0] for k in ("forward_sharpness", "backward_sharpness") if k in interface})
        return output, new_states, details

    def get_config(self):
        config = super().get_config()
        config.update(
            masked_content=self.masked_content,
            deallocation=self.deallocation,
            link_sharpness=self.link_sharpness,
            usage_gradient=self.usage_gradient,
        )
        if self._matrix_states:
            config["_matrix_states"] = True
        return config
