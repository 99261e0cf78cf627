"""Glue between the library (``ntm_cell``) and the data (``tasks``): configurations, model builders,
training and evaluation loops, reports and figures. ``scripts/`` are thin command-line front ends over this package.

Importing it hides TensorFlow's C++ informational and warning lines (``TF_CPP_MIN_LOG_LEVEL=2``, unless the
environment sets another level): every script imports this package before TensorFlow.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
