"""Sequences and wall-clock each run needed to reach < 0.1 held-out bit errors per sequence.

    python scripts/convergence.py --logdir=logs --task=copy
"""

import sys
from pathlib import Path

from absl import app, flags

from ntm_cell.experiments import configs

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", "logs", "Root of the run directories.")
flags.DEFINE_enum("task", "copy", configs.TASK_NAMES, "Task whose runs to summarise.")
flags.DEFINE_enum("model", None, configs.MODELS, "Only this model (default: all).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from ntm_cell.experiments.convergence import convergence, markdown_table, median_line

    pattern = f"{FLAGS.model or '*'}/seed*"
    runs = sorted(p for p in (Path(FLAGS.logdir) / FLAGS.task).glob(pattern) if (p / "config.json").exists())
    if not runs:
        raise app.UsageError(f"no runs under {Path(FLAGS.logdir) / FLAGS.task}/{pattern}")
    started = []
    for run in runs:
        try:
            started.append((run, convergence(run)))
        except ValueError as error:  # a run that has not reached its first held-out evaluation
            print(f"skipped: {error}", file=sys.stderr)
    if not started:
        raise app.UsageError(f"no run under {Path(FLAGS.logdir) / FLAGS.task} has a held-out evaluation yet")
    runs, summaries = [run for run, _ in started], [summary for _, summary in started]
    print(markdown_table(summaries))
    print()
    for model in sorted({run.parent.name for run in runs}):
        print(f"{model}: " + median_line([s for s, run in zip(summaries, runs) if run.parent.name == model]))


def run():
    """Parse the flags and run :func:`main` (``python scripts/convergence.py``)."""
    app.run(main)


if __name__ == "__main__":
    run()
