"""A mozaik tree in Hydra: the mapping of the constructs to plain mappings and back, and the import.

:func:`to_hydra` and :func:`from_hydra` map the constructs, refs (interpolations) and arithmetic on refs
(the ``mozaik_expr`` resolver, :mod:`launcher.mozaik.expr_resolver`) to what OmegaConf holds; :func:`import_mozaik` writes a
Hydra config directory, one config per mozaik file; :func:`tuple_paths` says where the tuples were.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

import yaml

import launcher.mozaik.parameter_files.limits as limits
from launcher.mozaik.parameter_files.constructs import CONSTRUCTS, Construct, Expr, Ref, _Include
from launcher.mozaik.parameter_files.errors import MozaikFormatError, _shorten
from launcher.mozaik.parameter_files.loader import _YAML_SUFFIXES, _read_with_includes
from launcher.mozaik.parameter_files.references import resolve_refs
from launcher.mozaik.parameter_files.trees import _IMMUTABLE, _inline, _map_leaves
from launcher.mozaik.expr_resolver import EXPR_RESOLVER  # (registered there, at the package's import)
from launcher.sweep.overrides import escape_interpolation


# --------------------------------------------------------------------------- Hydra

def to_hydra(tree: Any, *, escape: bool = False) -> Any:
    """``tree`` as a Hydra/OmegaConf tree holds it: each construct as a mapping with ``_type`` (its call name)
    and its fields, tuples as lists, each :class:`Ref` as the interpolation ``${path}``. With ``escape``, a
    ``${`` in a string is escaped so that OmegaConf reads it literally (for a tree handed to OmegaConf)."""

    def leaf(value: Any) -> Any:
        if isinstance(value, Ref):
            return "${" + value.path + "}"
        if isinstance(value, Expr):
            return _expr_interpolation(value)
        if isinstance(value, Construct):
            mapped = {f.name: to_hydra(getattr(value, f.name), escape=escape) for f in fields(value)}  # type: ignore
            return {"_type": type(value).__name__, **mapped}
        if escape and isinstance(value, str):
            return escape_interpolation(value)
        return value

    return _map_leaves(tree, leaf, tuples=list)


def _expr_interpolation(expr: Expr) -> str:
    """Arithmetic on refs in a Hydra config: the :data:`EXPR_RESOLVER` resolver over its template and the
    interpolations of its refs, e.g. ``${mozaik_expr:'_0 * 4 / 5 * (1 - _1)',${sheets.K},${sheets.ratio}}``.
    OmegaConf resolves it when the value is read, i.e. after Hydra's overrides: it follows its refs' sources."""
    operands = ",".join("${" + ref.path + "}" for ref in expr.refs)
    # Quoted, as a resolver argument with parentheses must be; the template holds no quote (numbers, names, operators).
    return "${" + f"{EXPR_RESOLVER}:'{expr.template}',{operands}" + "}"




def from_hydra(tree: Any, *, tuples: Iterable[str] = ()) -> Any:
    """The inverse of :func:`to_hydra` on a resolved tree: every mapping with a known ``_type`` becomes its
    construct again, e.g. to write a composed Hydra config back in mozaik's format. Lists stay lists but those
    at the dotted paths ``tuples`` (see :func:`tuple_paths`), which become tuples again."""
    return _from_hydra(tree, frozenset(tuples), ())


def _from_hydra(tree: Any, tuples: frozenset[str], path: tuple[str, ...]) -> Any:
    if isinstance(tree, dict) and tree.get("_type") in CONSTRUCTS:
        arguments = {key: _from_hydra(value, tuples, (*path, key)) for key, value in tree.items() if key != "_type"}
        try:
            return CONSTRUCTS[tree["_type"]](**arguments)
        except TypeError as exc:
            raise MozaikFormatError(f"{tree['_type']} mapping {_shorten(repr(tree))}: {exc}") from None
    if isinstance(tree, dict):
        return {key: _from_hydra(value, tuples, (*path, key)) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        items = [_from_hydra(item, tuples, (*path, str(index))) for index, item in enumerate(tree)]
        return tuple(items) if ".".join(path) in tuples else items
    return tree


def tuple_paths(tree: Any) -> list[str]:
    """The dotted path of every tuple in a read tree, in the order met: list and tuple items by index, a
    construct's fields by name (the layout of :func:`to_hydra`). Hydra has no tuples, so an imported config
    holds lists; ``from_hydra(composed, tuples=tuple_paths(tree))`` makes them tuples again, so that a
    parameter file written from a composed config has tuples where the original had them. Take the paths from
    the resolved tree (:func:`read_parameters`), where a ref() to a tuple is a tuple too."""
    paths: list[str] = []
    _collect_tuples(tree, (), paths)
    return paths


def _collect_tuples(value: Any, path: tuple[str, ...], paths: list[str]) -> None:
    if isinstance(value, Construct):
        children = [(f.name, getattr(value, f.name)) for f in fields(value)]  # type: ignore[arg-type]
    elif isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, (list, tuple)):
        if isinstance(value, tuple):
            paths.append(".".join(path))
        children = [(str(index), item) for index, item in enumerate(value)]
    else:
        return
    for key, child in children:
        _collect_tuples(child, (*path, key), paths)


#: Keys of a Hydra package; a key outside this set could change the meaning of a defaults-list entry.
_PACKAGE_KEY = re.compile(r"^[A-Za-z_][\w-]*$")


#: Names a model option cannot take: the primary config, and directories run_sim.py's config has.
_RESERVED_MODEL_NAMES = frozenset(["config", "model", "hydra"])


def import_mozaik(
    root_file: str | Path,
    out_dir: str | Path,
    base_dir: str | Path | None = None,
    *,
    model: str | None = None,
    task: dict[str, Any] | None = None,
    modernise: bool = False,
) -> Path:
    """Convert the mozaik tree of ``root_file`` into a Hydra config directory ``out_dir``; returns the root's config.

    ``out_dir/config.yaml`` holds the root file. Each file that url() includes at a dict key becomes its own
    config, at its path relative to ``base_dir`` with ``.yaml`` added (``param/sheets`` ->
    ``param/sheets.yaml``; an included ``.yaml``/``.yml`` file keeps its name, ending in ``.yaml``; a file
    outside ``base_dir`` goes under ``_external/``), written once however often it is included. The including
    config pulls it in with a defaults-list entry ``/param/sheets@key.path``: an absolute config path and a
    package relative to the including config's own package, so a file included at two places lands at both,
    its own includes with it. A url() inside a list is inlined (a package cannot address a list item).
    Each ref() becomes the interpolation ``${dotted.path}`` (absolute, as mozaik's refs are from the root),
    each construct the mapping of :func:`to_hydra`. ``base_dir`` is as for :func:`read_parameters`.

    With ``model``, the tree becomes an option of the config group ``model`` of ``run_sim.py``: the root
    file is ``out_dir/model/<model>.yaml`` (``# @package _global_``: its tree at the root of the config,
    ``task`` added to it), the included files go under ``out_dir/<model>/``, and no ``config.yaml`` is
    written (it would hide ``run_sim.py``'s own when ``out_dir`` is given as ``--config-dir``).
    With ``modernise``, mozaik 0.1's distributions are imported as today's (:func:`legacy_changes` lists them).
    """
    if model is not None and (not re.fullmatch(r"[A-Za-z_][\w-]*", model) or model in _RESERVED_MODEL_NAMES):
        raise MozaikFormatError(
            f"model name {model!r}: a model option's name is letters, digits, '_' and '-' (not one of "
            f"{', '.join(sorted(_RESERVED_MODEL_NAMES))})"
        )
    tree, loader = _read_with_includes(root_file, base_dir, modernise)
    if loader.values > limits.MAX_IMPORT_VALUES:  # before the tree is resolved and copied
        raise _too_many_values(str(root_file), loader.values)
    resolved = resolve_refs(_inline(tree))  # a missing ref or a cycle is refused before anything is written
    tree = _subtree_refs_as_copies(tree, resolved)
    for key in ("task", "hydra") if model is not None else ():
        if key in tree:
            raise MozaikFormatError(f"{root_file}: the key {key!r} is run_sim.py's own, it cannot be a parameter")
    base = (Path(base_dir) if base_dir is not None else Path.cwd()).resolve()
    sources = _included_files(tree)
    prefix = f"{model}/" if model is not None else ""
    names = {source: prefix + name for source, name in _config_names(sources, base).items()}
    out = Path(out_dir)
    root_config = out / "model" / f"{model}.yaml" if model is not None else out / "config.yaml"
    # Every text first, so that a tree Hydra cannot hold leaves no half-written directory behind.
    written = _Written(str(root_file))
    texts = {root_config: _config_text(tree, names, str(root_file), written, top={"task": task} if task else {}, global_package=model is not None)}
    for source, included in sources.items():
        texts[out / f"{names[source]}.yaml"] = _config_text(included, names, str(_relative(source, base) or source), written)
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root_config


def _subtree_refs_as_copies(value: Any, resolved: dict[str, Any]) -> Any:
    """``value`` with each ref() to a dict replaced by a copy of that dict whose leaves are refs to the dict's
    leaves (``ref('sheets.l4.params')`` -> ``{'density': ref('sheets.l4.params.density'), ...}``).

    mozaik's references are copies (``parameters``' ParameterReference gives a ``tree_copy()`` of a
    ParameterSet): a change under the referring node changes it alone, and a change of the referenced leaves
    reaches every copy. An OmegaConf interpolation of a whole node is no copy: Hydra refuses an override of a
    key under it (OmegaConf 2.3) or writes it through to the referenced node (2.4). Leaf by leaf, the imported
    tree behaves as mozaik's on both. ``resolved``: the whole tree, references resolved (its shapes)."""
    if isinstance(value, _Include):
        return _Include(value.source, _subtree_refs_as_copies(value.tree, resolved))
    if isinstance(value, dict):
        return {key: _subtree_refs_as_copies(item, resolved) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_subtree_refs_as_copies(item, resolved) for item in value)
    if isinstance(value, Ref):
        target: Any = resolved
        for key in value.path.split("."):
            target = target[key]  # there: resolve_refs found it
        return _ref_copy(value, target)
    return value


def _ref_copy(ref: Ref, target: Any) -> Any:
    if isinstance(target, dict):
        return {key: _ref_copy(Ref(f"{ref.path}.{key}", ref.where), item) for key, item in target.items()}
    return ref


def _relative(source: Path, base: Path) -> Path | None:
    """``source`` relative to the model directory, None if it lies outside."""
    try:
        return source.relative_to(base)
    except ValueError:
        return None


def _included_files(tree: dict[str, Any]) -> dict[Path, dict[str, Any]]:
    """Each file included at a dict key (not inside a list), in the order first met, with its tree."""
    found: dict[Path, dict[str, Any]] = {}
    for value in tree.values():
        if isinstance(value, _Include):
            found.setdefault(value.source, value.tree)
            value = value.tree
        if isinstance(value, dict):
            for source, included in _included_files(value).items():
                found.setdefault(source, included)
    return found


def _config_names(sources: dict[Path, Any], base: Path) -> dict[Path, str]:
    """A distinct Hydra config name (path without .yaml) for each included file."""
    names: dict[Path, str] = {}
    taken = {"config"}  # the root's
    for source in sources:
        relative = _relative(source, base) or Path("_external", source.name)
        if relative.suffix.lower() in _YAML_SUFFIXES:
            relative = relative.with_suffix("")
        # Only characters that a defaults-list entry reads as part of a name; a clash gets a number.
        stem = "/".join(re.sub(r"[^\w-]", "_", part) for part in relative.parts)
        name, number = stem, 2
        while name in taken:
            name, number = f"{stem}_{number}", number + 1
        taken.add(name)
        names[source] = name
    return names


def _split_includes(
    tree: dict[str, Any], names: dict[Path, str], prefix: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The tree of one file without its url() keys, and the defaults-list entries that put them back."""
    body: dict[str, Any] = {}
    defaults: list[str] = []
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, _Include):
            if not all(_PACKAGE_KEY.match(part) for part in path):
                raise MozaikFormatError(f"url() at {'.'.join(path)}: this key cannot be a Hydra package")
            defaults.append(f"/{names[value.source]}@{'.'.join(path)}")
        elif isinstance(value, dict):
            body[key], nested = _split_includes(value, names, path)
            defaults += nested
        elif type(value) in _IMMUTABLE or isinstance(value, (Ref, Expr)):
            body[key] = value  # nothing to copy (most values: a copier made for each took half an import's time)
        else:
            body[key] = _inline(value)
    return body, defaults


def _config_text(
    tree: dict[str, Any], names: dict[Path, str], source: str, written: _Written, top: dict[str, Any] | None = None,
    global_package: bool = False,
) -> str:
    """The YAML config of one mozaik file: a defaults list for its url() keys, then its own keys (and ``top``,
    keys that are not the file's, written as they are); with ``global_package``, a config whose keys sit at
    the root of the composed config whatever group it is in."""
    body, defaults = _split_includes(tree, names)
    if "defaults" in body:
        raise MozaikFormatError(f"{source}: the key 'defaults' is Hydra's defaults list, it cannot be a parameter")
    # _self_ first: the file's own keys, then the included configs merged at their packages.
    data = {"defaults": ["_self_", *defaults]} if defaults else {}
    data.update(top or {})
    data.update(to_hydra(body, escape=True))
    text = _yaml_text(data, source, written)
    header = "# @package _global_\n" if global_package else ""
    return f"{header}# Imported from mozaik parameter file {json.dumps(source)}\n{text}"


#: Strings that OmegaConf's loader reads as booleans (YAML 1.1's words): written quoted, as OmegaConf's dumper does.
_YAML_BOOLS = frozenset("y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF".split())


#: The first characters (after blanks) of what int() and float() read: ASCII digits (and any other decimal digit), signs, '.', inf and nan.
_NUMBER_START = frozenset("0123456789+-.iInN")


def _reads_as_number(text: str) -> bool:
    """Whether int() or float() reads ``text`` (OmegaConf's test of a string to quote)."""
    first = text.lstrip()[:1]
    if not (first in _NUMBER_START or first.isdecimal()):  # (int() and float() copy a long string before they refuse it)
        return False
    for kind in (int, float):
        try:
            kind(text)
            return True
        except ValueError:
            pass
    return False


class _ConfigDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """What ``OmegaConf.to_yaml(OmegaConf.create(data))`` writes of plain data, written by libyaml in C: 20 to 50
    times faster (a 1 MB file of numbers took 10 s through OmegaConf's nodes and PyYAML's Python emitter).
    Every string that OmegaConf's loader would read as another type (``'1e5'``, ``'true'``) is quoted as its
    dumper quotes it; a value that stands at two places is written at both (no YAML anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.BaseDumper, data: str) -> yaml.ScalarNode:
    quoted = data in _YAML_BOOLS or _reads_as_number(data)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="'" if quoted else None)


_ConfigDumper.add_representer(str, _represent_str)


def _too_many_values(source: str, values: int) -> MozaikFormatError:
    return MozaikFormatError(
        f"{source}: the imported configs would hold more than {limits.MAX_IMPORT_VALUES:,} values (MAX_IMPORT_VALUES): "
        f"{values:,} or more, which Hydra would compose for each job at some 100 µs each; keep large data in a file "
        "the model reads"
    )


def _count_values(data: Any, most: int) -> int:
    """The values of plain data (each dict, list and leaf), counted up to past ``most``."""
    count, stack = 0, [data]
    while stack and count <= most:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count + len(stack)


class _ImportTooLarge(Exception):
    pass


class _Written:
    """The text of an import's configs, as the YAML emitter writes it, refused past MAX_IMPORT_BYTES in all, and
    the number of values they hold (MAX_IMPORT_VALUES)."""

    def __init__(self, root: str) -> None:
        self.root = root  # the root file, which messages name
        self.size = 0
        self.chunks: list[str] = []
        self.values = 0

    def where(self, source: str) -> str:
        return self.root if source == self.root else f"{self.root}: {source}"

    def write(self, chunk: str) -> None:
        self.size += len(chunk)
        if self.size > limits.MAX_IMPORT_BYTES:
            raise _ImportTooLarge
        self.chunks.append(chunk)


def _yaml_text(data: dict[str, Any], source: str, written: _Written) -> str:
    """``data`` as YAML, counted in ``written`` (the whole import's): refused once the import's configs pass
    :data:`MAX_IMPORT_BYTES` (a 100 KB string aliased 1,000 times is 100 MB of YAML), before more is written."""
    written.values += _count_values(data, limits.MAX_IMPORT_VALUES - written.values)
    if written.values > limits.MAX_IMPORT_VALUES:
        raise _too_many_values(written.where(source), written.values)
    start = len(written.chunks)
    try:
        yaml.dump(data, written, Dumper=_ConfigDumper, default_flow_style=False, allow_unicode=True, sort_keys=False)
    except _ImportTooLarge:
        raise MozaikFormatError(
            f"{written.where(source)}: the imported configs would hold more than {limits.MAX_IMPORT_BYTES:,} characters (MAX_IMPORT_BYTES): "
            "references, url() includes or YAML aliases repeat its values; a Hydra config cannot share them"
        ) from None
    return "".join(written.chunks[start:])
