"""Time the real training step of train.py: NTM vs LSTM (vs DNC), with and without XLA, and NTM sweeps.

    python scripts/benchmark.py                                  # ntm,lstm x batch 1,32 x XLA on/off, copy
    python scripts/benchmark.py --sweep=memory                   # NTM, N = 128 ... 1024, batch 32, XLA
    python scripts/benchmark.py --sweep=length                   # NTM, copy length 20, 100, 500, batch 32, XLA
    python scripts/benchmark.py --model=ntm --batch_sizes=32 --jit_compile=true --steps=50
    python scripts/benchmark.py --model=ntm --jit_compile=true --profile_steps=5   # + time per XLA kernel
    python scripts/benchmark.py --model=ntm --batch_sizes=32 --jit_compile=true --length_buckets=1,4,20
    python scripts/benchmark.py --model=ntm --batch_sizes=32 --jit_compile=true --batch_splits=1,2

Prints a Markdown table and writes ``<output_dir>/<name>.{csv,json,md}`` (and ``<name>_profile.md``). See
``experiments/bench/runner.py`` for how the numbers are taken (interleaved rounds, medians, per-process peak memory).
"""

import shlex
import sys

from absl import app, flags

from ntm_cell.experiments import commands, configs, startup
from ntm_cell.experiments.bench import cases as bench_cases  # light: TensorFlow is imported when the benchmark starts
from ntm_cell.experiments.bench import profiling, runner

FLAGS = flags.FLAGS
flags.DEFINE_list("model", ["ntm", "lstm"], f"Models to time, comma-separated ({', '.join(configs.MODELS)}).")
flags.DEFINE_enum("task", "copy", configs.TASK_NAMES, "Task whose paper configuration and batches are used.")
flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes, comma-separated.")
flags.DEFINE_list("jit_compile", ["true", "false"], "XLA settings to time: true, false or both (comma list).")
flags.DEFINE_enum("sweep", "none", bench_cases.SWEEPS,
                  f"NTM sweeps at batch {bench_cases.SWEEP_BATCH_SIZE} with XLA: memory (N = "
                  f"{', '.join(map(str, bench_cases.MEMORY_SWEEP))}) or length (copy length "
                  f"{', '.join(map(str, bench_cases.LENGTH_SWEEP))}).")
flags.DEFINE_integer("steps", 30, "Timed steps per configuration.", lower_bound=1)
flags.DEFINE_integer("warmup", 5, "Untimed warm-up steps per configuration (after compiling).", lower_bound=0)
flags.DEFINE_integer("memory_size", None, "Memory rows of the NTM and DNC (default: the paper configuration).",
                     lower_bound=1)
flags.DEFINE_integer("max_length", None, "Overrides the task's max_length (copy, repeat_copy).", lower_bound=1)
flags.DEFINE_list("length_buckets", ["1"], "Length bucket counts to time, comma-separated, as train.py "
                  "--length_buckets (1: every batch padded to the task's longest time).")
flags.DEFINE_list("batch_splits", ["0"], "Parts each batch's gradient is computed in at once, comma-separated, as "
                  "train.py --batch_splits (0, train.py's default: one per TensorFlow thread; 1: the whole batch in "
                  "one program).")
flags.DEFINE_list("precision", ["float32"], "Keras dtype policies to time, comma-separated, as train.py --precision "
                  f"({', '.join(configs.PRECISIONS)}).")
flags.DEFINE_bool("tiny", False, "Tiny models (a few hundred parameters) for smoke tests.")
flags.DEFINE_bool("isolate_memory", True, "Measure each configuration's peak memory alone in a subprocess "
                  "(otherwise: this process's cumulative peak).")
flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow intra-op threads, set as train.py --threads sets them "
                     "(0: TensorFlow's default, as train.py runs by default).", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of the weights and batches.", lower_bound=0)
flags.DEFINE_string("output_dir", "benchmarks", "Where the CSV, JSON and Markdown go.")
flags.DEFINE_integer("profile_steps", 0, "After timing, trace this many steps of every XLA case with TensorFlow's "
                     "profiler and write the time per kernel group and the slowest kernels to <name>_profile.md.",
                     lower_bound=0)
flags.DEFINE_string("name", None, "Base name of the output files (default: <task>_<models> or <task>_sweep_<sweep>).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        batch_sizes = [int(b) for b in FLAGS.batch_sizes]
        try:
            length_buckets = [int(k) for k in FLAGS.length_buckets]
        except ValueError:
            raise ValueError(f"--length_buckets takes integers, got {','.join(FLAGS.length_buckets)}") from None
        try:
            batch_splits = [int(k) for k in FLAGS.batch_splits]
        except ValueError:
            raise ValueError(f"--batch_splits takes integers, got {','.join(FLAGS.batch_splits)}") from None
        if FLAGS.profile_steps and any(k > 1 for k in length_buckets):
            raise ValueError("--profile_steps traces one padded length: use it without --length_buckets")
        cases = bench_cases.make_cases(
            models=FLAGS.model,
            task=FLAGS.task,
            batch_sizes=batch_sizes,
            jit_compile=bench_cases.parse_bools(FLAGS.jit_compile),
            sweep=FLAGS.sweep,
            tiny=FLAGS.tiny,
            memory_size=FLAGS.memory_size,
            max_length=FLAGS.max_length,
            length_buckets=length_buckets,
            batch_splits=batch_splits,
            precision=FLAGS.precision,
        )
    except ValueError as error:
        raise app.UsageError(str(error))
    name = FLAGS.name or bench_cases.default_name(FLAGS.task, FLAGS.model, FLAGS.sweep)
    startup.import_tensorflow_quietly()  # before the runner imports TensorFlow
    command = "python scripts/benchmark.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    runner.benchmark(cases, output_dir=FLAGS.output_dir, name=name, steps=FLAGS.steps, warmup=FLAGS.warmup,
                     seed=FLAGS.seed, isolate_memory=FLAGS.isolate_memory, intra_op_threads=FLAGS.intra_op_threads,
                     command=command.strip(), profile_steps=FLAGS.profile_steps, profiler=profiling.profile_cases)
    return 0


def run():
    """Parse the flags and run :func:`main`: ``python scripts/benchmark.py`` and the ``ntm-benchmark`` command."""
    commands.as_main(__name__)  # the installed command prints this script's help
    app.run(main)


if __name__ == "__main__":
    run()
