"""``MemoryCell``: what ``NTMCell`` and ``DNCCell`` share, as a base Keras layer.

Both cells wrap the same frame around their own memory addressing:

1. The controller (an LSTM or a feed-forward layer, or ``controller_layers`` of them stacked)
   reads ``[x_t ; r_{t-1}]``: the step's input and the ``R`` read vectors of the previous step
   (:meth:`MemoryCell._run_controller`); ``h_t`` is the top layer's output.
2. One linear layer (``interface_layer``) maps the controller output ``h_t`` to the
   interface values, clipped to ``+-clip_value``; :func:`split_heads` cuts it per head.
3. The subclass addresses, reads and writes its memory.
4. The output is ``[h_t ; r_t]`` (``controller_units + R * M`` values), or, with
   ``output_units``, a linear projection of it clipped to ``+-clip_value``
   (:meth:`MemoryCell._cell_output`).

The flat state list always starts with the previous step's output and the controller
state (``h`` and ``c`` of each LSTM layer, bottom layer first, nothing for the dense
controller); the subclass's
memory state follows (:meth:`MemoryCell._flat_state_size`, :meth:`MemoryCell._split_state`).

Mixed precision (a ``dtype`` policy such as ``"mixed_float16"``): the controller, interface and output layers
compute in the policy's compute dtype, and the states are carried in it, as Keras' own cells do; the memory
side (the interface values after the interface layer, addressing, reading, writing) computes in float32
(:data:`MEMORY_DTYPE`): its ``1e-8`` guards under square roots and logarithms are 0 in float16, and its
softmaxes over memory rows lose their small weights.

A subclass calls ``super().__init__`` with the shared arguments, checks its own, then
calls :meth:`MemoryCell._add_sublayers` with its interface width and sets
``self.state_size``; it implements ``get_initial_state``, ``unpack_state`` and
``step(inputs, states, training) -> (output, new_states, details)``.
"""

import keras
import numpy as np
from keras import ops

from ntm_cell.arguments import (
    CONTROLLERS,
    MEMORY_INITS,
    check_choice,
    check_clip_value,
    check_int,
    check_step_input_shape,
)
from ntm_cell.initial_state import add_memory_weight, initial_memory, tile_batch

#: The dtype of the memory side of the step under every dtype policy (see the module docstring).
MEMORY_DTYPE = "float32"


def clip(x, clip_value):
    """Clip to ``[-clip_value, clip_value]``; ``clip_value=None`` leaves ``x`` unchanged."""
    return x if clip_value is None else ops.clip(x, -clip_value, clip_value)


def split_heads(interface, groups):
    """Cut a flat interface vector into per-head blocks, one block per group.

    Args:
        interface: ``[B, sum(heads * width for heads, width in groups)]``.
        groups: ``(heads, width)`` pairs, in the order their values stand in ``interface``.

    Returns:
        list with one ``[B, heads, width]`` tensor per group.
    """
    blocks, start = [], 0
    for heads, width in groups:
        end = start + heads * width
        blocks.append(ops.reshape(interface[:, start:end], (-1, heads, width)))
        start = end
    return blocks


def make_controller(controller, units, name="controller", dtype=None):
    """One controller layer, an ``LSTMCell`` (forget bias 1) or a tanh ``Dense`` layer, under dtype policy
    ``dtype``."""
    if controller == "lstm":
        return keras.layers.LSTMCell(units, unit_forget_bias=True, name=name, dtype=dtype)
    return keras.layers.Dense(units, activation="tanh", name=name, dtype=dtype)


class MemoryCell(keras.layers.Layer):
    """Base of the external-memory RNN cells: controller, interface and output layers.

    Not a cell on its own (see the module docstring for what a subclass adds). The
    constructor checks and stores the arguments both cells take; a bad one raises
    ``ValueError`` naming it.

    Args (shared by :class:`~ntm_cell.NTMCell` and :class:`~ntm_cell.DNCCell`):
        controller_units: width of the controller.
        memory_size: number of memory rows ``N``.
        memory_width: width of a memory row ``M``.
        read_heads: number of read heads ``R`` (>= 1).
        write_heads: number of write heads ``W`` (>= 1), applied in order.
        controller: ``"lstm"`` or ``"dense"`` (feed-forward, tanh).
        memory_init: ``"learned"``, ``"constant"`` or ``"random"`` (:mod:`ntm_cell.initial_state`).
        clip_value: interface and output values are clipped to this (``None``: no clip).
        output_units: ``None`` or the width of a clipped linear output layer.
        controller_layers: how many controller layers of ``controller_units`` are stacked.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``[B, input_size]`` one time step.
        states: the flat state list of the subclass (see its docstring).

    Returns:
        ``(output, new_states)`` with ``output`` ``[B, output_size]``.
    """

    def __init__(
        self,
        controller_units,
        memory_size,
        memory_width,
        read_heads,
        write_heads,
        controller,
        memory_init,
        clip_value,
        output_units,
        controller_layers=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("controller_units", controller_units, 1)
        check_int("memory_size", memory_size, 1)
        check_int("memory_width", memory_width, 1)
        check_int("read_heads", read_heads, 1)
        check_int("write_heads", write_heads, 1)
        check_choice("controller", controller, CONTROLLERS)
        check_int("controller_layers", controller_layers, 1)
        check_choice("memory_init", memory_init, MEMORY_INITS)
        check_clip_value(clip_value)
        if output_units is not None:
            check_int("output_units", output_units, 1)
        self.controller_units = controller_units
        self.memory_size = memory_size
        self.memory_width = memory_width
        self.read_heads = read_heads
        self.write_heads = write_heads
        self.controller = controller
        self.controller_layers = controller_layers
        self.memory_init = memory_init
        self.clip_value = None if clip_value is None else float(clip_value)
        self.output_units = output_units
        self.output_size = (
            output_units if output_units is not None else controller_units + read_heads * memory_width
        )

    def _add_sublayers(self, interface_size):
        """Create ``controller_layer`` (the bottom controller layer), ``upper_controller_layers``
        (the ``controller_layers - 1`` above it), ``interface_layer`` (``interface_size`` wide) and
        ``output_layer`` (``None`` without ``output_units``), in that order: the order of
        ``weights`` (and so of ``get_weights()``) follows it."""
        policy = self.dtype_policy  # the sublayers compute in the cell's dtype policy
        self.controller_layer = make_controller(self.controller, self.controller_units, dtype=policy)
        # One attribute per layer, not a list: TensorFlow checkpoints track layers held in attributes, and a
        # list held by a Keras layer is not followed by tf.train.Checkpoint.
        for layer in range(1, self.controller_layers):
            setattr(self, f"controller_layer_{layer}",
                    make_controller(self.controller, self.controller_units, name=f"controller_{layer}",
                                    dtype=policy))
        self.interface_layer = keras.layers.Dense(interface_size, name="interface", dtype=policy)
        self.output_layer = (
            keras.layers.Dense(self.output_units, name="output_projection", dtype=policy)
            if self.output_units is not None
            else None
        )

    @property
    def upper_controller_layers(self):
        """The controller layers above ``controller_layer``, bottom first."""
        return [getattr(self, f"controller_layer_{layer}") for layer in range(1, self.controller_layers)]

    @property
    def _num_controller_states(self):
        return 2 * self.controller_layers if self.controller == "lstm" else 0

    @property
    def _reads_size(self):
        """``R * M``: the width of the flattened read vectors."""
        return self.read_heads * self.memory_width

    def build(self, input_shape):
        """Build the sublayers and add the initial memory and read-vector weights.

        A subclass that needs more weights adds them after calling this.
        """
        input_size = check_step_input_shape(type(self).__name__, input_shape)
        batch = input_shape[0]
        self.controller_layer.build((batch, input_size + self._reads_size))
        for layer in self.upper_controller_layers:
            layer.build((batch, self.controller_units))
        self.interface_layer.build((batch, self.controller_units))
        if self.output_layer is not None:
            self.output_layer.build((batch, self.controller_units + self._reads_size))
        self.initial_memory_weight = add_memory_weight(
            self, self.memory_init, self.memory_size, self.memory_width
        )
        self.initial_read_weight = self.add_weight(
            name="initial_read_vectors",
            shape=(self.read_heads, self.memory_width),
            initializer=keras.initializers.RandomNormal(stddev=0.5),
        )

    # ------------------------------------------------------------------ state
    def _flat_state_size(self, memory_state_size):
        """``state_size``: previous output, controller state, then ``memory_state_size``."""
        controller_state = [self.controller_units] * self._num_controller_states
        return [self.output_size] + controller_state + list(memory_state_size)

    def _split_state(self, states):
        """``states`` -> ``(previous_output [B, output_size], controller_state, memory_state)``:
        the controller state as a list of ``[B, controller_units]``, the rest as a list."""
        k = 1 + self._num_controller_states
        return states[0], list(states[1:k]), list(states[k:])

    def _initial_output_and_controller_state(self, batch_size):
        """Zeros for the first entries of the state: ``[B, output_size]`` then the
        controller's ``[B, controller_units]`` tensors."""
        dtype = self.compute_dtype
        previous_output = ops.zeros((batch_size, self.output_size), dtype=dtype)
        controller_state = [
            ops.zeros((batch_size, self.controller_units), dtype=dtype)
            for _ in range(self._num_controller_states)
        ]
        return [previous_output] + controller_state

    def _tiled_initial_memory(self, batch_size):
        """``[B, M * N]``: the initial memory (see :mod:`ntm_cell.initial_state`), one column per location."""
        dtype = self.compute_dtype
        memory = initial_memory(
            self.initial_memory_weight, self.memory_size, self.memory_width, dtype
        )
        return tile_batch(ops.cast(ops.transpose(memory), dtype), batch_size)

    def _tiled_initial_read_vectors(self, batch_size):
        """``[B, R * M]``: ``tanh`` of the learned initial read vectors."""
        reads = ops.tanh(self.initial_read_weight)
        return tile_batch(ops.cast(reads, self.compute_dtype), batch_size)

    # ------------------------------------------------------------------ step
    def _run_controller(self, inputs, previous_read_vectors, controller_state, training=None):
        """One controller step on ``[x_t ; r_{t-1}]``.

        Args:
            inputs: ``[B, input_size]``.
            previous_read_vectors: ``[B, R, M]``.
            controller_state: list of ``[B, controller_units]``: ``h`` and ``c`` of each LSTM
                layer, bottom first (empty for ``"dense"``).

        Returns:
            ``(h, new_controller_state)``: the top layer's ``[B, controller_units]`` output and
            a list like ``controller_state``.
        """
        flat_reads = ops.reshape(previous_read_vectors, (-1, self._reads_size))
        h = ops.concatenate([inputs, flat_reads], axis=-1)
        layers = [self.controller_layer] + self.upper_controller_layers
        if self.controller != "lstm":
            for layer in layers:
                h = layer(h)
            return h, []
        new_controller_state = []
        for k, layer in enumerate(layers):
            h, new_state = layer(h, controller_state[2 * k : 2 * k + 2], training=training)
            new_controller_state += list(new_state)
        return h, new_controller_state

    def _cell_output(self, h, read_vectors):
        """``(output [B, output_size], flat_reads [B, R * M])`` from ``h`` ``[B, C]`` and
        ``read_vectors`` ``[B, R, M]``: ``[h ; r]``, projected and clipped with ``output_units``, in the compute
        dtype."""
        flat_reads = ops.cast(ops.reshape(read_vectors, (-1, self._reads_size)), self.compute_dtype)
        output = ops.concatenate([h, flat_reads], axis=-1)
        if self.output_layer is not None:
            output = clip(self.output_layer(output), self.clip_value)
        return output, flat_reads

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
            ``[B, T, output_size]`` and every entry of the subclass's ``step`` details,
            e.g. ``read_weights`` ``[B, T, R, N]``, ``write_weights`` ``[B, T, W, N]``,
            ``read_vectors`` ``[B, T, R, M]`` and ``memory`` ``[B, T, M, N]`` (after each
            step's writes).
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
            controller=self.controller,
            controller_layers=self.controller_layers,
            memory_init=self.memory_init,
            clip_value=self.clip_value,
            output_units=self.output_units,
        )
        return config
