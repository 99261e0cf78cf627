"""How an external-memory cell starts a sequence: shared by ``NTMCell`` and ``DNCCell``.

Three schemes (:data:`ntm_cell.arguments.MEMORY_INITS`) for the initial memory, after Collier & Beel (2018), "Implementing Neural
Turing Machines":

- ``"learned"``: the memory is ``tanh`` of a trainable ``[N, M]`` matrix, learned by
  backpropagation like any other weight.
- ``"constant"``: every memory entry is ``1e-6``; nothing about it is trainable.
- ``"random"``: ``tanh`` of a ``[N, M]`` matrix drawn once from ``N(0, 0.5)`` when the cell
  is built, then frozen (a non-trainable weight, saved with the model, so a saved model
  reproduces its outputs exactly).

Whatever the memory scheme, the cells learn their initial read vectors and head weightings
(trainable weights, as in the 2018 code); controller states start at zero.
"""

from keras import initializers, ops

#: The value every memory entry starts at under ``memory_init="constant"``.
CONSTANT_MEMORY_VALUE = 1e-6


def add_memory_weight(layer, memory_init, memory_size, memory_width):
    """Create the weight (if any) that holds the initial memory; call from ``build``.

    Returns:
        the ``[N, M]`` weight, or ``None`` for ``"constant"``.
    """
    if memory_init == "constant":
        return None
    return layer.add_weight(
        name="initial_memory",
        shape=(memory_size, memory_width),
        initializer=initializers.RandomNormal(stddev=0.5),
        trainable=memory_init == "learned",
    )


def initial_memory(weight, memory_size, memory_width, dtype):
    """``[N, M]`` initial memory from the weight made by :func:`add_memory_weight`."""
    if weight is None:
        return ops.full((memory_size, memory_width), CONSTANT_MEMORY_VALUE, dtype=dtype)
    return ops.tanh(weight)


def tile_batch(value, batch_size):
    """Flatten ``value`` and repeat it over the batch: ``[...] -> [batch_size, prod(...)]``.

    ``batch_size`` may be a Python int or a scalar tensor (a dynamic batch in a graph).
    """
    flat = ops.reshape(value, (1, -1))
    return ops.tile(flat, (batch_size, 1))
