"""Losses and metrics for the tasks, written with keras.ops (any Keras backend; NumPy arrays or tensors).

Shapes: targets and logits/probabilities [B, T, C], mask [B, T] (1 on the answer steps). The ``*_by_sequence``
functions return one value per sequence, [B]; the others return their mean over the batch, a scalar. Both are
backend tensors (``keras.ops.convert_to_numpy`` or ``float()`` for NumPy values).

Normalisation: quantities are summed over channels and answer steps of each sequence and then averaged over the
batch, i.e. they are "per sequence". Why: it is the unit of the paper's results (bit errors per sequence, N-gram
cost in bits per sequence); every answer bit carries the same weight however long its sequence is; and the value
does not depend on how much padding a batch has (pad_to), unlike a mean over all time steps, which would shrink
the loss — and its gradients — as padding grows. The loss is thereby larger than a per-bit mean by the number of
answer bits per sequence; choose the learning rate (or an optimiser that is scale-invariant) accordingly.
"""

from __future__ import annotations

import math

from keras import ops


def _as_float(x):
    return ops.cast(ops.convert_to_tensor(x), "float32")


def _sum_per_sequence(values, mask):
    """values [B, T, C], mask [B, T] -> [B]: the sum over C and over the masked T."""
    return ops.sum(ops.sum(values, axis=-1) * mask, axis=-1)


def bit_errors_by_sequence(targets, logits, mask):
    """Σ over answer steps and channels of |target − 1[logit ≥ 0]|, for each sequence.

    1[logit ≥ 0] is 1[sigmoid(logit) ≥ 0.5]. Args: targets [B, T, C] in {0, 1}, logits [B, T, C], mask [B, T].
    Returns: [B].
    """
    targets, logits, mask = _as_float(targets), _as_float(logits), _as_float(mask)
    predictions = ops.cast(ops.greater_equal(logits, 0.0), "float32")
    return _sum_per_sequence(ops.abs(targets - predictions), mask)


def bit_errors_per_sequence(targets, logits, mask):
    """:func:`bit_errors_by_sequence` averaged over the batch. Returns: scalar."""
    return ops.mean(bit_errors_by_sequence(targets, logits, mask))


def sigmoid_cross_entropy(targets, logits):
    """Elementwise −z log σ(x) − (1 − z) log(1 − σ(x)) in nats, for targets z and logits x [same shape].

    Computed in the numerically stable form max(x, 0) − x z + log(1 + e^−|x|).
    """
    targets, logits = _as_float(targets), _as_float(logits)
    return ops.maximum(logits, 0.0) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))


def sigmoid_cross_entropy_by_sequence(targets, logits, mask):
    """Sigmoid cross-entropy (nats) summed over channels and answer steps of each sequence.

    Args: targets [B, T, C], logits [B, T, C], mask [B, T]. Returns: [B].
    """
    return _sum_per_sequence(sigmoid_cross_entropy(targets, logits), _as_float(mask))


def masked_sigmoid_cross_entropy(targets, logits, mask):
    """:func:`sigmoid_cross_entropy_by_sequence` averaged over the batch: the training loss. Returns: scalar.

    See the module docstring for why it is normalised per sequence.
    """
    return ops.mean(sigmoid_cross_entropy_by_sequence(targets, logits, mask))


def cross_entropy_bits_by_sequence(targets, probabilities, mask, epsilon: float = 1e-7):
    """Binary cross-entropy in bits (log base 2) from probabilities, summed over each sequence.

    Args:
      targets [B, T, C] in {0, 1}; probabilities [B, T, C] P(target = 1), clipped to [epsilon, 1 − epsilon];
      mask [B, T].
    Returns: [B].
    """
    targets, probabilities, mask = _as_float(targets), _as_float(probabilities), _as_float(mask)
    probabilities = ops.clip(probabilities, epsilon, 1.0 - epsilon)
    nats = -(targets * ops.log(probabilities) + (1.0 - targets) * ops.log(1.0 - probabilities))
    return _sum_per_sequence(nats, mask) / math.log(2.0)


def masked_cross_entropy_bits(targets, probabilities, mask, epsilon: float = 1e-7):
    """:func:`cross_entropy_bits_by_sequence` averaged over the batch. Returns: scalar."""
    return ops.mean(cross_entropy_bits_by_sequence(targets, probabilities, mask, epsilon))
