"""Learning curves of every model trained on one task, read from the runs' TensorBoard event files.

    python scripts/plot_curves.py --logdir=logs --task=copy

Reads <logdir>/<task>/<model>/seed<k>/events.out.tfevents.* and writes <output_dir>/<task>_learning_curves.png:
bit errors per sequence on the held-out batch against training sequences seen, one colour per model, the median
over seeds as a line and the min-max spread over seeds shaded. --metric draws another scalar instead (the file
name then ends in _<metric>).

    python scripts/plot_curves.py --task=copy --model=ntm --output_name=copy_memory_init \
        --compare=learned=logs,constant=logs/memory_init/constant,random=logs/memory_init/random

draws one curve per labelled log root instead (runs of --model only), e.g. to compare memory initialisations.

    python scripts/plot_curves.py --logdir=logs/budget --task=copy --csv_dir=docs/curves --write_csv

also writes each run's curve to <csv_dir>/<task>/<model>/seed<k>/<metric>.csv, and draws the curves kept there
beside those of the event files (a run in --logdir wins over a CSV of the same model and seed), so that a figure
can be redrawn, and runs added to it, after the event files are gone.
"""

import math
import os
import sys

from absl import app, flags

from ntm_cell.experiments import commands, configs, run_flags  # light: TensorFlow is imported after flag parsing

METRICS = {
    "bit_errors/eval": "bit errors per sequence (held-out batch)",
    "bit_errors/train": "bit errors per sequence (training batches)",
    "loss/eval": "loss, nats per sequence (held-out batch)",
    "loss/train": "loss, nats per sequence (training batches)",
}

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", "logs", "Root of the run directories (as given to train.py).")
flags.DEFINE_enum("task", "copy", configs.TASK_NAMES, "Task whose runs to draw.")
flags.DEFINE_enum("metric", "bit_errors/eval", list(METRICS), "Scalar to draw.")
flags.DEFINE_list("compare", None, "label=logdir pairs: one curve per label from the --model runs under that "
                  "logdir, instead of one curve per model.")
flags.DEFINE_enum("model", "ntm", configs.MODELS, "Model whose runs --compare draws.")
run_flags.define_figure_flags("<task>_learning_curves[_<metric>]", FLAGS)
flags.adopt_module_key_flags(run_flags)  # so that --help lists --output_dir and --output_name
flags.DEFINE_list("reference", None, "label=value pairs drawn as dashed horizontal lines, in the units drawn "
                  "(e.g. 'optimal estimator=128.2' with --metric=loss/eval --loss_in_bits).")
flags.DEFINE_integer("max_sequences", None, "Draw the x axis only up to this many training sequences.",
                     lower_bound=1)
flags.DEFINE_string("csv_dir", None, "Directory of curve CSVs (<csv_dir>/<task>/<model>/seed<k>/<metric>.csv) "
                    "drawn beside the runs in --logdir; a run in --logdir wins over a CSV of the same model and "
                    "seed.")
flags.DEFINE_bool("write_csv", False, "Write the curves read from --logdir's event files to --csv_dir first.")
flags.DEFINE_float("ymin", None, "Bottom of the y axis (default: 0 on a linear axis), e.g. 120 to tell apart "
                   "N-gram costs near the optimum's 128.")
flags.DEFINE_bool("loss_in_bits", False, "Draw a loss metric in bits (divided by ln 2) instead of nats.")
flags.DEFINE_enum("yscale", "auto", ["auto", "linear", "log"], "y axis: log (symmetric-log where values reach 0), "
                  "linear, or auto (log when the values span more than 1.5 decades).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.compare:
        return compare_main()
    task_dir = os.path.join(FLAGS.logdir, FLAGS.task)
    if not os.path.isdir(task_dir) and not FLAGS.csv_dir:
        raise app.UsageError(f"no runs found: {task_dir} does not exist (train with scripts/train.py "
                             f"--task={FLAGS.task} --logdir={FLAGS.logdir})")

    from ntm_cell.experiments import curves

    runs = curves.load_learning_curves(FLAGS.logdir, FLAGS.task, tag=FLAGS.metric)
    if FLAGS.write_csv:
        for path in curves.write_curve_csvs(runs, FLAGS.csv_dir, FLAGS.task, tag=FLAGS.metric):
            print(f"Wrote {path}")
    if FLAGS.csv_dir:
        try:
            kept = curves.load_curve_csvs(FLAGS.csv_dir, FLAGS.task, tag=FLAGS.metric)
        except ValueError as error:
            raise app.UsageError(str(error)) from None
        runs = curves.merge_curves(runs, kept)
    if not runs:
        places = os.path.join(task_dir, "<model>", "seed<k>")
        if FLAGS.csv_dir:
            places += f" or {os.path.join(FLAGS.csv_dir, FLAGS.task, '<model>', 'seed<k>')}"
        raise app.UsageError(f"no runs found: no {places} directory has event files or a CSV with "
                             f"{FLAGS.metric!r} values")
    title = f"{FLAGS.task.replace('_', ' ')}: learning curves"
    return draw(runs, title)


def output_path():
    suffix = "" if FLAGS.metric == "bit_errors/eval" else "_" + FLAGS.metric.replace("/", "_")
    return run_flags.figure_path(f"{FLAGS.task}_learning_curves{suffix}", FLAGS)


def compare_main():
    groups = []
    for item in FLAGS.compare:
        label, _, logdir = item.partition("=")
        if not label or not logdir:
            raise app.UsageError(f"--compare takes label=logdir pairs; got {item!r}")
        groups.append((label, logdir))
    from ntm_cell.experiments import curves

    runs = curves.load_compared_curves(groups, FLAGS.task, FLAGS.model, tag=FLAGS.metric)
    if not runs:
        raise app.UsageError(f"no {FLAGS.model} runs on {FLAGS.task} with {FLAGS.metric!r} under any of "
                             f"{', '.join(logdir for _, logdir in groups)}")
    labels = " vs ".join(runs)
    from ntm_cell.experiments.plotting.figures import model_label

    title = f"{FLAGS.task.replace('_', ' ')}: {model_label(FLAGS.model)}, {labels}"
    return draw(runs, title)


def parse_reference(item):
    """``"label=value"`` -> ``(label, value)``, or ``None`` when it is not that."""
    label, _, value = item.rpartition("=")
    try:
        return (label, float(value)) if label else None
    except ValueError:
        return None


flags.register_multi_flags_validator(
    ["loss_in_bits", "metric"], lambda f: not f["loss_in_bits"] or f["metric"].startswith("loss/"),
    message="--loss_in_bits applies to loss metrics only (--metric=loss/eval or loss/train)")
flags.register_multi_flags_validator(["write_csv", "csv_dir"], lambda f: not f["write_csv"] or f["csv_dir"],
                                     message="--write_csv needs --csv_dir, the directory to write the curves to")
flags.register_validator("reference", lambda items: all(parse_reference(i) for i in items or []),
                         message="--reference takes label=value pairs with a number for value")


def draw(runs, title):
    from ntm_cell.experiments.plotting import curves_plot, figures

    output = output_path()
    references = [parse_reference(item) for item in FLAGS.reference or []]
    ylabel = METRICS[FLAGS.metric]
    if FLAGS.loss_in_bits:
        runs = {name: [c._replace(values=c.values / math.log(2)) for c in seeds] for name, seeds in runs.items()}
        ylabel = ylabel.replace("nats", "bits")
    try:
        curves_plot.plot_learning_curves(runs, title=title, ylabel=ylabel, yscale=FLAGS.yscale,
                                         references=references, max_sequences=FLAGS.max_sequences, ymin=FLAGS.ymin,
                                         path=output)
    except curves_plot.AxisRangeError as error:
        raise app.UsageError(f"--ymin: {error}") from error
    for name, seeds in runs.items():
        finals = ", ".join(f"seed {c.seed}: {c.values[-1]:.3f} after {c.sequences[-1]:,.0f}" for c in seeds)
        print(f"{figures.model_label(name)}: {finals}", file=sys.stderr)
    print(f"Wrote {output}")
    return 0


def run():
    """Parse the flags and run :func:`main`: ``python scripts/plot_curves.py`` and the ``ntm-plot-curves`` command."""
    commands.as_main(__name__)  # the installed command prints this script's help
    app.run(main)


if __name__ == "__main__":
    run()
