"""``NTMCell``: the Neural Turing Machine (Graves et al. 2014) as a Keras 3 RNN cell."""

import keras
import numpy as np
from keras import ops

from ntm_cell import addressing, fast_addressing
from ntm_cell.arguments import INITIAL_WEIGHTINGS, check_choice, check_int
from ntm_cell.initial_state import tile_batch
from ntm_cell.memory_cell import MEMORY_DTYPE, MemoryCell, clip, split_heads

#: Weight on row 0 of a "focused" initial weighting is e^F / (e^F + N - 1) with F = log(N) + FOCUS.
FOCUS = 4.0


def focused_logits(shape, dtype=None):
    """Initial weighting logits ``[heads, N]`` whose softmax puts ``N e^4 / (N e^4 + N - 1) > 0.98`` on row 0."""
    heads, rows = shape
    peak = ops.full((heads, 1), float(np.log(rows)) + FOCUS, dtype=dtype)
    return ops.concatenate([peak, ops.zeros((heads, rows - 1), dtype=dtype)], axis=1)


@keras.saving.register_keras_serializable(package="ntm_cell")
class NTMCell(MemoryCell):
    """A Neural Turing Machine step, for use inside ``keras.layers.RNN``.

    One step, with ``R`` read heads, ``W`` write heads, ``N x M`` memory:

    1. The controller (an LSTM or a feed-forward layer) reads ``[x_t ; r_{t-1}]``: the
       step's input and the ``R`` read vectors of the previous step.
    2. One linear layer maps the controller output ``h_t`` to every head's interface,
       clipped to ``+-clip_value``: per head a key (tanh, ``M``), a strength (softplus), an
       interpolation gate (sigmoid), a shift distribution (softmax over
       ``2 * shift_range + 1`` offsets) and a sharpening exponent (1 + softplus); per write
       head also an erase vector (sigmoid, ``M``) and an add vector (tanh, ``M``).
    3. All heads, read heads first, then write heads, address the memory ``M_{t-1}`` left
       by the previous step (content, interpolation, shift, sharpening; see
       :mod:`ntm_cell.addressing`).
    4. **Reads happen before writes**: the read vectors ``r_t`` are read from ``M_{t-1}``,
       so a step never reads what it writes itself.
    5. The write heads then erase and add, one after another in head order, giving
       ``M_t``.
    6. The output is ``[h_t ; r_t]`` (``controller_units + R * M`` values), or, with
       ``output_units``, a linear projection of it clipped to ``+-clip_value``.

    Initial state: controller state zeros; initial read vectors ``tanh(learned)`` and
    head weightings ``softmax(learned)`` are always trainable weights; the initial
    memory follows ``memory_init`` (see :mod:`ntm_cell.initial_state`): ``"learned"``
    (trainable), ``"constant"`` (1e-6, frozen) or ``"random"`` (drawn once, frozen).
    ``initial_weighting`` sets where the learned head weightings start: ``"focused"``
    (default) puts about 0.98 of every head's weight on row 0, ``"uniform"`` spreads it
    evenly. A uniform weighting is a fixed point of shifting and sharpening (both leave
    it uniform and get no gradient from it), so location-based addressing starts with
    nothing to learn from. docs/results.md compares the two on the copy task.

    State layout: a flat list of rank-2 tensors (flat so that ``return_state=True``
    works in functional models):

    ============  ===============================  ===============================
    index         shape                            meaning
    ============  ===============================  ===============================
    0             ``[B, output_size]``             the previous step's output
    (LSTM only)   ``[B, controller_units]`` x 2L   ``h`` and ``c`` of each of the L layers
    next          ``[B, M * N]``                   memory, one column per location
    next          ``[B, R * M]``                   read vectors of the last step
    last          ``[B, (R + W) * N]``             head weightings, read heads first
    ============  ===============================  ===============================

    The previous output comes first because Keras' JAX and torch backends, on a masked
    step, repeat ``states[0]`` as that step's output.

    Use :meth:`unpack_state` to get them back as ``[B, M, N]``, ``[B, R, M]`` and
    ``[B, R + W, N]`` tensors, and :meth:`trace` to record every head's addressing at
    every time step.

    Example:

    ```python
    cell = NTMCell(controller_units=100, memory_size=128, memory_width=20, output_units=8)
    model = keras.Sequential([keras.Input((None, 9)), keras.layers.RNN(cell, return_sequences=True)])
    ```

    Args:
        shift_range: largest allowed shift; the heads choose among
            ``2 * shift_range + 1`` shifts.
        initial_weighting: ``"focused"`` or ``"uniform"``: the starting value of the learned
            initial head weightings.
        (the others): as in :class:`~ntm_cell.memory_cell.MemoryCell`: ``controller_units``,
            ``memory_size``, ``memory_width``, ``read_heads``, ``write_heads``, ``controller``,
            ``memory_init``, ``clip_value``, ``output_units``, ``controller_layers``
            (Graves 2014 used 2 LSTM layers of 100 for priority sort) and ``**kwargs``.

    Calling it: as :class:`~ntm_cell.memory_cell.MemoryCell`, with the state list described above.
    """

    def __init__(
        self,
        controller_units=100,
        memory_size=128,
        memory_width=20,
        read_heads=1,
        write_heads=1,
        shift_range=1,
        controller="lstm",
        memory_init="learned",
        clip_value=20.0,
        output_units=None,
        initial_weighting="focused",
        controller_layers=1,
        **kwargs,
    ):
        # Internal to experiments.models: carry memory, read vectors and weightings between steps as
        # [B, M, N], [B, R, M], [B, R + W, N] (the same numbers; Keras' symbolic state shapes stay flat, so a
        # model that returns the final state must not use it).
        self._matrix_states = bool(kwargs.pop("_matrix_states", False))
        super().__init__(
            controller_units, memory_size, memory_width, read_heads, write_heads,
            controller, memory_init, clip_value, output_units, controller_layers, **kwargs,
        )
        check_int("shift_range", shift_range, 0)
        if 2 * shift_range + 1 > memory_size:
            raise ValueError(
                f"`shift_range` {shift_range} allows {2 * shift_range + 1} shifts, more than "
                f"`memory_size` {memory_size} rows"
            )
        self.shift_range = shift_range
        check_choice("initial_weighting", initial_weighting, INITIAL_WEIGHTINGS)
        self.initial_weighting = initial_weighting

        heads = read_heads + write_heads
        num_shifts = 2 * shift_range + 1
        # Per head: key (M), strength, gate, shifts (S), gamma; per write head: erase, add.
        self._head_params = memory_width + num_shifts + 3
        self._interface_size = heads * self._head_params + write_heads * 2 * memory_width
        self._add_sublayers(self._interface_size)
        self.state_size = self._flat_state_size(
            [memory_size * memory_width, read_heads * memory_width, heads * memory_size]
        )

    def build(self, input_shape):
        super().build(input_shape)
        self.initial_weighting_logits = self.add_weight(
            name="initial_weighting_logits",
            shape=(self.read_heads + self.write_heads, self.memory_size),
            initializer=(
                focused_logits if self.initial_weighting == "focused"
                else keras.initializers.RandomNormal(stddev=1e-3)
            ),
        )

    # ------------------------------------------------------------------ state
    def get_initial_state(self, batch_size=None):
        """The state a sequence starts from, tiled over ``batch_size``.

        ``batch_size`` may be a Python int or a scalar tensor (dynamic batch).
        """
        weights = ops.softmax(self.initial_weighting_logits, axis=-1)
        memory_state = [
            self._tiled_initial_memory(batch_size),
            self._tiled_initial_read_vectors(batch_size),
            tile_batch(ops.cast(weights, self.compute_dtype), batch_size),
        ]
        if self._matrix_states:
            memory_state = [ops.reshape(x, (-1,) + shape) for x, shape in zip(memory_state, self._matrix_shapes)]
        return self._initial_output_and_controller_state(batch_size) + memory_state

    @property
    def _matrix_shapes(self):
        """Per-sequence shapes of memory, read vectors and weightings: ``(M, N)``, ``(R, M)``, ``(R + W, N)``."""
        heads = self.read_heads + self.write_heads
        return (
            (self.memory_width, self.memory_size),
            (self.read_heads, self.memory_width),
            (heads, self.memory_size),
        )

    def unpack_state(self, states):
        """Split a flat state list into named, shaped tensors.

        Returns:
            dict with ``output`` ``[B, output_size]`` (the previous step's output),
            ``controller`` (list of ``[B, controller_units]``), ``memory``
            ``[B, M, N]`` (one column per location, see :mod:`ntm_cell.addressing`), ``read_vectors`` ``[B, R, M]`` and ``weights``
            ``[B, R + W, N]`` (read heads first).
        """
        output, controller_state, memory_state = self._split_state(states)
        memory, reads, weights = (ops.reshape(x, (-1,) + shape) for x, shape in zip(memory_state, self._matrix_shapes))
        return {"output": output, "controller": controller_state, "memory": memory, "read_vectors": reads, "weights": weights}

    # ------------------------------------------------------------------ step
    def _head_interface(self, h):
        """Controller output ``[B, C]`` -> dict of activated head parameters (float32)."""
        heads = self.read_heads + self.write_heads
        width = self.memory_width
        num_shifts = 2 * self.shift_range + 1
        per_head, per_write = split_heads(
            clip(ops.cast(self.interface_layer(h), MEMORY_DTYPE), self.clip_value),
            [(heads, self._head_params), (self.write_heads, 2 * width)],
        )
        return {
            "keys": ops.tanh(per_head[:, :, :width]),
            "strengths": ops.softplus(per_head[:, :, width : width + 1]),
            "gates": ops.sigmoid(per_head[:, :, width + 1 : width + 2]),
            "shifts": ops.softmax(per_head[:, :, width + 2 : width + 2 + num_shifts], axis=-1),
            "gammas": 1.0 + ops.softplus(per_head[:, :, width + 2 + num_shifts :]),
            "erase": ops.sigmoid(per_write[:, :, :width]),
            "add": ops.tanh(per_write[:, :, width:]),
        }

    def step(self, inputs, states, training=None):
        """One step with every intermediate: ``(output, new_states, details)``.

        ``details`` holds ``read_weights`` ``[B, R, N]``, ``write_weights`` ``[B, W, N]``,
        ``erase`` and ``add`` ``[B, W, M]``, ``read_vectors`` ``[B, R, M]`` and the
        memory after this step's writes, ``memory`` ``[B, M, N]``.
        """
        state = self.unpack_state(states)
        h, controller_state = self._run_controller(
            inputs, state["read_vectors"], state["controller"], training
        )
        head = self._head_interface(h)
        memory = ops.cast(state["memory"], MEMORY_DTYPE)
        weights = fast_addressing.fast_address(
            memory,
            ops.cast(state["weights"], MEMORY_DTYPE),
            head["keys"],
            head["strengths"],
            head["gates"],
            head["shifts"],
            head["gammas"],
        )
        read_weights = weights[:, : self.read_heads]
        write_weights = weights[:, self.read_heads :]
        read_vectors = addressing.read(memory, read_weights)
        new_memory = fast_addressing.fast_write(memory, write_weights, head["erase"], head["add"])

        output, _ = self._cell_output(h, read_vectors)
        # Each memory state keeps the shape it came in: [B, M * N] etc. ("flat") or [B, M, N] etc. ("matrix").
        _, _, previous = self._split_state(states)
        new_states = [output] + controller_state + [
            ops.cast(ops.reshape(x, (-1,) + tuple(p.shape[1:])), self.compute_dtype)
            for x, p in zip((new_memory, read_vectors, weights), previous)
        ]
        details = {
            "read_weights": read_weights,
            "write_weights": write_weights,
            "erase": head["erase"],
            "add": head["add"],
            "read_vectors": read_vectors,
            "memory": new_memory,
        }
        return output, new_states, details

    def get_config(self):
        config = super().get_config()
        config.update(
            shift_range=self.shift_range,
            initial_weighting=self.initial_weighting,
        )
        if self._matrix_states:
            config["_matrix_states"] = True
        return config
