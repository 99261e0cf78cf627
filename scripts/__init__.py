"""The command-line front ends (absl), run as ``python scripts/<name>.py``; ``train``, ``evaluate``, ``plot_heads``,
``plot_curves`` and ``benchmark`` are also installed as the commands ``ntm-train``, ``ntm-evaluate``,
``ntm-plot-heads``, ``ntm-plot-curves`` and ``ntm-benchmark`` (``setup.py``)."""
