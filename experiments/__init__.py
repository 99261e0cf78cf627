"""Glue between the library (``ntm_cell``) and the data (``tasks``): configurations, model builders,
training and evaluation loops. ``scripts/`` are thin command-line front ends over this package."""
