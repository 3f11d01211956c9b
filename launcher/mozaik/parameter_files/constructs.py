"""The special constructs of a parameter file as data: ``ref()``, arithmetic on refs, and the calls.

:class:`Ref`, :class:`Expr` and the :class:`Construct` subclasses (one per call mozaik's namespace has) are
frozen dataclasses that check their fields; :func:`_call_value` makes one from a call's arguments as read,
the same for every reader, and :func:`_string_table` reads a ``ParameterTable`` string as ``parameters`` does.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.mozaik.parameter_files.arithmetic import _NUMBER, _operand_index, _parse_template, _spelling
from launcher.mozaik.parameter_files.errors import _quote

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


_NOT_IN_CALL = "not allowed in the arguments of a call (only literals and data constructs)"
#: Calls whose argument is their value (a dict), transparent to what it may hold: ref() and url() too.
_TRANSPARENT_CALLS = ("ParameterSet", "ParameterTable")


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
