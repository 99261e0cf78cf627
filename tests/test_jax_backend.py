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
BACKEND_AGNOSTIC_MODULES = ["test_ntm_cell.py"]
#: Tests of those modules not run again under JAX: they check Keras bookkeeping (configs, which weights are
#: trainable, the layout of the state list) rather than numerics of the cell's operations, and took 42 of the
#: child's ~200 s on the 2-core CI machine.
NOT_AGAIN_UNDER_JAX = [
    "test_get_config_from_config_round_trip",
    "test_frozen_memory_inits_get_no_update",
    "test_matrix_memory_state_gives_the_numbers_of_the_flat_one",
    "test_matrix_memory_state_cell_keeps_a_flat_initial_state_flat",
]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_core_cell_tests_pass_under_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    modules = [str(TESTS / name) for name in BACKEND_AGNOSTIC_MODULES]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *modules,
         "-k", " and ".join(f"not {name}" for name in NOT_AGAIN_UNDER_JAX)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "passed" in result.stdout and " failed" not in result.stdout


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
