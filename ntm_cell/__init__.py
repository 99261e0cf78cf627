"""ntm-cell: the Neural Turing Machine (and the DNC) as Keras 3 RNN cells.

>>> import keras
>>> from ntm_cell import NTMCell
>>> layer = keras.layers.RNN(NTMCell(output_units=8), return_sequences=True)

``NTMCell`` and ``DNCCell`` (and Keras with them) are imported on first use, so that ``ntm_cell.arguments`` (the
cells' argument choices) can be read without loading a deep-learning framework. Import a cell class before
``keras.models.load_model`` reads a model that contains it (that import registers it with Keras).
"""

import importlib

__version__ = "0.1.0"
__all__ = ["DNCCell", "NTMCell", "addressing", "dnc_addressing", "fast_addressing"]

_WHERE = {"NTMCell": "ntm_cell.ntm", "DNCCell": "ntm_cell.dnc"}


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    elif name in ("addressing", "dnc_addressing", "fast_addressing"):
        value = importlib.import_module(f"ntm_cell.{name}")
    else:
        raise AttributeError(f"module 'ntm_cell' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
