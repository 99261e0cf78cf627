"""Named hyperparameter sets for every task and model, from the papers.

Sources:

- Graves, Wayne & Danihelka (2014), Tables 1-3: NTM with a 100-unit LSTM controller (two layers of 100 for
  priority sort), 128 x 20 memory, one read and one write head (5 of each for priority sort); LSTM baselines of
  3 layers of 256 (copy, associative recall), 512 (repeat copy) or 128 (N-grams, priority sort) units.
- Collier & Beel (2018), "Implementing Neural Turing Machines": the training recipe our NTM uses by default,
  Adam with learning rate 1e-3, batch 32, gradients clipped to a global norm of 50, interface clipped to +-20,
  31,250 steps (1M sequences).
- Graves et al. (2016) / deepmind/dnc: DNC with a 64-unit LSTM controller, 4 read heads and
  1 write head.

Every model is trained with the same recipe (Adam 1e-3, batch 32, clip 50) on copy, repeat copy and associative
recall so that learning curves compare like with like. N-grams and priority sort use what Graves 2014 used for them:
learning rate 3e-5 with Graves' RMSProp (centred, decay 0.95, momentum 0.9, epsilon 1e-4; Graves 2013, eqs. 38-41).
Its momentum accumulates steps, so at a steady gradient it moves ~10 times the learning rate per step: Adam at 3e-5
would take steps about ten times smaller than the paper's.
"""

import dataclasses
import json

# The cells' own choices, offered by train.py as flags (ntm_cell.arguments imports nothing).
from ntm_cell.arguments import CONTROLLERS, DNC_FIXES, INITIAL_WEIGHTINGS, MEMORY_INITS  # noqa: F401

MODELS = ("ntm", "lstm", "dnc")
#: Held-out bit errors per sequence below which a run counts as converged (the 2018 code's criterion).
CONVERGED_BIT_ERRORS = 0.1
TASK_NAMES = ("copy", "repeat_copy", "associative_recall", "ngrams", "priority_sort")
CURRICULA = ("none", "adaptive")
#: ``"adam"``: Adam (the 2018 recipe); ``"rmsprop"``: Graves' RMSProp (see the module docstring).
OPTIMIZERS = ("adam", "rmsprop")
STRATEGIES = ("default", "mirrored", "multi_worker")
#: Keras dtype policies a run can compute in (see ``ExperimentConfig.precision``).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class ExperimentConfig:
    """Everything that defines a training run except where it is written and for how long.

    Attributes:
        task: task name (see ``ntm_cell.tasks.TASKS``).
        model: ``"ntm"``, ``"lstm"`` or ``"dnc"``.
        task_kwargs: constructor arguments of the task (the training ranges).
        model_kwargs: arguments of the model builder in :mod:`ntm_cell.experiments.models`.
        learning_rate: the optimizer's learning rate.
        optimizer: one of ``OPTIMIZERS``.
        clip_norm: global gradient-norm clip.
        batch_size: sequences per step.
        steps: default number of training steps.
        curriculum: ``"none"`` or ``"adaptive"`` (see :mod:`ntm_cell.experiments.curriculum`).
        seed: seeds weights and the data stream.
        converged_learning_rate_factor: once the held-out error first falls below ``CONVERGED_BIT_ERRORS``,
            the learning rate is multiplied by this factor so that a converged model stays converged; 1.0 turns
            it off. Adam at 1e-3 on a near-zero loss takes rare large normalised steps that can throw a converged
            NTM back to tens of bits per sequence (docs/results.md).
        converged_learning_rate_half_life: after convergence, halve the learning rate every this many steps
            (a smooth exponential decay, starting from the rate set by ``converged_learning_rate_factor``);
            0 keeps it constant (docs/results.md compares the schedules).
        length_buckets: draw each batch from one of (at most) this many groups of the task's lengths (or item
            counts) and pad it to that group's longest time, instead of padding every batch to the task's
            longest (see ``ntm_cell.tasks.Task.length_buckets``). Each sequence keeps its length distribution; the steps
            spent on padding are saved, at the cost of one XLA compilation per group. 1 turns it off
            (docs/results.md and docs/performance.md measure it).
        precision: the Keras dtype policy of the model, one of ``PRECISIONS``. ``"float32"`` (default) everywhere;
            ``"mixed_float16"`` (for GPUs with float16 units) and ``"mixed_bfloat16"`` compute the controller,
            interface and output layers and carry the states in 16 bits, with float32 weights, float32 memory
            addressing (``ntm_cell.memory_cell``) and float32 logits; ``"mixed_float16"`` also scales the loss
            (``keras.optimizers.LossScaleOptimizer``) so that small gradients do not round to zero in float16.
    """

    task: str
    model: str
    task_kwargs: dict
    model_kwargs: dict
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    clip_norm: float = 50.0
    batch_size: int = 32
    steps: int = 31_250
    curriculum: str = "none"
    seed: int = 0
    converged_learning_rate_factor: float = 0.1
    converged_learning_rate_half_life: int = 2000
    length_buckets: int = 5
    precision: str = "float32"

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        fields = json.loads(text)
        # Written before the field existed: those runs kept the learning rate constant after convergence.
        fields.setdefault("converged_learning_rate_half_life", 0)
        fields.setdefault("length_buckets", 1)  # written before length buckets existed
        return cls(**fields)

    def identity(self):
        """The fields a checkpoint must agree on to be resumed (``steps`` may grow)."""
        fields = dataclasses.asdict(self)
        fields.pop("steps")
        return fields


TASK_KWARGS = {
    "copy": dict(bits=8, min_length=1, max_length=20),
    "repeat_copy": dict(bits=8, min_length=1, max_length=10, min_repeats=1, max_repeats=10),
    "associative_recall": dict(bits=6, item_length=3, min_items=2, max_items=6),
    "ngrams": dict(order=6, length=200),
    "priority_sort": dict(bits=8, num_inputs=20, num_outputs=16),
}


# The DNC keeps deepmind/dnc's controller and heads with a 32 x 20 memory: 16 rows cannot hold a copy sequence of
# 20 vectors, and 128 rows make its N x N temporal links slow to train on a CPU (docs/results.md, docs/performance.md).
# Its memory starts blank, as in Graves et al. (2016): with a learned initial memory it did not learn copy
# (docs/results.md, "DNC: what makes it learn copy").
DNC_KWARGS = dict(memory_size=32, memory_width=20, memory_init="constant")

LSTM_UNITS = {
    "copy": 256,
    "repeat_copy": 512,
    "associative_recall": 256,
    "ngrams": 128,
    "priority_sort": 128,
}

# Graves 2014 Table 1: priority sort uses a controller of two LSTM layers of 100 and 5 read and 5 write heads.
NTM_TASK_OVERRIDES = {
    "priority_sort": dict(read_heads=5, write_heads=5, controller_layers=2),
}
#: Graves 2014 Tables 1-3: the tasks trained with RMSProp at 3e-5 in our setup too (optimizer, learning rate).
PAPER_OPTIMIZERS = {"ngrams": ("rmsprop", 3e-5), "priority_sort": ("rmsprop", 3e-5)}


#: The cell arguments a run may set over its defaults, and the models whose cells take them.
MODEL_OPTIONS = {
    **{name: ("ntm", "dnc") for name in ("memory_init", "memory_size", "memory_width", "controller",
                                          "controller_units", "controller_layers", "read_heads", "write_heads",
                                          "clip_value")},
    "shift_range": ("ntm",),
    "initial_weighting": ("ntm",),
    "usage_gradient": ("dnc",),
    **{fix: ("dnc",) for fix in DNC_FIXES},
}


def set_model_options(config, **options):
    """Set the cell arguments ``options`` (names of ``MODEL_OPTIONS``) in ``config.model_kwargs``; ``None`` values
    are left out. The cell checks the values when it is built.

    Raises:
        ValueError: an option that ``config.model``'s cell does not take, or an unknown one.
    """
    for name, value in options.items():
        if value is None:
            continue
        if name not in MODEL_OPTIONS:
            raise ValueError(f"unknown model option {name!r}; choose from {', '.join(sorted(MODEL_OPTIONS))}")
        models = MODEL_OPTIONS[name]
        if config.model not in models:
            raise ValueError(f"{name} applies to model {' or '.join(models)}, not {config.model}")
        config.model_kwargs[name] = value


def default_config(task, model):
    """The paper configuration for ``task`` and ``model``.

    Raises:
        ValueError: unknown task or model.
    """
    if task not in TASK_NAMES:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASK_NAMES)}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if model == "ntm":
        model_kwargs = dict(NTM_TASK_OVERRIDES.get(task, {}))
    elif model == "dnc":
        model_kwargs = dict(DNC_KWARGS)
    else:
        model_kwargs = dict(units=LSTM_UNITS[task], layers=3)
    optimizer, learning_rate = PAPER_OPTIMIZERS.get(task, ("adam", 1e-3))
    return ExperimentConfig(
        task=task,
        model=model,
        task_kwargs=dict(TASK_KWARGS[task]),
        model_kwargs=model_kwargs,
        learning_rate=learning_rate,
        optimizer=optimizer,
    )
