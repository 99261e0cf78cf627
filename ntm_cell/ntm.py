"""``NTMCell``: the Neural Turing Machine (Graves et al. 2014) as a Keras 3 RNN cell."""

import keras
import numpy as np
from keras import ops

from ntm_cell import addressing
from ntm_cell.initial_state import (
    MEMORY_INITS,
    add_memory_weight,
    check_choice,
    check_clip_value,
    check_int,
    check_step_input_shape,
    initial_memory,
    tile_batch,
)

CONTROLLERS = ("lstm", "dense")


def clip(x, clip_value):
    """Clip to ``[-clip_value, clip_value]``; ``clip_value=None`` leaves ``x`` unchanged."""
    return x if clip_value is None else ops.clip(x, -clip_value, clip_value)


@keras.saving.register_keras_serializable(package="ntm_cell")
class NTMCell(keras.layers.Layer):
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

    State layout: a flat list of rank-2 tensors (flat so that ``return_state=True``
    works in functional models):

    ============  ===============================  ===============================
    index         shape                            meaning
    ============  ===============================  ===============================
    0             ``[B, output_size]``             the previous step's output
    (LSTM only)   ``[B, controller_units]`` x 2    controller ``h`` and ``c``
    next          ``[B, N * M]``                   memory, row-major
    next          ``[B, R * M]``                   read vectors of the last step
    last          ``[B, (R + W) * N]``             head weightings, read heads first
    ============  ===============================  ===============================

    The previous output comes first because Keras' JAX and torch backends, on a masked
    step, repeat ``states[0]`` as that step's output.

    Use :meth:`unpack_state` to get them back as ``[B, N, M]``, ``[B, R, M]`` and
    ``[B, R + W, N]`` tensors, and :meth:`trace` to record every head's addressing at
    every time step.

    Example:

    ```python
    cell = NTMCell(controller_units=100, memory_size=128, memory_width=20, output_units=8)
    model = keras.Sequential([keras.Input((None, 9)), keras.layers.RNN(cell, return_sequences=True)])
    ```

    Args:
        controller_units: width of the controller.
        memory_size: number of memory rows ``N``.
        memory_width: width of a memory row ``M``.
        read_heads: number of read heads ``R`` (>= 1).
        write_heads: number of write heads ``W`` (>= 1), applied in order.
        shift_range: largest allowed shift; the heads choose among
            ``2 * shift_range + 1`` shifts.
        controller: ``"lstm"`` or ``"dense"`` (feed-forward, tanh).
        memory_init: ``"learned"``, ``"constant"`` or ``"random"``.
        clip_value: interface and output values are clipped to this (``None``: no clip).
        output_units: ``None`` or the width of a clipped linear output layer.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``[B, input_size]`` one time step.
        states: the list described above.

    Returns:
        ``(output, new_states)`` with ``output`` ``[B, output_size]``.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("controller_units", controller_units, 1)
        check_int("memory_size", memory_size, 1)
        check_int("memory_width", memory_width, 1)
        check_int("read_heads", read_heads, 1)
        check_int("write_heads", write_heads, 1)
        check_int("shift_range", shift_range, 0)
        check_choice("controller", controller, CONTROLLERS)
        check_choice("memory_init", memory_init, MEMORY_INITS)
        check_clip_value(clip_value)
        if output_units is not None:
            check_int("output_units", output_units, 1)
        if 2 * shift_range + 1 > memory_size:
            raise ValueError(
                f"`shift_range` {shift_range} allows {2 * shift_range + 1} shifts, more than "
                f"`memory_size` {memory_size} rows"
            )
        self.controller_units = controller_units
        self.memory_size = memory_size
        self.memory_width = memory_width
        self.read_heads = read_heads
        self.write_heads = write_heads
        self.shift_range = shift_range
        self.controller = controller
        self.memory_init = memory_init
        self.clip_value = None if clip_value is None else float(clip_value)
        self.output_units = output_units

        heads = read_heads + write_heads
        num_shifts = 2 * shift_range + 1
        # Per head: key (M), strength, gate, shifts (S), gamma; per write head: erase, add.
        self._head_params = memory_width + num_shifts + 3
        self._interface_size = heads * self._head_params + write_heads * 2 * memory_width

        if controller == "lstm":
            self.controller_layer = keras.layers.LSTMCell(
                controller_units, unit_forget_bias=True, name="controller"
            )
        else:
            self.controller_layer = keras.layers.Dense(
                controller_units, activation="tanh", name="controller"
            )
        self.interface_layer = keras.layers.Dense(self._interface_size, name="interface")
        self.output_layer = (
            keras.layers.Dense(output_units, name="output_projection")
            if output_units is not None
            else None
        )

        self.output_size = (
            output_units
            if output_units is not None
            else controller_units + read_heads * memory_width
        )
        controller_state = [controller_units, controller_units] if controller == "lstm" else []
        self.state_size = [self.output_size] + controller_state + [
            memory_size * memory_width,
            read_heads * memory_width,
            heads * memory_size,
        ]

    @property
    def _num_controller_states(self):
        return 2 if self.controller == "lstm" else 0

    def build(self, input_shape):
        input_size = check_step_input_shape(type(self).__name__, input_shape)
        batch = input_shape[0]
        reads_size = self.read_heads * self.memory_width
        self.controller_layer.build((batch, input_size + reads_size))
        self.interface_layer.build((batch, self.controller_units))
        if self.output_layer is not None:
            self.output_layer.build((batch, self.controller_units + reads_size))
        self.initial_memory_weight = add_memory_weight(
            self, self.memory_init, self.memory_size, self.memory_width
        )
        self.initial_read_weight = self.add_weight(
            name="initial_read_vectors",
            shape=(self.read_heads, self.memory_width),
            initializer=keras.initializers.RandomNormal(stddev=0.5),
        )
        self.initial_weighting_logits = self.add_weight(
            name="initial_weighting_logits",
            shape=(self.read_heads + self.write_heads, self.memory_size),
            initializer=keras.initializers.RandomNormal(stddev=1e-3),
        )
        self.built = True

    # ------------------------------------------------------------------ state
    def get_initial_state(self, batch_size=None):
        """The state a sequence starts from, tiled over ``batch_size``.

        ``batch_size`` may be a Python int or a scalar tensor (dynamic batch).
        """
        dtype = self.compute_dtype
        previous_output = ops.zeros((batch_size, self.output_size), dtype=dtype)
        controller_state = [
            ops.zeros((batch_size, self.controller_units), dtype=dtype)
            for _ in range(self._num_controller_states)
        ]
        memory = initial_memory(
            self.initial_memory_weight, self.memory_size, self.memory_width, dtype
        )
        reads = ops.tanh(self.initial_read_weight)
        weights = ops.softmax(self.initial_weighting_logits, axis=-1)
        return [previous_output] + controller_state + [
            tile_batch(ops.cast(memory, dtype), batch_size),
            tile_batch(ops.cast(reads, dtype), batch_size),
            tile_batch(ops.cast(weights, dtype), batch_size),
        ]

    def unpack_state(self, states):
        """Split a flat state list into named, shaped tensors.

        Returns:
            dict with ``output`` ``[B, output_size]`` (the previous step's output),
            ``controller`` (list of ``[B, controller_units]``), ``memory``
            ``[B, N, M]``, ``read_vectors`` ``[B, R, M]`` and ``weights``
            ``[B, R + W, N]`` (read heads first).
        """
        n = 1 + self._num_controller_states
        memory, reads, weights = states[n:]
        return {
            "output": states[0],
            "controller": list(states[1:n]),
            "memory": ops.reshape(memory, (-1, self.memory_size, self.memory_width)),
            "read_vectors": ops.reshape(reads, (-1, self.read_heads, self.memory_width)),
            "weights": ops.reshape(
                weights, (-1, self.read_heads + self.write_heads, self.memory_size)
            ),
        }

    # ------------------------------------------------------------------ step
    def _run_controller(self, controller_input, controller_state, training):
        if self.controller == "lstm":
            h, new_state = self.controller_layer(
                controller_input, controller_state, training=training
            )
            return h, list(new_state)
        return self.controller_layer(controller_input), []

    def _head_interface(self, h):
        """Controller output ``[B, C]`` -> dict of activated head parameters."""
        heads = self.read_heads + self.write_heads
        width = self.memory_width
        num_shifts = 2 * self.shift_range + 1
        interface = clip(self.interface_layer(h), self.clip_value)
        split = heads * self._head_params
        per_head = ops.reshape(interface[:, :split], (-1, heads, self._head_params))
        per_write = ops.reshape(interface[:, split:], (-1, self.write_heads, 2 * width))
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
        memory after this step's writes, ``memory`` ``[B, N, M]``.
        """
        state = self.unpack_state(states)
        heads = self.read_heads + self.write_heads
        reads_size = self.read_heads * self.memory_width
        previous_reads = ops.reshape(state["read_vectors"], (-1, reads_size))
        h, controller_state = self._run_controller(
            ops.concatenate([inputs, previous_reads], axis=-1), state["controller"], training
        )
        head = self._head_interface(h)
        memory = state["memory"]
        weights = addressing.address(
            memory,
            state["weights"],
            head["keys"],
            head["strengths"],
            head["gates"],
            head["shifts"],
            head["gammas"],
        )
        read_weights = weights[:, : self.read_heads]
        write_weights = weights[:, self.read_heads :]
        read_vectors = addressing.read(memory, read_weights)
        new_memory = addressing.write(memory, write_weights, head["erase"], head["add"])

        flat_reads = ops.reshape(read_vectors, (-1, reads_size))
        output = ops.concatenate([h, flat_reads], axis=-1)
        if self.output_layer is not None:
            output = clip(self.output_layer(output), self.clip_value)
        new_states = [output] + controller_state + [
            ops.reshape(new_memory, (-1, self.memory_size * self.memory_width)),
            flat_reads,
            ops.reshape(weights, (-1, heads * self.memory_size)),
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

    def call(self, inputs, states, training=None):
        output, new_states, _ = self.step(inputs, states, training=training)
        return output, new_states

    def trace(self, inputs, initial_state=None):
        """Run the cell over whole sequences and record what every head did.

        This reads the trained weights and changes nothing: use it on a trained model's
        cell, e.g. ``model.get_layer("ntm").cell.trace(x)``. It runs eagerly, one step at
        a time, so it is meant for inspection and plots, not for training.

        Args:
            inputs: ``[B, T, input_size]`` array or tensor (what the RNN layer receives).
            initial_state: optional state list; default :meth:`get_initial_state`.

        Returns:
            dict of NumPy arrays with a time axis after the batch axis: ``outputs``
            ``[B, T, output_size]``, ``read_weights`` ``[B, T, R, N]``, ``write_weights``
            ``[B, T, W, N]``, ``erase`` and ``add`` ``[B, T, W, M]``, ``read_vectors``
            ``[B, T, R, M]``, ``memory`` ``[B, T, N, M]`` (after each step's writes).
        """
        inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        if len(inputs.shape) != 3:
            raise ValueError(
                f"`inputs` of trace() must have shape [batch, time, features]; got {inputs.shape}"
            )
        if not self.built:
            self.build((inputs.shape[0], inputs.shape[2]))
        states = initial_state or self.get_initial_state(batch_size=inputs.shape[0])
        records = {}
        for t in range(inputs.shape[1]):
            output, states, details = self.step(inputs[:, t], states)
            details = dict(details, outputs=output)
            for key, value in details.items():
                records.setdefault(key, []).append(ops.convert_to_numpy(value))
        return {key: np.stack(values, axis=1) for key, values in records.items()}

    def get_config(self):
        config = super().get_config()
        config.update(
            controller_units=self.controller_units,
            memory_size=self.memory_size,
            memory_width=self.memory_width,
            read_heads=self.read_heads,
            write_heads=self.write_heads,
            shift_range=self.shift_range,
            controller=self.controller,
            memory_init=self.memory_init,
            clip_value=self.clip_value,
            output_units=self.output_units,
        )
        return config
