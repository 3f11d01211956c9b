"""Imports point one way: each module of the package imports only modules of its own layer or of
the layers below it (the order in ``launcher/__init__.py``'s docstring), and no modules import each
other, directly or through others. Every import is read, at module level and inside functions
(a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

from support import REPO

#: The layers, lowest first: a module belongs to the first layer one of whose prefixes names it or
#: its package. ``launcher.launchers.protocol`` is what the sweeper asks of any launcher: it imports
#: nothing of the package and sits under the sweep, which the launchers implementing it sit above.
LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("compat", ("launcher.compat",)),
    ("run", ("launcher.run",)),
    ("protocol", ("launcher.launchers.protocol",)),
    ("sweep", ("launcher.sweep",)),
    ("launchers", ("launcher.launchers",)),
    ("report, mozaik, model", ("launcher.report", "launcher.mozaik", "launcher.model")),
    ("entry points", ("launcher.app", "launcher.__main__", "launcher.parameter_search", "launcher", "hydra_plugins.mozaik_", "run_sim")),
]

#: The project's own top-level names (``hydra_plugins`` holds third-party plugins too: only ours count).
OURS = ("launcher", "hydra_plugins.mozaik_", "run_sim")


def module_files(repo: Path = REPO) -> Dict[str, Path]:
    """Every module of the project, by dotted name (a package by its own name)."""
    paths = [*repo.glob("launcher/**/*.py"), *repo.glob("hydra_plugins/mozaik_*/**/*.py"), repo / "run_sim.py"]
    modules = {}
    for path in paths:
        parts = path.relative_to(repo).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def layer_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") or (prefix.endswith("_") and module.startswith(prefix)) for prefix in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS (and to the order in launcher/__init__.py)")


def imported_modules(module: str, path: Path, modules: Dict[str, Path]) -> Dict[str, int]:
    """The project's modules that ``module`` imports anywhere in its file, with a line of each."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if _is_type_checking_block(node):  # imports for annotations only: never run, so no dependency
            node.body = []
    found: Dict[str, int] = {}
    for node in ast.walk(tree):
        names: List[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            # ``from a import b``: the module a.b if there is one, else a
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for name in names:
            while name and name not in modules:  # a name inside a module: the module
                name = name.rpartition(".")[0]
            if name and name != module and name.startswith(OURS):
                found.setdefault(name, node.lineno)
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph(repo: Path = REPO) -> Dict[str, Dict[str, int]]:
    modules = module_files(repo)
    return {module: imported_modules(module, path, modules) for module, path in modules.items()}


def upward_imports(graph: Dict[str, Dict[str, int]]) -> List[str]:
    """Each import of a module from a layer above the importer's."""
    found = []
    for module, imports in sorted(graph.items()):
        for target, line in sorted(imports.items()):
            if layer_of(target) > layer_of(module):
                found.append(
                    f"{module} (layer {LAYERS[layer_of(module)][0]}) imports {target} "
                    f"(layer {LAYERS[layer_of(target)][0]}), line {line}"
                )
    return found


def import_cycles(graph: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan's strongly
    connected components of more than one module)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, {}):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_every_module_belongs_to_a_layer() -> None:
    for module in module_files():
        layer_of(module)


def test_no_module_imports_one_from_a_layer_above() -> None:
    found = upward_imports(import_graph())
    assert not found, "imports from a higher layer:\n  " + "\n  ".join(found)


def test_no_modules_import_each_other() -> None:
    cycles = import_cycles(import_graph())
    assert not cycles, "modules importing each other:\n  " + "\n  ".join(" <-> ".join(group) for group in cycles)


def test_the_check_sees_a_bad_import(tmp_path: Path) -> None:
    """The checks fail on an upward import and on a cycle, function-level imports included."""
    for name, text in {
        "launcher/__init__.py": "",
        "launcher/run/__init__.py": "",
        "launcher/sweep/__init__.py": "",
        "launcher/run/job.py": "def f():\n    from launcher.sweep import manifest\n",
        "launcher/sweep/manifest.py": "from launcher.run import job\n",
        "launcher/sweep/a.py": "from . import b\n",
        "launcher/sweep/b.py": "def g():\n    import launcher.sweep.a\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "run_sim.py").write_text("")
    graph = import_graph(tmp_path)
    assert upward_imports(graph) == ["launcher.run.job (layer run) imports launcher.sweep.manifest (layer sweep), line 2"]
    assert import_cycles(graph) == [
        ["launcher.run.job", "launcher.sweep.manifest"],
        ["launcher.sweep.a", "launcher.sweep.b"],
    ] or sorted(import_cycles(graph)) == [["launcher.run.job", "launcher.sweep.manifest"], ["launcher.sweep.a", "launcher.sweep.b"]]
