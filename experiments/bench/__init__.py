"""Speed and memory of the training step, as ``scripts/benchmark.py`` and ``scripts/benchmark_jax.py`` measure it.

- :mod:`~ntm_cell.experiments.bench.cases`: the configurations to time
  (:class:`~ntm_cell.experiments.bench.cases.Case`) and the sweeps;
- :mod:`~ntm_cell.experiments.bench.machine`: the machine (CPU, cores, memory, versions), stolen CPU time,
  resident memory, TensorFlow's threads;
- :mod:`~ntm_cell.experiments.bench.runner`: build, compile and time train.py's TensorFlow step, case by case in
  interleaved rounds, and measure each case's peak memory in a subprocess;
- :mod:`~ntm_cell.experiments.bench.ratios`: ratios of median step times between the cases timed side by side;
- :mod:`~ntm_cell.experiments.bench.results`: the CSV columns, the Markdown report, the written files;
- :mod:`~ntm_cell.experiments.bench.profiling`: time per XLA kernel of a compiled step, from TensorFlow's profiler;
- :mod:`~ntm_cell.experiments.bench.jax_step`: the same model, optimizer and loss timed under ``KERAS_BACKEND=jax``.

None of these modules imports TensorFlow, Keras or JAX when it is imported (except ``jax_step``, which imports
Keras): the scripts parse their flags first.
"""
