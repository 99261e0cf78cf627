"""The core cell tests again, under ``KERAS_BACKEND=jax``.

Keras picks its backend once per process, so this runs the backend-agnostic test modules
in a child pytest process. Skipped when JAX is not installed (``pip install -e ".[jax]"``).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
#: The tests of ``test_ntm_cell.py`` run again under JAX: the cell's numerics (the step against the addressing
#: functions, reads before writes, clipping, the RNN loop against ``trace``), gradients into the learned initial
#: state, training, masking, a changing batch size, ``.keras`` round trips and mixed precision. Left out are tests
#: of Keras' own bookkeeping (configs, trainable flags, state layouts), of wrappers whose logic is Keras' and not
#: the cell's (``Bidirectional``, ``go_backwards``, ``StackedRNNCells``, stacked controllers), and XLA on against
#: off, which under JAX compares XLA with XLA op by op: the whole module took 137-188 s under JAX on the 2-core CI
#: machine.
UNDER_JAX = [
    "test_rnn_eager_output_and_state_sizes",
    "test_fit_lowers_loss_and_stays_finite",
    "test_dynamic_batch_size",
    "test_return_state_in_functional_model_matches_trace",
    "test_masked_tail_leaves_final_state_of_unmasked_prefix",
    "test_keras_save_and_load_without_custom_objects[options0]",
    "test_keras_save_and_load_without_custom_objects[options2]",
    "test_keras_save_and_load_without_custom_objects[options6]",
    "test_gradients_reach_learned_initial_memory_reads_and_weightings",
    "test_initial_state_is_tiled_learned_values",
    "test_reads_see_memory_before_this_steps_writes_and_writes_apply_in_head_order",
    "test_outputs_and_interface_are_clipped",
    "test_step_uses_the_addressing_functions",
    "test_mixed_float16_computes_layers_in_16_bits_and_the_memory_in_float32",
]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_core_cell_tests_pass_under_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    node_ids = [f"{TESTS / 'test_ntm_cell.py'}::{name}" for name in UNDER_JAX]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n0", *node_ids],  # -n0: in one process
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert f"{len(UNDER_JAX)} passed" in result.stdout, result.stdout[-3000:]


DNC_UNDER_JAX = """
import keras, numpy as np
from keras import ops
from ntm_cell import DNCCell
assert keras.backend.backend() == "jax"
x = np.random.default_rng(0).random((3, 6, 4)).astype("float32")
inputs = keras.Input((None, 4))
masked = keras.layers.Masking(0.0)(inputs)
model = keras.Model(inputs, keras.layers.RNN(DNCCell(16, 8, 5, read_heads=2, output_units=3),
                                             return_sequences=True)(masked))
model.compile(optimizer="adam", loss="mse", jit_compile=True)
before = model.predict(x, verbose=0)
history = model.fit(x, np.zeros((3, 6, 3), "float32"), epochs=3, verbose=0)
assert np.all(np.isfinite(history.history["loss"])), history.history
model.save("{path}")
loaded = keras.models.load_model("{path}")
np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
print("DNC OK")
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_dnc_trains_and_round_trips_under_jax(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    script = DNC_UNDER_JAX.format(path=tmp_path / "dnc.keras")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "DNC OK" in result.stdout, result.stderr[-4000:]


JAX_STEP = """
import numpy as np
from ntm_cell import tasks
from ntm_cell.experiments.bench import jax_step
from ntm_cell.experiments.bench.cases import make_cases
from ntm_cell.experiments.models import build_model
from ntm_cell.experiments.optimizers import make_optimizer
for precision in ("float32", "mixed_float16"):
    case = make_cases(models=["ntm"], batch_sizes=[4], jit_compile=[True], tiny=True, max_length=3,
                      precision=[precision])[0]
    config = case.config()
    task = tasks.get_task(config.task, **config.task_kwargs)
    model = build_model("ntm", task.input_size, task.output_size, precision, **config.model_kwargs)
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)
    step = jax_step.make_step(model, optimizer)
    state = jax_step.initial_state(model, optimizer)
    batch = task.sample(4, np.random.default_rng(0), pad_to=task.max_time())
    losses = []
    for _ in range(30):
        state, loss, errors = step(state, *batch)
        losses.append(float(loss))
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.95 * losses[0], (precision, losses)
    print(precision, "OK", losses[0], losses[-1])
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_training_step_lowers_the_loss_and_its_script_writes_a_table(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", JAX_STEP], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.count(" OK ") == 2, result.stdout + result.stderr[-4000:]
    output = tmp_path / "jax.md"
    script = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_jax.py"
    result = subprocess.run(
        [sys.executable, str(script), "--model=ntm", "--tiny", "--max_length=3", "--steps=2", "--warmup=0",
         "--batch_sizes=2", f"--output={output}"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    table = output.read_text()
    assert "JAX device(s) (cpu:cpu)" in table and "| ntm | 2 | 8 | float32 | 7 |" in table
    refused = subprocess.run([sys.executable, str(script)], env=dict(env, KERAS_BACKEND="tensorflow"),
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "this script times the JAX backend" in refused.stderr


def test_jax_sweep_ratios_compare_each_row_with_the_first_of_its_model_batch_and_precision():
    from ntm_cell.experiments.bench import jax_step

    rows = [dict(model="ntm", batch_size=32, precision=precision, memory_size=n, time_steps=41, median_ms=ms)
            for precision, scale in (("float32", 1.0), ("mixed_float16", 2.0))
            for n, ms in ((128, 10.0 * scale), (1024, 30.0 * scale))]
    ratios = jax_step.sweep_ratios(rows)
    assert ratios == [("N=1024, T=41 vs N=128, T=41: step time, float32", pytest.approx(3.0)),
                      ("N=1024, T=41 vs N=128, T=41: step time, mixed_float16", pytest.approx(3.0))]
    assert "| N=1024, T=41 vs N=128, T=41: step time, float32 | 3.00 |" in jax_step.markdown_ratios(ratios)
    assert jax_step.sweep_ratios(rows[:1]) == [] and jax_step.markdown_ratios([]) == ""
