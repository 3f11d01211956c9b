"""mozaik's parameter files, read without evaluating them, written back, and imported into Hydra.

mozaik (through NeuroTools' ``parameters`` package) keeps a model's root parameter
tree in files that each hold one Python-literal dict expression, and reads them
with ``eval()``: a parameter file can run any code. This module holds

- :func:`read_parameters`, a safe reader of the same files. A file is parsed
  with :mod:`ast` and its node tree converted to data; nothing is evaluated.
  Accepted: dicts (string keys), lists, tuples (kept as tuples, as mozaik's
  ``eval`` gives them), ``str``/``int``/``float``/``bool``/``None`` constants,
  arithmetic (``+ - * / **``, unary ``-``/``+``, parentheses) on numbers, ``pi``
  and ``ref()`` (computed on the AST: here if it holds no ref(), else when the
  refs are resolved), and the calls of the table below. As with ``eval()``, spaces
  and tabs before the expression on the first line are skipped, and a key
  repeated in one dict keeps its last value (with a :class:`MozaikFormatWarning`
  naming the file, line and key; at most :data:`REPEATED_KEY_WARNINGS` a file). Anything else is refused
  with :class:`MozaikFormatError` naming the file, the line, the column and the
  construct (see the limits below);
- :func:`resolve_refs`, which replaces every ``ref()`` by the value it names in
  the root tree, following chains, and computes the arithmetic on refs;
- :func:`format_parameters` and :func:`write_parameters`, the writer: its output
  reads back to an equal tree, with this reader and with mozaik's;
- :func:`import_mozaik`, the conversion to a Hydra config directory (one YAML
  config per mozaik file, ``url()`` as defaults-list entries, ``ref()`` as
  OmegaConf interpolations, arithmetic on refs as the ``mozaik_expr`` resolver),
  with :func:`to_hydra` and :func:`from_hydra`, the mapping of the special
  constructs to plain mappings and back, and :func:`tuple_paths`, where the
  tuples were that Hydra holds as lists.

The calls of a parameter file, as data (a construct's arguments are literals or
other constructs; ``url`` and ``ref`` take one string). Each line: in the file ->
as read -> in Hydra (:func:`to_hydra`, what :func:`import_mozaik` writes):

- ``url("param/sheets")`` -> the included file's tree (read as YAML for ``.yaml``
  and ``.yml``) -> a config file of its own, pulled in by a defaults list;
- ``ref("sheets.exc.params")`` -> ``Ref("sheets.exc.params")``, replaced by the
  value it names when resolved -> the interpolation ``"${sheets.exc.params}"``;
- ``ref('a.K')*4/5*(1-ref('a.r'))`` -> ``Expr('_0 * 4 / 5 * (1 - _1)', (Ref('a.K'),
  Ref('a.r')))``, computed when resolved from the refs' values, which must be
  numbers -> ``"${mozaik_expr:'_0 * 4 / 5 * (1 - _1)',${a.K},${a.r}}"``, which
  OmegaConf computes when the value is read, i.e. after Hydra's overrides;
- ``ParameterSet({...})`` and ``ParameterTable({...})`` -> the dict -> a mapping;
- ``ParameterTable('''...''')`` -> the dict of dicts of its table, as
  ``parameters.string_table`` reads it (first line: column headers; then a row
  label and its values each line; values through ``float()``) -> mappings;
- ``PyNNDistribution("uniform", low=-60, high=-50)`` ->
  ``PyNNDistribution(name="uniform", params={"low": -60, "high": -50})`` ->
  ``{_type: PyNNDistribution, name: uniform, params: {low: -60, high: -50}}``;
- ``ParameterRange([1, 2])`` -> ``ParameterRange(values=[1, 2])`` ->
  ``{_type: ParameterRange, values: [1, 2]}``;
- ``ParameterWithUnitsAndPeriod(0.0, units='rad', period=pi)`` ->
  ``ParameterWithUnitsAndPeriod(value=0.0, units='rad', period=3.14159...)`` ->
  ``{_type: ParameterWithUnitsAndPeriod, value: 0.0, units: rad, period: 3.14159...}``;
- ``NumpyRNG(seed=7)`` -> ``NumpyRNG(seed=7, parallel_safe=True)`` ->
  ``{_type: NumpyRNG, seed: 7, parallel_safe: true}``.

This reader accepts a little more than mozaik's: ``-ref()``, ``+ref()`` and a
ref() as exponent (``parameters``' ParameterReference has no ``__neg__``,
``__pos__`` or ``__rpow__``), ref() inside lists (which ``parameters`` leaves
unreplaced) and a ref() path through another ref() in any order.

``url()`` paths are resolved as mozaik does: relative to the model directory the
run starts from, i.e. the working directory, unless the caller names that
directory (``base_dir``); absolute paths are taken as they are.

Reading is bounded, as files may come from anywhere: whatever a file holds, it is read or refused within
about a second and some 100 MB, with a :class:`MozaikFormatError` naming the file, the line and the limit
passed, each a module constant that says why its value (see ``benchmarks/mozaik_reader.py``):
:data:`MAX_BYTES` (all files of a tree), :data:`MAX_YAML_BYTES`, :data:`MAX_NODES` (values of the tree as
read, with includes and YAML aliases expanded, and of what resolving refs makes: a 1 KB file of ten refs to
ten refs ... would be 10**9 values), :data:`MAX_DEPTH`, :data:`MAX_REF_CHAIN`, and for large files
:data:`MAX_TOKENS` and :data:`MAX_OPERATORS`. A file of up to :data:`AST_MAX_CHARS` is parsed by Python's
parser (:mod:`ast`, in C); a larger one by a literal reader that holds only the values (the syntax tree would
take up to 500 bytes per character) and reads lists of numbers and plain values in runs: a 5 MB table of
numbers reads in about half a second. It reads the same syntax to the same values (tested against
Python's parser), and names what it found where it refuses, not the construct. YAML aliases are counted on
libyaml's events before anything is built. A file that does not start like a parameter file (with its dict)
is refused without any of its text shown (``url('/etc/passwd')``); other errors quote the offending line
only; bytes that are not UTF-8 are named by line and column; running out of memory is reported as such.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import copy
import functools
import json
import keyword
import math
import operator
import re
import sys
import traceback
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import yaml
from omegaconf import OmegaConf

from launcher import compat


class MozaikFormatError(ValueError):
    """A parameter file or tree that cannot be read, resolved, written or imported; the message says where and why."""


class MozaikFormatWarning(UserWarning):
    """Something a parameter file does that mozaik accepts but that is likely a slip (a key repeated in a dict)."""


# --------------------------------------------------------------------------- limits
# A parameter file is input like any other: a search may be handed files it did not write. Whatever a file
# holds, reading it ends soon, in bounded memory, or is refused with a message naming the limit it passed.
# Each limit is far above what a published model needs (files of a few KB, some thousand values, ten levels).

#: Bytes read for one tree: the root file and every file it includes, each counted once. 16 MiB of numbers read
#: in a few seconds and about 100 MB (benchmarks/mozaik_reader.py); past that a file is refused unread.
MAX_BYTES = 16 * 2**20
#: Values (each dict, list, tuple, number, string...) of a tree as read, with its url() includes and its YAML
#: aliases expanded, and again of the values that resolving its ref()s makes. Includes, aliases and references
#: repeat subtrees: ten refs to ten refs to ... ten levels deep is a tree of 10**10 values in a 1 KB file. A
#: million values take about 100 MB; a 5 MB file of lists of numbers holds some 250,000 to 800,000.
MAX_NODES = 1_000_000
#: Nesting of dicts, lists, tuples, calls and arithmetic operators, in a file and in the tree that its includes
#: and references make. Every walk of a tree (this module's, OmegaConf's, the YAML writer's) recurses per
#: level, several frames each, within Python's recursion limit of 1,000 frames.
MAX_DEPTH = 100
#: References followed one through another (ref('a') naming a value that holds ref('b') ...): the resolution
#: recurses through each, with the nesting of the values between them. Published models chain two or three.
MAX_REF_CHAIN = 50
#: Bytes of one YAML file. libyaml parses fast, but PyYAML decides the type of each scalar in Python: some 7 µs
#: and 400 bytes a scalar, 2 s and 150 MB for 1 MB of numbers. YAML includes are small settings files.
MAX_YAML_BYTES = 256 * 2**10
#: A mozaik file of at most this many characters is parsed by Python's parser (ast), in C: the fastest reader of
#: the files of real models, and one that names every construct it meets. Its syntax tree takes up to 500 bytes
#: per character (50 MB here), so a larger file is read by the literal reader, which holds only the values.
AST_MAX_CHARS = 100_000
#: Tokens that the literal reader (files past AST_MAX_CHARS) reads one by one: brackets, keys of nested dicts,
#: calls, names. Each costs it 1 to 3 µs; the values of data (numbers, strings, True/False/None in lists and
#: dicts) are read in runs, uncounted. A 5 MB table of numbers takes 200,000; so no file takes over a second.
MAX_TOKENS = 500_000
#: Arithmetic operators in a file read by the literal reader: each costs it 20 to 50 µs (a syntax tree is built,
#: then computed or spelled as a template). Models write a few dozen; a large file is data.
MAX_OPERATORS = 10_000
#: Repeated keys named by warnings in one file; a file that repeats more keys gets one more warning saying so.
REPEATED_KEY_WARNINGS = 10


# --------------------------------------------------------------------------- the special constructs, as data


@dataclass(frozen=True)
class Ref:
    """mozaik's ``ref('dotted.path')``: the value at that path of the ROOT tree, until resolved."""

    path: str
    #: Where the ref() stands ("file, line L, column C"), for error messages; not part of equality.
    where: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.path) is not str or not all(self.path.split(".")):
            raise ValueError(f"the path of a ref() is a dotted string of keys, not {self.path!r}")


@dataclass(frozen=True)
class Expr:
    """Arithmetic on ``ref()``s, e.g. ``ref('K')*4/5*(1-ref('ratio'))``: unevaluated until the refs are resolved, as
    mozaik's ParameterReference applies its operations only when references are replaced.

    ``template`` is the arithmetic with each ref() replaced by an operand name, ``_0`` for ``refs[0]`` and so on
    (a path used twice is one operand), e.g. ``_0 * 4 / 5 * (1 - _1)``; besides these names it holds only numbers,
    ``pi``, ``+ - * / **`` and parentheses (see :func:`evaluate_template`). It is kept in ast.unparse's spelling,
    so that two Exprs of the same arithmetic are equal.
    """

    template: str
    refs: tuple[Ref, ...]
    #: Where the arithmetic stands ("file, line L, column C"), for error messages; not part of equality.
    where: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        _expect(self.refs, (tuple,), "refs")
        if not self.refs or not all(type(ref) is Ref for ref in self.refs):
            raise ValueError(f"the refs of arithmetic are one Ref or more, not {self.refs!r}")
        _expect(self.template, (str,), "template")
        object.__setattr__(self, "template", _spelling(self.template, len(self.refs)))  # frozen: set once, here


class Construct:
    """Base of the calls kept as data. Each subclass is a frozen dataclass named like the call it stands for,
    checking its fields; ``from_call`` takes the arguments as mozaik's class does (by default, as the dataclass
    does), ``call_arguments`` gives them back for the writer."""

    @classmethod
    def from_call(cls, *args: Any, **kwargs: Any) -> Construct:
        return cls(*args, **kwargs)

    def call_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        raise NotImplementedError


def _expect(value: Any, types: tuple[type, ...], what: str) -> None:
    # Exact types: a bool is not a number here, as it is not one in a parameter file.
    if type(value) not in types:
        allowed = " or ".join(t.__name__ for t in types)
        raise TypeError(f"{what} must be {allowed}, not {value!r}")


_NUMBER = (int, float)
_NONE = type(None)


@dataclass(frozen=True)
class PyNNDistribution(Construct):
    """``PyNNDistribution(name, **params)``: a PyNN random distribution, e.g. ``uniform`` with ``low`` and ``high``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _expect(self.name, (str,), "name")
        _expect(self.params, (dict,), "params")

    @classmethod
    def from_call(cls, name: str, **params: Any) -> PyNNDistribution:
        return cls(name, params)

    def call_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return [], {"name": self.name, **self.params}


@dataclass(frozen=True)
class ParameterRange(Construct):
    """``ParameterRange([...])``: the values a parameter search takes (a tuple is read as a list)."""

    values: list[Any]

    def __post_init__(self) -> None:
        _expect(self.values, (list,), "values")

    @classmethod
    def from_call(cls, values: list[Any]) -> ParameterRange:
        return cls(list(values) if type(values) is tuple else values)

    def call_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return [self.values], {}


@dataclass(frozen=True)
class ParameterWithUnitsAndPeriod(Construct):
    """``ParameterWithUnitsAndPeriod(value, units=None, period=None)``: e.g. an orientation in rad, period pi."""

    value: int | float
    units: str | None = None
    period: int | float | None = None

    def __post_init__(self) -> None:
        _expect(self.value, _NUMBER, "value")
        _expect(self.units, (str, _NONE), "units")
        _expect(self.period, (*_NUMBER, _NONE), "period")

    def call_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return [self.value], {"units": self.units, "period": self.period}


@dataclass(frozen=True)
class NumpyRNG(Construct):
    """``NumpyRNG(seed=None, parallel_safe=True)``: PyNN's random number generator."""

    seed: int | None = None
    parallel_safe: bool = True

    def __post_init__(self) -> None:
        _expect(self.seed, (int, _NONE), "seed")
        _expect(self.parallel_safe, (bool,), "parallel_safe")

    def call_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return [], {"seed": self.seed, "parallel_safe": self.parallel_safe}


#: The constructs by call name (and by the ``_type`` of their Hydra mapping).
CONSTRUCTS: dict[str, type[Construct]] = {
    cls.__name__: cls for cls in (PyNNDistribution, ParameterRange, ParameterWithUnitsAndPeriod, NumpyRNG)
}


@dataclass(frozen=True)
class _Include:
    """A ``url()`` while a file is read: kept as a node so that :func:`import_mozaik` can give it a config file."""

    source: Path  # the included file, resolved
    tree: dict[str, Any]


# --------------------------------------------------------------------------- walking trees


def _map_leaves(value: Any, leaf: Callable[[Any], Any], *, tuples: type = tuple) -> Any:
    """A copy of a tree with every non-container replaced by ``leaf(value)``; tuples become ``tuples``."""
    if isinstance(value, dict):
        return {key: _map_leaves(item, leaf, tuples=tuples) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_map_leaves(item, leaf, tuples=tuples) for item in value]
        return items if isinstance(value, list) else tuples(items)
    return leaf(value)


#: The leaves that copies of a tree share: they cannot change.
_IMMUTABLE = frozenset([str, int, float, bool, type(None)])


def _all_immutable(values: Iterable[Any]) -> bool:
    # map() and issuperset() run in C: a list of 100 numbers is checked without a Python call per number.
    return _IMMUTABLE.issuperset(map(type, values))


@functools.cache
def _field_names(construct: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(construct))


class _Copier:
    """Copies a tree: each dict, list and tuple anew (two places of a tree never share a mutable object), the
    immutable leaves shared. It counts the values it makes and the depth it reaches, and refuses a tree past
    :data:`MAX_NODES` or :data:`MAX_DEPTH` before copying any further: what repeats subtrees (includes,
    references) could make any size of tree from a small file. Subclasses replace some leaves (``leaf``)."""

    def __init__(self, what: str) -> None:
        self.what = what  # what makes the tree, for messages: "url() includes", "references"
        self.nodes = 1  # the root

    def copy(self, value: Any, depth: int, where: str, chain: tuple[str, ...] = ()) -> Any:
        """A copy of ``value``, which stands at ``depth`` of the tree being made (``where`` says where for
        messages; ``chain`` is the resolver's, see :class:`_Resolver`)."""
        if not isinstance(value, (dict, list, tuple)):
            return self.leaf(value, depth, where, chain)
        self.enter(len(value), depth, where)
        items = value.values() if isinstance(value, dict) else value
        if len(value) > 16 and _all_immutable(items):  # a long list of numbers: copied in C
            copied = value.copy() if isinstance(value, (dict, list)) else value
        elif isinstance(value, dict):
            copied = {k: v if type(v) in _IMMUTABLE else self.copy(v, depth + 1, where, chain) for k, v in value.items()}
        else:
            copied = [item if type(item) in _IMMUTABLE else self.copy(item, depth + 1, where, chain) for item in value]
        return tuple(copied) if isinstance(value, tuple) else copied

    def enter(self, items: int, depth: int, where: str) -> None:
        """Count the ``items`` of a container at ``depth``, refusing it past a limit."""
        self.nodes += items
        if depth >= MAX_DEPTH:
            raise MozaikFormatError(f"{where}: {self.what} nest the tree more than {MAX_DEPTH} deep (MAX_DEPTH)")
        if self.nodes > MAX_NODES:
            raise MozaikFormatError(f"{where}: {self.what} make the tree more than {MAX_NODES:,} values (MAX_NODES)")

    def leaf(self, value: Any, depth: int, where: str, chain: tuple[str, ...]) -> Any:
        if type(value) in _IMMUTABLE or isinstance(value, (Ref, Expr)):  # frozen, and their fields too
            return value
        if isinstance(value, Construct):  # frozen, but PyNNDistribution's params is a dict, ParameterRange's a list
            arguments = {name: getattr(value, name) for name in _field_names(type(value))}
            self.enter(len(arguments), depth, where)
            if _all_immutable(arguments.values()):
                return value
            return type(value)(**{name: self.copy(item, depth + 1, where, chain) for name, item in arguments.items()})
        return copy.deepcopy(value)  # anything else a caller put in a tree: never shared


class _Inliner(_Copier):
    """Copies a tree read with its includes, each url() replaced by a copy of the included file's tree."""

    def leaf(self, value: Any, depth: int, where: str, chain: tuple[str, ...]) -> Any:
        if isinstance(value, _Include):
            return self.copy(value.tree, depth, str(value.source), chain)
        return super().leaf(value, depth, where, chain)


def _inline(value: Any, where: str = "the parameter tree") -> Any:
    """The tree with every url() replaced by the included tree, as mozaik has it (a file included at two places
    is read once, and copied to each). Refused past :data:`MAX_NODES` or :data:`MAX_DEPTH`."""
    with _bounded(where):
        return _Inliner("url() includes").copy(value, 0, where)


@contextlib.contextmanager
def _bounded(what: str) -> Iterator[None]:
    """Report Python's own limits, if met despite this module's, as MozaikFormatError naming them: the
    recursion limit, and memory. A MemoryError is reported as nothing else; the frames of the step that ran out
    are cleared first, so that what they held is freed before the report is made."""
    try:
        yield
    except RecursionError as exc:
        traceback.clear_frames(exc.__traceback__)
        limit = sys.getrecursionlimit()
        raise MozaikFormatError(f"{what}: nested too deeply (past Python's recursion limit, {limit} frames)") from None
    except MemoryError as exc:
        traceback.clear_frames(exc.__traceback__)
        raise MozaikFormatError(f"{what}: out of memory") from None


# --------------------------------------------------------------------------- arithmetic, on the syntax tree

#: The operators of a parameter file's arithmetic (those mozaik's ParameterReference defines, and unary +/-).
_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
#: An int ** int whose result would have more bits than this is refused: `9**9**9` must not hang the reader.
_MAX_POWER_BITS = 4096
_OPERAND_NAME = re.compile(r"_(0|[1-9][0-9]*)")
#: The name of the OmegaConf resolver that computes an :class:`Expr` in a Hydra config.
EXPR_RESOLVER = "mozaik_expr"


class _ArithmeticProblem(Exception):
    """An operation of arithmetic that has no real result (division by zero, overflow, ...), and its node."""

    def __init__(self, node: ast.expr, problem: str) -> None:
        super().__init__(problem)
        self.node = node
        self.problem = problem


def _compute(node: ast.expr, leaf: Callable[[ast.expr], int | float]) -> int | float:
    """The value of unary ``+ -``, binary ``+ - * / **`` and parentheses on the syntax tree ``node``, each other
    node valued by ``leaf`` (which refuses what it does not know). Nothing but these operators on numbers runs."""
    match node:
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_compute(operand, leaf)
        case ast.UnaryOp(op=ast.UAdd(), operand=operand):
            return +_compute(operand, leaf)
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _OPERATORS:
            return _apply(node, _OPERATORS[type(op)], _compute(left, leaf), _compute(right, leaf))
    return leaf(node)


def _apply(node: ast.expr, op: Callable[[Any, Any], Any], left: int | float, right: int | float) -> int | float:
    """``op(left, right)``, refusing results that are too large to compute or are not real numbers."""
    if op is operator.pow and type(left) is int and type(right) is int and abs(left) > 1:
        if right * abs(left).bit_length() > _MAX_POWER_BITS:
            raise _ArithmeticProblem(node, "result too large")
    try:
        result = op(left, right)
    except (ZeroDivisionError, OverflowError) as exc:
        raise _ArithmeticProblem(node, f"arithmetic error ({exc})") from None
    if type(result) not in _NUMBER:  # a negative number to a fractional power is complex
        raise _ArithmeticProblem(node, "result is not a real number")
    return result


def _operand_index(name: str) -> int | None:
    """The index of an operand name of a template (``_3`` -> 3), None for any other name."""
    match = _OPERAND_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


@functools.lru_cache(maxsize=4096)  # a sweep computes the same templates in every job
def _parse_template(template: str, operands: int) -> ast.expr:
    """The syntax tree of an arithmetic template of ``operands`` operands (see :class:`Expr`); ValueError if it
    holds anything else than numbers, pi, the operand names, ``+ - * / **`` and parentheses."""
    try:
        node = ast.parse(template.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"arithmetic {template!r} does not parse ({exc.msg})") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"arithmetic {_shorten(template)!r} nested too deeply") from None
    for part in ast.walk(node):
        match part:
            case ast.BinOp(op=op) if type(op) in _OPERATORS:
                continue
            case ast.UnaryOp(op=ast.USub() | ast.UAdd()) | ast.operator() | ast.unaryop() | ast.expr_context():
                continue  # the operator nodes themselves: those allowed are checked with their parent above
            case ast.Constant(value=value) if type(value) in _NUMBER:
                continue
            case ast.Name(id="pi"):
                continue
            case ast.Name(id=name) if (index := _operand_index(name)) is not None and index < operands:
                continue
        allowed = f"numbers, pi, _0 to _{operands - 1}, + - * / ** and parentheses" if operands else "numbers, pi"
        raise ValueError(f"arithmetic {_shorten(template)!r}: {_describe(part)} not allowed (only {allowed})")
    return node


@functools.lru_cache(maxsize=4096)
def _spelling(template: str, operands: int) -> str:
    """ast.unparse's spelling of a template (see :class:`Expr`)."""
    return ast.unparse(_parse_template(template, operands))


def evaluate_template(template: str, values: Sequence[Any], names: Sequence[str] | None = None) -> int | float:
    """The value of an arithmetic template (see :class:`Expr`) with operand ``_i`` equal to ``values[i]``.

    Each value must be an int or a float (a bool is not a number here, as in a parameter file); ``names[i]``
    says in messages what ``values[i]`` is (by default ``_i``). Raises ValueError, saying which value is not a
    number or which operation has no result. Nothing is evaluated by Python but the operators on numbers.
    """
    names = names or [f"_{index}" for index in range(len(values))]
    for value, name in zip(values, names):
        if type(value) not in _NUMBER:
            kind = type(value).__name__
            raise ValueError(f"{name} is not a number (int or float) but {kind} {_shorten(repr(value))}")

    def leaf(node: ast.expr) -> int | float:
        match node:
            case ast.Name(id="pi"):
                return math.pi
            case ast.Name(id=name):
                return values[_operand_index(name)]  # type: ignore[index]  # checked by _parse_template
        return node.value  # type: ignore[attr-defined]  # a number: checked by _parse_template

    try:
        return _compute(_parse_template(template, len(values)), leaf)
    except _ArithmeticProblem as exc:
        raise ValueError(exc.problem) from None
    except RecursionError:
        raise ValueError(f"arithmetic {_shorten(template)!r} nested too deeply") from None


# --------------------------------------------------------------------------- reading

_YAML_SUFFIXES = (".yaml", ".yml")
_NOT_IN_CALL = "not allowed in the arguments of a call (only literals and data constructs)"
#: Calls whose argument is their value (a dict), transparent to what it may hold: ref() and url() too.
_TRANSPARENT_CALLS = ("ParameterSet", "ParameterTable")
#: Readable names of the constructs refused most often, for error messages.
_NODE_NAMES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscript",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
    ast.JoinedStr: "f-string",
    ast.Set: "set",
    ast.Starred: "unpacking",
    ast.NamedExpr: "assignment expression",
    ast.IfExp: "conditional expression",
    ast.BoolOp: "boolean operator",
    ast.Compare: "comparison",
}


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(text: str) -> str:
    """A string from a file (a key, a path, a name), quoted for a message: shortened, as it may be any length."""
    return _shorten(repr(text))


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return f"call of {_shorten(ast.unparse(node.func), 30)}()"
    if isinstance(node, ast.Name):
        return f"name {_quote(node.id)}"
    if isinstance(node, ast.Constant):
        return f"{type(node.value).__name__} constant"
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return "operator"
    return _NODE_NAMES.get(type(node), type(node).__name__)


class _CallProblem(Exception):
    """What is wrong with a call's arguments; each reader adds where the call stands."""


def _string_argument(name: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    """The one string argument of url() or ref()."""
    if len(args) != 1 or kwargs or type(args[0]) is not str:
        raise _CallProblem(f"{name}() takes one string argument")
    return args[0]


def _call_value(name: str, args: list[Any], kwargs: dict[str, Any], where: str) -> Any:
    """The value of a call of ref(), of a construct, or of ParameterSet or ParameterTable (a dict), from its
    arguments as read; ``where`` is where it stands (a Ref keeps it). url() is the loader's, not here."""
    if name in _TRANSPARENT_CALLS:
        takes = "a dict or a table string" if name == "ParameterTable" else "a dict"
        if len(args) != 1 or kwargs:
            raise _CallProblem(f"{name}() takes one argument here, {takes}")
        if name == "ParameterTable" and type(args[0]) is str:
            return _table(args[0])
        # A string would be a file to read or text to eval() for mozaik: only a dict (however written) is data.
        if type(args[0]) is not dict:
            raise _CallProblem(f"{name}() takes {takes}, not {'url()' if isinstance(args[0], _Include) else type(args[0]).__name__}")
        return args[0]
    try:
        if name == "ref":
            return Ref(_string_argument(name, args, kwargs), where)
        return CONSTRUCTS[name].from_call(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise _CallProblem(f"bad arguments to {name}() ({exc})") from None


def _table(text: str) -> dict[str, dict[str, float]]:
    """The dict of dicts of a ``ParameterTable`` string (see :func:`_string_table`), refused if it holds none."""
    try:
        table = _string_table(text)
    except ValueError as exc:
        raise _CallProblem(f"ParameterTable string is not a table ({exc})") from None
    if not table:
        # parameters would then take the string for a file name, or text to eval().
        raise _CallProblem("ParameterTable string holds no rows")
    for label in (*table, *(column for row in table.values() for column in row)):
        if "." in label:
            raise _CallProblem(f"ParameterTable label {_quote(label)}: a key is a non-empty string without '.'")
    return table


class _FileReader:
    """Converts the AST of one parameter file to data; url() goes back to the loader for the included file."""

    def __init__(self, loader: _Loader, display: str, first_line_shift: int = 0, source: str = "") -> None:
        self.loader = loader
        self.display = display
        #: Characters cut from the start of the file before parsing (see _parse): columns of line 1 are shifted.
        self.first_line_shift = first_line_shift
        #: The text parsed, to count columns in characters where ast counts UTF-8 bytes.
        self.source_lines = None if source.isascii() else source.split("\n")
        self.depth = 0  # of the node being converted, within MAX_DEPTH
        self.repeated_keys = 0

    def at(self, node: ast.AST) -> str:
        return f"{self.display}, line {node.lineno}, column {self.column(node)}"  # type: ignore[attr-defined]

    def column(self, node: ast.AST) -> int:
        """The column of a node, from 1 and in characters, as editors count."""
        column = node.col_offset  # type: ignore[attr-defined]
        if self.source_lines is not None:
            line = self.source_lines[node.lineno - 1]  # type: ignore[attr-defined]
            column = len(line.encode("utf-8")[:column].decode("utf-8", "ignore"))
        return column + 1 + (self.first_line_shift if node.lineno == 1 else 0)  # type: ignore[attr-defined]

    def error(self, node: ast.AST, problem: str) -> MozaikFormatError:
        return MozaikFormatError(f"{self.at(node)}: {problem}: {_shorten(ast.unparse(node))}")

    def refuse(self, node: ast.AST, why: str = "not allowed in a parameter file") -> MozaikFormatError:
        return self.error(node, f"{_describe(node)} {why}")

    def value(self, node: ast.expr, *, in_call: bool = False) -> Any:
        """The data of an expression node; ``in_call``: inside a call's arguments, where only literals and
        constructs are allowed (no url(), no ref())."""
        if type(node) is ast.Constant and type(node.value) in _IMMUTABLE:  # most nodes
            return node.value
        if self.depth >= MAX_DEPTH:
            raise self.error(node, f"nested more than {MAX_DEPTH} deep (MAX_DEPTH)")
        self.depth += 1
        try:
            match node:
                case ast.Dict():
                    return self.dict(node, in_call)
                case ast.List(elts=items):
                    return [self.value(item, in_call=in_call) for item in items]
                case ast.Tuple(elts=items):
                    return tuple(self.value(item, in_call=in_call) for item in items)
                case ast.Name(id="pi") | ast.UnaryOp() | ast.BinOp():
                    return self.arithmetic(node, in_call)
                case ast.Call(func=ast.Name(id=name)) if name in CONSTRUCTS or name in _TRANSPARENT_CALLS:
                    return self.call(node, name, in_call)
                case ast.Call(func=ast.Name(id="url" | "ref" as name)) if not in_call:
                    return self.call(node, name, in_call)
                case ast.Call() if in_call:
                    raise self.refuse(node, _NOT_IN_CALL)
            raise self.refuse(node)
        finally:
            self.depth -= 1

    def dict(self, node: ast.Dict, in_call: bool) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:  # {**other}
                raise self.error(value_node, "dict unpacking not allowed in a parameter file")
            if not (isinstance(key_node, ast.Constant) and type(key_node.value) is str):
                raise self.refuse(key_node, "not allowed as a key (keys are strings)")
            key = key_node.value
            # A '.' in a key would make mozaik nest it (and ref paths ambiguous).
            if not key or "." in key:
                raise self.error(key_node, "a key is a non-empty string without '.'")
            if key in tree:
                self.warn_repeated(key, functools.partial(self.at, key_node))
            tree[key] = self.value(value_node, in_call=in_call)
        return tree

    def warn_repeated(self, key: str, where: Callable[[], str]) -> None:
        """Warn of a key repeated in a dict: eval() keeps the last value (at the place of the first key), and
        published models do repeat keys. At most REPEATED_KEY_WARNINGS in one file, and one saying so."""
        self.repeated_keys += 1
        if self.repeated_keys <= REPEATED_KEY_WARNINGS:
            message = f"{where()}: key {_quote(key)} repeated in the same dict: the last value is kept"
            warnings.warn(message, MozaikFormatWarning, stacklevel=2)
        if self.repeated_keys == REPEATED_KEY_WARNINGS:
            message = f"{self.display}: the keys it repeats past these {REPEATED_KEY_WARNINGS} are not named"
            warnings.warn(message, MozaikFormatWarning, stacklevel=2)

    def arithmetic(self, node: ast.expr, in_call: bool) -> int | float | Expr:
        """Arithmetic on numbers, pi and ref()s: a number, computed here, if it holds no ref(); else an
        :class:`Expr`, computed when the refs are resolved (only its parts without ref() are computed here, so
        that their errors are found when the file is read)."""
        if self.depth + _nesting(node) > MAX_DEPTH:
            raise self.error(node, f"arithmetic nested more than {MAX_DEPTH} deep (MAX_DEPTH)")
        refs: dict[str, Ref] = {}
        template, has_refs = self.template(node, refs, in_call)
        if not has_refs:
            return self.compute(node)
        self.loader.references += 1
        return Expr(ast.unparse(template), tuple(refs.values()), self.at(node))

    def template(self, node: ast.expr, refs: dict[str, Ref], in_call: bool) -> tuple[ast.expr, bool]:
        """``node`` with each ref() replaced by its operand name (a new path is added to ``refs``), and whether it
        holds a ref(). A part without ref() beside one with is computed, to check it, and kept as written."""
        match node:
            case ast.Call(func=ast.Name(id="ref")):
                if in_call:
                    raise self.refuse(node, _NOT_IN_CALL)
                ref = self.call(node, "ref")
                ref = refs.setdefault(ref.path, ref)
                return ast.Name(id=f"_{list(refs).index(ref.path)}", ctx=ast.Load()), True
            case ast.UnaryOp(op=ast.USub() | ast.UAdd() as op, operand=operand):
                inner, has_refs = self.template(operand, refs, in_call)
                return ast.UnaryOp(op=op, operand=inner), has_refs
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _OPERATORS:
                new_left, left_refs = self.template(left, refs, in_call)
                new_right, right_refs = self.template(right, refs, in_call)
                # The largest parts without ref() are computed once each: a deep chain stays linear.
                if right_refs and not left_refs:
                    self.compute(left)
                if left_refs and not right_refs:
                    self.compute(right)
                return ast.BinOp(left=new_left, op=op, right=new_right), left_refs or right_refs
        self.constant(node)  # refuses anything else
        return node, False

    def compute(self, node: ast.expr) -> int | float:
        """The value of arithmetic on numbers and pi, computed on the syntax tree."""
        try:
            return _compute(node, self.constant)
        except _ArithmeticProblem as exc:
            raise self.error(exc.node, exc.problem) from None

    def constant(self, node: ast.expr) -> int | float:
        match node:
            case ast.Constant(value=v) if type(v) in _NUMBER:
                return v
            case ast.Name(id="pi"):
                return math.pi
        raise self.refuse(node, "not allowed in arithmetic (only numbers, pi, ref(), + - * / ** and parentheses)")

    def call(self, node: ast.Call, name: str, in_call: bool = False) -> Any:
        for keyword_node in node.keywords:
            if keyword_node.arg is None:
                raise self.error(keyword_node.value, f"keyword unpacking not allowed in {name}()")
        inner = in_call if name in _TRANSPARENT_CALLS else True
        args = [self.value(arg, in_call=inner) for arg in node.args]
        kwargs = {kw.arg: self.value(kw.value, in_call=inner) for kw in node.keywords}
        try:
            if name == "url":  # the included tree stands where the call does, at the depth of this node
                return self.loader.include(_string_argument(name, args, kwargs), self.at(node), self.depth - 1)
            if name == "ref":
                self.loader.references += 1
            return _call_value(name, args, kwargs, self.at(node))
        except _CallProblem as problem:
            raise self.error(node, str(problem)) from None


def _nesting(node: ast.expr) -> int:
    """How deep arithmetic nests (``a + b + c`` is ``(a + b) + c``: 2), counted without recursion."""
    deepest, stack = 0, [(node, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, ast.BinOp):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, ast.UnaryOp):
            stack.append((node.operand, depth + 1))
    return deepest


# The literal reader's syntax: the tokens of the Python-literal subset of parameter files, as Python reads them.
# A repeated group keeps a backtracking record per repetition (150 MB for 1 MB of them): every repetition here is
# possessive (*+, ++: never given back) or unrolled (a character class repeated, a group per escape only).
#: Blanks between tokens inside brackets: spaces, tabs, form feeds, newlines, comments, backslash continuations.
_BLANKS = r"(?:[ \t\f\n]+|\\\n|\#[^\n]*)*+"
_DIGITS = r"\d(?:_?\d)*+"
_EXPONENT = rf"[eE][-+]?{_DIGITS}"
#: Python's int and float literals; one followed by a letter, digit or '.' (1j, 1if, 0x1g, 1.real) is not read.
_NUMBER_LITERAL = (
    rf"(?:(?:{_DIGITS})?\.{_DIGITS}(?:{_EXPONENT})?|{_DIGITS}\.(?:{_EXPONENT})?|{_DIGITS}{_EXPONENT}"
    r"|0[xX](?:_?[0-9a-fA-F])++|0[oO](?:_?[0-7])++|0[bB](?:_?[01])++|[1-9](?:_?\d)*+|0+(?:_?0)*+)(?![\w.])"
)
#: Python's str literals (bytes and f-strings are not data); a backslash escapes any character, a newline too.
_STRING_LITERAL = (
    r"""[rRuU]?(?:'''[^'\\]*+(?:(?:\\[\s\S]|'(?!''))[^'\\]*+)*+'''|\"\"\"[^"\\]*+(?:(?:\\[\s\S]|"(?!""))[^"\\]*+)*+\"\"\""""
    r"""|'[^'\\\n]*+(?:\\[\s\S][^'\\\n]*+)*+'|"[^"\\\n]*+(?:\\[\s\S][^"\\\n]*+)*+")"""
)
#: A token after blanks; a name that goes on with a non-ASCII letter is not read (Python normalizes those).
_TOKEN = re.compile(
    rf"{_BLANKS}(?:(?P<number>{_NUMBER_LITERAL})|(?P<string>{_STRING_LITERAL})|(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?![^\x00-\x7f])"
    r"|(?P<op>\*\*|==|[-+*/(){}\[\],:=])|(?P<end>\Z))"
)
_ADDITIVE = re.compile(rf"{_BLANKS}([-+])")
_MULTIPLICATIVE = re.compile(rf"{_BLANKS}(\*(?!\*)|/)")
_POWER = re.compile(rf"{_BLANKS}\*\*")
_BLANK_TEXT = re.compile(_BLANKS)
#: ref('path') and url('path') with a plain string: read at once, as most calls of a parameter file are.
_SIMPLE_CALL = re.compile(r"""(ref|url)[ \t]*\([ \t]*(?:'([^'\\\n]*)'|"([^"\\\n]*)")[ \t]*\)""")
#: A list of plain decimal numbers, read at once: the bulk of a large parameter file.
_PLAIN_NUMBER = r"-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|0+|[1-9]\d*)"
_NUMBER_LIST = re.compile(rf"\[[ \t\n]*(?:{_PLAIN_NUMBER}[ \t\n]*,[ \t\n]*)*+(?:{_PLAIN_NUMBER}[ \t\n]*)?\]")
_LIST_ITEM = re.compile(r"[^\s,]+")
_FLOAT_MARK = re.compile(r"[.eE]")
_INT_ITEM = re.compile(r"(?<![\w.+-])-?\d+(?![\w.])")
#: How a parameter file starts: blank or comment lines, then its dict (or ParameterSet/ParameterTable of it).
_FILE_START = re.compile(r"(?:[ \t\f]*(?:#[^\n]*)?\n)*+[ \t\f]*(?=\{|(?:ParameterSet|ParameterTable)[ \t]*\()")
#: A value of a container that is a plain literal, followed by ',' or the container's closing bracket (captured
#: as ``close``): one match in place of three tokens. Strings without prefix or backslash, decimal numbers,
#: True/False/None and the empty (); anything else (a string followed by a string too) is read token by token.
_PLAIN_LITERAL = (
    r"""(?:'(?P<single>[^'\\\n]*+)'|"(?P<double>[^"\\\n]*+)"|(?P<int>-?(?:0|[1-9]\d*+))"""
    r"""|(?P<float>-?(?:\d++\.\d*+(?:[eE][-+]?\d++)?|\.\d++(?:[eE][-+]?\d++)?|\d++[eE][-+]?\d++))"""
    r"""|(?P<word>True|False|None|\(\)))[ \t\n]*+(?:,|(?P<close>CLOSE))"""
)
_PLAIN_ITEM = re.compile(r"[ \t\n]*+" + _PLAIN_LITERAL.replace("CLOSE", r"\]"))
_PLAIN_ENTRY = re.compile(r"""[ \t\n]*+'([^'\\\n]*+)'[ \t]*+:[ \t\n]*+""" + _PLAIN_LITERAL.replace("CLOSE", "}"))
_PLAIN_WORDS = {"True": True, "False": False, "None": None, "()": ()}


def _plain_value(match: re.Match[str]) -> Any:
    """The value of a match of _PLAIN_LITERAL."""
    kind = match.lastgroup if match.lastgroup != "close" else _plain_kind(match)
    if kind == "int":
        return int(match.group("int"))
    if kind == "float":
        return float(match.group("float"))
    if kind == "word":
        return _PLAIN_WORDS[match.group("word")]
    return match.group(kind)


def _plain_kind(match: re.Match[str]) -> str:
    # lastgroup is "close" when the closing bracket matched: the value's group is the one that matched.
    return next(kind for kind in ("single", "double", "int", "float", "word") if match.group(kind) is not None)


_UNARY = {"-": ast.USub, "+": ast.UAdd}
_BINARY = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "**": ast.Pow}
_WORDS = {"True": True, "False": False, "None": None}
_CALLS = frozenset(["url", "ref", *_TRANSPARENT_CALLS, *CONSTRUCTS])


class _GiveUp(Exception):
    """Raised inside the literal reader at what it does not read: syntax outside its subset, or a value it
    refuses; :meth:`_LiteralReader.read` reports it with the file, line and column."""

    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(problem)
        self.offset = offset
        self.problem = problem


class _Operand:
    """Arithmetic being read, as the syntax tree :meth:`_FileReader.arithmetic` computes or keeps as an Expr."""

    __slots__ = ("node",)

    def __init__(self, node: ast.expr) -> None:
        self.node = node


#: ``pi`` as read, kept apart from its value: in arithmetic on refs it stays the name ``pi`` (see Expr).
_PI = object()


class _LiteralReader(_FileReader):
    """Reads a large mozaik parameter file from its text, without Python's parser: tokens by regular
    expressions, each value made as it is read, lists of plain numbers at once. Python's parser builds a syntax
    tree of up to 500 bytes per character first (500 MB for a 1 MB list of zeros); this reader holds only the
    values, and counts them (:data:`MAX_NODES`) and its nesting (:data:`MAX_DEPTH`) as it goes. It reads the
    syntax of parameter files (literals, dicts, lists, tuples, pi, arithmetic, the calls of the module
    docstring) with Python's meaning, and refuses anything else: there it names what it found, not the construct
    (a large file is no program). Arithmetic and the calls' meaning are _FileReader's."""

    def __init__(self, loader: _Loader, display: str, text: str) -> None:
        super().__init__(loader, display)
        self.text = text
        self.nodes = 1  # the file's dict
        self.line_starts: list[int] | None = None
        # The last token read, and where from: most tokens are looked at twice (what follows a value?).
        self.peek_pos, self.peek_match = -1, None
        self.tokens = self.operators = 0

    def read(self, start: int, depth: int) -> Any:
        """The value of the file's expression, which starts at ``start`` and stands at ``depth`` of the tree."""
        try:
            value, _, end = self.expression(self.token(start), depth, False)
            value = self.finish(value, False)
            if not _BLANK_TEXT.fullmatch(self.text, end):
                raise _GiveUp(_BLANK_TEXT.match(self.text, end).end(), "not a single Python-literal expression")  # type: ignore[union-attr]
            try:  # Python's own rules for what may stand around the expression (indents, continuations)
                ast.parse(self.text[:start].lstrip(" \t") + "{}" + self.text[end:], mode="eval")
            except SyntaxError as exc:
                raise _GiveUp(start, f"not a single Python-literal expression ({exc.msg})") from None
        except _GiveUp as give_up:
            raise self.problem(give_up.offset, give_up.problem) from None
        return value

    # --- where

    def position(self, offset: int) -> tuple[int, int]:
        """The line and column (from 1, in characters) of an offset in the text."""
        if self.line_starts is None:  # once, at the first ref or message: most values need no position
            self.line_starts = [0, *(match.end() for match in re.finditer("\n", self.text))]
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def where(self, offset: int) -> str:
        line, column = self.position(offset)
        return f"{self.display}, line {line}, column {column}"

    def column(self, node: ast.AST) -> int:
        return node.col_offset + 1  # type: ignore[attr-defined]  # this reader's nodes count characters

    def problem(self, offset: int, problem: str) -> MozaikFormatError:
        """An error at ``offset``, quoting its line (only)."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        line_end = self.text.find("\n", offset)
        line = self.text[line_start : line_end if line_end >= 0 else len(self.text)]
        return MozaikFormatError(f"{self.where(offset)}: {problem}: {_shorten(line)}")

    def deeper(self, depth: int, offset: int) -> int:
        if depth >= MAX_DEPTH:
            raise self.problem(offset, f"nested more than {MAX_DEPTH} deep (MAX_DEPTH)")
        return depth + 1

    def count(self, values: int, offset: int) -> None:
        self.nodes += values
        if self.nodes > MAX_NODES:
            raise self.problem(offset, f"more than {MAX_NODES:,} values in the file (MAX_NODES)")

    def token(self, pos: int) -> re.Match[str]:
        """The token after ``pos`` (an "end" token at the end of the text)."""
        if pos == self.peek_pos:
            return self.peek_match  # type: ignore[return-value]
        match = _TOKEN.match(self.text, pos)
        self.peek_pos, self.peek_match = pos, match
        self.tokens += 1
        if self.tokens > MAX_TOKENS:
            raise self.problem(pos, f"more than {MAX_TOKENS:,} tokens besides plain values (MAX_TOKENS)")
        if match is None:
            start = _BLANK_TEXT.match(self.text, pos).end()  # type: ignore[union-attr]
            raise _GiveUp(start, f"unexpected {self.text[start]!r}")
        return match

    @staticmethod
    def start(match: re.Match[str]) -> int:
        return match.start(match.lastgroup)  # type: ignore[arg-type]

    def unexpected(self, match: re.Match[str], expected: str = "") -> _GiveUp:
        found = "end of file" if match.lastgroup == "end" else repr(match.group(match.lastgroup))  # type: ignore[arg-type]
        return _GiveUp(self.start(match), f"{expected} expected, not {found}" if expected else f"unexpected {found}")

    # --- values

    def expression(self, match: re.Match[str], depth: int, in_call: bool) -> tuple[Any, int, int]:
        """The expression whose first token is ``match``: (its value, where its node starts, where it ends). The
        value of arithmetic is an :class:`_Operand` and pi is _PI until :meth:`finish`."""
        if match.group("op") in ("-", "+"):
            number = self.token(match.end())
            if match.group("op") == "-" and number.lastgroup == "number":
                if self.token(number.end()).group("op") not in _BINARY:  # -70: a number, not arithmetic to count
                    value = -self.number(number.group("number"), number.start("number"))
                    return value, self.start(match), number.end()
            return self.arithmetic_expression(self.start(match), None, depth, in_call)
        first = self.primary(match, depth, in_call)
        if self.token(first[2]).group("op") in _BINARY:
            return self.arithmetic_expression(self.start(match), first, depth, in_call)
        return first

    def finish(self, value: Any, in_call: bool) -> Any:
        """The data of an expression read."""
        if isinstance(value, _Operand):
            return self.arithmetic(value.node, in_call)
        return math.pi if value is _PI else value

    def primary(self, match: re.Match[str], depth: int, in_call: bool) -> tuple[Any, int, int]:
        kind, start, end = match.lastgroup, self.start(match), match.end()
        if kind == "number":
            return self.number(match.group(kind), start), start, end
        if kind == "string":
            return self.string(match)
        if kind == "name":
            return self.name(match, depth, in_call)
        op = match.group("op")
        if op == "{":
            return self.read_dict(end, self.deeper(depth, start), in_call, start)
        if op == "[":
            return self.read_list(end, self.deeper(depth, start), in_call, start)
        if op == "(":
            return self.read_parenthesized(end, self.deeper(depth, start), in_call, start)
        raise self.unexpected(match)

    def number(self, token: str, start: int) -> int | float:
        try:
            if token[:2].lower() in ("0x", "0o", "0b"):
                return int(token, 0)
            return float(token) if _FLOAT_MARK.search(token) else int(token)
        except ValueError:  # an int of more digits than Python converts
            raise _GiveUp(start, "number not read here") from None

    def string(self, match: re.Match[str]) -> tuple[str, int, int]:
        """A string literal, and those after it: Python joins adjacent string literals."""
        start, token, end = self.start(match), match.group("string"), match.end()
        pieces = [self.string_value(token, start)]
        while (following := self.token(end)).lastgroup == "string":
            pieces.append(self.string_value(following.group("string"), following.start("string")))
            end = following.end()
        return "".join(pieces), start, end

    @staticmethod
    def string_value(token: str, start: int) -> str:
        """The value of a string literal (prefix r, u or none), its escapes decoded as Python decodes them."""
        raw = token[0] in "rR"
        quoted = token[1:] if token[0] in "rRuU" else token
        quotes = 3 if len(quoted) >= 6 and quoted[:3] in ("'''", '"""') else 1
        body = quoted[quotes:-quotes]
        if raw or "\\" not in body:
            return body
        try:
            if body.isascii():  # Python's parser decodes escapes with this very codec
                return body.encode("ascii").decode("unicode_escape")
            return ast.literal_eval(token)  # a backslash among non-ASCII characters: Python's own rules
        except (SyntaxError, ValueError):
            raise _GiveUp(start, "not a valid string literal") from None

    def name(self, match: re.Match[str], depth: int, in_call: bool) -> tuple[Any, int, int]:
        name, start, end = match.group("name"), self.start(match), match.end()
        if name in _WORDS:
            return _WORDS[name], start, end
        if name == "pi":
            return _PI, start, end
        if name in ("ref", "url") and not in_call and (simple := _SIMPLE_CALL.match(self.text, start)):
            path = simple.group(2) if simple.group(2) is not None else simple.group(3)
            return self.called(name, [path], {}, depth, start), start, simple.end()
        if name in _CALLS and (opens := self.token(end)).group("op") == "(":
            return self.read_call(name, opens.end(), self.deeper(depth, start), in_call, start)
        raise _GiveUp(start, f"name {_quote(name)} not allowed in a parameter file")

    def read_dict(self, pos: int, depth: int, in_call: bool, start: int) -> tuple[dict[str, Any], int, int]:
        tree: dict[str, Any] = {}
        text = self.text
        while True:
            while entry := _PLAIN_ENTRY.match(text, pos):  # 'key': 1.5, at once (see _PLAIN_ENTRY)
                key = entry.group(1)
                if not key or "." in key:
                    break  # refused below
                if key in tree:
                    self.warn_repeated(key, functools.partial(self.where, entry.start(1) - 1))
                tree[key] = _plain_value(entry)
                pos = entry.end()
                if entry.group("close"):
                    self.count(len(tree), start)
                    return tree, start, pos
            match = self.token(pos)
            if match.group("op") == "}":
                pos = match.end()
                break
            if match.lastgroup != "string":
                raise self.unexpected(match, "a key (a string)")
            key, key_start, pos = self.string(match)
            if not key or "." in key:
                raise _GiveUp(key_start, "a key is a non-empty string without '.'")
            colon = self.token(pos)
            if colon.group("op") != ":":
                raise self.unexpected(colon, "':' after a key")
            value, _, pos = self.expression(self.token(colon.end()), depth, in_call)
            if key in tree:
                self.warn_repeated(key, functools.partial(self.where, key_start))
            tree[key] = self.finish(value, in_call)
            closed, pos = self.after_item(pos, "}")
            if closed:
                break
        self.count(len(tree), start)
        return tree, start, pos

    def after_item(self, pos: int, closing: str) -> tuple[bool, int]:
        """After an item: whether the container closes (a ',' before its bracket is allowed), and where it ends,
        or where the next item starts (after the ',': so that the fast paths may take it)."""
        match = self.token(pos)
        if match.group("op") == ",":
            following = self.token(match.end())
            if following.group("op") == closing:
                return True, following.end()
            return False, match.end()
        if match.group("op") != closing:
            raise self.unexpected(match, f"',' or {closing!r}")
        return True, match.end()

    def read_list(self, pos: int, depth: int, in_call: bool, start: int) -> tuple[list[Any], int, int]:
        numbers = _NUMBER_LIST.match(self.text, start)
        if numbers and (values := self.numbers(start, numbers.end())) is not None:
            self.count(len(values), start)
            return values, start, numbers.end()
        items = []
        text = self.text
        while True:
            while item := _PLAIN_ITEM.match(text, pos):  # 'v', at once (see _PLAIN_ITEM)
                items.append(_plain_value(item))
                pos = item.end()
                if item.group("close") == "]":
                    self.count(len(items), start)
                    return items, start, pos
            match = self.token(pos)
            if match.group("op") == "]":
                pos = match.end()
                break
            value, _, pos = self.expression(match, depth, in_call)
            items.append(self.finish(value, in_call))
            closed, pos = self.after_item(pos, "]")
            if closed:
                break
        self.count(len(items), start)
        return items, start, pos

    def numbers(self, start: int, end: int) -> list[int | float] | None:
        """The numbers of a list of plain decimal numbers, converted by int() and float() in C, without a
        Python call for each; None for an int of more digits than Python converts."""
        items = _LIST_ITEM.findall(self.text, start + 1, end - 1)
        try:
            if not _FLOAT_MARK.search(self.text, start, end):
                return list(map(int, items))
            if not _INT_ITEM.search(self.text, start, end):
                return list(map(float, items))
            return [float(item) if _FLOAT_MARK.search(item) else int(item) for item in items]
        except ValueError:
            return None

    def read_parenthesized(self, pos: int, depth: int, in_call: bool, start: int) -> tuple[Any, int, int]:
        """A tuple, or an expression in parentheses: the expression itself (its node starts inside)."""
        match = self.token(pos)
        if match.group("op") == ")":
            return (), start, match.end()
        first, first_start, pos = self.expression(match, depth, in_call)
        match = self.token(pos)
        if match.group("op") == ")":
            return first, first_start, match.end()
        items = [self.finish(first, in_call)]
        while match.group("op") == ",":
            match = self.token(match.end())
            if match.group("op") == ")":
                break
            value, _, pos = self.expression(match, depth, in_call)
            items.append(self.finish(value, in_call))
            match = self.token(pos)
        if match.group("op") != ")":
            raise self.unexpected(match, "',' or ')'")
        self.count(len(items), start)
        return tuple(items), start, match.end()

    def read_call(self, name: str, pos: int, depth: int, in_call: bool, start: int) -> tuple[Any, int, int]:
        if in_call and name in ("url", "ref"):
            raise _GiveUp(start, f"call of {name}() {_NOT_IN_CALL}")
        inner = in_call if name in _TRANSPARENT_CALLS else True
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        closed = self.token(pos).group("op") == ")"
        pos = self.token(pos).end() if closed else pos
        while not closed:
            match = self.token(pos)
            if match.lastgroup == "name" and (equals := self.token(match.end())).group("op") == "=":
                keyword_name = match.group("name")
                if keyword_name in kwargs or keyword.iskeyword(keyword_name):
                    raise _GiveUp(self.start(match), f"keyword argument {_quote(keyword_name)} not read here")
                value, _, pos = self.expression(self.token(equals.end()), depth, inner)
                kwargs[keyword_name] = self.finish(value, inner)
            elif kwargs:
                raise _GiveUp(self.start(match), "positional argument after a keyword argument")
            else:
                value, _, pos = self.expression(match, depth, inner)
                args.append(self.finish(value, inner))
            closed, pos = self.after_item(pos, ")")
        return self.called(name, args, kwargs, depth - 1, start), start, pos

    def called(self, name: str, args: list[Any], kwargs: dict[str, Any], depth: int, start: int) -> Any:
        """The value of a call read, which stands at ``depth``."""
        where = self.where(start)
        try:
            if name == "url":
                return self.loader.include(_string_argument(name, args, kwargs), where, depth)
            if name == "ref":
                self.loader.references += 1
            return _call_value(name, args, kwargs, where)
        except _CallProblem as problem:
            raise _GiveUp(start, str(problem)) from None

    # --- arithmetic, read into the syntax tree that _FileReader.arithmetic takes

    def arithmetic_expression(
        self, pos: int, first: tuple[Any, int, int] | None, depth: int, in_call: bool
    ) -> tuple[_Operand, int, int]:
        """Arithmetic starting at ``pos``, whose first primary may be read already (``first``)."""
        node, end = self.binary(pos, first, depth, in_call, _ADDITIVE)
        return _Operand(node), pos, end

    def binary(
        self, pos: int, first: tuple[Any, int, int] | None, depth: int, in_call: bool, operators: re.Pattern[str]
    ) -> tuple[ast.expr, int]:
        """Left-associative operators of one precedence: ``+ -`` (``_ADDITIVE``), whose operands are of ``* /``,
        whose operands are factors. A node starts where its left operand's text does, parentheses included."""
        if operators is _ADDITIVE:
            left, end = self.binary(pos, first, depth, in_call, _MULTIPLICATIVE)
        else:
            left, end = self.factor(pos, first, depth, in_call)
        while match := operators.match(self.text, end):
            depth = self.deeper(depth, match.start(1))  # a chain nests its nodes: a + b + c is (a + b) + c
            self.operator(match.start(1))
            if operators is _ADDITIVE:
                right, end = self.binary(match.end(), None, depth, in_call, _MULTIPLICATIVE)
            else:
                right, end = self.factor(match.end(), None, depth, in_call)
            left = self.node(ast.BinOp(left=left, op=_BINARY[match.group(1)](), right=right), pos)
        return left, end

    def factor(self, pos: int, first: tuple[Any, int, int] | None, depth: int, in_call: bool) -> tuple[ast.expr, int]:
        """Unary ``+ -``, or a primary and maybe ``**`` and a factor (``-2 ** 2`` is ``-(2 ** 2)``, ``2 ** -1``
        is ``2 ** (-1)``, ``**`` groups to the right), as Python reads them."""
        if first is None:
            match = self.token(pos)
            pos = self.start(match)
            op = match.group("op")
            if op in ("-", "+"):
                self.operator(pos)
                operand, end = self.factor(match.end(), None, self.deeper(depth, pos), in_call)
                return self.node(ast.UnaryOp(op=_UNARY[op](), operand=operand), pos), end
            first = self.primary(match, depth, in_call)
        value, node_start, end = first
        base = self.operand(value, node_start)
        if power := _POWER.match(self.text, end):
            self.operator(power.end() - 2)
            exponent, end = self.factor(power.end(), None, self.deeper(depth, pos), in_call)
            base = self.node(ast.BinOp(left=base, op=ast.Pow(), right=exponent), pos)
        return base, end

    def operand(self, value: Any, start: int) -> ast.expr:
        """The syntax tree of a value read as an operand of arithmetic: a number, pi, ref() or arithmetic."""
        if isinstance(value, _Operand):
            return value.node
        if value is _PI:
            return self.node(ast.Name(id="pi", ctx=ast.Load()), start)
        if type(value) in _NUMBER:
            if math.copysign(1, value) < 0:  # -2 read as a number: Python's tree has -(2), which ** tells apart
                return self.node(ast.UnaryOp(op=ast.USub(), operand=self.node(ast.Constant(value=-value), start + 1)), start)
            return self.node(ast.Constant(value=value), start)
        if type(value) is Ref:
            name = ast.Name(id="ref", ctx=ast.Load())
            return self.node(ast.Call(func=name, args=[ast.Constant(value=value.path)], keywords=[]), start)
        raise _GiveUp(start, f"{type(value).__name__} not allowed in arithmetic")

    def operator(self, offset: int) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise _GiveUp(offset, f"more than {MAX_OPERATORS:,} arithmetic operators (MAX_OPERATORS)")

    def node(self, node: ast.expr, offset: int) -> ast.expr:
        node.lineno, column = self.position(offset)
        node.col_offset = column - 1
        return node


class _Loader:
    """Reads a file and, recursively, what it includes; knows the chain of files being read to refuse cycles.
    Each file is read once, however often it is included; all of them together hold at most MAX_BYTES."""

    def __init__(self, base_dir: str | Path | None) -> None:
        # The model directory is fixed once, so that every url() of one tree is resolved against the same one.
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.chain: list[Path] = []
        self.trees: dict[Path, dict[str, Any]] = {}
        self.includes: dict[str, _Include] = {}  # by url(): a file of 100,000 url() looks each file up once
        self.bytes_read = 0
        #: The refs and arithmetic on refs read: a tree without any needs no resolution.
        self.references = 0
        #: Whether the tree read may repeat subtrees (url() includes, YAML aliases): then _inline copies it.
        self.repeats = False

    def read(self, path: Path, display: str, depth: int = 0) -> dict[str, Any]:
        """The tree of a file, whose root stands at ``depth`` of the whole tree (an included file's, deeper)."""
        resolved = path.resolve()
        self.chain.append(resolved)
        try:
            with _bounded(display):
                yaml_file = path.suffix.lower() in _YAML_SUFFIXES
                data = self.read_bytes(path, display)
                if yaml_file and len(data) > MAX_YAML_BYTES:
                    raise MozaikFormatError(
                        f"{display}: {len(data):,} bytes: a YAML file may hold at most {MAX_YAML_BYTES:,} (MAX_YAML_BYTES)"
                    )
                text = _decode(data, display)
                if yaml_file:
                    self.repeats = True  # aliases
                    tree = _yaml_tree(text, display, depth)
                else:
                    tree = self.mozaik_tree(text, display, depth)
        finally:
            self.chain.pop()
        if not isinstance(tree, dict):
            raise MozaikFormatError(f"{display}: a parameter file holds a dict, not {type(tree).__name__}")
        self.trees[resolved] = tree
        return tree

    def read_bytes(self, path: Path, display: str) -> bytes:
        """The bytes of a file, refused unread past what is left of MAX_BYTES."""
        left = MAX_BYTES - self.bytes_read
        try:
            with path.open("rb") as file:
                data = file.read(left + 1)
        except OSError as exc:
            raise MozaikFormatError(f"{display}: cannot read: {exc}") from None
        if len(data) > left:
            read_before = f" (files read before it: {self.bytes_read:,} bytes)" if self.bytes_read else ""
            raise MozaikFormatError(
                f"{display}: more than {MAX_BYTES:,} bytes{read_before}: a parameter file and all it includes "
                f"may hold at most {MAX_BYTES:,} bytes (MAX_BYTES)"
            )
        self.bytes_read += len(data)
        return data

    def mozaik_tree(self, text: str, display: str, depth: int) -> Any:
        """The value of a mozaik file's text: parsed by Python's parser up to AST_MAX_CHARS, else (or where that
        parser fails for its own limits, which it reports as memory or recursion errors) by the literal reader."""
        start = _expression_start(text, display)
        if len(text) <= AST_MAX_CHARS:
            try:
                body, shift = _parse(text, display)
            except _ParserLimit:
                pass  # nested deeper than Python's parser goes: the literal reader names MAX_DEPTH
            else:
                reader = _FileReader(self, display, shift, text[shift:])
                reader.depth = depth
                return reader.value(body)
        return _LiteralReader(self, display, text).read(start, depth)

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
            resolved, is_file = path.resolve(), path.is_file()
        except (OSError, ValueError) as exc:  # a name too long, a null character...
            raise MozaikFormatError(f"{where}: url({_quote(url)}): cannot read: {_shorten(str(exc), 100)}") from None
        if resolved in self.chain:
            cycle = " -> ".join(str(p) for p in [*self.chain[self.chain.index(resolved) :], resolved])
            raise MozaikFormatError(f"{where}: url({_quote(url)}): include cycle: {cycle}")
        if resolved not in self.trees:
            if not is_file:
                raise MozaikFormatError(f"{where}: url({_quote(url)}): no such file {_shorten(str(path), 200)}")
            self.read(path, str(path), depth)
        self.includes[url] = _Include(resolved, self.trees[resolved])
        return self.includes[url]


def _decode(data: bytes, display: str) -> str:
    """The text of a file's bytes (UTF-8, as mozaik reads it), its line ends made '\\n' as by open(); bytes that
    are not UTF-8 are named by line and column, and not shown."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = _newlines(data[: exc.start].decode("utf-8"))  # the bytes before the first bad one are UTF-8
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise MozaikFormatError(
            f"{display}, line {line}, column {column}: not UTF-8 text (byte 0x{data[exc.start]:02x}: {exc.reason})"
        ) from None
    return _newlines(text)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _expression_start(text: str, display: str) -> int:
    """Where the expression of a mozaik file starts. A file that starts otherwise than with a dict is refused
    without showing any of it: it is not a parameter file, and it may be any file (url('/etc/passwd'))."""
    null = text.find("\0")
    match = _FILE_START.match(text) if null < 0 else None
    if match is None:
        offset = null if null >= 0 else _BLANK_TEXT.match(text).end()  # type: ignore[union-attr]
        before = text[:offset]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        what = "a null character" if null >= 0 else "not a single Python-literal expression starting with '{'"
        raise MozaikFormatError(
            f"{display}, line {line}, column {column}: {what}: a parameter file holds a dict "
            "(the text of this file is not shown: it may not be one)"
        )
    return match.end()


class _ParserLimit(Exception):
    """Python's parser gave up for its own limits (of nesting, or of memory)."""


def _parse(text: str, display: str) -> tuple[ast.expr, int]:
    """The expression of a file, and how many characters were cut from its start to parse it.

    eval() of a string (mozaik's reader) skips the spaces and tabs it starts with, and nothing else: published
    files start ``  {`` on their first line. ast.parse would call them an indent, so they are cut here.
    ast.parse only builds the syntax tree (PyCF_ONLY_AST); mode="eval" refuses anything but one expression.
    """
    body = text.lstrip(" \t")
    shift = len(text) - len(body)
    try:
        return ast.parse(body, filename=display, mode="eval").body, shift
    except (MemoryError, RecursionError):
        # Its stack overflows at some thousand nested operators; it raises MemoryError (or RecursionError).
        raise _ParserLimit from None
    except SyntaxError as exc:
        column = (exc.offset or 0) + (shift if exc.lineno == 1 else 0)
        raise MozaikFormatError(
            f"{display}, line {exc.lineno}, column {column}: not a single Python-literal expression "
            f"({exc.msg}): {_shorten(exc.text or '')}"
        ) from None


def _string_table(text: str) -> dict[str, dict[str, float]]:
    """The dict of dicts of a ``ParameterTable`` string, as ``parameters.string_table`` makes it: the first line's
    words are the column headers (the first one, over the row labels, is ignored: ``#`` by custom), each further
    line is a row label and its values, converted with ``float()``; surplus values or headers are ignored and a
    repeated label keeps its last row. Where that function fails (an empty line inside the table, a value that
    ``float()`` refuses), this raises ValueError saying where."""
    lines = text.strip().split("\n")
    headers = lines[0].split()
    table: dict[str, dict[str, float]] = {}
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split()
        if not cells:
            raise ValueError(f"line {number} of the table is empty")
        row: dict[str, float] = {}
        for column, cell in zip(headers[1:], cells[1:]):
            try:
                row[column] = float(cell)
            except ValueError:
                raise ValueError(f"row {cells[0]!r}, column {column!r}: {cell!r} is not a number") from None
        table[cells[0]] = row
    return table


#: libyaml's loader where PyYAML has it (its wheels do): several times faster than the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_tree(text: str, display: str, depth: int = 0) -> Any:
    try:
        _check_yaml_expansion(text, display, depth)
        tree = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506  (a safe loader)
    except yaml.YAMLError as exc:
        raise MozaikFormatError(f"{display}: not valid YAML: {exc}") from None
    _check_yaml(tree, display)
    return tree


def _check_yaml_expansion(text: str, display: str, depth: int) -> None:
    """Refuse a YAML file whose tree, each alias expanded, holds more than :data:`MAX_NODES` values or nests
    deeper than :data:`MAX_DEPTH`, before anything is built. PyYAML makes an alias the same object as its
    anchor, but every walk of the tree expands it: 342 bytes of aliases of aliases ("billion laughs") make
    10**9 values. Counted on the parser's events, without recursion: an anchor's size is known at its end."""
    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = []  # [values so far, anchor] of each collection being read
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            if depth + len(open_nodes) >= MAX_DEPTH:
                raise _yaml_limit(display, event, f"nested more than {MAX_DEPTH} deep (MAX_DEPTH)")
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
            if open_nodes[-1][0] > MAX_NODES:
                raise _yaml_limit(display, event, f"aliases make the tree more than {MAX_NODES:,} values (MAX_NODES)")


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


def _read_with_includes(path: str | Path, base_dir: str | Path | None) -> tuple[dict[str, Any], _Loader]:
    """The tree of a root file, its url() includes as _Include nodes, and the loader that read it."""
    path = Path(path)
    if not path.is_file():
        raise MozaikFormatError(f"{path}: no such parameter file")
    loader = _Loader(base_dir)
    return loader.read(path, str(path)), loader


def read_parameters(path: str | Path, base_dir: str | Path | None = None, *, resolve: bool = True) -> dict[str, Any]:
    """The parameter tree of a mozaik root file, with its url() includes read in, without evaluating anything.

    ``path`` is opened as given (relative paths from the working directory); url() paths are relative to
    ``base_dir``, the model directory, by default the working directory. With ``resolve`` (the default),
    every ref() is replaced by the value it names (see :func:`resolve_refs`); without, refs stay :class:`Ref`.
    Raises :class:`MozaikFormatError` for anything that is not plain data, and for a tree past the limits
    (:data:`MAX_BYTES`, :data:`MAX_NODES`, :data:`MAX_DEPTH`, :data:`MAX_REF_CHAIN`).
    """
    tree, loader = _read_with_includes(path, base_dir)
    if loader.repeats:  # else the tree is the reader's own, counted and checked as it was read: no copy needed
        tree = _inline(tree, str(path))
    return resolve_refs(tree) if resolve and loader.references else tree


# --------------------------------------------------------------------------- references


def resolve_refs(tree: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``tree`` (the root) with every :class:`Ref` replaced by a copy of the value its path names in
    ``tree``, itself resolved: chains are followed. Every :class:`Expr` is replaced by its value, computed from
    the resolved values of its refs (which must be numbers). A missing path, a cycle, an operand that is not a
    number or an operation without result raises :class:`MozaikFormatError`, and so does a resolution that
    would make more than :data:`MAX_NODES` values, nest deeper than :data:`MAX_DEPTH` or follow more than
    :data:`MAX_REF_CHAIN` references one through another."""
    with _bounded("resolving references"):
        return _Resolver(tree).copy(tree, 0, "resolving references")


class _Resolver(_Copier):
    """Resolves the refs of a tree while copying it. Each path is resolved once (then copied to each ref to it),
    and every value made is counted: ten refs to ten refs to ... are refused when they pass MAX_NODES."""

    def __init__(self, root: dict[str, Any]) -> None:
        super().__init__("references")
        self.root = root
        self.resolved: dict[str, Any] = {}  # path -> its value, resolved

    def leaf(self, value: Any, depth: int, where: str, chain: tuple[str, ...]) -> Any:
        if isinstance(value, Ref):
            return self.copy(self.resolve(value, chain), depth, value.where or where, chain)
        if isinstance(value, Expr):
            return self.evaluate(value, chain)
        return super().leaf(value, depth, where, chain)

    def resolve(self, ref: Ref, chain: tuple[str, ...]) -> Any:
        """The value a ref names, resolved (not a copy: never to be placed in the tree as it is)."""
        if ref.path in self.resolved:
            return self.resolved[ref.path]
        if ref.path in chain:
            cycle = " -> ".join(_shorten(path, 40) for path in [*chain[chain.index(ref.path) :], ref.path])
            raise MozaikFormatError(f"{ref.where or 'ref'}: ref({_quote(ref.path)}): reference cycle: {cycle}")
        if len(chain) >= MAX_REF_CHAIN:
            raise MozaikFormatError(
                f"{ref.where or 'ref'}: ref({_quote(ref.path)}): more than {MAX_REF_CHAIN} references followed one "
                f"through another (MAX_REF_CHAIN), from ref({_quote(chain[0])})"
            )
        chain = (*chain, ref.path)
        value = self.copy(self.lookup(ref, chain), 0, ref.where, chain)
        self.resolved[ref.path] = value
        return value

    def evaluate(self, expr: Expr, chain: tuple[str, ...]) -> int | float:
        """The value of arithmetic on refs, each resolved first (through chains, and other arithmetic)."""
        values = [self.resolve(ref, chain) for ref in expr.refs]
        try:
            return evaluate_template(expr.template, values, [f"ref({_quote(ref.path)})" for ref in expr.refs])
        except ValueError as exc:
            raise MozaikFormatError(f"{expr.where or 'arithmetic'}: {_expr_source(expr)}: {exc}") from None

    def lookup(self, ref: Ref, chain: tuple[str, ...]) -> Any:
        node: Any = self.root
        keys = ref.path.split(".")
        for depth, key in enumerate(keys):
            if isinstance(node, Ref):  # a path through a value that is itself a reference
                node = self.resolve(node, chain)
            if not isinstance(node, dict) or key not in node:
                parent = ".".join(keys[:depth]) or "the root"
                raise MozaikFormatError(f"{ref.where or 'ref'}: ref({_quote(ref.path)}): no key {_quote(key)} under {_shorten(parent)}")
            node = node[key]
        return node


# --------------------------------------------------------------------------- writing

_INDENT = "    "


def format_parameters(tree: dict[str, Any]) -> str:
    """``tree`` in mozaik's format: an indented Python-literal dict, constructs as their calls, refs as ref()."""
    if not isinstance(tree, dict):
        raise MozaikFormatError(f"a parameter tree is a dict, not {type(tree).__name__}")
    return _format(tree, 0) + "\n"


def write_parameters(tree: dict[str, Any], path: str | Path) -> None:
    """Write ``tree`` to ``path`` in mozaik's format; :func:`read_parameters` of it gives back an equal tree."""
    text = format_parameters(tree)  # before opening the file, so that an unwritable tree leaves nothing behind
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _format(value: Any, depth: int) -> str:
    """A value as it stands after ``key:`` at ``depth``: dicts, and lists holding dicts, span lines."""
    pad, inner = _INDENT * depth, _INDENT * (depth + 1)
    if isinstance(value, dict) and value:
        lines = [f"{inner}{_format_key(key)}: {_format(item, depth + 1)}," for key, item in value.items()]
        return "{\n" + "\n".join(lines) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)) and any(isinstance(item, (dict, list, tuple)) for item in value):
        # Every item ends with ',', so a one-item tuple stays a tuple.
        lines = [f"{inner}{_format(item, depth + 1)}," for item in value]
        brackets = "[]" if isinstance(value, list) else "()"
        return brackets[0] + "\n" + "\n".join(lines) + f"\n{pad}{brackets[1]}"
    return _format_inline(value)


def _format_inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_format_key(k)}: {_format_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_format_inline(item) for item in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_format_inline(item) for item in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, Ref):
        return f"ref({value.path!r})"
    if isinstance(value, Expr):
        return _expr_source(value)
    if isinstance(value, Construct):
        return _format_call(value)
    if type(value) is float:
        return _format_float(value)
    if type(value) in (str, int, bool, _NONE):
        return repr(value)  # repr of these is a literal that reads back to an equal value
    raise MozaikFormatError(f"{type(value).__name__} {_shorten(repr(value))} has no form in mozaik's format")


def _expr_source(expr: Expr) -> str:
    """Arithmetic on refs as a parameter file has it: the template with each operand name replaced by its ref()."""

    class RefCalls(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            index = _operand_index(node.id)
            if index is None:
                return node
            path = ast.Constant(expr.refs[index].path)
            return ast.Call(func=ast.Name(id="ref", ctx=ast.Load()), args=[path], keywords=[])

    # A copy: the parsed template is cached and shared.
    return ast.unparse(RefCalls().visit(copy.deepcopy(_parse_template(expr.template, len(expr.refs)))))


def _format_float(value: float) -> str:
    # repr is the shortest string that reads back to the same float; infinity has no literal but 1e999 parses to it.
    if math.isnan(value):
        raise MozaikFormatError("nan has no form in mozaik's format")
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(value)


def _format_call(construct: Construct) -> str:
    positional, keywords = construct.call_arguments()
    for name in keywords:
        if type(name) is not str or not name.isidentifier():
            raise MozaikFormatError(f"{type(construct).__name__}: {name!r} cannot be a keyword argument")
    arguments = [_format_inline(arg) for arg in positional]
    arguments += [f"{name}={_format_inline(arg)}" for name, arg in keywords.items()]
    return f"{type(construct).__name__}({', '.join(arguments)})"


def _format_key(key: Any) -> str:
    if type(key) is not str or not key or "." in key:
        raise MozaikFormatError(f"{key!r} cannot be a key in mozaik's format (keys are non-empty strings without '.')")
    return repr(key)


# --------------------------------------------------------------------------- Hydra

_INTERPOLATION_START = re.compile(r"(\\*)\$\{")


def _escape_interpolation(text: str) -> str:
    # OmegaConf reads '${' as the start of an interpolation and '\' before it as an escape, so a literal
    # '${' preceded by n backslashes is written with 2n + 1 of them.
    return _INTERPOLATION_START.sub(lambda m: "\\" * (2 * len(m.group(1)) + 1) + "${", text)


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
            return _escape_interpolation(value)
        return value

    return _map_leaves(tree, leaf, tuples=list)


def _expr_interpolation(expr: Expr) -> str:
    """Arithmetic on refs in a Hydra config: the :data:`EXPR_RESOLVER` resolver over its template and the
    interpolations of its refs, e.g. ``${mozaik_expr:'_0 * 4 / 5 * (1 - _1)',${sheets.K},${sheets.ratio}}``.
    OmegaConf resolves it when the value is read, i.e. after Hydra's overrides: it follows its refs' sources."""
    operands = ",".join("${" + ref.path + "}" for ref in expr.refs)
    # Quoted, as a resolver argument with parentheses must be; the template holds no quote (numbers, names, operators).
    return "${" + f"{EXPR_RESOLVER}:'{expr.template}',{operands}" + "}"


def _resolve_expr(template: Any, *values: Any) -> int | float:
    """The :data:`EXPR_RESOLVER` resolver: the value of ``template`` (see :class:`Expr`) with ``_i`` the i-th
    value, which OmegaConf passes with its type. Computed on the syntax tree, never with eval()."""
    if type(template) is not str:
        raise ValueError(f"{EXPR_RESOLVER}: the template is a string, not {template!r}")
    try:
        return evaluate_template(template, values, [f"argument _{index}" for index in range(len(values))])
    except ValueError as exc:
        raise ValueError(f"{EXPR_RESOLVER} {template!r}: {exc}") from None


# Registered at import (launcher/__init__.py imports this module): any composition of an imported config has it.
compat.register_resolver(EXPR_RESOLVER, _resolve_expr)


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
    """
    if model is not None and (not re.fullmatch(r"[A-Za-z_][\w-]*", model) or model in _RESERVED_MODEL_NAMES):
        raise MozaikFormatError(
            f"model name {model!r}: a model option's name is letters, digits, '_' and '-' (not one of "
            f"{', '.join(sorted(_RESERVED_MODEL_NAMES))})"
        )
    tree, _ = _read_with_includes(root_file, base_dir)
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
    texts = {root_config: _config_text(tree, names, str(root_file), top={"task": task} if task else {}, global_package=model is not None)}
    for source, included in sources.items():
        texts[out / f"{names[source]}.yaml"] = _config_text(included, names, str(_relative(source, base) or source))
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
        else:
            body[key] = _inline(value)
    return body, defaults


def _config_text(
    tree: dict[str, Any], names: dict[Path, str], source: str, top: dict[str, Any] | None = None, global_package: bool = False
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
    # OmegaConf's own dumper quotes every string its loader would read as something else ('1e5', 'true', ...).
    text = OmegaConf.to_yaml(OmegaConf.create(data))
    header = "# @package _global_\n" if global_package else ""
    return f"{header}# Imported from mozaik parameter file {json.dumps(source)}\n{text}"
