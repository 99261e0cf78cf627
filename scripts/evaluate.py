"""Measure how a trained model generalises beyond its training ranges.

    python scripts/evaluate.py --run_dir=logs/copy/ntm/seed0
    python scripts/evaluate.py --model_path=model.keras --task=associative_recall --items=2,4,8,12

Writes <output_dir>/<task>_<model>_generalization.csv and .png and prints a Markdown table: mean bit errors per
sequence (± standard error) at every point of the sweep, from a fixed seed. Default sweeps: copy lengths 10..120;
repeat copy repeats 10..20 at length 10 and lengths 10..20 at 10 repeats (the first value of --lengths and
--repeats is the one held fixed); associative recall 2..15 items; N-grams (with the optimal estimator's cost
beside the model's) and priority sort in their training configuration.
"""

import os
import sys

from absl import app, flags

from ntm_cell.experiments import commands, run_flags  # light: TensorFlow is imported after the flags are parsed

FLAGS = flags.FLAGS
run_flags.define_run_flags(FLAGS)  # --model_path or --run_dir, --task, --task_kwargs
flags.adopt_module_key_flags(run_flags)  # so that --help lists them
flags.DEFINE_string("output_dir", "img", "Where the CSV file and the figure go.")
flags.DEFINE_integer("sequences", 1000, "Sequences per point of the sweep.", lower_bound=1)
flags.DEFINE_integer("batch_size", 100, "Sequences per model call.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the evaluation data.", lower_bound=0)
flags.DEFINE_list("lengths", None, "Sequence lengths (copy, repeat copy, N-grams), e.g. 10,20,40.")
flags.DEFINE_list("repeats", None, "Repeat counts (repeat copy), e.g. 10,15,20.")
flags.DEFINE_list("items", None, "Item counts (associative recall), e.g. 2,6,10.")


def _positive_integers(values):
    return values is None or all(v.strip().isdigit() and int(v) >= 1 for v in values)


for _name in ("lengths", "repeats", "items"):
    flags.register_validator(_name, _positive_integers, message=f"--{_name} must be a list of integers >= 1")


def _integers(values):
    return None if values is None else [int(v) for v in values]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    run = run_flags.load_run(run_flags.given_path(FLAGS), FLAGS)

    from ntm_cell.experiments import generalization
    from ntm_cell.experiments.plotting import figures, generalization_plot

    sweep = {"length": _integers(FLAGS.lengths), "repeats": _integers(FLAGS.repeats), "items": _integers(FLAGS.items)}
    try:
        generalization.check_applicable(run.task, sweep, plural=True, prefix="--")
    except ValueError as error:
        raise app.UsageError(str(error))
    try:
        points = generalization.sweep_points(run.task, lengths=sweep["length"], repeats=sweep["repeats"],
                                             items=sweep["items"])
        for point in points:  # reject impossible points (e.g. more items than there are distinct ones) first
            run.task.max_time(**generalization.expand_point(run.task, point))
    except (ValueError, TypeError) as error:
        raise app.UsageError(f"bad sweep for {run.task!r}: {error}")

    task_name = run.task.name
    print(f"Evaluating {run.source} ({run.model_name}) on {task_name}: {len(points)} points x {FLAGS.sequences} "
          f"sequences, seed {FLAGS.seed}", file=sys.stderr)

    def progress(row, seconds):
        where = ", ".join(f"{k}={v}" for k, v in row.items() if k not in generalization.METRIC_COLUMNS)
        print(f"  {where}: {row['bit_errors']:.3f} bit errors per sequence ({seconds:.1f} s)", file=sys.stderr)

    rows = generalization.generalization(run.model, run.task, points, sequences_per_point=FLAGS.sequences,
                                         batch_size=FLAGS.batch_size, seed=FLAGS.seed, progress=progress)
    stem = os.path.join(FLAGS.output_dir, f"{task_name}_{run.model_name}_generalization")
    generalization.write_csv(rows, stem + ".csv")
    seed = f", seed {run.config.seed}" if run.config else ""
    title = (f"{task_name.replace('_', ' ')}: {figures.model_label(run.model_name)}{seed}, generalisation\n"
             f"{FLAGS.sequences} sequences per point, mean ± standard error")
    generalization_plot.plot_generalization(rows, title=title, training=generalization.training_ranges(run.task),
                                            path=stem + ".png")
    print(generalization.markdown_table(rows))
    print(f"\nWrote {stem}.csv and {stem}.png")
    return 0


def run():
    """Parse the flags and run :func:`main`: ``python scripts/evaluate.py`` and the ``ntm-evaluate`` command."""
    commands.as_main(__name__)  # the installed command prints this script's help
    app.run(main)


if __name__ == "__main__":
    run()
