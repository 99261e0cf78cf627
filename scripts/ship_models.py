"""Ship the best finished run per task as experiments/trained_models/<task>_<model>.keras (and .json).

    python scripts/ship_models.py --logdir=logs --tasks=copy,associative_recall,repeat_copy

"Best" is the lowest final held-out bit error per sequence (ties: fewest sequences to convergence).

    python scripts/ship_models.py --tasks=copy --run_dir=logs/ablation/uniform_weighting/copy/ntm/seed2

ships a chosen run instead (for example the one that generalizes best to longer sequences).
"""

from absl import app, flags

from ntm_cell.experiments import configs

FLAGS = flags.FLAGS
flags.DEFINE_string("logdir", "logs", "Root of the run directories.")
flags.DEFINE_list("tasks", ["copy", "associative_recall", "repeat_copy"], "Tasks to ship a model for.")
flags.DEFINE_enum("model", "ntm", configs.MODELS, "Model to ship.")
flags.DEFINE_string("run_dir", None, "Ship this run directory instead of the best one (needs exactly one --tasks).")
flags.DEFINE_string("output_dir", None, "Where the files go (default: experiments/trained_models).")
flags.DEFINE_enum("model_file", "model", ["model", "best"], "Ship each run's model.keras (the last step) or "
                  "best.keras (its checkpoint with the lowest held-out error).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    unknown = [task for task in FLAGS.tasks if task not in configs.TASK_NAMES]
    if unknown:
        raise app.UsageError(f"--tasks: unknown {', '.join(unknown)}; choose from {', '.join(configs.TASK_NAMES)}")
    if FLAGS.run_dir and len(FLAGS.tasks) != 1:
        raise app.UsageError("--run_dir ships one run: give exactly one --tasks")
    from ntm_cell.experiments import shipped
    from ntm_cell.experiments.convergence import convergence

    directory = FLAGS.output_dir or shipped.SHIPPED_DIR
    for task in FLAGS.tasks:
        try:
            if FLAGS.run_dir:
                run_dir, summary = FLAGS.run_dir, convergence(FLAGS.run_dir)
            else:
                run_dir, summary = shipped.best_run(FLAGS.logdir, task, FLAGS.model)
            target = shipped.ship(run_dir, task, FLAGS.model, directory, summary=summary,
                                  model_file=f"{FLAGS.model_file}.keras")
        except (FileNotFoundError, ValueError) as error:
            raise app.UsageError(str(error))
        print(f"{target}: {FLAGS.model_file}.keras of {run_dir}, {summary['steps']:,} steps, final held-out bit errors per sequence "
              f"{summary['final_bit_errors']:.3f}")
    return 0


def run():
    """Parse the flags and run :func:`main` (``python scripts/ship_models.py``)."""
    app.run(main)


if __name__ == "__main__":
    run()
