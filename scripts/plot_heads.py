"""Draw what an NTM's (or DNC's) memory heads do on one example.

    python scripts/plot_heads.py --run_dir=logs/copy/ntm/seed0 --length=20
    python scripts/plot_heads.py --run_dir=logs/repeat_copy/ntm/seed0 --length=5 --repeats=3 --memory_rows=all

Writes <output_dir>/<task>_<model>_heads.png (or <output_dir>/<output_name>.png): input, target and output (channels x time), then every head's
weighting as memory location x time, and every write head's add and erase vectors, all on one time axis. By
default only the memory rows the heads used are drawn (--memory_rows). The LSTM baseline has no memory and is
refused.
"""

import re

from absl import app, flags

from ntm_cell.experiments import commands, run_flags, runs  # light: TensorFlow is imported after the flags are parsed

FLAGS = flags.FLAGS
run_flags.define_run_flags(FLAGS)  # --model_path or --run_dir, --task, --task_kwargs
flags.adopt_module_key_flags(run_flags)  # so that --help lists them
run_flags.define_figure_flags("<task>_<model>_heads", FLAGS)
flags.DEFINE_integer("length", None, "Sequence length of the example (copy, repeat copy, N-grams; default: the "
                     "training maximum).", lower_bound=1)
flags.DEFINE_integer("repeats", None, "Repeats of the example (repeat copy; default: the training maximum).",
                     lower_bound=1)
flags.DEFINE_integer("items", None, "Items of the example (associative recall; default: the training maximum).",
                     lower_bound=2)
flags.DEFINE_integer("seed", 0, "Seed of the example.", lower_bound=0)
flags.DEFINE_string("memory_rows", "used", "Memory rows to draw: 'used' (the rows some head weighted at least "
                    "--threshold, plus one on each side), 'all', or START:STOP.")
flags.DEFINE_list("heads", None, "Numbers of the heads to draw, from 1 (e.g. 1,2: the first two read and the first "
                  "two write heads); default all.")
flags.register_validator("heads", lambda values: values is None or all(v.isdigit() and int(v) >= 1 for v in values),
                         message="--heads must be a list of integers >= 1")
flags.DEFINE_float("threshold", 0.05, "Weight above which --memory_rows=used counts a row as used.",
                   lower_bound=0.0, upper_bound=1.0)

_ROWS = re.compile(r"^(\d+):(\d+)$")


def _valid_rows(text):
    if text in ("used", "all"):
        return True
    match = _ROWS.match(text)
    return bool(match) and int(match.group(1)) < int(match.group(2))


flags.register_validator("memory_rows", _valid_rows,
                         message="--memory_rows must be 'used', 'all' or START:STOP with START < STOP")


def _memory_rows():
    match = _ROWS.match(FLAGS.memory_rows)
    return (int(match.group(1)), int(match.group(2))) if match else FLAGS.memory_rows


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    path = run_flags.given_path(FLAGS)
    config = runs.read_config(path)
    if config is not None and config.model == "lstm":  # refuse an LSTM before loading TensorFlow
        raise app.UsageError(f"{path} is not an NTM or DNC: {runs.config_file(path)} says it is the LSTM baseline, "
                             "which has no memory, so there are no read or write heads to plot")

    run = run_flags.load_run(path, FLAGS)

    from ntm_cell.experiments import generalization, traces
    from ntm_cell.experiments.plotting import figures, heads_plot

    try:
        traces.memory_cell(run.model)
    except traces.NoMemoryError as error:
        raise app.UsageError(f"{path} is not an NTM or DNC: {error}")
    try:
        generalization.check_applicable(run.task, {"length": FLAGS.length, "repeats": FLAGS.repeats,
                                                   "items": FLAGS.items}, plural=False, prefix="--")
    except ValueError as error:
        raise app.UsageError(str(error))
    try:
        point = generalization.example_point(run.task, FLAGS.length, FLAGS.repeats, FLAGS.items)
        run.task.max_time(**generalization.expand_point(run.task, point))
    except (ValueError, TypeError) as error:
        raise app.UsageError(f"bad example for {run.task!r}: {error}")

    example = traces.trace_example(run.model, run.task, point, seed=FLAGS.seed)
    input_names, output_names = traces.channel_names(run.task)
    description = ", ".join(f"{k} {v}" for k, v in point.items()) or "training configuration"
    errors = example.bit_errors
    title = (f"{run.task.name.replace('_', ' ')}: {figures.model_label(run.model_name)} on one example "
             f"({description}, seed {FLAGS.seed}): {errors:g} bit errors")
    output = run_flags.figure_path(f"{run.task.name}_{run.model_name}_heads", FLAGS)
    heads = None if FLAGS.heads is None else [int(h) for h in FLAGS.heads]
    if "read_weights" in example.trace and "write_weights" in example.trace:
        try:
            heads_plot.select_rows(example.trace, _memory_rows(), FLAGS.threshold)
        except ValueError as error:
            raise app.UsageError(f"--memory_rows={FLAGS.memory_rows}: {error}")
        try:
            heads_plot.chosen_heads(heads, example.trace["read_weights"].shape[1],
                                   example.trace["write_weights"].shape[1])
        except ValueError as error:
            raise app.UsageError(f"--heads={','.join(FLAGS.heads)}: {error}")
    heads_plot.plot_heads(example.trace, example.inputs, example.targets, example.outputs, example.mask,
                        memory_rows=_memory_rows(), title=title, input_names=input_names,
                        output_names=output_names, threshold=FLAGS.threshold, heads=heads, path=output)
    print(f"Wrote {output} ({description}; {errors:g} bit errors)")
    return 0


def run():
    """Parse the flags and run :func:`main`: ``python scripts/plot_heads.py`` and the ``ntm-plot-heads`` command."""
    commands.as_main(__name__)  # the installed command prints this script's help
    app.run(main)


if __name__ == "__main__":
    run()
