"""Tests of the task data generators and metrics (tasks/)."""

from __future__ import annotations

import ast
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ntm_cell import tasks
from ntm_cell.tasks import (TASKS, AssociativeRecallTask, CopyTask, NGramsTask, PrioritySortTask, RepeatCopyTask,
                            batch_rng, format_example, get_task)
from ntm_cell.tasks.associative_recall import build_recall_example, items_are_distinct
from ntm_cell.tasks.copy import build_copy_example
from ntm_cell.tasks.ngrams import (build_ngram_examples, draw_transition_tables, generate_ngram_bits,
                                   optimal_predictions)
from ntm_cell.tasks.priority_sort import build_priority_sort_example
from ntm_cell.tasks.repeat_copy import build_repeat_copy_example, uniform_integer_mean_std

TASKS_DIR = pathlib.Path(tasks.__file__).parent

# Small configurations of every task, with their expected channel counts.
SMALL_TASKS = {
    "copy": (CopyTask(bits=4, min_length=1, max_length=6), 5, 4),
    "repeat_copy": (RepeatCopyTask(bits=3, min_length=1, max_length=4, min_repeats=1, max_repeats=3), 5, 4),
    "associative_recall": (AssociativeRecallTask(bits=3, item_length=2, min_items=2, max_items=5), 5, 3),
    "ngrams": (NGramsTask(order=3, length=20), 1, 1),
    "priority_sort": (PrioritySortTask(bits=4, num_inputs=7, num_outputs=5), 6, 4),
}


def rng(seed=0):
    return np.random.default_rng(seed)


def unpadded_length(inputs: np.ndarray) -> int:
    """Steps up to and including the last step with any non-zero input (answer steps have zero input)."""
    return int(np.nonzero(np.any(inputs != 0, axis=-1))[0][-1]) + 1


# ----------------------------------------------------------------------------------------------------------------
# Registry and common API
# ----------------------------------------------------------------------------------------------------------------


def test_registry_lists_all_tasks():
    assert set(TASKS) == {"copy", "repeat_copy", "associative_recall", "ngrams", "priority_sort"}
    assert TASKS["copy"] is CopyTask
    task = get_task("repeat_copy", bits=5, max_repeats=4)
    assert isinstance(task, RepeatCopyTask) and task.bits == 5 and task.max_repeats == 4


def test_get_task_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as error:
        get_task("sorting_hat")
    message = str(error.value)
    assert "sorting_hat" in message
    for name in TASKS:
        assert name in message


@pytest.mark.parametrize("name", sorted(SMALL_TASKS))
def test_shapes_dtypes_and_sizes(name):
    task, input_size, output_size = SMALL_TASKS[name]
    assert (task.input_size, task.output_size) == (input_size, output_size)
    inputs, targets, mask = task.sample(16, rng())
    batch, time = mask.shape
    assert batch == 16
    assert inputs.shape == (16, time, input_size)
    assert targets.shape == (16, time, output_size)
    assert inputs.dtype == targets.dtype == mask.dtype == np.float32
    assert time <= task.max_time()
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert set(np.unique(targets)) <= {0.0, 1.0}
    assert np.all(mask.sum(axis=1) >= 1)
    if name != "ngrams":   # N-gram targets keep the true next bit on unscored steps
        assert np.all(targets[mask == 0] == 0)   # targets are zero outside the answer steps


@pytest.mark.parametrize("name", sorted(SMALL_TASKS))
def test_max_time_is_reached_and_never_exceeded(name):
    task, _, _ = SMALL_TASKS[name]
    lengths = [task.sample(64, rng(seed))[2].shape[1] for seed in range(20)]
    assert max(lengths) == task.max_time()


@pytest.mark.parametrize("name", sorted(SMALL_TASKS))
def test_pad_to_gives_fixed_shapes_and_zero_padding(name):
    task, _, _ = SMALL_TASKS[name]
    pad_to = task.max_time() + 7
    inputs, targets, mask = task.sample(8, rng(3), pad_to=pad_to)
    assert inputs.shape[1] == targets.shape[1] == mask.shape[1] == pad_to
    unpadded_inputs, unpadded_targets, unpadded_mask = task.sample(8, rng(3))
    time = unpadded_mask.shape[1]
    np.testing.assert_array_equal(inputs[:, :time], unpadded_inputs)
    np.testing.assert_array_equal(targets[:, :time], unpadded_targets)
    np.testing.assert_array_equal(mask[:, :time], unpadded_mask)
    assert not inputs[:, time:].any() and not targets[:, time:].any() and not mask[:, time:].any()


@pytest.mark.parametrize("name", sorted(SMALL_TASKS))
def test_pad_to_shorter_than_a_sequence_raises(name):
    task, _, _ = SMALL_TASKS[name]
    time = task.sample(8, rng(1))[2].shape[1]
    with pytest.raises(ValueError, match="pad_to"):
        task.sample(8, rng(1), pad_to=time - 1)


@pytest.mark.parametrize("name", sorted(SMALL_TASKS))
def test_same_seed_same_batch_different_seed_different_batch(name):
    task, _, _ = SMALL_TASKS[name]
    first = task.sample(8, rng(42))
    again = task.sample(8, rng(42))
    other = task.sample(8, rng(43))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert first[0].shape != other[0].shape or not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("name", sorted(SMALL_TASKS))
def test_bad_batch_size_and_unknown_override(name):
    task, _, _ = SMALL_TASKS[name]
    with pytest.raises(ValueError, match="batch_size"):
        task.sample(0, rng())
    with pytest.raises(TypeError, match="not_a_range"):
        task.sample(2, rng(), not_a_range=3)


@pytest.mark.parametrize("name", sorted(SMALL_TASKS))
def test_config_rebuilds_the_task(name):
    task, _, _ = SMALL_TASKS[name]
    rebuilt = type(task)(**task.config())
    for a, b in zip(task.sample(4, rng(5)), rebuilt.sample(4, rng(5))):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------------------------------------------
# Copy
# ----------------------------------------------------------------------------------------------------------------


def test_copy_layout_on_a_hand_made_sequence():
    sequence = np.array([[1, 0], [1, 1], [0, 1]], np.float32)
    inputs, targets, mask = build_copy_example(sequence)
    assert inputs.shape == (7, 3) and targets.shape == (7, 2) and mask.shape == (7,)
    np.testing.assert_array_equal(inputs[:3, :2], sequence)
    np.testing.assert_array_equal(inputs[:, 2], [0, 0, 0, 1, 0, 0, 0])
    assert not inputs[3:, :2].any()
    np.testing.assert_array_equal(targets[4:], sequence)
    assert not targets[:4].any()
    np.testing.assert_array_equal(mask, [0, 0, 0, 0, 1, 1, 1])


def test_copy_batch_targets_equal_inputs_and_mask_is_the_answer():
    task = CopyTask(bits=8, min_length=1, max_length=20)
    inputs, targets, mask = task.sample(32, rng(7))
    lengths = set()
    for row in range(32):
        delimiter_steps = np.nonzero(inputs[row, :, 8])[0]
        assert len(delimiter_steps) == 1
        length = int(delimiter_steps[0])
        lengths.add(length)
        assert 1 <= length <= 20
        np.testing.assert_array_equal(targets[row, length + 1:2 * length + 1], inputs[row, :length, :8])
        expected_mask = np.zeros(mask.shape[1])
        expected_mask[length + 1:2 * length + 1] = 1
        np.testing.assert_array_equal(mask[row], expected_mask)
        assert not inputs[row, length + 1:].any()
        assert not inputs[row, :length, 8].any()
    assert len(lengths) > 5                         # lengths vary within a batch
    data_bits = np.concatenate([inputs[row, :int(np.nonzero(inputs[row, :, 8])[0][0]), :8].ravel()
                                for row in range(32)])
    assert 0.4 < data_bits.mean() < 0.6             # Bernoulli(1/2) bits


def test_copy_generalisation_lengths_via_overrides():
    task = CopyTask()
    inputs, targets, mask = task.sample(3, rng(), min_length=120, max_length=120)
    assert inputs.shape == (3, 241, 9)
    assert task.max_time(max_length=120) == 241
    np.testing.assert_array_equal(mask.sum(axis=1), [120, 120, 120])
    assert (task.min_length, task.max_length) == (1, 20)   # overrides do not change the task


# ----------------------------------------------------------------------------------------------------------------
# Repeat copy
# ----------------------------------------------------------------------------------------------------------------


def test_repeat_copy_normalisation_uses_training_statistics():
    task = RepeatCopyTask(min_repeats=1, max_repeats=10)
    assert task.repeat_mean == pytest.approx(5.5)
    assert task.repeat_std == pytest.approx(math.sqrt(99 / 12))
    normalised = np.array([task.normalise_repeats(r) for r in range(1, 11)])
    assert normalised.mean() == pytest.approx(0.0, abs=1e-12)
    assert normalised.std() == pytest.approx(1.0)
    # evaluation beyond the training range keeps the training statistics
    inputs, _, _ = task.sample(4, rng(), min_repeats=20, max_repeats=20, min_length=3, max_length=3)
    np.testing.assert_allclose(inputs[:, 3, 9], (20 - 5.5) / math.sqrt(99 / 12), rtol=1e-6)
    assert uniform_integer_mean_std(4, 4) == (4.0, 1.0)


def test_repeat_copy_layout_on_a_hand_made_sequence():
    sequence = np.array([[1, 0], [0, 1]], np.float32)
    inputs, targets, mask = build_repeat_copy_example(sequence, repeats=3, normalised_repeats=0.25)
    time = 2 + 1 + 6 + 1
    assert inputs.shape == (time, 4) and targets.shape == (time, 3)
    np.testing.assert_array_equal(inputs[:2, :2], sequence)
    np.testing.assert_array_equal(inputs[:, 2], np.eye(time)[2])          # delimiter at step 2
    np.testing.assert_array_equal(inputs[:, 3], 0.25 * np.eye(time)[2])   # count on the same step
    np.testing.assert_array_equal(targets[3:9, :2], np.tile(sequence, (3, 1)))
    np.testing.assert_array_equal(targets[:, 2], np.eye(time)[9])         # end marker at the last step
    np.testing.assert_array_equal(mask, [0, 0, 0, 1, 1, 1, 1, 1, 1, 1])


def test_repeat_copy_batch_targets_are_repeated_sequence_with_end_marker():
    task = RepeatCopyTask(bits=4, min_length=1, max_length=5, min_repeats=1, max_repeats=6)
    inputs, targets, mask = task.sample(32, rng(11))
    seen_repeats = set()
    for row in range(32):
        length = int(np.nonzero(inputs[row, :, 4])[0][0])
        repeats = int(round(inputs[row, length, 5] * task.repeat_std + task.repeat_mean))
        seen_repeats.add(repeats)
        assert 1 <= length <= 5 and 1 <= repeats <= 6
        sequence = inputs[row, :length, :4]
        end_step = length + 1 + length * repeats
        np.testing.assert_array_equal(targets[row, length + 1:end_step, :4], np.tile(sequence, (repeats, 1)))
        end_marker = np.zeros(mask.shape[1])
        end_marker[end_step] = 1
        np.testing.assert_array_equal(targets[row, :, 4], end_marker)
        expected_mask = np.zeros(mask.shape[1])
        expected_mask[length + 1:end_step + 1] = 1
        np.testing.assert_array_equal(mask[row], expected_mask)
    assert len(seen_repeats) > 3
    assert task.max_time() == 5 + 1 + 5 * 6 + 1


# ----------------------------------------------------------------------------------------------------------------
# Associative recall
# ----------------------------------------------------------------------------------------------------------------


def test_associative_recall_layout_on_hand_made_items():
    items = np.array([[[1, 0], [0, 0]], [[1, 1], [0, 1]], [[0, 1], [1, 1]]], np.float32)
    inputs, targets, mask = build_recall_example(items, query_index=1)
    # 3 items * 3 steps + query delimiter + 2 query steps + query delimiter + 2 answer steps
    assert inputs.shape == (15, 4) and targets.shape == (15, 2)
    np.testing.assert_array_equal(np.nonzero(inputs[:, 2])[0], [0, 3, 6])     # item delimiters
    np.testing.assert_array_equal(np.nonzero(inputs[:, 3])[0], [9, 12])       # query delimiters
    for index in range(3):
        np.testing.assert_array_equal(inputs[3 * index + 1:3 * index + 3, :2], items[index])
    np.testing.assert_array_equal(inputs[10:12, :2], items[1])                # query = item 1
    np.testing.assert_array_equal(targets[13:], items[2])                     # answer = item 2
    assert not targets[:13].any() and not inputs[13:].any()
    np.testing.assert_array_equal(mask, [0] * 13 + [1, 1])
    with pytest.raises(ValueError, match="query_index"):
        build_recall_example(items, query_index=2)                            # the last item has no successor


def test_items_are_distinct_on_hand_made_items_short_and_long():
    items = np.array([[[1, 0], [0, 0]], [[1, 1], [0, 1]], [[0, 1], [1, 1]]], np.float32)
    assert items_are_distinct(items)
    assert not items_are_distinct(np.concatenate([items, items[1:2]]))
    # Items that differ only in their last bit, and items as integers would confuse them if bits were summed.
    assert items_are_distinct(np.array([[[0, 1]], [[1, 0]]], np.float32))
    assert not items_are_distinct(np.array([[[0, 1]], [[0, 1]]], np.float32))
    # Longer than 62 bits: compared row by row.
    long_items = np.zeros((3, 8, 9), np.float32)
    long_items[1, 7, 8] = 1.0
    assert not items_are_distinct(long_items)
    long_items[2, 0, 0] = 1.0
    assert items_are_distinct(long_items)


def test_associative_recall_batch_target_is_item_after_query():
    task = AssociativeRecallTask(bits=6, item_length=3, min_items=2, max_items=6)
    inputs, targets, mask = task.sample(64, rng(5))
    query_positions, item_counts = [], set()
    for row in range(64):
        item_starts = np.nonzero(inputs[row, :, 6])[0]
        query_delimiters = np.nonzero(inputs[row, :, 7])[0]
        num_items = len(item_starts)
        item_counts.add(num_items)
        assert 2 <= num_items <= 6
        np.testing.assert_array_equal(item_starts, 4 * np.arange(num_items))
        query_start = 4 * num_items
        np.testing.assert_array_equal(query_delimiters, [query_start, query_start + 4])
        items = np.stack([inputs[row, start + 1:start + 4, :6] for start in item_starts])
        assert len(np.unique(items.reshape(num_items, -1), axis=0)) == num_items   # distinct items
        query = inputs[row, query_start + 1:query_start + 4, :6]
        matches = [i for i in range(num_items) if np.array_equal(items[i], query)]
        assert len(matches) == 1 and matches[0] < num_items - 1
        query_positions.append(matches[0])
        answer_start = query_start + 5
        np.testing.assert_array_equal(targets[row, answer_start:answer_start + 3], items[matches[0] + 1])
        expected_mask = np.zeros(mask.shape[1])
        expected_mask[answer_start:answer_start + 3] = 1
        np.testing.assert_array_equal(mask[row], expected_mask)
    assert item_counts == {2, 3, 4, 5, 6}
    assert len(set(query_positions)) >= 4
    assert task.max_time() == 6 * 4 + 2 * 3 + 2
    assert task.sample(2, rng(), min_items=15, max_items=15)[0].shape[1] == 15 * 4 + 8


# ----------------------------------------------------------------------------------------------------------------
# Priority sort
# ----------------------------------------------------------------------------------------------------------------


def test_priority_sort_layout_on_hand_made_vectors():
    vectors = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.float32)
    priorities = np.array([0.1, 0.9, -0.5, 0.4], np.float32)
    inputs, targets, mask = build_priority_sort_example(vectors, priorities, num_outputs=3)
    assert inputs.shape == (8, 4) and targets.shape == (8, 2)
    np.testing.assert_array_equal(inputs[:4, :2], vectors)
    np.testing.assert_array_equal(inputs[:4, 2], priorities)
    np.testing.assert_array_equal(inputs[:, 3], np.eye(8)[4])
    np.testing.assert_array_equal(targets[5:], vectors[[1, 3, 0]])
    np.testing.assert_array_equal(mask, [0, 0, 0, 0, 0, 1, 1, 1])


def test_priority_sort_batch_targets_are_top_vectors_by_descending_priority():
    task = PrioritySortTask(bits=8, num_inputs=20, num_outputs=16)
    inputs, targets, mask = task.sample(16, rng(9))
    assert inputs.shape == (16, 37, 10) and targets.shape == (16, 37, 8)
    priorities = inputs[:, :20, 8]
    assert priorities.min() >= -1 and priorities.max() <= 1 and priorities.std() > 0.4
    np.testing.assert_array_equal(inputs[:, :, 9], np.tile(np.eye(37)[20], (16, 1)))
    np.testing.assert_array_equal(mask, np.tile([0] * 21 + [1] * 16, (16, 1)))
    for row in range(16):
        vectors = inputs[row, :20, :8]
        answer = targets[row, 21:]
        # every answer vector is an input vector; recover which one, and check the priorities are the top 16, sorted
        chosen = []
        for output in answer:
            candidates = [i for i in range(20) if np.array_equal(vectors[i], output) and i not in chosen]
            assert candidates
            chosen.append(max(candidates, key=lambda i: priorities[row, i]))
        chosen_priorities = priorities[row, chosen]
        assert np.all(np.diff(chosen_priorities) <= 0)
        np.testing.assert_allclose(chosen_priorities, np.sort(priorities[row])[::-1][:16])


# ----------------------------------------------------------------------------------------------------------------
# N-grams
# ----------------------------------------------------------------------------------------------------------------


def test_ngram_sequences_follow_their_table():
    order = 3
    table = np.array([0.1, 0.5, 0.8, 0.95])      # contexts 00, 01, 10, 11 (oldest bit first)
    bits = generate_ngram_bits(rng(0), np.tile(table, (40, 1)), order, 2000)
    assert bits.shape == (40, 2000) and set(np.unique(bits)) <= {0, 1}
    contexts = 2 * bits[:, :-2] + bits[:, 1:-1]
    following = bits[:, 2:]
    for context, probability in enumerate(table):
        observed = following[contexts == context]
        assert observed.size > 2000
        standard_error = math.sqrt(probability * (1 - probability) / observed.size)
        assert abs(observed.mean() - probability) < 5 * standard_error + 1e-3


def test_ngram_tables_are_beta_half_half():
    tables = draw_transition_tables(rng(0), 2000, order=6)
    assert tables.shape == (2000, 32)
    assert tables.mean() == pytest.approx(0.5, abs=0.01)
    assert tables.var() == pytest.approx(1 / 8, abs=0.005)      # Var Beta(1/2, 1/2) = 1/8
    assert np.mean(tables < 0.1) == pytest.approx(2 / math.pi * math.asin(math.sqrt(0.1)), abs=0.01)


def test_ngram_examples_predict_the_next_bit():
    bits = np.array([[1, 0, 1, 1, 0, 1, 1, 0, 0]])
    inputs, targets, mask = build_ngram_examples(bits, order=3)
    np.testing.assert_array_equal(inputs[0, :, 0], bits[0, :-1])
    np.testing.assert_array_equal(targets[0, :, 0], bits[0, 1:])
    np.testing.assert_array_equal(mask[0], [0, 1, 1, 1, 1, 1, 1, 1])
    task = NGramsTask(order=6, length=200)
    inputs, targets, mask = task.sample(8, rng(2))
    assert inputs.shape == (8, 199, 1) and targets.shape == (8, 199, 1)
    np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])
    np.testing.assert_array_equal(mask, np.tile([0] * 4 + [1] * 195, (8, 1)))


def test_optimal_predictor_on_a_hand_checked_sequence():
    # order 2: the context is the previous bit. Counts after each step, then P(next = 1 | current bit):
    # t=0 b=0: no transitions yet, ctx 0 -> 1/2        t=1 b=1: 0->1 seen; ctx 1 unseen -> 1/2
    # t=2 b=0: 1->0 seen; ctx 0 (N1=1) -> 1.5/2        t=3 b=1: 0->1 again; ctx 1 (N0=1) -> 0.5/2
    # t=4 b=1: 1->1 seen; ctx 1 (N0=1, N1=1) -> 1.5/3  t=5 b=0: 1->0 again; ctx 0 (N1=2) -> 2.5/3
    bits = np.array([0, 1, 0, 1, 1, 0])
    expected = [0.5, 0.5, 0.75, 0.25, 0.5, 2.5 / 3]
    np.testing.assert_allclose(optimal_predictions(bits, order=2), expected, rtol=1e-6)
    np.testing.assert_allclose(optimal_predictions(bits[None, :, None], order=2)[0, :, 0], expected, rtol=1e-6)
    # order 3: the context is the previous two bits; predictions before a full context are 1/2.
    # bits 1 1 0 1 1 0: transitions 11->0 (t=2), 10->1 (t=3), 01->1 (t=4), 11->0 (t=5)
    np.testing.assert_allclose(optimal_predictions(np.array([1, 1, 0, 1, 1, 0]), order=3),
                               [0.5, 0.5, 0.5, 0.5, 0.5 / 2, 1.5 / 2], rtol=1e-6)
    # order 1 (no context) is the Krichevsky-Trofimov estimator of the bits so far
    np.testing.assert_allclose(optimal_predictions(np.array([1, 1, 0]), order=1), [1.5 / 2, 2.5 / 3, 2.5 / 4])


def test_cost_bits_of_uniform_and_optimal_predictions():
    task = NGramsTask()
    inputs, targets, mask = task.sample(200, rng(4))
    uniform_cost = float(task.cost_bits(np.full_like(targets, 0.5), targets, mask))
    assert uniform_cost == pytest.approx(195.0, rel=1e-5)            # 1 bit per scored step
    optimal_cost = float(task.cost_bits(task.optimal_predictions(inputs), targets, mask))
    assert 122 < optimal_cost < 134                                   # ≈128 (the paper: ≈131 per 200 bits)
    # the optimal predictor works on padded batches too
    padded = task.sample(200, rng(4), pad_to=250)
    assert float(task.cost_bits(task.optimal_predictions(padded[0]), padded[1], padded[2])) == pytest.approx(
        optimal_cost, rel=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metrics():
    from ntm_cell.tasks import metrics as module
    return module


def hand_made_batch():
    """targets [2, 4, 3] and mask [2, 4] with answers on steps 2..3, and logits that predict them perfectly."""
    targets = np.zeros((2, 4, 3), np.float32)
    targets[0, 2] = [1, 0, 1]
    targets[0, 3] = [0, 1, 1]
    targets[1, 2] = [1, 1, 0]
    targets[1, 3] = [0, 0, 1]
    mask = np.array([[0, 0, 1, 1], [0, 0, 1, 1]], np.float32)
    logits = np.where(targets > 0.5, 6.0, -6.0).astype(np.float32)
    return targets, logits, mask


def test_bit_errors_perfect_flipped_and_masked(metrics):
    targets, logits, mask = hand_made_batch()
    assert float(metrics.bit_errors_per_sequence(targets, logits, mask)) == 0.0
    flipped = logits.copy()
    flipped[0, 3, 1] *= -1
    flipped[1, 2, 0] *= -1
    assert float(metrics.bit_errors_per_sequence(targets, flipped, mask)) == 1.0    # (1 + 1) / 2 sequences
    one_flip = logits.copy()
    one_flip[1, 3, 2] = -0.1
    assert float(metrics.bit_errors_per_sequence(targets, one_flip, mask)) == 0.5   # 1 error in 2 sequences
    masked_flip = logits.copy()
    masked_flip[:, :2] = 6.0                                                        # wrong, but on masked steps
    assert float(metrics.bit_errors_per_sequence(targets, masked_flip, mask)) == 0.0
    at_threshold = logits.copy()
    at_threshold[0, 2, 1] = 0.0                                                     # sigmoid(0) = 0.5 -> predicts 1
    assert float(metrics.bit_errors_per_sequence(targets, at_threshold, mask)) == 0.5


def test_bit_errors_single_sequence_one_flip_is_exactly_one(metrics):
    targets, logits, mask = hand_made_batch()
    logits = logits[:1].copy()
    logits[0, 2, 2] = -3.0
    assert float(metrics.bit_errors_per_sequence(targets[:1], logits, mask[:1])) == 1.0


def test_masked_sigmoid_cross_entropy_matches_definition(metrics):
    targets, _, mask = hand_made_batch()
    logits = rng(0).normal(0, 3, size=targets.shape).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-logits.astype(np.float64)))
    elementwise = -(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities))
    expected = (elementwise.sum(-1) * mask).sum(-1).mean()
    assert float(metrics.masked_sigmoid_cross_entropy(targets, logits, mask)) == pytest.approx(expected, rel=1e-5)
    # masked steps do not count
    changed = logits.copy()
    changed[:, :2] = 50.0
    assert float(metrics.masked_sigmoid_cross_entropy(targets, changed, mask)) == pytest.approx(expected, rel=1e-5)


def test_masked_sigmoid_cross_entropy_is_stable_for_large_logits(metrics):
    targets, logits, mask = hand_made_batch()
    big = logits * 1000.0                                   # ±6000: exp overflows in a naive form
    assert float(metrics.masked_sigmoid_cross_entropy(targets, big, mask)) == 0.0
    wrong = -big
    loss = float(metrics.masked_sigmoid_cross_entropy(targets, wrong, mask))
    assert math.isfinite(loss) and loss == pytest.approx(6 * 6000.0, rel=1e-6)   # 6 answer bits per sequence


def test_metrics_accept_backend_tensors(metrics):
    import keras
    targets, logits, mask = hand_made_batch()
    flipped = logits.copy()
    flipped[0, 2, 0] = -6.0
    tensors = [keras.ops.convert_to_tensor(x) for x in (targets, flipped, mask)]
    assert float(metrics.bit_errors_per_sequence(*tensors)) == 0.5
    assert float(metrics.masked_sigmoid_cross_entropy(*tensors)) == pytest.approx(
        float(metrics.masked_sigmoid_cross_entropy(targets, flipped, mask)))
    # cost in bits from probabilities equals the sigmoid cross-entropy from logits / ln 2
    probabilities = keras.ops.sigmoid(tensors[1])
    assert float(metrics.masked_cross_entropy_bits(tensors[0], probabilities, tensors[2])) == pytest.approx(
        float(metrics.masked_sigmoid_cross_entropy(*tensors)) / math.log(2), rel=1e-4)


# ----------------------------------------------------------------------------------------------------------------
# tf.data
# ----------------------------------------------------------------------------------------------------------------


def test_dataset_shapes_and_static_pad_to():
    task = CopyTask(bits=4, max_length=6)
    dataset = task.dataset(batch_size=5, seed=1, pad_to=task.max_time())
    inputs_spec, targets_spec, mask_spec = dataset.element_spec
    assert tuple(inputs_spec.shape) == (5, 13, 5)
    assert tuple(targets_spec.shape) == (5, 13, 4)
    assert tuple(mask_spec.shape) == (5, 13)
    for inputs, targets, mask in dataset.take(2):
        assert inputs.shape == (5, 13, 5) and targets.shape == (5, 13, 4) and mask.shape == (5, 13)
        assert inputs.dtype.name == "float32"
    variable = task.dataset(batch_size=5, seed=1)
    assert variable.element_spec[0].shape.as_list() == [5, None, 5]


def test_dataset_is_reproducible_and_skip_batches_continues_the_stream():
    task = RepeatCopyTask(bits=3, max_length=4, max_repeats=3)
    fresh = [tuple(x.numpy() for x in batch) for batch in task.dataset(4, seed=7).take(4)]
    again = [tuple(x.numpy() for x in batch) for batch in task.dataset(4, seed=7).take(4)]
    resumed = next(iter(task.dataset(4, seed=7, skip_batches=3)))
    for batch_a, batch_b in zip(fresh, again):
        for a, b in zip(batch_a, batch_b):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(fresh[3], resumed):
        np.testing.assert_array_equal(a, b.numpy())
    # batch k is task.sample(batch_size, batch_rng(seed, k))
    for a, b in zip(fresh[2], task.sample(4, batch_rng(7, 2))):
        np.testing.assert_array_equal(a, b)
    other_seed = next(iter(task.dataset(4, seed=8)))
    assert not all(a.shape == b.shape and np.array_equal(a, b.numpy()) for a, b in zip(fresh[0], other_seed))


def test_dataset_overrides_and_argument_checks():
    task = CopyTask(bits=2, max_length=5)
    inputs, _, mask = next(iter(task.dataset(3, seed=0, min_length=30, max_length=30)))
    assert inputs.shape == (3, 61, 3) and float(mask.numpy().sum()) == 90
    with pytest.raises(ValueError, match="pad_to"):
        task.dataset(3, seed=0, pad_to=task.max_time() - 1)
    with pytest.raises(ValueError, match="seed"):
        task.dataset(3, seed=-1)
    with pytest.raises(ValueError, match="skip_batches"):
        task.dataset(3, seed=0, skip_batches=-2)
    with pytest.raises(ValueError, match="batch_size"):
        task.dataset(0, seed=0)


def test_length_buckets_split_the_range_into_equal_contiguous_groups():
    copy = CopyTask(bits=2, min_length=1, max_length=20)
    groups = copy.length_buckets(4)
    assert [(g["min_length"], g["max_length"]) for g, _ in groups] == [(1, 5), (6, 10), (11, 15), (16, 20)]
    assert [p for _, p in groups] == [0.25] * 4
    assert all(set(g) == {"min_length", "max_length"} for g, _ in groups)
    uneven = copy.length_buckets(3, min_length=3, max_length=9)  # 7 values: 3 + 2 + 2
    assert [(g["min_length"], g["max_length"], p) for g, p in uneven] == [(3, 5, 3 / 7), (6, 7, 2 / 7), (8, 9, 2 / 7)]
    assert len(copy.length_buckets(50)) == 20  # never more groups than lengths
    assert copy.length_buckets(1) == [({"min_length": 1, "max_length": 20}, 1.0)]
    repeat = RepeatCopyTask(bits=2, max_length=4, max_repeats=3)
    assert [g for g, _ in repeat.length_buckets(2)] == [
        {"min_length": 1, "max_length": 2, "min_repeats": 1, "max_repeats": 3},
        {"min_length": 3, "max_length": 4, "min_repeats": 1, "max_repeats": 3}]
    recall = AssociativeRecallTask(bits=2, item_length=2, min_items=2, max_items=6)
    assert [(g["min_items"], g["max_items"]) for g, _ in recall.length_buckets(5)] == [(k, k) for k in range(2, 7)]
    for fixed in (NGramsTask(order=2, length=10), PrioritySortTask(bits=2, num_inputs=4, num_outputs=2)):
        assert fixed.length_buckets(8) == [(fixed.ranges, 1.0)]
    with pytest.raises(ValueError, match="length_buckets"):
        copy.length_buckets(0)


def test_bucketed_dataset_pads_each_batch_to_its_bucket_and_keeps_the_length_distribution():
    task = CopyTask(bits=2, min_length=1, max_length=8)
    dataset = task.dataset(16, seed=3, length_buckets=4)
    assert dataset.element_spec[0].shape.as_list() == [16, None, 3]
    buckets = {2 * g["max_length"] + 1: (g["min_length"], g["max_length"]) for g, _ in task.length_buckets(4)}
    lengths, times = [], []
    for inputs, _, mask in dataset.take(200):
        time = inputs.shape[1]
        assert time in buckets  # padded to its bucket's longest sequence
        batch_lengths = mask.numpy().sum(axis=1)  # a copy sequence of length L has L answer steps
        low, high = buckets[time]
        assert batch_lengths.min() >= low and batch_lengths.max() <= high
        lengths += list(batch_lengths)
        times.append(time)
    # Every length 1..8 stays equally likely (3,200 sequences: 400 expected each, sd about 55 with the batch
    # correlation of 16 sequences per bucket draw), and every bucket is used.
    counts = np.bincount(np.array(lengths, dtype=int), minlength=9)[1:]
    assert counts.min() > 200 and counts.max() < 600, counts
    assert set(times) == set(buckets)
    # Padding saved: the mean padded time is that of the buckets (5 + 9 + 13 + 17) / 4 = 11, not 17.
    assert 9 < np.mean(times) < 13


def test_bucketed_dataset_is_reproducible_resumable_and_checks_its_arguments():
    task = AssociativeRecallTask(bits=2, item_length=2, min_items=2, max_items=6)
    fresh = [tuple(x.numpy() for x in batch) for batch in task.dataset(4, seed=5, length_buckets=3).take(5)]
    resumed = next(iter(task.dataset(4, seed=5, length_buckets=3, skip_batches=4)))
    for a, b in zip(fresh[4], resumed):
        np.testing.assert_array_equal(a, b.numpy())
    # One bucket is the unbucketed stream, batch for batch.
    for a, b in zip(next(iter(task.dataset(4, seed=5, length_buckets=1))), task.sample(4, batch_rng(5, 0))):
        np.testing.assert_array_equal(a.numpy(), b)
    with pytest.raises(ValueError, match="pad_to.*length_buckets"):
        task.dataset(4, seed=5, pad_to=task.max_time(), length_buckets=2)
    with pytest.raises(ValueError, match="length_buckets"):
        task.dataset(4, seed=5, length_buckets=0)
    fixed = PrioritySortTask(bits=2, num_inputs=4, num_outputs=2)  # one bucket: pad_to is fine
    assert fixed.dataset(2, seed=0, pad_to=fixed.max_time(), length_buckets=4).element_spec[0].shape[1] == 7


# ----------------------------------------------------------------------------------------------------------------
# Argument validation
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory, argument, value", [
    (lambda: CopyTask(min_length=5, max_length=2), "min_length", "5"),
    (lambda: CopyTask(min_length=0), "min_length", "0"),
    (lambda: CopyTask(bits=0), "bits", "0"),
    (lambda: RepeatCopyTask(min_repeats=0), "min_repeats", "0"),
    (lambda: RepeatCopyTask(min_repeats=7, max_repeats=3), "min_repeats", "7"),
    (lambda: RepeatCopyTask(max_length=0), "max_length", "0"),
    (lambda: AssociativeRecallTask(min_items=1), "min_items", "1"),
    (lambda: AssociativeRecallTask(min_items=6, max_items=4), "min_items", "6"),
    (lambda: AssociativeRecallTask(bits=1, item_length=2, max_items=5), "max_items", "5"),
    (lambda: PrioritySortTask(num_inputs=4, num_outputs=5), "num_outputs", "5"),
    (lambda: PrioritySortTask(num_outputs=0), "num_outputs", "0"),
    (lambda: NGramsTask(order=6, length=5), "length", "5"),
    (lambda: NGramsTask(order=0), "order", "0"),
    (lambda: CopyTask().sample(2, rng(), min_length=9, max_length=3), "min_length", "9"),
    (lambda: CopyTask().max_time(max_length=-1), "max_length", "-1"),
    (lambda: RepeatCopyTask().sample(2, rng(), max_repeats=0), "max_repeats", "0"),
])
def test_bad_arguments_raise_value_error_naming_them(factory, argument, value):
    with pytest.raises(ValueError) as error:
        factory()
    assert argument in str(error.value) and value in str(error.value)


def test_non_integer_arguments_and_bad_rng_raise_type_error():
    with pytest.raises(TypeError, match="max_length"):
        CopyTask(max_length=2.5)
    with pytest.raises(TypeError, match="rng"):
        CopyTask().sample(2, 123)


# ----------------------------------------------------------------------------------------------------------------
# Documentation and layering
# ----------------------------------------------------------------------------------------------------------------


def docstring_pictures():
    sequence = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0]], np.float32)
    repeat_task = RepeatCopyTask(bits=2)
    items = np.array([[[1, 0], [0, 1]], [[1, 1], [1, 0]], [[0, 1], [0, 1]]], np.float32)
    vectors = np.array([[1, 0], [1, 1], [0, 1], [1, 1]], np.float32)
    priorities = np.array([0.3, -0.6, 0.9, 0.1], np.float32)
    ngram = build_ngram_examples(np.array([[1, 0, 1, 1, 0, 1, 1, 0, 0]]), order=3)
    two_bits = ["bit 0", "bit 1"]
    return {
        "copy": format_example(*build_copy_example(sequence), ["bit 0", "bit 1", "bit 2", "delimiter"],
                               ["bit 0", "bit 1", "bit 2"]),
        "repeat_copy": format_example(
            *build_repeat_copy_example(np.array([[1, 1], [0, 1]], np.float32), 2, repeat_task.normalise_repeats(2)),
            two_bits + ["delimiter", "repeats"], two_bits + ["end marker"]),
        "associative_recall": format_example(*build_recall_example(items, 0),
                                             two_bits + ["item delimiter", "query delimiter"], two_bits),
        "priority_sort": format_example(*build_priority_sort_example(vectors, priorities, 3),
                                        two_bits + ["priority", "delimiter"], two_bits),
        "ngrams": format_example(ngram[0][0], ngram[1][0], ngram[2][0], ["bit"], ["next bit"]),
    }


@pytest.mark.parametrize("name", sorted(TASKS))
def test_module_docstring_picture_matches_the_generator(name):
    module = sys.modules[TASKS[name].__module__]
    picture = "\n".join("    " + line for line in docstring_pictures()[name].splitlines())
    assert picture in module.__doc__


def test_tasks_package_imports_no_model_code_and_no_keras_at_import():
    # Besides its own modules, the one module of ntm_cell it may import: the argument checks, which import nothing.
    for path in TASKS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for imported in names:
                if imported != "ntm_cell.arguments" and not (imported + ".").startswith("ntm_cell.tasks."):
                    assert not imported.startswith(("ntm_cell", "experiments")), (path.name, imported)
    check = ("import sys; from ntm_cell import tasks; bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
             "sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", check], cwd=TASKS_DIR.parent, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
