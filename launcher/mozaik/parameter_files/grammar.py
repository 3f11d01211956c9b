"""The grammar of mozaik parameter files, as regular expressions, and the text around a file's expression.

The tokens are the Python-literal subset of parameter files as Python reads them; fast paths read runs of
plain data (numbers, strings, True/False/None) in one match. :func:`_decode` and :func:`_expression_start`
check a file's text before it is read; :func:`_parse` gives Python's syntax tree of a small file, which
the reader uses to name what it refuses.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from launcher.mozaik.parameter_files.constructs import CONSTRUCTS, _TRANSPARENT_CALLS
from launcher.mozaik.parameter_files.errors import MozaikFormatError, _shorten

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
#: A container's closing bracket, after blanks (and the ',' before them).
_CLOSING = {bracket: re.compile(_BLANKS + re.escape(bracket)) for bracket in "}])"}
#: ref('path') and url('path') with a plain string: read at once, as most calls of a parameter file are.
_SIMPLE_CALL = re.compile(r"""(ref|url)[ \t]*\([ \t]*(?:'([^'\\\n]*)'|"([^"\\\n]*)")[ \t]*\)""")
#: A list of plain decimal numbers, read at once: the bulk of a large parameter file.
#: An int of up to 19 digits (64 bits): a longer one is read alone, its bits checked (MAX_INT_BITS).
_PLAIN_NUMBER = r"-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|0+|[1-9]\d{0,18})"
_NUMBER_LIST = re.compile(rf"\[[ \t\n]*(?:{_PLAIN_NUMBER}[ \t\n]*,[ \t\n]*)*+(?:{_PLAIN_NUMBER}[ \t\n]*)?\]")
_LIST_ITEM = re.compile(r"[^\s,]+")
_FLOAT_MARK = re.compile(r"[.eE]")
_INT_ITEM = re.compile(r"(?<![\w.+-])-?\d+(?![\w.])")
#: How a parameter file starts: blank or comment lines, then its dict (or ParameterSet/ParameterTable of it).
_FILE_START = re.compile(r"(?:[ \t\f]*(?:#[^\n]*)?\n)*+[ \t\f]*(?=\{|(?:ParameterSet|ParameterTable)[ \t]*\()")
#: A value of a container that is a plain literal, followed by ',' or the container's closing bracket (captured
#: as ``close``): one match in place of three tokens. Strings on one line (without prefix or backslash: taken
#: as they are; else decoded as Python decodes them), decimal numbers, True/False/None and the empty () (ints
#: of up to 19 digits); anything else (a string followed by a string too) is read token by token.
_PLAIN_LITERAL = (
    r"""(?:'(?P<single>[^'\\\n]*+)'|"(?P<double>[^"\\\n]*+)"|(?P<int>-?(?:0|[1-9]\d{0,18}+))"""
    r"""|(?P<float>-?(?:\d++\.\d*+(?:[eE][-+]?\d++)?|\.\d++(?:[eE][-+]?\d++)?|\d++[eE][-+]?\d++))"""
    r"""|(?P<word>True|False|None|\(\))"""
    r"""|(?P<escaped>[rRuU]?(?:'[^'\\\n]*+(?:\\[\s\S][^'\\\n]*+)*+'|"[^"\\\n]*+(?:\\[\s\S][^"\\\n]*+)*+")))"""
    r"""[ \t\n]*+(?:,|(?P<close>CLOSE))"""
)
_PLAIN_ITEM = re.compile(r"[ \t\n]*+" + _PLAIN_LITERAL.replace("CLOSE", r"\]"))
_PLAIN_ENTRY = re.compile(r"""[ \t\n]*+'([^'\\\n]*+)'[ \t]*+:[ \t\n]*+""" + _PLAIN_LITERAL.replace("CLOSE", "}"))
_PLAIN_WORDS = {"True": True, "False": False, "None": None, "()": ()}
#: A key of a dict without escapes and its ':', read at once before a value that is not plain; a key
#: followed by another string (which Python joins to it) is read token by token.
_KEY = re.compile(rf"{_BLANKS}'([^'\\\n]*+)'{_BLANKS}:")


def _plain_value(match: re.Match[str]) -> Any:
    """The value of a match of _PLAIN_LITERAL; ValueError for a string of escapes Python refuses."""
    kind = match.lastgroup if match.lastgroup != "close" else _plain_kind(match)
    if kind == "int":
        return int(match.group("int"))
    if kind == "float":
        return float(match.group("float"))
    if kind == "word":
        return _PLAIN_WORDS[match.group("word")]
    if kind == "escaped":
        return _string_value(match.group("escaped"))
    return match.group(kind)


def _plain_kind(match: re.Match[str]) -> str:
    # lastgroup is "close" when the closing bracket matched: the value's group is the one that matched.
    return next(kind for kind in ("single", "double", "int", "float", "word", "escaped") if match.group(kind) is not None)


def _string_value(token: str) -> str:
    """The value of a string literal (prefix r, u or none), its escapes decoded as Python decodes them;
    ValueError if Python refuses them."""
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
        raise ValueError("not a valid string literal") from None


_UNARY = {"-": ast.USub, "+": ast.UAdd}
_BINARY = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "**": ast.Pow}
_WORDS = {"True": True, "False": False, "None": None}
_CALLS = frozenset(["url", "ref", *_TRANSPARENT_CALLS, *CONSTRUCTS])


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
