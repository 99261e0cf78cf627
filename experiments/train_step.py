"""The compiled training and evaluation steps: XLA, weights read once per call, batch parts, signature cache.

:func:`make_train_step` is what ``train.py`` and the benchmarks run; :func:`make_eval_step` scores the held-out
batch. Both are TensorFlow-specific (``tf.function``, ``tf.GradientTape``, ``tf.distribute``); the cells are not.
"""

import concurrent.futures

import keras
import numpy as np
import tensorflow as tf

from ntm_cell.experiments.devices import intra_op_threads
from ntm_cell.experiments.optimizers import loss_scale
from ntm_cell.tasks.metrics import bit_errors_per_sequence, masked_sigmoid_cross_entropy


def call_with_weights_read_once(model, inputs, training=True):
    """``model(inputs, training=training)``, with every weight read once before the call.

    Inside the ``tf.while_loop`` of a recurrent layer, a read of a variable is a new tensor at every time
    step, so TensorFlow's gradient pushes a copy of every weight matrix the cell uses onto a stack at every
    step and pops it again in the backward loop. Read once before the call (``keras.StatelessScope`` maps
    each variable to that value), the weights are loop invariants that the gradient captures once. The
    result is the same, and the step does less work (docs/performance.md). The models here assign no variables
    while they run; one that did would have the assignment lost, so that raises ``RuntimeError``.
    """
    values = [(variable, keras.ops.copy(variable)) for variable in model.weights]
    with keras.StatelessScope(state_mapping=values) as scope:
        outputs = model(inputs, training=training)
    changed = [variable.path for variable, value in values if scope.get_current_value(variable) is not value]
    if changed:
        raise RuntimeError(f"the model assigned variables during its forward pass: {changed}")
    return outputs


def default_batch_splits(batch_size, jit_compile=True, model="ntm"):
    """How many parts ``train.py`` computes a batch's gradient in at once by default (``--batch_splits=0``).

    For the memory models (``"ntm"``, ``"dnc"``) with XLA: one part per thread TensorFlow may use
    (:func:`~ntm_cell.experiments.devices.intra_op_threads`), at most ``batch_size``. Otherwise 1: the LSTM baseline's
    large matrix products already use every core; without XLA, TensorFlow's own executor already spreads one
    step's ops over the cores; and with a GPU the device, not the CPU cores, does the work (docs/performance.md
    has the measurements behind each choice).
    """
    if model == "lstm" or not jit_compile or tf.config.list_logical_devices("GPU"):
        return 1
    return max(1, min(intra_op_threads(), batch_size))


def split_sizes(batch_size, parts):
    """Sizes of ``parts`` near-equal consecutive parts of a batch, larger parts first: ``(10, 3) -> [4, 3, 3]``.

    Raises:
        ValueError: ``parts`` is not between 1 and ``batch_size``.
    """
    if not 1 <= parts <= batch_size:
        raise ValueError(f"cannot split a batch of {batch_size} into {parts} parts (need 1 <= parts <= batch size)")
    size, extra = divmod(batch_size, parts)
    return [size + 1] * extra + [size] * (parts - extra)


def call_by_signature(function):
    """``function`` (a ``tf.function``) called through its concrete function for each argument signature.

    A ``tf.function`` matches every call's arguments against its traces before it runs one, which can take
    longer than a short compiled call itself (docs/performance.md). Looking up the concrete
    function by the arguments' nesting and their shapes and dtypes (tensors) or values (anything else) skips that
    matching; a new signature is traced and compiled on its first call, as ``function`` would.
    """
    concrete = {}

    def signature(value):  # hashable; keeps the nesting, so that the same leaves nested otherwise differ
        if isinstance(value, (tf.Tensor, tf.Variable)):
            return tuple(value.shape), value.dtype
        if isinstance(value, (list, tuple)):
            return type(value), tuple(signature(v) for v in value)
        if isinstance(value, dict):
            return dict, tuple((k, signature(value[k])) for k in sorted(value))
        return type(value), value

    def call(*args):
        key = signature(args)
        traced = concrete.get(key)
        if traced is None:
            traced = concrete[key] = function.get_concrete_function(*args)
        return traced(*args)

    return call


def make_train_step(model, optimizer, strategy, jit_compile, batch_splits=1):
    """A compiled step ``(inputs, targets, mask) -> (loss, bit_errors, grad_norm)``.

    With the default strategy and ``batch_splits=1`` the whole step, optimizer update included, is one XLA
    cluster. Under ``tf.distribute`` the forward and backward pass of each replica is XLA-compiled, and the
    optimizer sums the replicas' gradients (each replica's loss is divided by the number of replicas, so the sum
    is the mean).

    ``batch_splits > 1`` (default strategy only) cuts each batch into that many consecutive parts
    (:func:`split_sizes`) and computes their losses and gradients at the same time, each part's compiled program
    on a thread of its own, then applies the mean weighted by part size, which is the gradient of the whole
    batch's loss (the loss is a mean over sequences); loss and bit errors are averaged the same way. One XLA
    program runs on one core at a time on a CPU, so a single program leaves the other cores idle (docs/performance.md
    measures the gain).
    Each part needs a thread of TensorFlow's own: with ``--threads=1`` the parts run one after another. Without
    XLA, and for the LSTM baseline, it is slower (see :func:`default_batch_splits`).

    Raises:
        ValueError: ``batch_splits`` < 1, or > 1 together with a ``tf.distribute`` strategy of several replicas.
    """
    variables = model.trainable_variables
    replicas = strategy.num_replicas_in_sync
    if not isinstance(batch_splits, int) or batch_splits < 1:
        raise ValueError(f"batch_splits must be an integer >= 1, got {batch_splits!r}")
    if batch_splits > 1 and replicas > 1:
        raise ValueError("batch_splits > 1 needs the default strategy, not one with several replicas")

    def loss_and_gradients(inputs, targets, mask):
        # The gradients are of the loss times loss_scale(optimizer) (1 but under mixed_float16).
        with tf.GradientTape() as tape:
            logits = call_with_weights_read_once(model, inputs)
            loss = masked_sigmoid_cross_entropy(targets, logits, mask)
            scaled = loss * loss_scale(optimizer) / replicas
        gradients = tape.gradient(scaled, variables)
        errors = bit_errors_per_sequence(targets, logits, mask)
        return loss, errors, gradients

    def apply(inputs, targets, mask, compute):
        loss, errors, gradients = compute(inputs, targets, mask)
        return loss, errors, apply_gradients(gradients)

    def apply_gradients(gradients):
        norm = tf.linalg.global_norm(gradients) * replicas / loss_scale(optimizer)
        optimizer.apply_gradients(zip(gradients, variables))
        return norm

    # reduce_retracing: batches of another time length (length buckets) reuse the trace; XLA still compiles one
    # program per shape, once.
    whole_batch_step = call_by_signature(tf.function(lambda x, y, m: apply(x, y, m, loss_and_gradients),
                                                     jit_compile=jit_compile, reduce_retracing=True))
    if replicas == 1 and batch_splits == 1:
        return whole_batch_step
    if batch_splits > 1:
        return _split_batch_step(loss_and_gradients, apply_gradients, variables, batch_splits, jit_compile,
                                 whole_batch_step)

    compiled = tf.function(loss_and_gradients, jit_compile=jit_compile, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def distributed_step(inputs, targets, mask):
        per_replica = strategy.run(apply, args=(inputs, targets, mask, compiled))
        return tuple(strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None) for value in per_replica)

    return distributed_step


def _split_batch_step(loss_and_gradients, apply_gradients, variables, parts, jit_compile, whole_batch_step):
    """The ``batch_splits > 1`` step of :func:`make_train_step`: each part's gradient at once, then one update.

    A batch of one sequence cannot be split: it goes to ``whole_batch_step`` (one program, update included).

    Each part's program returns its gradients as one flat vector, and the update program takes those: a compiled
    call pays for every tensor it takes and returns, so one flat vector costs less than one tensor per variable.
    """
    pool = concurrent.futures.ThreadPoolExecutor(parts, thread_name_prefix="batch-part")
    shapes = [variable.shape for variable in variables]
    sizes = [int(np.prod(shape)) for shape in shapes]

    def part_gradients(inputs, targets, mask, start, size):
        # The part is cut inside the compiled program, which is cheaper than cutting it with eager ops.
        piece = [tf.slice(t, tf.concat([[start], tf.zeros([len(t.shape) - 1], tf.int32)], axis=0),
                          [size] + [-1] * (len(t.shape) - 1)) for t in (inputs, targets, mask)]
        loss, errors, gradients = loss_and_gradients(*piece)
        return loss, errors, tf.concat([tf.reshape(g, [-1]) for g in gradients], axis=0)

    def mean_and_apply(fractions, losses, errors, flat_gradients):
        # fractions: each part's share of the batch; the losses are means over each part's sequences.
        weights = tf.unstack(fractions)
        mean = tf.add_n([w * g for w, g in zip(weights, flat_gradients)])
        gradients = [tf.reshape(g, shape) for g, shape in zip(tf.split(mean, sizes), shapes)]
        loss = tf.add_n([w * v for w, v in zip(weights, losses)])
        error = tf.add_n([w * v for w, v in zip(weights, errors)])
        return loss, error, apply_gradients(gradients)

    compute = call_by_signature(tf.function(part_gradients, jit_compile=jit_compile, reduce_retracing=True))
    update = call_by_signature(tf.function(mean_and_apply, jit_compile=jit_compile, reduce_retracing=True))

    def step(inputs, targets, mask):
        batch = int(inputs.shape[0])
        if batch < 2:
            return whole_batch_step(inputs, targets, mask)
        sizes = split_sizes(batch, min(parts, batch))
        starts = np.cumsum([0] + sizes[:-1]).astype(np.int32)
        futures = [pool.submit(compute, inputs, targets, mask, start, size) for start, size in zip(starts, sizes)]
        losses, errors, flat_gradients = (list(values) for values in zip(*[future.result() for future in futures]))
        fractions = tf.constant([size / batch for size in sizes], dtype=tf.float32)
        return update(fractions, losses, errors, flat_gradients)

    return step


def make_eval_step(model, jit_compile):
    """A compiled ``(inputs, targets, mask) -> (loss, bit_errors)`` with no update."""

    def evaluate(inputs, targets, mask):
        logits = model(inputs, training=False)
        return masked_sigmoid_cross_entropy(targets, logits, mask), bit_errors_per_sequence(targets, logits, mask)

    return tf.function(evaluate, jit_compile=jit_compile)
