"""The reader of mozaik parameter files: a file's text to data, without evaluating anything.

One reader for every file, whatever its size: :class:`_LiteralReader` reads the tokens of the grammar
(:mod:`~launcher.mozaik.parameter_files.grammar`) and makes each value as it reads it, within the limits on
nesting, values, tokens and operators. Where it refuses a file, it names what it found and where;
:mod:`~launcher.mozaik.parameter_files.explain` names the construct from Python's syntax tree of a small file.
"""

from __future__ import annotations

import ast
import bisect
import functools
import keyword
import math
import re
import warnings
from typing import TYPE_CHECKING, Any, Callable

import launcher.mozaik.parameter_files.limits as limits
from launcher.mozaik.parameter_files.arithmetic import _NUMBER, _OPERATORS, _ArithmeticProblem, _compute, _nesting, unparse_arithmetic
from launcher.mozaik.parameter_files.constructs import Expr, Ref, _call_value, _CallProblem, _NOT_IN_CALL, _string_argument, _TRANSPARENT_CALLS
from launcher.mozaik.parameter_files.errors import MozaikFormatError, MozaikFormatWarning, _describe, _quote, _shorten
from launcher.mozaik.parameter_files.legacy import HOW_TO_WRITE, LEGACY_DISTRIBUTIONS
from launcher.mozaik.parameter_files.grammar import (
    _ADDITIVE,
    _BINARY,
    _BLANK_TEXT,
    _CLOSING,
    _CALLS,
    _FLOAT_MARK,
    _INT_ITEM,
    _KEY,
    _LIST_ITEM,
    _MULTIPLICATIVE,
    _NUMBER_LIST,
    _PLAIN_ENTRY,
    _PLAIN_ITEM,
    _POWER,
    _SIMPLE_CALL,
    _TOKEN,
    _UNARY,
    _WORDS,
    _plain_value,
    _string_value,
)

if TYPE_CHECKING:
    from launcher.mozaik.parameter_files.loader import _Loader
#: Why a value cannot be an operand of arithmetic.
_NOT_IN_ARITHMETIC = "not allowed in arithmetic (only numbers, pi, ref(), + - * / ** and parentheses)"


class _GiveUp(Exception):
    """Raised inside the reader at what it does not read: syntax outside its subset, or (``of_value``) a value
    it refuses in syntax it reads (a call's arguments, a key, a limit); :meth:`_LiteralReader.read` reports it
    with the file, line and column."""

    def __init__(self, offset: int, problem: str, of_value: bool = False) -> None:
        super().__init__(problem)
        self.offset = offset
        self.problem = problem
        self.of_value = of_value


class _Operand:
    """Arithmetic being read, as the syntax tree :meth:`_LiteralReader.arithmetic` computes or keeps as an Expr."""

    __slots__ = ("node",)

    def __init__(self, node: ast.expr) -> None:
        self.node = node


#: ``pi`` as read, kept apart from its value: in arithmetic on refs it stays the name ``pi`` (see Expr).
_PI = object()


class _LiteralReader:
    """Reads a mozaik parameter file from its text, without Python's parser: tokens by regular expressions, each
    value made as it is read, runs of plain data (lists of numbers, 'key': value entries) at once. Python's parser
    builds a syntax tree of up to 500 bytes per character first (500 MB for a 1 MB list of zeros); this reader
    holds only the values, and counts them (:data:`MAX_NODES`) and its nesting (:data:`MAX_DEPTH`) as it goes. It
    reads the syntax of parameter files (literals, dicts, lists, tuples, pi, arithmetic, the calls of the package
    docstring) with Python's meaning, and refuses anything else, naming what it found; for a file small enough,
    :class:`~launcher.mozaik.parameter_files.explain._FileReader` names the construct instead. Arithmetic is read
    into Python's syntax tree (small: models write a few dozen operators), which :meth:`arithmetic` computes or
    keeps as an :class:`Expr`."""

    def __init__(self, loader: _Loader, display: str, text: str) -> None:
        self.loader = loader
        self.display = display
        self.text = text
        self.repeated_keys = 0
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
            raise self.refusal(give_up) from None
        return value

    def refusal(self, give_up: _GiveUp) -> MozaikFormatError:
        """The error for what the reader gave up at: what it found there, and where."""
        return self.problem(give_up.offset, give_up.problem)

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
        return node.col_offset + 1  # type: ignore[attr-defined]  # this reader's nodes count characters, from 0

    def problem(self, offset: int, problem: str) -> MozaikFormatError:
        """An error at ``offset``, quoting its line (only)."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        line_end = self.text.find("\n", offset)
        line = self.text[line_start : line_end if line_end >= 0 else len(self.text)]
        return MozaikFormatError(f"{self.where(offset)}: {problem}: {_shorten(line)}")

    def deeper(self, depth: int, offset: int) -> int:
        if depth >= limits.MAX_DEPTH:
            raise self.problem(offset, f"nested more than {limits.MAX_DEPTH} deep (MAX_DEPTH)")
        return depth + 1

    def count(self, values: int, offset: int) -> None:
        self.nodes += values
        if self.nodes > limits.MAX_NODES:
            raise self.problem(offset, f"more than {limits.MAX_NODES:,} values in the file (MAX_NODES)")

    def token(self, pos: int) -> re.Match[str]:
        """The token after ``pos`` (an "end" token at the end of the text)."""
        if pos == self.peek_pos:
            return self.peek_match  # type: ignore[return-value]
        match = _TOKEN.match(self.text, pos)
        self.peek_pos, self.peek_match = pos, match
        self.tokens += 1
        if self.tokens > limits.MAX_TOKENS:
            raise self.problem(pos, f"more than {limits.MAX_TOKENS:,} tokens besides plain values (MAX_TOKENS)")
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

    # --- what is refused, and why

    def at(self, node: ast.AST) -> str:
        return f"{self.display}, line {node.lineno}, column {self.column(node)}"  # type: ignore[attr-defined]

    def error(self, node: ast.AST, problem: str) -> MozaikFormatError:
        return MozaikFormatError(f"{self.at(node)}: {problem}: {_shorten(ast.unparse(node))}")

    def refuse(self, node: ast.AST, why: str = "not allowed in a parameter file") -> MozaikFormatError:
        return self.error(node, f"{_describe(node)} {why}")

    def warn_repeated(self, key: str, where: Callable[[], str]) -> None:
        """Warn of a key repeated in a dict: eval() keeps the last value (at the place of the first key), and
        published models do repeat keys. At most REPEATED_KEY_WARNINGS in one file, and one saying so."""
        self.repeated_keys += 1
        if self.repeated_keys <= limits.REPEATED_KEY_WARNINGS:
            message = f"{where()}: key {_quote(key)} repeated in the same dict: the last value is kept"
            warnings.warn(message, MozaikFormatWarning, stacklevel=2)
        if self.repeated_keys == limits.REPEATED_KEY_WARNINGS:
            message = f"{self.display}: the keys it repeats past these {limits.REPEATED_KEY_WARNINGS} are not named"
            warnings.warn(message, MozaikFormatWarning, stacklevel=2)

    def arithmetic(self, node: ast.expr, in_call: bool) -> int | float | Expr:
        """Arithmetic on numbers, pi and ref()s: a number, computed here, if it holds no ref(); else an
        :class:`Expr`, computed when the refs are resolved (only its parts without ref() are computed here, so
        that their errors are found when the file is read)."""
        if _nesting(node) > limits.MAX_DEPTH:
            raise self.error(node, f"arithmetic nested more than {limits.MAX_DEPTH} deep (MAX_DEPTH)")
        refs: dict[str, Ref] = {}
        template, has_refs = self.template(node, refs, in_call)
        if not has_refs:
            return self.compute(node)
        # (its refs were counted as read: loader.count_reference)
        return Expr(unparse_arithmetic(template), tuple(refs.values()), self.at(node))

    def template(self, node: ast.expr, refs: dict[str, Ref], in_call: bool) -> tuple[ast.expr, bool]:
        """``node`` with each ref() replaced by its operand name (a new path is added to ``refs``), and whether it
        holds a ref(). A part without ref() beside one with is computed, to check it, and kept as written."""
        match node:
            case ast.Call(func=ast.Name(id="ref")):
                if in_call:
                    raise self.refuse(node, _NOT_IN_CALL)
                ref = Ref(node.args[0].value, self.at(node))  # type: ignore[attr-defined]  # see operand()
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
        raise self.refuse(node, _NOT_IN_ARITHMETIC)


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
        too_large = f"an integer of more than {limits.MAX_INT_BITS:,} bits (MAX_INT_BITS)"
        try:
            if token[:2].lower() in ("0x", "0o", "0b"):
                value = int(token, 0)
            else:
                value = float(token) if _FLOAT_MARK.search(token) else int(token)
        except ValueError:  # an int of more digits than Python converts
            raise _GiveUp(start, too_large, of_value=True) from None
        if type(value) is int and value.bit_length() > limits.MAX_INT_BITS:
            raise _GiveUp(start, too_large, of_value=True)
        return value

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
        try:
            return _string_value(token)
        except ValueError:
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
        if name in LEGACY_DISTRIBUTIONS:  # a file too large for Python's parser: no arguments to spell them with
            raise _GiveUp(start, f"{name}() is mozaik 0.1's distribution, which today's mozaik refuses too: write {HOW_TO_WRITE}")
        raise _GiveUp(start, f"name {_quote(name)} not allowed in a parameter file")

    def read_dict(self, pos: int, depth: int, in_call: bool, start: int) -> tuple[dict[str, Any], int, int]:
        tree: dict[str, Any] = {}
        text = self.text
        while True:
            try:
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
            except ValueError:  # a string of escapes Python refuses
                raise _GiveUp(entry.start("escaped"), "not a valid string literal") from None
            if keyed := _KEY.match(text, pos):  # 'key': before a value that is not plain (a dict, a call...)
                key, key_start, pos = keyed.group(1), keyed.start(1) - 1, keyed.end()
            else:
                match = self.token(pos)
                if match.group("op") == "}":
                    pos = match.end()
                    break
                if match.lastgroup != "string":
                    raise self.unexpected(match, "a key (a string)")
                key, key_start, pos = self.string(match)
                colon = self.token(pos)
                if colon.group("op") != ":":
                    raise self.unexpected(colon, "':' after a key")
                pos = colon.end()
            if not key or "." in key:
                raise _GiveUp(key_start, "a key is a non-empty string without '.'", of_value=True)
            value, _, pos = self.expression(self.token(pos), depth, in_call)
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
            if closes := _CLOSING[closing].match(self.text, match.end()):  # (not the next token: a fast path may read it)
                return True, closes.end()
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
            try:
                while item := _PLAIN_ITEM.match(text, pos):  # 'v', at once (see _PLAIN_ITEM)
                    items.append(_plain_value(item))
                    pos = item.end()
                    if item.group("close") == "]":
                        self.count(len(items), start)
                        return items, start, pos
            except ValueError:  # a string of escapes Python refuses
                raise _GiveUp(item.start("escaped"), "not a valid string literal") from None
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
        try:
            if name == "url":
                return self.loader.include(_string_argument(name, args, kwargs), self.where(start), depth)
            if name == "ref" and self.loader.count_reference():
                raise _CallProblem(f"more than {limits.MAX_REFS:,} ref() in the tree (MAX_REFS)")
            return _call_value(name, args, kwargs, self.where(start) if name == "ref" else "")  # (a Ref keeps it)
        except _CallProblem as problem:
            raise _GiveUp(start, str(problem), of_value=True) from None

    # --- arithmetic, read into the syntax tree that arithmetic() takes

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
        if self.operators > limits.MAX_OPERATORS:
            raise _GiveUp(offset, f"more than {limits.MAX_OPERATORS:,} arithmetic operators (MAX_OPERATORS)", of_value=True)

    def node(self, node: ast.expr, offset: int) -> ast.expr:
        node.lineno, column = self.position(offset)
        node.col_offset = column - 1
        return node
