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


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_core_cell_tests_pass_under_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    modules = [str(TESTS / name) for name in BACKEND_AGNOSTIC_MODULES]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *modules],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "passed" in result.stdout and " failed" not in result.stdout
