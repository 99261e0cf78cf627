"""Where an XLA-compiled training step spends its time: per-kernel times from TensorFlow's profiler.

``scripts/benchmark.py --profile_steps=K`` passes :func:`profile_cases` to
:func:`ntm_cell.experiments.bench.runner.benchmark`, which calls it after timing: it builds and compiles each XLA case
again (the timed ones are not kept) and traces ``K`` training steps with ``tf.profiler``, reads the trace (an
``XSpace`` protobuf, which also embeds the compiled HLO module) and sums the time of every kernel that XLA's CPU
runtime ran, per training step. The HLO gives each kernel its output shape and the TensorFlow op it came from, which
sorts the kernels into groups:

- ``stack push`` / ``stack pop``: copies of per-step intermediates onto the stacks the backward pass reads
  (TensorFlow's ``TensorListPushBack`` / ``PopBack`` inside the recurrent loop's gradient);
- ``matmul``: the dense layers' matrix products (controller, interface, output layer, and their gradients) where
  XLA runs them as kernels of their own (at batch 1 it fuses most of them with their neighbours: ``other``);
- ``memory-sized``: any other kernel whose output is memory-shaped (ends in ``M, N`` or ``M * N``);
- ``other forward`` / ``other backward``: the rest, by whether the op belongs to the gradient.

Kernel times are summed over the profiler's threads (XLA runs independent kernels on several cores at once, so the
total can exceed the step's wall time) and include the profiler's own overhead per kernel. Times are in
milliseconds per training step, microseconds per kernel call.

TensorFlow is imported when a trace is taken or read, not by this module.
"""

import collections
import dataclasses
import glob
import os
import tempfile

from ntm_cell.experiments import reports
from ntm_cell.experiments.bench.runner import PreparedCase

#: Kernel groups, in the order the report lists them.
GROUPS = ("stack push", "stack pop", "matmul", "memory-sized", "other forward", "other backward")


@dataclasses.dataclass
class Kernel:
    """One compiled kernel: its name in the HLO, its output shape, the TensorFlow op it came from."""

    name: str
    shape: tuple
    op_name: str
    op_type: str
    opcode: str


def hlo_kernels(hlo_module):
    """``{instruction name: Kernel}`` for every instruction of an ``HloModuleProto``."""
    kernels = {}
    for computation in hlo_module.computations:
        for instruction in computation.instructions:
            shape = tuple(int(d) for d in instruction.shape.dimensions)
            kernels[instruction.name] = Kernel(
                instruction.name, shape, instruction.metadata.op_name, instruction.metadata.op_type,
                instruction.opcode,
            )
    return kernels


def module_kernels(modules):
    """``{(program id, instruction name): Kernel}`` for every module of ``{program id: HloModuleProto}``."""
    return {(program, name): kernel for program, module in modules.items()
            for name, kernel in hlo_kernels(module).items()}


def kernel_group(kernel, memory_shape):
    """The :data:`GROUPS` entry of a :class:`Kernel`; ``memory_shape`` is ``(M, N)`` (or ``None``)."""
    if "TensorListPushBack" in kernel.op_type or "TensorListPushBack" in kernel.op_name:
        return "stack push"
    if "TensorListPopBack" in kernel.op_type or "TensorListPopBack" in kernel.op_name:
        return "stack pop"
    if kernel.op_type in ("MatMul", "BatchMatMulV2") or "MatMul" in kernel.op_name.rsplit("/", 1)[-1]:
        return "matmul"
    if memory_shape and (
        kernel.shape[-2:] == tuple(memory_shape) or kernel.shape[-1:] == (memory_shape[0] * memory_shape[1],)
    ):
        return "memory-sized"
    return "other backward" if "gradient_tape" in kernel.op_name else "other forward"


def read_trace(logdir):
    """The kernels of the newest trace in ``logdir``: ``(totals, modules)``.

    ``totals`` maps ``(program id, kernel name)`` to ``(picoseconds, calls)`` for every kernel XLA's runtime ran;
    ``modules`` maps each program id to its ``HloModuleProto``. The trace embeds every module the process has
    compiled, and kernel names repeat from one module to the next (``fusion.3``, ``MatMul.70``...), so each event
    is matched to the module it ran in by its ``program_id``.
    """
    from tensorflow.compiler.xla.service import hlo_pb2
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))
    if not paths:
        raise FileNotFoundError(f"no profiler trace under {logdir}")
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.defaultdict(lambda: [0, 0])
    modules = {}
    for plane in space.planes:
        stat_names = {key: value.name for key, value in plane.stat_metadata.items()}
        for metadata in plane.event_metadata.values():
            for stat in metadata.stats:
                if stat_names.get(stat.metadata_id) == "Hlo Proto" and stat.bytes_value:
                    proto = hlo_pb2.HloProto()
                    proto.ParseFromString(stat.bytes_value)
                    modules[int(proto.hlo_module.id)] = proto.hlo_module
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                program = [stat.int64_value for stat in event.stats if stat_names.get(stat.metadata_id) == "program_id"]
                if not program:
                    continue  # not an XLA kernel (executor and TensorFlow op events)
                key = (int(program[0]), plane.event_metadata[event.metadata_id].name)
                totals[key][0] += event.duration_ps
                totals[key][1] += 1
    return {key: tuple(value) for key, value in totals.items()}, modules


def summarize(totals, kernels, steps, time_steps, memory_shape):
    """Per-step totals by group and per kernel, for kernels the HLO names (runtime bookkeeping is left out).

    ``totals`` and ``kernels`` are keyed alike: ``(program id, kernel name)`` (:func:`read_trace`,
    :func:`module_kernels`).

    Returns:
        ``(groups, rows)``: ``groups`` maps each :data:`GROUPS` entry to ``(ms per step, kernels per time step)``;
        ``rows`` lists ``(kernel, group, ms per step, calls per step, microseconds per call)``, slowest first.
    """
    groups = {group: [0.0, 0.0] for group in GROUPS}
    rows = []
    for key, (picoseconds, calls) in totals.items():
        kernel = kernels.get(key)
        if kernel is None or kernel.opcode in ("while", "conditional", "call", "tuple", "get-tuple-element"):
            continue
        group = kernel_group(kernel, memory_shape)
        ms = picoseconds / 1e9 / steps
        groups[group][0] += ms
        groups[group][1] += calls / steps / time_steps
        rows.append((kernel, group, ms, calls / steps, picoseconds / 1e6 / calls))
    rows.sort(key=lambda row: -row[2])
    return {group: tuple(values) for group, values in groups.items()}, rows


def profile_cases(cases, steps=5, warmup=3, seed=0, printer=print):
    """Build, compile and warm up each XLA case, then :func:`profile_case` it.

    A case whose batch is computed in parts (``batch_splits``) is profiled computing it in one program: the
    profile sums kernel times per step, and parts running at once on different cores would overlap.

    Returns:
        Markdown with one :func:`markdown_profile` section per case (cases without XLA are skipped: their
        kernels are TensorFlow ops, not XLA kernels).

    Raises:
        ValueError: a case with length buckets (its steps mix time lengths; profile one padded length).
    """
    bucketed = [case.label() for case in cases if case.length_buckets > 1]
    if bucketed:
        raise ValueError(f"cannot profile cases with length buckets (their steps mix time lengths): {bucketed}")
    sections = []
    for case in cases:
        if not case.jit_compile:
            continue
        prepared = PreparedCase(dataclasses.replace(case, batch_splits=1), seed=seed)
        prepared.compile()
        for _ in range(warmup):
            prepared.step()
        printer(f"profiling {case.label()} ({steps} steps)")
        groups, rows = profile_case(prepared, steps)
        sections.append(markdown_profile(f"{case.label()}, T = {prepared.time_steps}", groups, rows))
    return "\n".join(sections)


def profile_case(prepared, steps=5, logdir=None):
    """Trace ``steps`` training steps of a compiled :class:`~ntm_cell.experiments.bench.runner.PreparedCase`;
    summarize them.

    The trace goes to ``logdir``, or to a temporary directory removed afterwards.
    """
    import tensorflow as tf

    if logdir is None:
        with tempfile.TemporaryDirectory(prefix="ntm_profile_") as scratch:
            return profile_case(prepared, steps, scratch)
    tf.profiler.experimental.start(logdir)
    try:
        for _ in range(steps):
            prepared.step()
    finally:
        tf.profiler.experimental.stop()
    totals, modules = read_trace(logdir)
    if not modules:
        raise RuntimeError("the trace holds no HLO module: was the step compiled with XLA?")
    from ntm_cell.experiments.models import memory_shape

    return summarize(totals, module_kernels(modules), steps, prepared.time_steps, memory_shape(prepared.model))


def _op(kernel):
    """The kernel's TensorFlow op, short: the part after the recurrent loop's scope, ``grad:`` for the gradient."""
    tail = kernel.op_name.rsplit("while/", 1)[-1][-60:]
    return ("grad: " if "gradient_tape" in kernel.op_name else "") + tail


def _format_group(row, column):
    """A cell of the group table: ms per step with two decimals, kernels per time step with one."""
    if column == "ms":
        return f"{row['ms']:.2f}"
    if column == "per_time_step":
        return f"{row['per_time_step']:.1f}"
    return row[column]


def _format_kernel(row, column):
    """A cell of the kernel table: names in code font, the shape as ``M×N``, ms per step with two decimals, calls
    per step without, microseconds per call with one."""
    kernel = row["kernel"]
    if column == "name":
        return f"`{kernel.name}`"
    if column == "shape":
        return "×".join(map(str, kernel.shape))
    if column == "op":
        return f"`{_op(kernel)}`"
    return {"group": "{}", "ms": "{:.2f}", "calls": "{:.0f}", "micros": "{:.1f}"}[column].format(row[column])


#: The columns of the two tables of :func:`markdown_profile`: ``(key, title)``.
GROUP_COLUMNS = (("group", "kernels"), ("ms", "ms per step"), ("per_time_step", "kernels per time step"))
KERNEL_COLUMNS = (("name", "kernel"), ("group", "group"), ("shape", "output shape"), ("op", "from op"),
                  ("ms", "ms per step"), ("calls", "calls per step"), ("micros", "µs per call"))


def markdown_profile(label, groups, rows, top=15):
    """A Markdown section: the group totals, then the ``top`` slowest kernels."""
    group_rows = [{"group": group, "ms": groups[group][0], "per_time_step": groups[group][1]} for group in GROUPS]
    kernel_rows = [dict(kernel=kernel, group=group, ms=ms, calls=calls, micros=micros)
                   for kernel, group, ms, calls, micros in rows[:top]]
    return "\n".join([
        f"#### {label}", "",
        reports.markdown_table(group_rows, GROUP_COLUMNS, _format_group, left_aligned=("group",)), "",
        reports.markdown_table(kernel_rows, KERNEL_COLUMNS, _format_kernel,
                               left_aligned=("name", "group", "shape", "op")),
    ]) + "\n"
