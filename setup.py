"""Install ntm-cell: ``pip install -e .`` (library, tasks, experiments) or ``.[test]``."""

from setuptools import find_packages, setup

setup(
    name="ntm-cell",
    version="0.1.0",
    description="The Neural Turing Machine (and DNC) as Keras 3 RNN cells, with the paper's tasks.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["ntm_cell", "ntm_cell.*", "tasks", "tasks.*",
                                    "experiments", "experiments.*"]),
    package_data={"experiments": ["trained_models/*.keras", "trained_models/*.json", "trained_models/*.md"]},
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
        "test": ["pytest", "pytest-xdist"],
        "jax": ["jax"],
    },
)
