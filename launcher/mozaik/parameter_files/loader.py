"""Reading a root parameter file and what it includes: bytes, text, YAML, includes, within the limits.

:class:`_Loader` reads each file once (its bytes counted against :data:`MAX_BYTES`), refuses include cycles,
and hands mozaik files to the reader, YAML files to libyaml after their aliases are counted;
:func:`read_parameters` is the public entry point.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

import launcher.mozaik.parameter_files.limits as limits
from launcher.mozaik.parameter_files.constructs import _NONE, _Include
from launcher.mozaik.parameter_files.errors import MozaikFormatError, _bounded, _quote, _shorten
from launcher.mozaik.parameter_files.grammar import _decode, _expression_start, _parse, _ParserLimit
from launcher.mozaik.parameter_files.explain import _FileReader
from launcher.mozaik.parameter_files.legacy import Change, modernise
from launcher.mozaik.parameter_files.reader import _LiteralReader
from launcher.mozaik.parameter_files.references import resolve_refs
from launcher.mozaik.parameter_files.trees import _inline

_YAML_SUFFIXES = (".yaml", ".yml")


class _Loader:
    """Reads a file and, recursively, what it includes; knows the chain of files being read to refuse cycles.
    Each file is read once, however often it is included; all of them together hold at most MAX_BYTES."""

    def __init__(self, base_dir: str | Path | None, modernise: bool = False) -> None:
        # The model directory is fixed once, so that every url() of one tree is resolved against the same one.
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.chain: list[Path] = []
        self.trees: dict[Path, dict[str, Any]] = {}
        self.includes: dict[str, _Include] = {}  # by url(): a file of 100,000 url() looks each file up once
        self.bytes_read = 0
        #: The refs and arithmetic on refs read: a tree without any needs no resolution.
        self.references = 0
        #: The values read (the readers' counts, a YAML file's with its aliases expanded; each file once).
        self.values = 0
        #: Whether the tree read may repeat subtrees (url() includes, YAML aliases): then _inline copies it.
        self.repeats = False
        #: Whether mozaik 0.1's distributions are rewritten as today's (legacy.py) before reading; what was.
        self.modernise = modernise
        self.changes: list[Change] = []

    def read(self, path: Path, display: str, depth: int = 0) -> dict[str, Any]:
        """The tree of a file, whose root stands at ``depth`` of the whole tree (an included file's, deeper)."""
        resolved = path.resolve()
        self.chain.append(resolved)
        try:
            with _bounded(display):
                yaml_file = path.suffix.lower() in _YAML_SUFFIXES
                data = self.read_bytes(path, display)
                if yaml_file and len(data) > limits.MAX_YAML_BYTES:
                    raise MozaikFormatError(
                        f"{display}: {len(data):,} bytes: a YAML file may hold at most {limits.MAX_YAML_BYTES:,} (MAX_YAML_BYTES)"
                    )
                text = _decode(data, display)
                if yaml_file:
                    self.repeats = True  # aliases
                    tree, values = _yaml_tree(text, display, depth)
                    self.values += values
                else:
                    if self.modernise:
                        text, changes = modernise(text, display)
                        self.changes += changes
                    tree = self.mozaik_tree(text, display, depth)
        finally:
            self.chain.pop()
        if not isinstance(tree, dict):
            raise MozaikFormatError(f"{display}: a parameter file holds a dict, not {type(tree).__name__}")
        self.trees[resolved] = tree
        return tree

    def count_reference(self) -> bool:
        """Count a ref() or arithmetic on refs read; whether that passes :data:`MAX_REFS`."""
        self.references += 1
        return self.references > limits.MAX_REFS

    def read_bytes(self, path: Path, display: str) -> bytes:
        """The bytes of a file, refused unread past what is left of MAX_BYTES, and refused unopened if it is not a
        regular file on a disk's file system (:func:`_not_a_file`): a FIFO or a device would block or never end."""
        left = limits.MAX_BYTES - self.bytes_read
        try:
            if problem := _not_a_file(os.stat(path)):
                raise MozaikFormatError(f"{display}: {problem}")
            # Not blocking, whatever the file turned into since: checked again on what was opened.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            with open(fd, "rb") as file:
                if problem := _not_a_file(os.fstat(fd)):
                    raise MozaikFormatError(f"{display}: {problem}")
                data = file.read(left + 1)
        except OSError as exc:
            raise MozaikFormatError(f"{display}: cannot read: {exc}") from None
        if len(data) > left:
            read_before = f" (files read before it: {self.bytes_read:,} bytes)" if self.bytes_read else ""
            raise MozaikFormatError(
                f"{display}: more than {limits.MAX_BYTES:,} bytes{read_before}: a parameter file and all it includes "
                f"may hold at most {limits.MAX_BYTES:,} bytes (MAX_BYTES)"
            )
        self.bytes_read += len(data)
        return data

    def mozaik_tree(self, text: str, display: str, depth: int) -> Any:
        """The value of a mozaik file's text, read by the reader. A file of up to AST_MAX_CHARS is parsed by Python's
        parser first (in C, fast), which reports syntax errors as Python does and names the constructs the reader
        refuses; a larger one is not (its syntax tree would take up to 500 bytes per character), nor one nested
        deeper than that parser goes (it reports its own limits as memory or recursion errors)."""
        start = _expression_start(text, display)
        if len(text) <= limits.AST_MAX_CHARS:
            try:
                body, shift = _parse(text, display)
            except _ParserLimit:
                pass  # nested deeper than Python's parser goes: the reader names MAX_DEPTH
            else:
                reader: _LiteralReader = _FileReader(self, display, shift, text[shift:])
                tree = reader.value(body, depth)
                self.values += reader.nodes
                return tree
        reader = _LiteralReader(self, display, text)
        tree = reader.read(start, depth)
        self.values += reader.nodes
        return tree

    def include(self, url: str, where: str, depth: int) -> _Include:
        """The file a url() names, read (once) as if its tree stood at ``depth``."""
        self.repeats = True
        if url in self.includes:
            return self.includes[url]
        local = url.removeprefix("file://")
        if re.match(r"^[a-zA-Z][\w+.-]*://", local):  # never fetch from the network
            raise MozaikFormatError(f"{where}: url({_quote(url)}): only local files can be included")
        path = self.base_dir / local
        try:
            resolved, info = path.resolve(), _stat(path)
        except (OSError, ValueError) as exc:  # a name too long, a null character...
            raise MozaikFormatError(f"{where}: url({_quote(url)}): cannot read: {_shorten(str(exc), 100)}") from None
        if resolved in self.chain:
            cycle = " -> ".join(str(p) for p in [*self.chain[self.chain.index(resolved) :], resolved])
            raise MozaikFormatError(f"{where}: url({_quote(url)}): include cycle: {cycle}")
        if resolved not in self.trees:
            if info is None:
                raise MozaikFormatError(f"{where}: url({_quote(url)}): no such file {_shorten(str(path), 200)}")
            if problem := _not_a_file(info):  # never opened
                raise MozaikFormatError(f"{where}: url({_quote(url)}): {_shorten(str(path), 200)}: {problem}")
            self.read(path, str(path), depth)
        self.includes[url] = _Include(resolved, self.trees[resolved])
        return self.includes[url]



#: File systems whose files are the kernel's, not data: /proc/kmsg blocks, others never end or change as read.
_KERNEL_FILE_SYSTEMS = frozenset(
    ["proc", "sysfs", "debugfs", "tracefs", "securityfs", "configfs", "cgroup", "cgroup2", "bpf", "pstore", "efivarfs", "fusectl"]
)


def _not_a_file(info: os.stat_result) -> str | None:
    """Why a file of this ``stat`` is not read as a parameter file, None if it is read: it must be a regular file
    (not a FIFO, a device, a socket, a directory), on a file system that is not the kernel's (/proc, /sys)."""
    if not stat.S_ISREG(info.st_mode):
        kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device",
                 stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket"}  # fmt: skip
        kind = next((name for test, name in kinds.items() if test(info.st_mode)), "not a regular file")
        return f"{kind}, not a parameter file (only regular files are read)"
    fs_type = _file_systems().get((os.major(info.st_dev), os.minor(info.st_dev)))
    if fs_type in _KERNEL_FILE_SYSTEMS:
        return f"a file of the kernel's ({fs_type} file system), not a parameter file"
    return None


def _stat(path: Path) -> os.stat_result | None:
    """The ``stat`` of a path (following links), None if nothing is there."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


@functools.lru_cache(maxsize=1)
def _file_systems() -> dict[tuple[int, int], str]:
    """The type of each mounted file system by its device number, from /proc/self/mountinfo (empty if unread)."""
    found: dict[tuple[int, int], str] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return found
    for line in lines:
        fields, _, after = line.partition(" - ")
        parts, types = fields.split(), after.split()
        if len(parts) > 2 and types and parts[2].count(":") == 1:
            major, minor = parts[2].split(":")
            if major.isdigit() and minor.isdigit():
                found[(int(major), int(minor))] = types[0]
    return found


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_tree(text: str, display: str, depth: int = 0) -> tuple[Any, int]:
    """The tree of a YAML file, and its number of values, aliases expanded."""
    try:
        values = _check_yaml_expansion(text, display, depth)
        tree = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506  (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if "maximum nesting depth" in str(exc) and mark is not None:
            # libyaml's own bound (1,000 levels, in PyYAML 6.0.4's wheels) can answer before the
            # parser's events reach MAX_DEPTH (its scanner reads ahead): the same limit passed.
            raise MozaikFormatError(
                f"{display}, line {mark.line + 1}, column {mark.column + 1}: nested more than {limits.MAX_DEPTH} deep (MAX_DEPTH)"
            ) from None
        raise MozaikFormatError(f"{display}: not valid YAML: {exc}") from None
    _check_yaml(tree, display)
    return tree, values


def _check_yaml_expansion(text: str, display: str, depth: int) -> int:
    """Refuse a YAML file whose tree, each alias expanded, holds more than :data:`MAX_NODES` values or nests
    deeper than :data:`MAX_DEPTH`, before anything is built. PyYAML makes an alias the same object as its
    anchor, but every walk of the tree expands it: 342 bytes of aliases of aliases ("billion laughs") make
    10**9 values. Counted on the parser's events, without recursion: an anchor's size is known at its end.
    Returns the number of values."""
    sizes: dict[str, int] = {}
    total = 0
    open_nodes: list[list[Any]] = []  # [values so far, anchor] of each collection being read
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            if depth + len(open_nodes) >= limits.MAX_DEPTH:
                raise _yaml_limit(display, event, f"nested more than {limits.MAX_DEPTH} deep (MAX_DEPTH)")
            open_nodes.append([1, event.anchor])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            size, anchor = open_nodes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            size, anchor = sizes.get(event.anchor, 1), None  # an unknown anchor is the loader's error
            if any(node[1] == event.anchor for node in open_nodes):
                raise _yaml_limit(display, event, f"alias *{event.anchor} inside its own anchor (a recursive tree)")
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if open_nodes:
            open_nodes[-1][0] += size
            if open_nodes[-1][0] > limits.MAX_NODES:
                raise _yaml_limit(display, event, f"aliases make the tree more than {limits.MAX_NODES:,} values (MAX_NODES)")
        else:
            total = size
    return total


def _yaml_limit(display: str, event: yaml.Event, problem: str) -> MozaikFormatError:
    mark = event.start_mark
    return MozaikFormatError(f"{display}, line {mark.line + 1}, column {mark.column + 1}: {problem}")


def _check_yaml(value: Any, display: str, key_path: tuple[str, ...] = ()) -> None:
    """Refuse what safe_load makes beyond what a parameter file holds: dates, binary, keys that are not names."""
    where = f"{display}: {_shorten('.'.join(key_path)) or 'top level'}"
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str or not key or "." in key:
                raise MozaikFormatError(f"{where}: key {_quote(key)}: a key is a non-empty string without '.'")
            _check_yaml(item, display, (*key_path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_yaml(item, display, (*key_path, str(index)))
    elif type(value) not in (str, int, float, bool, _NONE):
        raise MozaikFormatError(f"{where}: {type(value).__name__} is not a parameter value")


def _read_with_includes(path: str | Path, base_dir: str | Path | None, modernise: bool = False) -> tuple[dict[str, Any], _Loader]:
    """The tree of a root file, its url() includes as _Include nodes, and the loader that read it (with
    ``modernise``, mozaik 0.1's distributions read as today's: the loader's ``changes``)."""
    path = Path(path)
    try:
        info = _stat(path)
    except (OSError, ValueError) as exc:
        raise MozaikFormatError(f"{path}: cannot read: {_shorten(str(exc), 100)}") from None
    if info is None:
        raise MozaikFormatError(f"{path}: no such parameter file")
    if problem := _not_a_file(info):
        raise MozaikFormatError(f"{path}: {problem}")
    loader = _Loader(base_dir, modernise)
    return loader.read(path, str(path)), loader


def read_parameters(
    path: str | Path, base_dir: str | Path | None = None, *, resolve: bool = True, modernise: bool = False
) -> dict[str, Any]:
    """The parameter tree of a mozaik root file, with its url() includes read in, without evaluating anything.

    ``path`` is opened as given (relative paths from the working directory); url() paths are relative to
    ``base_dir``, the model directory, by default the working directory. With ``resolve`` (the default),
    every ref() is replaced by the value it names (see :func:`resolve_refs`); without, refs stay :class:`Ref`.
    Raises :class:`MozaikFormatError` for anything that is not plain data, and for a tree past the limits
    (:data:`MAX_BYTES`, :data:`MAX_NODES`, :data:`MAX_DEPTH`, :data:`MAX_REF_CHAIN`). With ``modernise``,
    mozaik 0.1's distributions (``UniformDist``...) are read as today's ``PyNNDistribution`` (see
    :func:`legacy_changes`); without, they are refused with today's spelling named.
    """
    tree, loader = _read_with_includes(path, base_dir, modernise)
    if loader.repeats:  # else the tree is the reader's own, counted and checked as it was read: no copy needed
        tree = _inline(tree, str(path))
    return resolve_refs(tree) if resolve and loader.references else tree


def legacy_changes(path: str | Path, base_dir: str | Path | None = None) -> list[Change]:
    """What reading the tree of ``path`` with ``modernise`` changes: each call of mozaik 0.1's distributions in
    its files, and today's spelling that replaces it (the tree is read, so anything else it holds is checked)."""
    return _read_with_includes(path, base_dir, modernise=True)[1].changes
