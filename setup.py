"""Install ntm-cell: ``pip install -e .`` (the library, its tasks, experiments and commands) or ``.[test]``.

Everything is installed inside the one package ``ntm_cell``: the folders ``tasks/``, ``experiments/`` and
``scripts/`` become ``ntm_cell.tasks``, ``ntm_cell.experiments`` and ``ntm_cell.scripts`` (``package_dir``), so
that no installed name is as generic as ``tasks``. The version is read from ``ntm_cell/__init__.py``.
"""

import ast
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
#: Folder of the checkout -> the package it is installed as.
PARTS = {"tasks": "ntm_cell.tasks", "experiments": "ntm_cell.experiments", "scripts": "ntm_cell.scripts"}
#: Console command -> the script module whose ``run`` it calls.
COMMANDS = {"ntm-train": "train", "ntm-evaluate": "evaluate", "ntm-plot-heads": "plot_heads",
            "ntm-plot-curves": "plot_curves", "ntm-benchmark": "benchmark"}


def version():
    """``__version__`` of ``ntm_cell/__init__.py``, read without importing the package."""
    tree = ast.parse((HERE / "ntm_cell" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            return ast.literal_eval(node.value)
    raise RuntimeError("ntm_cell/__init__.py sets no __version__")


def packages():
    """``ntm_cell`` and its subpackages, and each folder of ``PARTS`` with its subpackages under its new name."""
    found = find_packages(include=["ntm_cell", "ntm_cell.*"])
    for folder, package in PARTS.items():
        found += [package] + [f"{package}.{sub}" for sub in find_packages(folder)]
    return found


setup(
    name="ntm-cell",
    version=version(),
    description="The Neural Turing Machine (and DNC) as Keras 3 RNN cells, with the paper's tasks.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=packages(),
    package_dir={package: folder for folder, package in PARTS.items()},
    package_data={"ntm_cell.experiments": ["trained_models/*.keras", "trained_models/*.json", "trained_models/*.md"]},
    entry_points={"console_scripts": [f"{command} = ntm_cell.scripts.{module}:run"
                                      for command, module in COMMANDS.items()]},
    install_requires=[
        "tensorflow>=2.16",  # Keras 3
        "keras>=3.0",
        "tensorboard",  # TF 2.21 no longer depends on it; tf.summary needs it
        "numpy",
        "absl-py",
        "matplotlib",
    ],
    extras_require={
        # pytest-xdist: the tests run in two processes (pytest.ini), one per core of the 2-core CI machine.
        # setuptools: tests/test_install.py builds the package with setup.py.
        "test": ["pytest", "pytest-xdist", "setuptools>=64"],
        "jax": ["jax"],
    },
)
