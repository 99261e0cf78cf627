"""ntm-cell: the Neural Turing Machine as a Keras 3 RNN cell.

>>> import keras, ntm_cell
>>> layer = keras.layers.RNN(ntm_cell.NTMCell(output_units=8), return_sequences=True)
"""

from ntm_cell import addressing
from ntm_cell.dnc import DNCCell
from ntm_cell.ntm import NTMCell

__all__ = ["DNCCell", "NTMCell", "addressing"]
__version__ = "0.1.0"
