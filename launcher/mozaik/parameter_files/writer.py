"""The writer of mozaik's format: a tree as an indented Python-literal dict, constructs as their calls.

What :func:`format_parameters` writes reads back to an equal tree, with this package's reader and with
mozaik's ``eval()``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from launcher.mozaik.parameter_files.constructs import _NONE, Construct, Expr, Ref, _expr_source
from launcher.mozaik.parameter_files.errors import MozaikFormatError, _shorten


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

