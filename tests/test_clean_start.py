"""A clean start: train.py's header is the first line a user sees; TensorFlow's CPU-only start-up lines are dropped,
every other line is kept (ntm_cell.experiments.startup)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ntm_cell.experiments import startup

ROOT = Path(__file__).resolve().parents[1]

#: What TensorFlow 2.21 writes while it loads on a CPU-only machine, whatever TF_CPP_MIN_LOG_LEVEL says (0 for
#: the last two).
BENIGN_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796525293.377834    9345 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796408554.825401   24058 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "E0000 00:00:1796408558.006997   24058 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1796408574.765343   24356 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
]
OTHER_LINES = [
    "E0000 00:00:1796408558.006997   24058 cuda_dnn.cc:8310] Unable to register cuDNN factory",
    "E0000 00:00:1796408558.006997   24058 some_file.cc:52] failed call to cuInit: but from elsewhere",
    "Traceback (most recent call last):",
    "    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "anything at all",
    "I0000 00:00:1796525293.377834    9345 port.cc:153] oneDNN custom operations are on, and more",
]


def test_benign_start_up_lines_are_dropped_and_every_other_line_is_kept():
    text = "".join(line + "\n" for pair in zip(BENIGN_LINES, OTHER_LINES) for line in pair) + "no line break"
    kept = startup.lines_to_keep(text)
    assert kept == "".join(line + "\n" for line in OTHER_LINES) + "no line break"
    assert startup.lines_to_keep(text, verbose=True) == text


def test_with_a_gpu_the_cuda_lines_are_kept():
    kept = startup.lines_to_keep("\n".join(BENIGN_LINES) + "\n", gpu=True).splitlines()
    assert kept == [line for line in BENIGN_LINES if "cuda" in line.lower()] and len(kept) == 2


def test_stderr_filtered_holds_back_descriptor_2_and_writes_back_what_is_kept(capfd):
    def noisy():
        os.write(2, ("\n".join(BENIGN_LINES + ["E0000 kept error"]) + "\n").encode())
        print("stdout is untouched", flush=True)
        return 42

    assert startup.stderr_filtered(noisy) == 42
    out, err = capfd.readouterr()
    assert (out, err) == ("stdout is untouched\n", "E0000 kept error\n")

    def failing():
        os.write(2, (BENIGN_LINES[0] + "\nwhat went wrong\n").encode())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        startup.stderr_filtered(failing)
    assert capfd.readouterr().err == "what went wrong\n"
    os.write(2, b"descriptor 2 is restored\n")
    assert capfd.readouterr().err == "descriptor 2 is restored\n"
    startup.stderr_filtered(noisy, verbose=True)
    assert capfd.readouterr().err == "\n".join(BENIGN_LINES + ["E0000 kept error"]) + "\n"


def test_train_py_prints_its_header_first(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "--steps=1", "--eval_every=1", "--nojit_compile",
         "--batch_size=2", "--eval_size=2", "--memory_size=8", f"--logdir={tmp_path}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240, env=env, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Training ntm on copy (seed 0) in {tmp_path / 'copy' / 'ntm' / 'seed0'}: "), lines[:8]
    assert lines[-1].startswith("Saved "), lines[-8:]


@pytest.mark.parametrize("given, expected", [(None, "true"), ("false", "false")])
def test_experiments_defaults_to_the_bfc_allocator_unless_the_environment_says_otherwise(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if given is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = given
    code = ("import os, sys, ntm_cell.experiments; "
            "print(os.environ['TF_CPU_ALLOCATOR_USE_BFC'], 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [expected, "False"]  # set before TensorFlow is imported, which reads it
