"""The machine a benchmark runs on: CPU, cores, memory and library versions, CPU time stolen by the host, this
process's resident memory, and TensorFlow's threads.

TensorFlow and Keras are imported by :func:`machine_info` and :func:`configure_threads`, not by this module.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

import numpy as np


def _cpu_model():
    """The CPU's model name (from ``/proc/cpuinfo``, else what :mod:`platform` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _meminfo_gb():
    """The machine's memory in GB (``MemTotal`` of ``/proc/meminfo``), or ``None``."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def configure_threads(intra_op_threads):
    """Limit TensorFlow (and XLA:CPU) to ``intra_op_threads`` threads as ``train.py --threads`` does; 0 keeps
    TensorFlow's default.

    Must run before TensorFlow executes anything.
    """
    if intra_op_threads:
        from ntm_cell.experiments.devices import set_threads

        set_threads(intra_op_threads)


def machine_info():
    """CPU, cores, memory, library versions and backend, as a dict (goes into the JSON and the table header)."""
    import keras
    import tensorflow as tf

    from ntm_cell.experiments.devices import usable_cores

    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_gb": _meminfo_gb(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "backend": keras.backend.backend(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default",
        "cpu_allocator": cpu_allocator(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def cpu_times(stat_text=None):
    """The machine's CPU time counters: ``{"total", "steal"}`` clock ticks since boot, summed over its CPUs.

    Read from the ``cpu`` line of ``/proc/stat`` (or ``stat_text``): user, nice, system, idle, iowait, irq, softirq
    and steal time. "Steal" is time a virtual CPU was ready to run but its host ran something else; on a shared
    virtual machine it slows every step without showing in the load average. ``None`` where there is no such file
    (not Linux).
    """
    try:
        text = Path("/proc/stat").read_text() if stat_text is None else stat_text
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(x) for x in fields[1:9]] + [0] * (9 - len(fields))  # older kernels: no steal column
            return {"total": sum(ticks), "steal": ticks[7]}
    return None


def steal_percent(start, end):
    """Percent of the CPU time between two :func:`cpu_times` readings that was stolen by the host, or ``None``."""
    if not start or not end or end["total"] <= start["total"]:
        return None
    return round(100.0 * (end["steal"] - start["steal"]) / (end["total"] - start["total"]), 1)


def cpu_allocator(environ=None):
    """``"BFC"`` when ``TF_CPU_ALLOCATOR_USE_BFC`` (in ``environ``, default ``os.environ``) asks TensorFlow for its
    BFC allocator on the CPU (``true`` or ``1``, any case), else ``"default"``."""
    value = (os.environ if environ is None else environ).get("TF_CPU_ALLOCATOR_USE_BFC", "")
    return "BFC" if value.strip().lower() in ("true", "1") else "default"


def describe_machine(info):
    """One line naming the machine, the libraries and the load, from a :func:`machine_info` dict (with
    ``cpu_steal_percent``, from :func:`steal_percent`, where the run has measured it)."""
    gpus = ", ".join(info["gpus"]) or "no GPU"
    return (f"{info['cpu_model']}, {info['usable_cores']} usable of {info['logical_cores']} logical cores, "
            f"{info['memory_gb']} GB RAM, {gpus}; TensorFlow {info['tensorflow']}, Keras {info['keras']} "
            f"(backend {info['backend']}), Python {info['python']}; TensorFlow threads {info['intra_op_threads']}, "
            f"CPU allocator {info.get('cpu_allocator', 'default')}; "
            f"load average at start "
            f"{' / '.join(str(x) for x in info['load_average'])}"
            + (f"; CPU time stolen by the host during the run {info['cpu_steal_percent']}%"
               if info.get("cpu_steal_percent") is not None else ""))


def _proc_status_kb(field):
    """A field of ``/proc/self/status`` in kB (``VmHWM``, ``VmRSS``), or ``None``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mb():
    """This process's peak resident set size in MB (``VmHWM``, else ``ru_maxrss``)."""
    kb = _proc_status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":
            kb /= 1024
    return kb / 1024


def current_rss_mb():
    """This process's resident set size now in MB (``VmRSS``), or ``None`` where there is no ``/proc``."""
    kb = _proc_status_kb("VmRSS")
    return None if kb is None else kb / 1024
