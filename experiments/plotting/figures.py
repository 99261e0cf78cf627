"""What every figure shares: one colour and label per model, a Figure on the Agg canvas, saving.

Every plotting function builds a ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot, no display, no global
state), saves it when given ``path`` and returns it.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MODEL_COLORS = {"ntm": "#1f77b4", "lstm": "#ff7f0e", "dnc": "#2ca02c"}
MODEL_LABELS = {"ntm": "NTM", "lstm": "LSTM", "dnc": "DNC"}
VARIABLE_LABELS = {
    "length": "sequence length",
    "repeats": "number of repeats",
    "items": "number of items",
    "num_inputs": "number of inputs",
    "num_outputs": "number of outputs",
}


def new_figure(width, height):
    """A Figure on an Agg canvas (``fig.savefig`` writes PNGs without pyplot)."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save(figure, path):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    return figure


def model_label(name):
    return MODEL_LABELS.get(name, name)
