"""Glue between the library (``ntm_cell``) and the data (``tasks``): configurations, model builders,
training and evaluation loops, reports and figures. ``scripts/`` are thin command-line front ends over this package.

Importing it sets two TensorFlow defaults that the environment can override, read when TensorFlow starts (every
script imports this package before TensorFlow):

- ``TF_CPP_MIN_LOG_LEVEL=2`` hides TensorFlow's C++ informational and warning lines;
- ``TF_CPU_ALLOCATOR_USE_BFC=true`` makes TensorFlow's CPU allocator keep freed buffers for reuse instead of
  handing them back to the system. The DNC's step, which frees a ``[B, N, N]`` link matrix per time step, trains
  about 2.9 times faster with it at 128 rows; the NTM and the LSTM are as fast or faster (docs/performance.md).
  ``TF_CPU_ALLOCATOR_USE_BFC=false`` restores TensorFlow's own default.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
