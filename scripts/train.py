"""Train an NTM, LSTM or DNC on one of the paper's tasks.

    python scripts/train.py --task=associative_recall
    python scripts/train.py --task=copy --model=lstm --seed=1
    tensorboard --logdir logs

Each run writes ``<logdir>/<task>/<model>/seed<k>/`` (TensorBoard events, checkpoints, ``model.keras``).
Running the same command again resumes from the newest checkpoint.
"""

import sys

from absl import app, flags, logging

from ntm_cell.experiments import commands, configs, startup  # light: TensorFlow is imported after the flags are parsed

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", "copy", configs.TASK_NAMES, "Task to train on.")
flags.DEFINE_enum("model", "ntm", configs.MODELS, "Model to train.")
flags.DEFINE_integer("seed", 0, "Seed of the weights and the data stream.", lower_bound=0)
flags.DEFINE_integer("steps", None, "Total training steps (default: the paper's, 31,250).", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Sequences per step (default 32).", lower_bound=1)
flags.DEFINE_float("learning_rate", None, "Learning rate (default 1e-3; 3e-5 for ngrams and priority_sort).",
                   lower_bound=0.0)
flags.DEFINE_enum("optimizer", None, configs.OPTIMIZERS, "adam, or Graves' RMSProp (centred, momentum 0.9) "
                  "(default adam; rmsprop for ngrams and priority_sort, as in the paper).")
flags.DEFINE_float("clip_norm", None, "Global gradient-norm clip (default 50).", lower_bound=0.0)
flags.DEFINE_enum("memory_init", None, configs.MEMORY_INITS, "Initial memory of the NTM and DNC.")
flags.DEFINE_enum("initial_weighting", None, configs.INITIAL_WEIGHTINGS, "Where the NTM's learned initial head "
                  "weightings start (default focused: on row 0).")
flags.DEFINE_integer("memory_size", None, "Memory rows of the NTM or DNC (default: 128 NTM, 32 DNC).",
                     lower_bound=1)
flags.DEFINE_integer("memory_width", None, "Memory row width of the NTM or DNC (default 20).", lower_bound=1)
flags.DEFINE_enum("controller", None, configs.CONTROLLERS, "Controller of the NTM or DNC: an LSTM or a "
                  "feed-forward (dense) layer (default lstm).")
flags.DEFINE_integer("controller_units", None, "Units per controller layer of the NTM or DNC (default: 100 NTM, "
                     "64 DNC).", lower_bound=1)
flags.DEFINE_integer("controller_layers", None, "Controller layers of the NTM or DNC (default 1; 2 for the NTM on "
                     "priority_sort).", lower_bound=1)
flags.DEFINE_integer("read_heads", None, "Read heads of the NTM or DNC (default: 1 NTM, 4 DNC; 5 for the NTM on "
                     "priority_sort).", lower_bound=1)
flags.DEFINE_integer("write_heads", None, "Write heads of the NTM or DNC (default 1; 5 for the NTM on "
                     "priority_sort).", lower_bound=1)
flags.DEFINE_integer("shift_range", None, "NTM only: largest shift a head can make (default 1).", lower_bound=0)
flags.DEFINE_float("clip_value", None, "Clip of the NTM's or DNC's interface and output logits to +-this "
                   "(default 20).", lower_bound=1e-6)
flags.DEFINE_multi_enum("dnc_fixes", [], configs.DNC_FIXES, "DNC only: fixes of Csordás & Schmidhuber (2019) to "
                        "switch on (repeat the flag; all three: the paper's DNC-MDS).")
flags.DEFINE_bool("dnc_usage_gradient", None, "DNC only: let gradients flow from the usage into the write "
                  "weightings (default on; --nodnc_usage_gradient stops them, as deepmind/dnc does).")
flags.DEFINE_enum("curriculum", None, configs.CURRICULA, "Length curriculum (default none).")
flags.DEFINE_integer("length_buckets", None, "Draw each batch from one of this many groups of sequence lengths "
                     "(item counts for associative_recall) and pad it to its group's longest, not the task's: "
                     "the same length distribution, fewer padded steps, one XLA compilation per group "
                     "(default 5; 1 pads every batch to the task's longest).", lower_bound=1)
flags.DEFINE_enum("precision", None, configs.PRECISIONS, "Keras dtype policy (default float32). mixed_float16 (for "
                  "GPUs) and mixed_bfloat16 compute the controller and output layers in 16 bits; the memory "
                  "addressing, the weights and the loss stay float32; mixed_float16 scales the loss.")
flags.DEFINE_string("logdir", "logs", "Root of the run directories.")
flags.DEFINE_integer("eval_every", 100, "Steps between held-out evaluations and progress lines.", lower_bound=1)
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.", lower_bound=1)
flags.DEFINE_integer("eval_size", 64, "Sequences in the held-out evaluation batch.", lower_bound=1)
flags.DEFINE_bool("stop_when_converged", False, "Stop at the first held-out evaluation under 0.1 bit errors per "
                  "sequence instead of running all --steps.")
flags.DEFINE_float("converged_learning_rate_factor", None, "Multiply the learning rate by this once the run has "
                   "converged (default 0.1; 1 keeps it).", lower_bound=0.0)
flags.DEFINE_integer("converged_learning_rate_half_life", None, "After convergence, halve the learning rate "
                     "every this many steps (default 2000; 0 keeps it constant).", lower_bound=0)
flags.DEFINE_integer("threads", 0, "TensorFlow intra-op threads (0: TensorFlow's default, one per core). Use 1 when "
                     "two runs share a 2-core machine.", lower_bound=0)
flags.DEFINE_integer("batch_splits", 0, "Compute each batch's gradient in this many parts at once, one thread each "
                     "(0: one per TensorFlow thread with XLA, else 1; 1: the whole batch in one program). Same "
                     "gradient, computed on several cores at once.", lower_bound=0)
flags.DEFINE_bool("jit_compile", True, "Compile training steps with XLA (much faster on CPU).")
flags.DEFINE_enum("strategy", "default", configs.STRATEGIES, "tf.distribute strategy: mirrored over this machine's "
                  "GPUs; multi_worker over the machines of TF_CONFIG (run the same command on each).")
flags.DEFINE_integer("virtual_cpus", 0, "Split the CPU into this many logical devices (to try --strategy=mirrored "
                     "without GPUs).", lower_bound=0)

#: The flag of each cell option (``configs.MODEL_OPTIONS``): its own name, except the DNC's fixes and usage gradient.
OPTION_FLAGS = {name: "dnc_fixes" if name in configs.DNC_FIXES else "dnc_usage_gradient" if name == "usage_gradient"
                else name for name in configs.MODEL_OPTIONS}

def config_from_flags():
    """The paper configuration for --task/--model with the flags that were given applied on top."""
    config = configs.default_config(FLAGS.task, FLAGS.model)
    for name in ("steps", "batch_size", "learning_rate", "optimizer", "clip_norm", "curriculum",
                 "converged_learning_rate_factor", "converged_learning_rate_half_life", "length_buckets", "precision"):
        if FLAGS[name].value is not None:
            setattr(config, name, FLAGS[name].value)
    config.seed = FLAGS.seed
    for name, flag in OPTION_FLAGS.items():  # one at a time, so that an error names its flag
        value = (name in FLAGS.dnc_fixes or None) if flag == "dnc_fixes" else FLAGS[flag].value
        try:
            configs.set_model_options(config, **{name: value})
        except ValueError as error:
            raise app.UsageError(f"--{flag}: {error}")
    return config


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = config_from_flags()
    if FLAGS.batch_splits > config.batch_size:
        raise app.UsageError(f"--batch_splits={FLAGS.batch_splits} is more than the batch size {config.batch_size}")
    if FLAGS.batch_splits > 1 and FLAGS.strategy != "default":
        raise app.UsageError("--batch_splits > 1 works with --strategy=default only")
    startup.import_tensorflow_quietly()  # before anything else imports TensorFlow
    from ntm_cell.experiments import devices, multi_worker, runs, training

    if FLAGS.threads:
        devices.set_threads(FLAGS.threads)
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's checkpoint saver logs every save at INFO
    run_dir = runs.run_directory(FLAGS.logdir, config.task, config.model, config.seed)
    try:
        training.train(
            config,
            run_dir,
            eval_every=FLAGS.eval_every,
            checkpoint_every=FLAGS.checkpoint_every,
            eval_size=FLAGS.eval_size,
            jit_compile=FLAGS.jit_compile,
            strategy=FLAGS.strategy,
            virtual_cpus=FLAGS.virtual_cpus,
            stop_when_converged=FLAGS.stop_when_converged,
            batch_splits=FLAGS.batch_splits,
        )
    except (runs.ConfigMismatchError, training.NonFiniteLossError, multi_worker.WorkersDisagreeError) as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 1
    if FLAGS.strategy == "multi_worker":
        multi_worker.wait_for_other_workers_to_end()
    return 0


def run():
    """Parse the flags and run :func:`main`: ``python scripts/train.py`` and the ``ntm-train`` command."""
    commands.as_main(__name__)  # the installed command prints this script's help
    app.run(main)


if __name__ == "__main__":
    run()
