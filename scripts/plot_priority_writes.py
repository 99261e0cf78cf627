"""Draw where a trained NTM (or DNC) writes and reads on priority sort (the idea of Graves 2014, Figure 17).

    python scripts/plot_priority_writes.py --run_dir=logs/priority_sort/ntm/seed0
    python scripts/plot_priority_writes.py --model_path=experiments/trained_models/priority_sort_ntm.keras

Writes <output_dir>/priority_sort_<model>_writes.png (or <output_dir>/<output_name>.png): for every write head, the
memory row each input vector went to against its priority, over --examples examples, and for the first example the
write weightings of the inputs sorted by priority next to the read weightings of the answer steps. Prints each
write head's rank correlation between priority and row, over the vectors the answer contains, with rows read around
the circular memory.
"""

from absl import app, flags

from ntm_cell.experiments import run_flags  # light: TensorFlow is imported after the flags are parsed

FLAGS = flags.FLAGS
run_flags.define_run_flags(FLAGS)  # --model_path or --run_dir, --task, --task_kwargs
flags.adopt_module_key_flags(run_flags)  # so that --help lists them
run_flags.define_figure_flags("priority_sort_<model>_writes", FLAGS)
flags.DEFINE_integer("examples", 32, "Examples traced for the scatter plot.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the examples.", lower_bound=0)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    run = run_flags.load_run(run_flags.given_path(FLAGS), FLAGS)

    from ntm_cell.experiments import traces
    from ntm_cell.experiments.plotting import figures, priority_plot

    try:
        sort_trace = traces.trace_priority_sort(run.model, run.task, FLAGS.examples, FLAGS.seed)
    except (ValueError, traces.NoMemoryError) as error:
        raise app.UsageError(str(error))
    errors = float(sort_trace.bit_errors.mean())
    title = (f"priority sort: {figures.model_label(run.model_name)}, {FLAGS.examples} examples (seed {FLAGS.seed}), "
             f"{errors:.2f} bit errors per sequence")
    output = run_flags.figure_path(f"priority_sort_{run.model_name}_writes", FLAGS)
    priority_plot.plot_priority_writes(sort_trace, title=title, path=output)
    for head, rho in enumerate(traces.priority_rank_correlations(sort_trace)):
        print(f"write head {head + 1}: rank correlation of priority and row written {rho:+.3f} "
              f"(answered vectors, mean over {FLAGS.examples} examples)")
    print(f"Wrote {output} ({errors:.2f} bit errors per sequence)")
    return 0


def run():
    """Parse the flags and run :func:`main` (``python scripts/plot_priority_writes.py``)."""
    app.run(main)


if __name__ == "__main__":
    run()
