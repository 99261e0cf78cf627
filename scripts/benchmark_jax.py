"""Time the training step under the JAX backend, on a machine with JAX and without TensorFlow (a lent GPU).

    python scripts/benchmark_jax.py                                    # NTM and LSTM, batch 1 and 32, float32
    python scripts/benchmark_jax.py --batch_sizes=32 --precision=float32,mixed_float16
    python scripts/benchmark_jax.py --sweep=memory                     # NTM, N = 128 ... 1024, batch 32
    python scripts/benchmark_jax.py --model=ntm --tiny --max_length=3 --steps=3   # a smoke run

Builds the model, optimizer and loss train.py would build for each configuration and times one jax.jit-compiled
step (forward, gradient, update) on batches padded to the task's longest time (see experiments/bench/jax_step.py);
prints the devices and a Markdown table, and writes it to --output when given. scripts/benchmark.py times
train.py's own (TensorFlow) step instead.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is imported

from absl import app, flags

from ntm_cell.experiments import configs
from ntm_cell.experiments.bench import cases as bench_cases  # light: Keras and JAX are imported after flag parsing

FLAGS = flags.FLAGS
flags.DEFINE_list("model", ["ntm", "lstm"], f"Models to time, comma-separated ({', '.join(configs.MODELS)}).")
flags.DEFINE_enum("task", "copy", configs.TASK_NAMES, "Task whose paper configuration and batches are used.")
flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes, comma-separated.")
flags.DEFINE_list("precision", ["float32"], f"Keras dtype policies, comma-separated ({', '.join(configs.PRECISIONS)}).")
flags.DEFINE_enum("sweep", "none", bench_cases.SWEEPS,
                  f"NTM sweeps at batch {bench_cases.SWEEP_BATCH_SIZE}, as scripts/benchmark.py's: memory (N = "
                  f"{', '.join(map(str, bench_cases.MEMORY_SWEEP))}) or length (copy length "
                  f"{', '.join(map(str, bench_cases.LENGTH_SWEEP))}); --model and --batch_sizes are then ignored.")
flags.DEFINE_integer("memory_size", None, "Memory rows of the NTM and DNC (default: the paper configuration).",
                     lower_bound=1)
flags.DEFINE_integer("max_length", None, "Overrides the task's max_length (copy, repeat_copy).", lower_bound=1)
flags.DEFINE_bool("tiny", False, "Tiny models, for smoke runs.")
flags.DEFINE_integer("steps", 30, "Timed steps per configuration.", lower_bound=1)
flags.DEFINE_integer("warmup", 5, "Untimed steps per configuration after compiling.", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of the weights and batches.", lower_bound=0)
flags.DEFINE_string("output", None, "Also write the devices line, the command and the table to this Markdown file.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if os.environ["KERAS_BACKEND"] != "jax":
        raise app.UsageError(f"KERAS_BACKEND={os.environ['KERAS_BACKEND']}: this script times the JAX backend "
                             "(scripts/benchmark.py times TensorFlow's)")
    try:
        batch_sizes = [int(b) for b in FLAGS.batch_sizes]
        cases = bench_cases.make_cases(models=FLAGS.model, task=FLAGS.task, batch_sizes=batch_sizes,
                                       jit_compile=[True], tiny=FLAGS.tiny, memory_size=FLAGS.memory_size,
                                       max_length=FLAGS.max_length, precision=FLAGS.precision, sweep=FLAGS.sweep)
    except ValueError as error:
        raise app.UsageError(str(error))
    from ntm_cell.experiments import reports
    from ntm_cell.experiments.bench import jax_step, results

    rows = []
    for case in cases:
        row = jax_step.time_case(case, steps=FLAGS.steps, warmup=FLAGS.warmup, seed=FLAGS.seed)
        print(f"{case.label():40s} compile {row['compile_s']:6.1f} s  median {row['median_ms']:8.2f} ms  "
              f"loss {row['loss']:.4f}", flush=True)
        rows.append(row)
    command = "python scripts/benchmark_jax.py " + " ".join(sys.argv[1:])
    report = (f"Devices: {jax_step.describe_devices()}.\n\nCommand: `{command.strip()}`\n\n"
              f"Median and 10th/90th percentiles of {FLAGS.steps} timed steps per configuration after "
              f"{FLAGS.warmup} untimed ones, each until its loss is on the host.\n\n"
              + reports.markdown_table(rows, jax_step.TABLE_COLUMNS, results.format_cell, results.LEFT_ALIGNED) + "\n")
    ratios = jax_step.markdown_ratios(jax_step.sweep_ratios(rows) if FLAGS.sweep != "none" else [])
    if ratios:
        report += "\nCases timed one after another.\n\n" + ratios
    print("\n" + report)
    if FLAGS.output:
        with open(FLAGS.output, "w", encoding="utf-8") as f:
            f.write(report)
    return 0


def run():
    """Parse the flags and run :func:`main` (``python scripts/benchmark_jax.py``)."""
    app.run(main)


if __name__ == "__main__":
    run()
