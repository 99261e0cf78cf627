"""The project's layering, read from the source: who may import whom, no import circles, files of a readable size.

Each folder is installed as one part of the ``ntm_cell`` package (``setup.py``'s ``package_dir``), and the modules
are named here as installed:

- ``ntm_cell/`` (the library) imports nothing else of ours;
- ``tasks/`` (data and metrics, ``ntm_cell.tasks``) imports no model: of the library only ``ntm_cell.arguments``,
  which imports nothing;
- ``experiments/`` (the glue, ``ntm_cell.experiments``) imports the library and ``ntm_cell.tasks``;
- ``scripts/`` (``ntm_cell.scripts``) import only ``ntm_cell.experiments`` (and nothing imports a script).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Folder of the checkout -> the package it is installed as.
PACKAGES = {"ntm_cell": "ntm_cell", "tasks": "ntm_cell.tasks", "experiments": "ntm_cell.experiments",
            "scripts": "ntm_cell.scripts"}
#: The parts of the project: the installed name of each part's package.
PARTS = {folder: package for folder, package in PACKAGES.items() if folder != "ntm_cell"}


def module_name(path):
    """The installed name of the module at ``path``: ``tasks/copy.py`` -> ``ntm_cell.tasks.copy``."""
    folder, *parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGES[folder], *parts])


def project_files():
    files = [p for folder in PACKAGES if folder != "scripts" for p in sorted((ROOT / folder).rglob("*.py"))]
    return files + sorted((ROOT / "scripts").glob("*.py"))


def imports_of(path):
    """Every module ``path`` imports, at module level or inside a function, as absolute names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.add(base)
            # "from package import module" imports that module too
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def part(name):
    """``"tasks"``, ``"experiments"`` or ``"scripts"`` for a name inside that part, ``"library"`` for any other
    name inside ``ntm_cell``, ``None`` for a name that is not ours."""
    for folder, package in PARTS.items():
        if name == package or name.startswith(package + "."):
            return folder
    return "library" if name == "ntm_cell" or name.startswith("ntm_cell.") else None


def ours(name):
    return part(name) is not None


GRAPH = {module_name(p): {n for n in imports_of(p) if ours(n)} for p in project_files()}
MODULES = set(GRAPH)


def resolve(name):
    """The project module an imported name refers to (``ntm_cell.experiments.plotting.figures.model_label`` -> the
    module), or ``None`` for a name that is an attribute of a package's ``__init__`` only."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def edges(module):
    targets = {resolve(n) for n in GRAPH[module]}
    return {t for t in targets if t is not None and t != module and not module.startswith(t + ".")}


def test_module_names_are_the_installed_names():
    assert module_name(ROOT / "tasks" / "copy.py") == "ntm_cell.tasks.copy"
    assert module_name(ROOT / "experiments" / "bench" / "runner.py") == "ntm_cell.experiments.bench.runner"
    assert module_name(ROOT / "experiments" / "plotting" / "__init__.py") == "ntm_cell.experiments.plotting"
    assert module_name(ROOT / "scripts" / "train.py") == "ntm_cell.scripts.train"
    assert module_name(ROOT / "ntm_cell" / "__init__.py") == "ntm_cell"
    assert {part(m) for m in MODULES} == {"library", "tasks", "experiments", "scripts"}


@pytest.mark.parametrize("path", [*project_files(), *sorted((ROOT / "tests").glob("*.py"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_our_modules_are_imported_by_their_installed_names(path):
    assert not [n for n in imports_of(path) if n.split(".")[0] in PARTS], "import them as ntm_cell.<part>"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if part(m) == "library"))
def test_the_library_imports_nothing_else_of_ours(module):
    assert {part(n) for n in GRAPH[module]} <= {"library"}, GRAPH[module]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if part(m) == "tasks"))
def test_tasks_import_no_model_and_no_glue(module):
    for name in GRAPH[module]:
        assert part(name) == "tasks" or name == "ntm_cell.arguments" or name.startswith("ntm_cell.arguments."), name


@pytest.mark.parametrize("module", sorted(m for m in MODULES if part(m) == "scripts"))
def test_scripts_import_only_experiments(module):
    assert {part(n) for n in GRAPH[module]} <= {"experiments"}, GRAPH[module]


def test_nothing_imports_a_script():
    for module, names in GRAPH.items():
        assert not any(part(n) == "scripts" for n in names), module


def test_the_argument_checks_import_nothing():
    assert not [n for n in imports_of(ROOT / "ntm_cell" / "arguments.py") if n not in ("numbers",)]


def find_cycle(graph):
    """One import circle of ``graph`` (module -> modules) as a list, or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_finds_a_circle_and_only_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circles_among_our_modules():
    cycle = find_cycle({module: edges(module) for module in MODULES})
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_glue_file_is_over_350_lines(path):
    assert len(path.read_text().splitlines()) <= 350


def test_the_training_loop_is_one_readable_page():
    tree = ast.parse((ROOT / "experiments" / "training.py").read_text())
    (train,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "train"]
    assert train.end_lineno - train.lineno + 1 < 80
