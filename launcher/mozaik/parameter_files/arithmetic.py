"""Arithmetic of parameter files on Python's syntax tree: ``+ - * / **``, unary ``+ -``, parentheses, pi.

Nothing is evaluated by Python but these operators on numbers. The reader computes arithmetic on numbers
when it reads it; arithmetic on ``ref()``s is kept as a template (see :class:`Expr`) and computed here by
:func:`evaluate_template` when the refs are resolved, by the resolver or by OmegaConf.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
import sys
from typing import Any, Callable, Sequence

import launcher.mozaik.parameter_files.limits as limits
from launcher.mozaik.parameter_files.errors import _describe, _shorten

_NUMBER = (int, float)

# --------------------------------------------------------------------------- arithmetic, on the syntax tree

#: The operators of a parameter file's arithmetic (those mozaik's ParameterReference defines, and unary +/-).
_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_OPERAND_NAME = re.compile(r"_(0|[1-9][0-9]*)")


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
    """``op(left, right)``, refusing results that are too large to compute or are not real numbers: an int of more
    than :data:`MAX_INT_BITS` is refused before it is computed (``9**9**9``, products of products)."""
    if type(left) is int and type(right) is int:
        bits = left.bit_length(), right.bit_length()
        if op is operator.pow and abs(left) > 1 and right > 0:
            bits = (right * bits[0], 0)
        elif op is operator.mul:
            bits = (bits[0] + bits[1], 0)
        if max(bits) > limits.MAX_INT_BITS:
            raise _ArithmeticProblem(node, f"result too large: an integer of more than {limits.MAX_INT_BITS:,} bits (MAX_INT_BITS)")
    try:
        result = op(left, right)
    except (ZeroDivisionError, OverflowError) as exc:
        raise _ArithmeticProblem(node, f"arithmetic error ({exc})") from None
    if type(result) not in _NUMBER:  # a negative number to a fractional power is complex
        raise _ArithmeticProblem(node, "result is not a real number")
    if type(result) is int and result.bit_length() > limits.MAX_INT_BITS:  # a sum one bit past the limit
        raise _ArithmeticProblem(node, f"result too large: an integer of more than {limits.MAX_INT_BITS:,} bits (MAX_INT_BITS)")
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



# ast.unparse's precedences (those of Python's grammar, ast._Precedence) of the operators of arithmetic,
# below them the precedence of a whole expression (TEST): a part is put in parentheses where its
# operator binds less than its place asks.
_TEST, _ARITH, _TERM, _FACTOR, _POWER = range(5)
_SPELLED = {ast.Add: ("+", _ARITH), ast.Sub: ("-", _ARITH), ast.Mult: ("*", _TERM), ast.Div: ("/", _TERM), ast.Pow: ("**", _POWER)}
_SIGNS = {ast.USub: "-", ast.UAdd: "+"}
#: How ast.unparse writes an infinite float: a literal that overflows to it.
_INFINITY = "1e" + repr(sys.float_info.max_10_exp + 1)


class _NotArithmetic(Exception):
    """A node that :func:`unparse_arithmetic` leaves to ast.unparse."""


def unparse_arithmetic(node: ast.expr) -> str:
    """``ast.unparse(node)``, the same text, for arithmetic (``+ - * / **``, unary ``+ -``, names and
    numbers), some ten times faster: a model's every arithmetic on refs is spelled so (its template).
    Any other node is left to ast.unparse whole. ``test_mozaik_limits.py`` compares the two."""
    try:
        return _unparse(node, _TEST)
    except _NotArithmetic:
        return ast.unparse(node)


def _unparse(node: ast.expr, place: int) -> str:
    kind = type(node)
    if kind is ast.BinOp and type(node.op) in _SPELLED:  # type: ignore[attr-defined]
        spelled, own = _SPELLED[type(node.op)]  # type: ignore[attr-defined]
        left, right = (own + 1, own) if own == _POWER else (own, own + 1)  # ** groups to the right
        text = f"{_unparse(node.left, left)} {spelled} {_unparse(node.right, right)}"  # type: ignore[attr-defined]
    elif kind is ast.UnaryOp and type(node.op) in _SIGNS:  # type: ignore[attr-defined]
        own = _FACTOR
        text = _SIGNS[type(node.op)] + _unparse(node.operand, _FACTOR)  # type: ignore[attr-defined]
    elif kind is ast.Name:
        return node.id  # type: ignore[attr-defined]
    elif kind is ast.Constant and type(node.value) in _NUMBER and getattr(node, "kind", None) is None:  # type: ignore[attr-defined]
        value = node.value  # type: ignore[attr-defined]
        if type(value) is float:
            return repr(value).replace("inf", _INFINITY).replace("nan", f"({_INFINITY}-{_INFINITY})")
        return repr(value)
    else:
        raise _NotArithmetic
    return f"({text})" if place > own else text


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

