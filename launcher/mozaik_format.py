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
  naming the file, line and key). Anything else is refused with
  :class:`MozaikFormatError` naming the file, the line, the column and the
  construct;
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
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import math
import operator
import re
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml
from omegaconf import OmegaConf


class MozaikFormatError(ValueError):
    """A parameter file or tree that cannot be read, resolved, written or imported; the message says where and why."""


class MozaikFormatWarning(UserWarning):
    """Something a parameter file does that mozaik accepts but that is likely a slip (a key repeated in a dict)."""


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
        spelling = ast.unparse(_parse_template(self.template, len(self.refs)))
        object.__setattr__(self, "template", spelling)  # frozen: set once, here


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


def _inline(value: Any) -> Any:
    """The tree with every url() replaced by the included tree, as mozaik has it."""
    return _map_leaves(value, lambda v: _inline(v.tree) if isinstance(v, _Include) else v)


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


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return f"call of {_shorten(ast.unparse(node.func), 30)}()"
    if isinstance(node, ast.Name):
        return f"name {node.id!r}"
    if isinstance(node, ast.Constant):
        return f"{type(node.value).__name__} constant"
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return "operator"
    return _NODE_NAMES.get(type(node), type(node).__name__)


class _FileReader:
    """Converts the AST of one parameter file to data; url() goes back to the loader for the included file."""

    def __init__(self, loader: _Loader, display: str, first_line_shift: int = 0) -> None:
        self.loader = loader
        self.display = display
        #: Characters cut from the start of the file before parsing (see _parse): columns of line 1 are shifted.
        self.first_line_shift = first_line_shift

    def at(self, node: ast.AST) -> str:
        line, column = node.lineno, node.col_offset + 1  # type: ignore[attr-defined]  # columns from 1, as editors
        if line == 1:
            column += self.first_line_shift
        return f"{self.display}, line {line}, column {column}"

    def error(self, node: ast.AST, problem: str) -> MozaikFormatError:
        return MozaikFormatError(f"{self.at(node)}: {problem}: {_shorten(ast.unparse(node))}")

    def refuse(self, node: ast.AST, why: str = "not allowed in a parameter file") -> MozaikFormatError:
        return self.error(node, f"{_describe(node)} {why}")

    def value(self, node: ast.expr, *, in_call: bool = False) -> Any:
        """The data of an expression node; ``in_call``: inside a call's arguments, where only literals and
        constructs are allowed (no url(), no ref())."""
        match node:
            case ast.Constant(value=v) if type(v) in (str, int, float, bool, _NONE):
                return v
            case ast.Dict():
                return self.dict(node, in_call)
            case ast.List(elts=items):
                return [self.value(item, in_call=in_call) for item in items]
            case ast.Tuple(elts=items):
                return tuple(self.value(item, in_call=in_call) for item in items)
            case ast.Name(id="pi") | ast.UnaryOp() | ast.BinOp():
                return self.arithmetic(node, in_call)
            case ast.Call(func=ast.Name(id=name)) if name in CONSTRUCTS or (name in ("url", "ref") and not in_call):
                return self.call(node, name)
            case ast.Call(func=ast.Name(id="ParameterSet" | "ParameterTable" as name)):
                return self.parameter_set(node, name, in_call)
            case ast.Call() if in_call:
                raise self.refuse(node, _NOT_IN_CALL)
        raise self.refuse(node)

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
                # eval() keeps the last value (at the place of the first key); published models do repeat keys.
                message = f"{self.at(key_node)}: key {key!r} repeated in the same dict: the last value is kept"
                warnings.warn(message, MozaikFormatWarning)
            tree[key] = self.value(value_node, in_call=in_call)
        return tree

    def parameter_set(self, node: ast.Call, name: str, in_call: bool) -> dict[str, Any]:
        """``ParameterSet(dict)`` and ``ParameterTable(dict)`` as the dict, ``ParameterTable('''...''')`` as the
        dict of dicts its table string gives: in the tree they are nested dicts like any other."""
        takes = "a dict or a table string" if name == "ParameterTable" else "a dict"
        if len(node.args) != 1 or node.keywords:
            raise self.error(node, f"{name}() takes one argument here, {takes}")
        argument = node.args[0]
        if name == "ParameterTable" and isinstance(argument, ast.Constant) and type(argument.value) is str:
            return self.table(argument)
        # A string would be a file to read or text to eval() for mozaik: only a dict (however written) is data.
        value = self.value(argument, in_call=in_call)
        if type(value) is not dict:
            what = "url()" if isinstance(value, _Include) else type(value).__name__
            raise self.error(node, f"{name}() takes {takes}, not {what}")
        return value

    def table(self, node: ast.Constant) -> dict[str, dict[str, float]]:
        try:
            table = _string_table(node.value)
        except ValueError as exc:
            raise self.error(node, f"ParameterTable string is not a table ({exc})") from None
        if not table:
            # parameters would then take the string for a file name, or text to eval().
            raise self.error(node, "ParameterTable string holds no rows")
        for label in (*table, *(column for row in table.values() for column in row)):
            if "." in label:
                raise self.error(node, f"ParameterTable label {label!r}: a key is a non-empty string without '.'")
        return table

    def arithmetic(self, node: ast.expr, in_call: bool) -> int | float | Expr:
        """Arithmetic on numbers, pi and ref()s: a number, computed here, if it holds no ref(); else an
        :class:`Expr`, computed when the refs are resolved (only its parts without ref() are computed here, so
        that their errors are found when the file is read)."""
        refs: dict[str, Ref] = {}
        template, has_refs = self.template(node, refs, in_call)
        if not has_refs:
            return self.compute(node)
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

    def call(self, node: ast.Call, name: str) -> Any:
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.error(keyword.value, f"keyword unpacking not allowed in {name}()")
        args = [self.value(arg, in_call=True) for arg in node.args]
        kwargs = {kw.arg: self.value(kw.value, in_call=True) for kw in node.keywords}
        if name in ("url", "ref") and (len(args) != 1 or kwargs or type(args[0]) is not str):
            raise self.error(node, f"{name}() takes one string argument")
        if name == "url":
            return self.loader.include(args[0], self.at(node))
        try:
            if name == "ref":
                return Ref(args[0], self.at(node))
            return CONSTRUCTS[name].from_call(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise self.error(node, f"bad arguments to {name}() ({exc})") from None


class _Loader:
    """Reads a file and, recursively, what it includes; knows the chain of files being read to refuse cycles."""

    def __init__(self, base_dir: str | Path | None) -> None:
        # The model directory is fixed once, so that every url() of one tree is resolved against the same one.
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.chain: list[Path] = []

    def read(self, path: Path, display: str) -> dict[str, Any]:
        resolved = path.resolve()
        self.chain.append(resolved)
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix.lower() in _YAML_SUFFIXES:
                tree = _yaml_tree(text, display)
            else:
                body, shift = _parse(text, display)
                tree = _FileReader(self, display, shift).value(body)
        except (OSError, UnicodeDecodeError) as exc:
            raise MozaikFormatError(f"{display}: cannot read: {exc}") from None
        except (RecursionError, MemoryError):
            # Python's parser and this reader recurse on nesting (a long chain of operators too).
            raise MozaikFormatError(f"{display}: expressions nested too deeply") from None
        finally:
            self.chain.pop()
        if not isinstance(tree, dict):
            raise MozaikFormatError(f"{display}: a parameter file holds a dict, not {type(tree).__name__}")
        return tree

    def include(self, url: str, where: str) -> _Include:
        local = url.removeprefix("file://")
        if re.match(r"^[a-zA-Z][\w+.-]*://", local):  # never fetch from the network
            raise MozaikFormatError(f"{where}: url({url!r}): only local files can be included")
        path = self.base_dir / local
        resolved = path.resolve()
        if resolved in self.chain:
            cycle = " -> ".join(str(p) for p in [*self.chain[self.chain.index(resolved) :], resolved])
            raise MozaikFormatError(f"{where}: url({url!r}): include cycle: {cycle}")
        if not path.is_file():
            raise MozaikFormatError(f"{where}: url({url!r}): no such file {path}")
        return _Include(resolved, self.read(path, str(path)))


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


def _yaml_tree(text: str, display: str) -> Any:
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MozaikFormatError(f"{display}: not valid YAML: {exc}") from None
    _check_yaml(tree, display)
    return tree


def _check_yaml(value: Any, display: str, key_path: tuple[str, ...] = ()) -> None:
    """Refuse what safe_load makes beyond what a parameter file holds: dates, binary, keys that are not names."""
    where = f"{display}: {'.'.join(key_path) or 'top level'}"
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str or not key or "." in key:
                raise MozaikFormatError(f"{where}: key {key!r}: a key is a non-empty string without '.'")
            _check_yaml(item, display, (*key_path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_yaml(item, display, (*key_path, str(index)))
    elif type(value) not in (str, int, float, bool, _NONE):
        raise MozaikFormatError(f"{where}: {type(value).__name__} is not a parameter value")


def _read_with_includes(path: str | Path, base_dir: str | Path | None) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MozaikFormatError(f"{path}: no such parameter file")
    return _Loader(base_dir).read(path, str(path))


def read_parameters(path: str | Path, base_dir: str | Path | None = None, *, resolve: bool = True) -> dict[str, Any]:
    """The parameter tree of a mozaik root file, with its url() includes read in, without evaluating anything.

    ``path`` is opened as given (relative paths from the working directory); url() paths are relative to
    ``base_dir``, the model directory, by default the working directory. With ``resolve`` (the default),
    every ref() is replaced by the value it names (see :func:`resolve_refs`); without, refs stay :class:`Ref`.
    Raises :class:`MozaikFormatError` for anything that is not plain data.
    """
    tree = _inline(_read_with_includes(path, base_dir))
    return resolve_refs(tree) if resolve else tree


# --------------------------------------------------------------------------- references


def resolve_refs(tree: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``tree`` (the root) with every :class:`Ref` replaced by a copy of the value its path names in
    ``tree``, itself resolved: chains are followed. Every :class:`Expr` is replaced by its value, computed from
    the resolved values of its refs (which must be numbers). A missing path, a cycle, an operand that is not a
    number or an operation without result raises :class:`MozaikFormatError`."""
    try:
        return _map_leaves(tree, lambda v: _resolve_leaf(tree, v, ()))
    except RecursionError:
        raise MozaikFormatError("references chained or nested too deeply to resolve") from None


def _resolve_leaf(root: dict[str, Any], value: Any, chain: tuple[str, ...]) -> Any:
    """A leaf of the tree, resolved if it is a Ref or an Expr; ``chain``: the paths being resolved, for cycles."""
    if isinstance(value, Ref):
        return _resolve(root, value, chain)
    if isinstance(value, Expr):
        return _evaluate(root, value, chain)
    return value


def _resolve(root: dict[str, Any], ref: Ref, chain: tuple[str, ...]) -> Any:
    if ref.path in chain:
        cycle = " -> ".join([*chain[chain.index(ref.path) :], ref.path])
        raise MozaikFormatError(f"{ref.where or 'ref'}: ref({ref.path!r}): reference cycle: {cycle}")
    chain = (*chain, ref.path)
    target = _lookup(root, ref, chain)
    # Copies, so that two places that name the same value never share a mutable object.
    return _map_leaves(
        target, lambda v: _resolve_leaf(root, v, chain) if isinstance(v, (Ref, Expr)) else copy.deepcopy(v)
    )


def _evaluate(root: dict[str, Any], expr: Expr, chain: tuple[str, ...]) -> int | float:
    """The value of arithmetic on refs, each resolved first (through chains, and other arithmetic)."""
    values = [_resolve(root, ref, chain) for ref in expr.refs]
    try:
        return evaluate_template(expr.template, values, [f"ref({ref.path!r})" for ref in expr.refs])
    except ValueError as exc:
        raise MozaikFormatError(f"{expr.where or 'arithmetic'}: {_expr_source(expr)}: {exc}") from None


def _lookup(root: dict[str, Any], ref: Ref, chain: tuple[str, ...]) -> Any:
    node: Any = root
    keys = ref.path.split(".")
    for depth, key in enumerate(keys):
        if isinstance(node, Ref):  # a path through a value that is itself a reference
            node = _resolve(root, node, chain)
        if not isinstance(node, dict) or key not in node:
            parent = ".".join(keys[:depth]) or "the root"
            raise MozaikFormatError(f"{ref.where or 'ref'}: ref({ref.path!r}): no key {key!r} under {parent}")
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
OmegaConf.register_new_resolver(EXPR_RESOLVER, _resolve_expr, replace=True)


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
    tree = _read_with_includes(root_file, base_dir)
    resolve_refs(_inline(tree))  # a missing ref or a cycle is refused before anything is written
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
