"""What ``pip install`` puts into site-packages: the one package ``ntm_cell`` (the folders ``tasks/``,
``experiments/`` and ``scripts/`` inside it), and the commands ``ntm-train`` ... that run the scripts' ``main``."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Command -> the script it runs.
COMMANDS = {"ntm-train": "train", "ntm-evaluate": "evaluate", "ntm-plot-heads": "plot_heads",
            "ntm-plot-curves": "plot_curves", "ntm-benchmark": "benchmark"}
#: Folder of the checkout -> where its files are installed.
PARTS = {"ntm_cell": "ntm_cell", "tasks": "ntm_cell/tasks", "experiments": "ntm_cell/experiments",
         "scripts": "ntm_cell/scripts"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``(build_lib, egg_info)``: setup.py's ``build_py`` (the files a wheel installs) and ``egg_info`` (its
    metadata: ``top_level.txt``, ``entry_points.txt``), written outside the checkout."""
    out = tmp_path_factory.mktemp("build")
    result = subprocess.run([sys.executable, "setup.py", "-q", "build_py", f"--build-lib={out / 'lib'}",
                             "egg_info", f"--egg-base={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "lib", out / "ntm_cell.egg-info"


def test_the_distribution_installs_only_the_ntm_cell_package(built):
    build_lib, egg_info = built
    assert sorted(p.name for p in build_lib.iterdir()) == ["ntm_cell"]
    assert (egg_info / "top_level.txt").read_text().split() == ["ntm_cell"]


def test_every_source_file_and_the_trained_models_are_installed_inside_ntm_cell(built):
    build_lib, _ = built
    for folder, installed in PARTS.items():
        for path in (ROOT / folder).rglob("*.py"):
            assert (build_lib / installed / path.relative_to(ROOT / folder)).is_file(), path
    shipped = sorted(p.name for p in (ROOT / "experiments" / "trained_models").iterdir() if p.suffix in
                     (".keras", ".json", ".md"))
    assert shipped and all((build_lib / "ntm_cell" / "experiments" / "trained_models" / name).is_file()
                           for name in shipped)


def test_each_command_runs_the_run_function_of_its_script(built):
    _, egg_info = built
    lines = (egg_info / "entry_points.txt").read_text().splitlines()
    assert sorted(line for line in lines if " = " in line) == sorted(
        f"{command} = ntm_cell.scripts.{script}:run" for command, script in COMMANDS.items())
    for script in COMMANDS.values():
        tree = ast.parse((ROOT / "scripts" / f"{script}.py").read_text())
        assert "run" in [node.name for node in tree.body if isinstance(node, ast.FunctionDef)], script


def test_the_version_is_read_from_the_package():
    result = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    from ntm_cell import __version__
    assert result.returncode == 0 and result.stdout.split()[-1] == __version__, result.stderr[-2000:]


def test_importing_ntm_cell_loads_no_framework_no_plotting_no_flags_and_none_of_its_parts(tmp_path):
    check = ("import sys, ntm_cell, ntm_cell.arguments; "
             "loaded = [m for m in ('tensorflow', 'keras', 'jax', 'matplotlib', 'absl', 'ntm_cell.tasks', "
             "'ntm_cell.experiments', 'ntm_cell.scripts') if m in sys.modules]; print(loaded); "
             "sys.exit(1 if loaded else 0)")
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def test_the_parts_import_by_their_installed_names_from_another_directory(tmp_path):
    check = ("import ntm_cell.tasks, ntm_cell.experiments.bench.runner, ntm_cell.experiments.plotting.figures, "
             "ntm_cell.scripts; from ntm_cell.experiments import shipped; "
             "assert shipped.SHIPPED_DIR.is_dir(), shipped.SHIPPED_DIR")
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def run_command_and_script(command, argument, tmp_path):
    """``(installed, script)``: the results of the installed ``command`` run with ``argument`` from ``tmp_path``
    and of its script run with it from the checkout."""
    executable = shutil.which(command)
    assert executable, f"{command} is not on PATH: pip install -e . installs it"
    script = ROOT / "scripts" / f"{COMMANDS[command]}.py"
    return tuple(subprocess.run(line, cwd=cwd, capture_output=True, text=True, timeout=120)
                 for line, cwd in (([executable, argument], tmp_path), ([sys.executable, str(script), argument], ROOT)))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_command_is_on_the_path_and_prints_its_scripts_help(command, tmp_path):
    installed, script = run_command_and_script(command, "--helpshort", tmp_path)
    assert installed.returncode == script.returncode, installed.stderr[-2000:] + script.stderr[-2000:]

    def help_lines(result):  # without the heading of the flag list, which is sys.argv[0]
        ends = (f"/{command}:", f"/{COMMANDS[command]}.py:")
        return [line for line in result.stdout.splitlines() if not line.rstrip().endswith(ends)]
    assert help_lines(installed) == help_lines(script)
    assert any(line.lstrip().startswith("--") for line in help_lines(installed)), installed.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_command_and_its_script_refuse_an_unknown_flag_alike(command, tmp_path):
    installed, script = run_command_and_script(command, "--no_such_flag=1", tmp_path)
    assert installed.returncode == script.returncode == 1
    assert installed.stderr == script.stderr
    assert installed.stderr.splitlines()[0] == "FATAL Flags parsing error: Unknown command line flag 'no_such_flag'"
