"""The errors and warnings of mozaik parameter files, and how messages name what they quote.

Every refusal is a :class:`MozaikFormatError` whose message names the file, the line and what is wrong;
:func:`_bounded` turns Python's own limits (recursion, memory), if met despite the package's, into one.
"""

from __future__ import annotations

import ast
import contextlib
import sys
import traceback
from typing import Iterator

class MozaikFormatError(ValueError):
    """A parameter file or tree that cannot be read, resolved, written or imported; the message says where and why."""


class MozaikFormatWarning(UserWarning):
    """Something a parameter file does that mozaik accepts but that is likely a slip (a key repeated in a dict)."""



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

