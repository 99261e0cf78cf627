"""Copy-task training throughput of the reference PyTorch NTM and of this project's NTM, timed in one run.

    python scripts/compare_reference.py --reference_dir=../pytorch-ntm --reference_python=../torch-env/bin/python
    python scripts/compare_reference.py --reference_dir=../pytorch-ntm --reference_python=../torch-env/bin/python \\
        --batch_sizes=1,32 --steps=30 --threads=1

The reference is https://github.com/loudinthecloud/pytorch-ntm. PyTorch is not a dependency of this project: give
the reference a virtual environment of its own, for example

    git clone https://github.com/loudinthecloud/pytorch-ntm ../pytorch-ntm
    python -m venv ../torch-env && ../torch-env/bin/pip install torch numpy "attrs<19.2"

(its ``CopyTaskParams`` uses ``attrib(convert=...)``, which attrs 19.2 removed).

What is timed, one side after the other in this one invocation, on the same machine:

- the reference: its own ``train_batch(net, criterion, optimizer, X, Y)`` (``train.py``) on batches of its own copy
  dataloader (``tasks/copytask.py``: ``CopyTaskModelTraining(params=CopyTaskParams(batch_size=B))``, 8-bit vectors,
  one length from 1-20 drawn per batch, so a batch takes 2L + 1 time steps), run by ``--reference_python`` in a
  subprocess. Throughput: sequences over the summed wall time of the timed batches, after ``--warmup`` batches.
- this project: ``scripts/benchmark.py --model=ntm --jit_compile=true`` at the same batch sizes, otherwise with
  benchmark.py's defaults (copy, train.py's batch parts, every batch padded to 41 time steps unless
  ``--length_buckets`` says otherwise), written to a temporary directory. Throughput: its ``seq/s`` column
  (batch size over the median step time).

Prints a Markdown table of both throughputs and their ratio. Nothing imports this script, and it does not import
torch itself.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_URL = "https://github.com/loudinthecloud/pytorch-ntm"
RESULT_MARKER = "REFERENCE_RESULT "

FLAGS = flags.FLAGS
flags.DEFINE_string("reference_dir", None, f"A checkout of {REFERENCE_URL}.")
flags.DEFINE_string("reference_python", None, "The python of a virtual environment with torch, numpy and attrs<19.2.")
flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes, comma-separated.")
flags.DEFINE_integer("steps", 30, "Timed training steps per batch size, on each side.", lower_bound=1)
flags.DEFINE_integer("warmup", 5, "Untimed training steps per batch size, before the timed ones.",
                     lower_bound=0)
flags.DEFINE_integer("threads", 0, "CPU threads of each side: torch.set_num_threads and benchmark.py "
                     "--intra_op_threads (0: each framework's default).", lower_bound=0)
flags.DEFINE_list("length_buckets", ["1"], "benchmark.py --length_buckets for this project's side (1: every batch "
                  "padded to the task's longest time; 5: train.py's default).")
flags.DEFINE_integer("seed", 0, "Seed of both sides' weights and batches.", lower_bound=0)

# Run by the reference's python with -c; argv[1] is a JSON object of settings. Prints one RESULT_MARKER line.
REFERENCE_DRIVER = r"""
import json, os, random, sys, time, types
settings = json.loads(sys.argv[1])
sys.path.insert(0, settings["reference_dir"])
os.chdir(settings["reference_dir"])
import numpy as np
import torch
try:
    import argcomplete  # train.py imports it at the top for its command line only
except ImportError:
    sys.modules["argcomplete"] = types.ModuleType("argcomplete")
from tasks.copytask import CopyTaskModelTraining, CopyTaskParams
from train import train_batch
if settings["threads"]:
    torch.set_num_threads(settings["threads"])
results = []
for batch_size in settings["batch_sizes"]:
    random.seed(settings["seed"])
    np.random.seed(settings["seed"])
    torch.manual_seed(settings["seed"])
    steps, warmup = settings["steps"], settings["warmup"]
    params = CopyTaskParams(batch_size=batch_size, num_batches=warmup + steps,
                            sequence_min_len=1, sequence_max_len=20)
    model = CopyTaskModelTraining(params=params)
    times, lengths = [], []
    for batch_num, x, y in model.dataloader:
        start = time.perf_counter()
        train_batch(model.net, model.criterion, model.optimizer, x, y)
        elapsed = time.perf_counter() - start
        if batch_num > warmup:
            times.append(elapsed)
            lengths.append(y.size(0))
    results.append({
        "batch_size": batch_size,
        "timed_steps": len(times),
        "seconds": sum(times),
        "sequences_per_s": batch_size * len(times) / sum(times),
        "median_ms": 1e3 * float(np.median(times)),
        "mean_time_steps": float(np.mean([2 * length + 1 for length in lengths])),
        "parameters": model.net.calculate_num_params(),
    })
print("REFERENCE_RESULT " + json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                        "results": results}))
"""

PROBE = "import json, attr, numpy, torch; print(json.dumps({'torch': torch.__version__, 'attrs': attr.__version__}))"


def fail(message):
    """Stop with one line on stderr."""
    sys.exit(f"compare_reference.py: error: {message}")


def check_reference_dir(reference_dir):
    if not reference_dir:
        fail(f"--reference_dir is required: a checkout of {REFERENCE_URL}")
    path = Path(reference_dir).expanduser().resolve()
    if not path.is_dir():
        fail(f"--reference_dir={reference_dir} does not exist: clone {REFERENCE_URL} there")
    missing = [name for name in ("train.py", "tasks/copytask.py", "ntm/aio.py") if not (path / name).is_file()]
    if missing:
        fail(f"--reference_dir={reference_dir} is not a checkout of {REFERENCE_URL} (no {', '.join(missing)})")
    return path


def check_reference_python(reference_python):
    """The reference python's torch and attrs versions, or a one-line error."""
    if not reference_python:
        fail("--reference_python is required: the python of a virtual environment with torch, numpy and attrs<19.2")
    try:
        probe = subprocess.run([reference_python, "-c", PROBE], capture_output=True, text=True, timeout=300)
    except OSError as error:
        fail(f"--reference_python={reference_python} cannot be run: {error.strerror or error}")
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        fail(f"--reference_python={reference_python} cannot import torch, numpy and attrs: {last}")
    versions = json.loads(probe.stdout.strip().splitlines()[-1])
    major_minor = tuple(int(part) for part in versions["attrs"].split(".")[:2] if part.isdigit())
    if major_minor >= (19, 2):
        fail(f"--reference_python={reference_python} has attrs {versions['attrs']}; the reference needs attrs<19.2 "
             "(pip install 'attrs<19.2')")
    return versions


def parse_batch_sizes(values):
    try:
        sizes = [int(value) for value in values]
    except ValueError:
        fail(f"--batch_sizes takes integers, got {','.join(values)}")
    if not sizes or any(size < 1 for size in sizes):
        fail(f"--batch_sizes must be positive integers, got {','.join(values)}")
    return sizes


def time_reference(reference_python, reference_dir, batch_sizes):
    settings = {"reference_dir": str(reference_dir), "batch_sizes": batch_sizes, "steps": FLAGS.steps,
                "warmup": FLAGS.warmup, "threads": FLAGS.threads, "seed": FLAGS.seed}
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.run([reference_python, "-c", REFERENCE_DRIVER, json.dumps(settings)],
                             capture_output=True, text=True, env=environment)
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if process.returncode != 0 or not lines:
        sys.stderr.write(process.stderr[-3000:])
        fail(f"the reference run failed (exit status {process.returncode}); its stderr is above")
    return json.loads(lines[-1][len(RESULT_MARKER):])


def time_ours(batch_sizes, output_dir):
    command = [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--model=ntm", "--jit_compile=true",
               f"--batch_sizes={','.join(map(str, batch_sizes))}",
               f"--length_buckets={','.join(FLAGS.length_buckets)}", f"--steps={FLAGS.steps}",
               f"--warmup={FLAGS.warmup}", f"--seed={FLAGS.seed}", "--noisolate_memory",
               f"--output_dir={output_dir}", "--name=ours"]
    if FLAGS.threads:
        command.append(f"--intra_op_threads={FLAGS.threads}")
    process = subprocess.run(command, cwd=ROOT)
    if process.returncode != 0:
        fail(f"scripts/benchmark.py failed (exit status {process.returncode}): {' '.join(command[1:])}")
    report = json.loads((Path(output_dir) / "ours.json").read_text())
    rows = [row for row in report["results"] if row["model"] == "ntm" and row["jit_compile"]]
    return report, rows


def markdown(reference, ours):
    lines = [
        "| batch | reference seq/s | reference time steps (mean) | ours seq/s | ours: buckets, parts, time steps "
        "| ours / reference |",
        "|---:|---:|---:|---:|---|---:|",
    ]
    by_batch = {row["batch_size"]: row for row in reference["results"]}
    for row in sorted(ours, key=lambda r: (r["batch_size"], r["length_buckets"])):
        theirs = by_batch.get(row["batch_size"])
        if theirs is None:
            continue
        lines.append(
            f"| {row['batch_size']} | {theirs['sequences_per_s']:,.1f} | {theirs['mean_time_steps']:.1f} "
            f"| {row['sequences_per_s']:,.0f} | {row['length_buckets']}, {row['batch_splits']}, "
            f"{row['time_steps']:g} | {row['sequences_per_s'] / theirs['sequences_per_s']:.1f}× |")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    reference_dir = check_reference_dir(FLAGS.reference_dir)
    versions = check_reference_python(FLAGS.reference_python)
    batch_sizes = parse_batch_sizes(FLAGS.batch_sizes)

    print(f"reference: {reference_dir} (torch {versions['torch']}, attrs {versions['attrs']}), "
          f"batch sizes {batch_sizes}, {FLAGS.steps} timed steps after {FLAGS.warmup}", flush=True)
    reference = time_reference(FLAGS.reference_python, reference_dir, batch_sizes)
    with tempfile.TemporaryDirectory() as output_dir:
        report, ours = time_ours(batch_sizes, output_dir)

    machine = report.get("machine", {})
    print()
    print(f"Machine: {machine.get('cpu_model', '?')}, {machine.get('usable_cores', '?')} usable cores; "
          f"reference torch {reference['torch']} with {reference['threads']} threads; ours TensorFlow "
          f"{machine.get('tensorflow', '?')}, threads {machine.get('intra_op_threads', '?')}.")
    print()
    print(markdown(reference, ours))
    return 0


def run():
    """Parse the flags and run :func:`main` (``python scripts/compare_reference.py``)."""
    app.run(main)


if __name__ == "__main__":
    run()
