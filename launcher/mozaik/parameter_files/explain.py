"""Naming what the reader refuses in a small file, from Python's syntax tree of it.

The reader (:class:`_LiteralReader`) reads every file; where it gives up, it knows what it found (a name, a
token) but not the construct around it. A file of at most :data:`AST_MAX_CHARS` has been parsed by Python's
parser (in C) to check its syntax, so :class:`_FileReader` looks up in that tree the first construct outside
the grammar and names it: ``call of os.getcwd()``, ``comprehension``, ``attribute access``... Only the rules of
what may stand where are checked here; the values (a call's arguments, arithmetic, keys) are the reader's.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

import launcher.mozaik.parameter_files.limits as limits
from launcher.mozaik.parameter_files.arithmetic import _NUMBER, _OPERATORS, _nesting
from launcher.mozaik.parameter_files.constructs import _NOT_IN_CALL, _TRANSPARENT_CALLS, CONSTRUCTS
from launcher.mozaik.parameter_files.errors import MozaikFormatError, _describe, _shorten
from launcher.mozaik.parameter_files.grammar import _expression_start
from launcher.mozaik.parameter_files.legacy import LEGACY_DISTRIBUTIONS
from launcher.mozaik.parameter_files.legacy import refusal as legacy_refusal
from launcher.mozaik.parameter_files.reader import _NOT_IN_ARITHMETIC, _GiveUp, _LiteralReader
from launcher.mozaik.parameter_files.trees import _IMMUTABLE

if TYPE_CHECKING:
    from launcher.mozaik.parameter_files.loader import _Loader

#: A construct refused, and why: the node and the problem its message states.
_Refused = tuple[ast.AST, str]


class _FileReader(_LiteralReader):
    """The reader of a file whose syntax tree ``body`` Python's parser made: the same reading, with each refusal
    of the reader named as the construct it falls in. ``source`` is the text parsed, ``first_line_shift`` the
    number of spaces and tabs cut from its start (as eval() skips them) to parse it."""

    def __init__(self, loader: _Loader, display: str, first_line_shift: int = 0, source: str = "") -> None:
        super().__init__(loader, display, " " * first_line_shift + source)
        self.first_line_shift = first_line_shift
        #: The lines parsed, to count columns in characters where ast counts UTF-8 bytes.
        self.source_lines = None if source.isascii() else source.split("\n")
        self.body: ast.expr | None = None

    def value(self, body: ast.expr, depth: int = 0) -> Any:
        """The data of the file, whose tree is ``body``, standing at ``depth`` of the whole tree."""
        self.body = body
        return self.read(_expression_start(self.text, self.display), depth)

    def refusal(self, give_up: _GiveUp) -> MozaikFormatError:
        gave_up_at = self.position(give_up.offset)
        refused = self.first_refused(self.body, False, 0) if self.body is not None else None
        # A construct outside the grammar is named unless the reader refused a value before it (``**`` is given
        # up at, where Python's tree places dict or keyword unpacking at the value after it).
        if refused is not None and not (give_up.of_value and gave_up_at < self.place(refused[0])):
            node, problem = refused
        else:  # a value the grammar allows but the reader refuses: the call or the key it stands in
            node, problem = self.node_at(gave_up_at), give_up.problem
            if node is None:
                return super().refusal(give_up)
        return MozaikFormatError(f"{self.display}, line {node.lineno}, column {self.place(node)[1]}: {problem}: "  # type: ignore[attr-defined]
                                 f"{_shorten(ast.unparse(node))}")

    def place(self, node: ast.AST) -> tuple[int, int]:
        """The line and column of a node of Python's tree, from 1 and in characters, as editors count."""
        line, column = node.lineno, node.col_offset  # type: ignore[attr-defined]
        if self.source_lines is not None:
            column = len(self.source_lines[line - 1].encode("utf-8")[:column].decode("utf-8", "ignore"))
        return line, column + 1 + (self.first_line_shift if line == 1 else 0)

    def node_at(self, place: tuple[int, int]) -> ast.AST | None:
        """The innermost call or constant that starts at ``place``."""
        found = None
        for node in ast.walk(self.body) if self.body is not None else ():
            if isinstance(node, (ast.Call, ast.Constant)) and self.place(node) == place:
                found = node  # ast.walk goes down level by level: the last one found is the innermost
        return found

    # --- the rules of what may stand where, in the reader's order

    def first_refused(self, node: ast.expr, in_call: bool, depth: int) -> _Refused | None:
        """The first construct of ``node`` outside the grammar; ``in_call``: inside a call's arguments, where
        only literals and data constructs may stand."""
        if type(node) is ast.Constant and type(node.value) in _IMMUTABLE:
            return None
        if depth >= limits.MAX_DEPTH:
            return node, f"nested more than {limits.MAX_DEPTH} deep (MAX_DEPTH)"
        match node:
            case ast.Dict():
                return self.first_in_dict(node, in_call, depth + 1)
            case ast.List(elts=items) | ast.Tuple(elts=items):
                return self.first_of(items, in_call, depth + 1)
            case ast.Name(id="pi") | ast.UnaryOp() | ast.BinOp():
                if depth + _nesting(node) > limits.MAX_DEPTH:
                    return node, f"arithmetic nested more than {limits.MAX_DEPTH} deep (MAX_DEPTH)"
                return self.first_in_arithmetic(node, in_call, depth + 1)
            case ast.Call(func=ast.Name(id=name)) if name in LEGACY_DISTRIBUTIONS:
                return node, legacy_refusal(node)
            case ast.Call(func=ast.Name(id=name)) if name in CONSTRUCTS or name in _TRANSPARENT_CALLS:
                return self.first_in_call(node, name, in_call, depth + 1)
            case ast.Call(func=ast.Name(id="url" | "ref" as name)) if not in_call:
                return self.first_in_call(node, name, in_call, depth + 1)
            case ast.Call() if in_call:
                return node, f"{_describe(node)} {_NOT_IN_CALL}"
        return node, f"{_describe(node)} not allowed in a parameter file"

    def first_of(self, nodes: list[ast.expr], in_call: bool, depth: int) -> _Refused | None:
        return next(filter(None, (self.first_refused(node, in_call, depth) for node in nodes)), None)

    def first_in_dict(self, node: ast.Dict, in_call: bool, depth: int) -> _Refused | None:
        for key, value in zip(node.keys, node.values):
            if key is None:  # {**other}
                return value, "dict unpacking not allowed in a parameter file"
            if not (isinstance(key, ast.Constant) and type(key.value) is str):
                return key, f"{_describe(key)} not allowed as a key (keys are strings)"
            if refused := self.first_refused(value, in_call, depth):
                return refused
        return None

    def first_in_call(self, node: ast.Call, name: str, in_call: bool, depth: int) -> _Refused | None:
        for keyword_node in node.keywords:
            if keyword_node.arg is None:
                return keyword_node.value, f"keyword unpacking not allowed in {name}()"
        inner = in_call if name in _TRANSPARENT_CALLS else True
        return self.first_of([*node.args, *(kw.value for kw in node.keywords)], inner, depth)

    def first_in_arithmetic(self, node: ast.expr, in_call: bool, depth: int) -> _Refused | None:
        match node:
            case ast.Call(func=ast.Name(id="ref")):
                return (node, f"{_describe(node)} {_NOT_IN_CALL}") if in_call else self.first_in_call(node, "ref", in_call, depth)
            case ast.UnaryOp(op=ast.USub() | ast.UAdd(), operand=operand):
                return self.first_in_arithmetic(operand, in_call, depth)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _OPERATORS:
                return self.first_in_arithmetic(left, in_call, depth) or self.first_in_arithmetic(right, in_call, depth)
            case ast.Constant(value=value) if type(value) in _NUMBER:
                return None
            case ast.Name(id="pi"):
                return None
        return node, f"{_describe(node)} {_NOT_IN_ARITHMETIC}"
