"""Importing TensorFlow without its CPU-only start-up lines, so that a script's own first line is the first one seen.

TensorFlow writes some lines to file descriptor 2 while it loads and first lists its devices, before its logging
is set up, so ``TF_CPP_MIN_LOG_LEVEL`` does not hide them. On a machine without a GPU these are noise:
:data:`BENIGN` lists them. :func:`import_tensorflow_quietly` captures descriptor 2 while TensorFlow loads and
writes back every captured line but those (:func:`lines_to_keep`), so anything else, a real error included, still
reaches stderr. With absl's ``--verbosity=1`` or higher every line is written back. Every script calls it, or a
function that calls it (:func:`ntm_cell.experiments.runs.load_run`), before TensorFlow is first imported.

This module imports neither TensorFlow nor Keras at import time.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

#: The prefix of a line of TensorFlow's C++ logging: severity, date, time, thread, ``file.cc:line]``.
_PREFIX = r"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ "

#: ``(pattern, benign only without a GPU)`` of each line a CPU-only start-up writes that says nothing to act on.
BENIGN = (
    (re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"), False),
    (re.compile(_PREFIX + r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be "
                r"used\."), True),
    (re.compile(_PREFIX + r"cuda_platform\.cc:\d+\] failed call to cuInit: .*"), True),
    (re.compile(_PREFIX + r"port\.cc:\d+\] oneDNN custom operations are on\. You may see slightly different "
                r"numerical results due to floating-point round-off errors from different computation orders\. To "
                r"turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`\."), False),
    (re.compile(_PREFIX + r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use available CPU "
                r"instructions in performance-critical operations\."), False),
    (re.compile(r"To enable the following instructions: [A-Z0-9_ ,.]+, in other operations, rebuild TensorFlow "
                r"with the appropriate compiler flags\."), False),
)


def gpu_present():
    """Whether this machine has an NVIDIA GPU and driver (``/proc/driver/nvidia`` or a ``/dev/nvidia<k>``)."""
    return Path("/proc/driver/nvidia").exists() or any(Path("/dev").glob("nvidia[0-9]*"))


def lines_to_keep(text, verbose=False, gpu=False):
    """``text`` without the lines that match a pattern of :data:`BENIGN` (one about the GPU only when ``gpu`` is
    false); all of it when ``verbose``. Each kept line keeps its line break."""
    if verbose:
        return text
    kept = []
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if not any(pattern.fullmatch(bare) and not (gpu and about_gpu) for pattern, about_gpu in BENIGN):
            kept.append(line)
    return "".join(kept)


def verbosity_requested():
    """Whether absl's ``--verbosity`` is 1 or more (false before the flags are parsed)."""
    from absl import flags, logging

    return flags.FLAGS.is_parsed() and logging.get_verbosity() >= 1


def import_tensorflow_quietly(verbose=None):
    """Import TensorFlow and list its devices with :func:`stderr_filtered`: its CPU-only start-up lines are dropped.

    Call it once the flags are parsed and before anything imports TensorFlow; afterwards ``import tensorflow`` is
    free. ``verbose`` (default: :func:`verbosity_requested`) keeps every line (``TF_CPP_MIN_LOG_LEVEL``, see
    :mod:`experiments`, still decides which lines TensorFlow writes). Listing the physical devices loads the GPU
    platform but does not start TensorFlow's runtime: thread counts and ``tf.distribute`` strategies can still be
    set up afterwards.

    Returns:
        the ``tensorflow`` module.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]

    def load():
        import tensorflow as tf

        tf.config.list_physical_devices()
        return tf

    return stderr_filtered(load, verbosity_requested() if verbose is None else verbose)


def stderr_filtered(function, verbose=False):
    """``function()``, with what it writes to file descriptor 2 (C++ libraries included) held back until it returns
    or raises, then written to stderr but for the lines :func:`lines_to_keep` drops."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return function()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = lines_to_keep(captured.read().decode("utf-8", "replace"), verbose, gpu_present())
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
