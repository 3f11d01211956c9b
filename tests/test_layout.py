"""The package's shape: the layout page (docs/layout.md, linked from the README) is the tree, and private framework names stay
in the one module that lists them."""

from __future__ import annotations

from pathlib import Path

from support import REPO, doc_section


def layout_entries() -> set[str]:
    """The paths the layout section lists (a folder line, then its indented files), wherever the
    README or docs/ hold it."""
    _, section = doc_section("Layout")
    block = section[section.index("```\n") + 4 : section.index("```", section.index("```\n") + 4)]
    entries, folder = set(), ""
    for line in block.splitlines():
        path = line.split()[0]
        if line.startswith(" "):
            entries.add(folder + path)
        else:
            folder = path if path.endswith("/") else ""
            entries.add(path)
    return entries


def test_the_readme_layout_lists_every_module_and_only_what_exists() -> None:
    listed = layout_entries()
    for path in sorted(listed):
        assert (REPO / path).exists(), f"the layout (docs/layout.md) lists {path}, which does not exist"
    modules = {
        str(path.relative_to(REPO)) for path in (REPO / "launcher").rglob("*.py") if path.name != "__init__.py"
    }
    missing = sorted(modules - listed)
    assert not missing, f"modules the layout (docs/layout.md) does not list: {missing}"
    folders = {str(path.parent.relative_to(REPO)) + "/" for path in (REPO / "launcher").rglob("__init__.py")} - {"launcher/"}
    assert folders <= listed, f"folders the layout (docs/layout.md) does not list: {sorted(folders - listed)}"


#: The one module allowed to use private Hydra and OmegaConf names (it lists each, with its fallback).
COMPAT = "launcher/compat.py"


def framework_private_names() -> set[str]:
    """Names starting with one underscore that Hydra's and OmegaConf's classes define, and the
    attributes their nodes and results carry (``_content``, ``_return_value``, ...)."""
    import importlib
    import inspect
    import pkgutil

    import hydra
    import omegaconf
    from hydra.core.utils import JobReturn
    from omegaconf import AnyNode, DictConfig, ListConfig

    names: set[str] = set()
    for package in (hydra, omegaconf):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".test_utils" in info.name or "grammar.gen" in info.name:
                continue
            try:
                module = importlib.import_module(info.name)
            except Exception:  # an optional plugin's module whose dependency is absent
                continue
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__.split(".")[0] in ("hydra", "omegaconf"):
                    names |= {name for name in vars(cls) if name.startswith("_") and not name.startswith("__")}
    for instance in (DictConfig({"a": 1}), ListConfig([1]), AnyNode(1), JobReturn()):
        names |= {name for name in vars(instance) if name.startswith("_") and not name.startswith("__")}
    return {name for name in names if not name.endswith("_")}  # _target_, _recursive_...: Hydra's public keys


def private_uses(path: Path, private: set[str]) -> list[str]:
    """Where a source file imports a private Hydra/OmegaConf module or name, or touches a private
    attribute name of theirs (``x._name``, ``getattr(x, "_name")``, ``x.__dict__["_name"]``)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("hydra", "omegaconf"):
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append(f"{where}: from {node.module} import ...")
            found += [f"{where}: import {alias.name} from {node.module}" for alias in node.names if alias.name.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [
                f"{where}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] in ("hydra", "omegaconf") and any(p.startswith("_") for p in alias.name.split("."))
            ]
        elif isinstance(node, ast.Attribute) and node.attr in private:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{where}: .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in private:
            found.append(f"{where}: {node.value!r}")
        elif isinstance(node, ast.keyword) and node.arg in private:
            found.append(f"{where}: {node.arg}=")
    return found


def test_private_hydra_and_omegaconf_names_are_used_only_in_the_compat_module() -> None:
    private = framework_private_names()
    assert {"_get_node", "_set_value", "_content", "_return_value", "_apply_overrides_to_config"} <= private
    sources = [*(REPO / "launcher").rglob("*.py"), *(REPO / "hydra_plugins").rglob("*.py"), REPO / "run_sim.py"]
    uses = [use for path in sorted(sources) if str(path.relative_to(REPO)) != COMPAT for use in private_uses(path, private)]
    assert not uses, "private Hydra/OmegaConf names outside " + COMPAT + ":\n" + "\n".join(uses)
    assert private_uses(REPO / COMPAT, private), "the scan finds nothing in the compat module: it scans for nothing"


#: Modules run as files in a model's own environment, not in this project's (with what that environment has):
#: they import only the standard library and these.
IN_THE_MODELS_ENVIRONMENT = {"launcher/mozaik/datastore_values.py": {"mozaik", "parameters"}}


def test_every_package_the_code_imports_is_declared() -> None:
    """Each top-level module imported by the package, its plugins and run_sim.py (not the standard
    library's, not the project's own) belongs to a distribution pyproject.toml declares."""
    import ast
    import importlib.metadata
    import re
    import sys
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-") for line in project["dependencies"]}
    own = {"launcher", "hydra_plugins", "run_sim"}
    distributions = importlib.metadata.packages_distributions()
    sources = [*(REPO / "launcher").rglob("*.py"), *(REPO / "hydra_plugins").rglob("*.py"), REPO / "run_sim.py"]
    undeclared = []
    for path in sorted(sources):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                model_env = IN_THE_MODELS_ENVIRONMENT.get(str(path.relative_to(REPO)))
                if model_env is not None and top not in sys.stdlib_module_names:
                    if top not in model_env:  # the project's own package included: the model's environment lacks it
                        undeclared.append(f"{path.relative_to(REPO)}:{node.lineno}: {name} (runs in the model's environment)")
                    continue
                if top in sys.stdlib_module_names or top in own:
                    continue
                owners = {owner.lower().replace("_", "-") for owner in distributions.get(top, [])}
                if not owners & declared:
                    undeclared.append(f"{path.relative_to(REPO)}:{node.lineno}: {name} (from {sorted(owners) or 'no installed distribution'})")
    assert not undeclared, "imported but not declared in pyproject.toml:\n" + "\n".join(undeclared)
