"""mozaik 0.1's distributions (``UniformDist``, ``NormalDist``, ``GammaDist``) and today's spelling of each.

mozaik 0.1 evaluated its parameter files with the distributions of NeuralEnsemble's ``parameters``
(``parameters.random``: ``UniformDist(min=0.0, max=1.0)``, ``NormalDist(mean=0.0, std=1.0)``,
``GammaDist(mean, std)`` or ``GammaDist(a=1.0, b=1.0)``, of shape ``a`` and scale ``b``, with
``a = mean**2 / std**2`` and ``b = mean / a``). Today's mozaik refuses them, and so does the reader; it names
today's ``PyNNDistribution`` with PyNN's names for the same distribution (``uniform``: low, high; ``normal``:
mu, sigma; ``gamma``: k, theta), built from the call's own arguments: :func:`todays_spelling`.
:func:`modernise` rewrites a file's text so (``python -m launcher import-mozaik --modernise``), listing each
change.
"""

from __future__ import annotations

import ast
from typing import Any, NamedTuple

import launcher.mozaik.parameter_files.limits as limits
from launcher.mozaik.parameter_files.errors import MozaikFormatError
from launcher.mozaik.parameter_files.grammar import _parse

#: Each legacy distribution: its parameters in ``parameters``' order with their defaults.
LEGACY_DISTRIBUTIONS: dict[str, tuple[tuple[str, Any], ...]] = {
    "UniformDist": (("min", 0.0), ("max", 1.0)),
    "NormalDist": (("mean", 0.0), ("std", 1.0)),
    "GammaDist": (("mean", None), ("std", None), ("repr_mode", "ms")),
}
#: What to write when a call cannot be rewritten (arguments without an equivalent, or not numbers).
HOW_TO_WRITE = (
    "PyNNDistribution(name=..., ...) with PyNN's names: 'uniform' (low, high), 'normal' (mu, sigma), 'gamma' (k, theta)"
)


class Change(NamedTuple):
    """One call rewritten by :func:`modernise`: where, what stood there, what stands there now."""

    where: str
    old: str
    new: str


def todays_spelling(call: ast.Call) -> str | None:
    """Today's ``PyNNDistribution(...)`` for a call of a legacy distribution, in the file's own arguments (as
    written); None if the call has arguments without an equivalent (``return_type``) or is no legacy call."""
    if not isinstance(call.func, ast.Name) or call.func.id not in LEGACY_DISTRIBUTIONS:
        return None
    name = call.func.id
    arguments = _bind(call, LEGACY_DISTRIBUTIONS[name], extra=("a", "b", "m", "s") if name == "GammaDist" else ())
    if arguments is None:
        return None
    if name == "UniformDist":
        return _spelling("uniform", low=arguments.get("min", "0.0"), high=arguments.get("max", "1.0"))
    if name == "NormalDist":
        return _spelling("normal", mu=arguments.get("mean", "0.0"), sigma=arguments.get("std", "1.0"))
    arguments.pop("repr_mode", None)  # how parameters printed it
    mean, std = arguments.get("mean", arguments.get("m")), arguments.get("std", arguments.get("s"))
    if mean is None and std is None:
        return _spelling("gamma", k=arguments.get("a", "1.0"), theta=arguments.get("b", "1.0"))
    try:  # parameters' own conversion: a = mean**2 / std**2, b = mean / a
        mean_value = float(ast.literal_eval(mean)) if mean is not None else 0.0
        std_value = float(ast.literal_eval(std)) if std is not None else 1.0
        shape = mean_value**2 / std_value**2
        return _spelling("gamma", k=repr(shape), theta=repr(mean_value / shape))
    except (ValueError, TypeError, SyntaxError, ZeroDivisionError):
        return None


def _bind(call: ast.Call, parameters: tuple[tuple[str, Any], ...], extra: tuple[str, ...]) -> dict[str, str] | None:
    """The call's arguments by parameter name, each as its source text; None if they do not fit."""
    names = [name for name, _ in parameters]
    if len(call.args) > len(names) or any(isinstance(arg, ast.Starred) for arg in call.args):
        return None
    bound = {name: ast.unparse(arg) for name, arg in zip(names, call.args)}
    for keyword in call.keywords:
        if keyword.arg is None or keyword.arg in bound or keyword.arg not in (*names, *extra):
            return None
        bound[keyword.arg] = ast.unparse(keyword.value)
    return bound


def _spelling(name: str, **params: str) -> str:
    return f"PyNNDistribution(name={name!r}, " + ", ".join(f"{key}={value}" for key, value in params.items()) + ")"


def refusal(call: ast.Call) -> str:
    """Why a legacy call is refused, and what to write instead."""
    name = call.func.id  # type: ignore[attr-defined]
    today = todays_spelling(call)
    instead = f"write {today}" if today else f"write {HOW_TO_WRITE}"
    return (
        f"{name}() is mozaik 0.1's distribution, which today's mozaik refuses too: {instead} "
        "(python -m launcher import-mozaik --modernise rewrites them)"
    )


def modernise(text: str, display: str) -> tuple[str, list[Change]]:
    """``text`` with each call of a legacy distribution replaced by today's spelling, and the changes made.
    A call that cannot be rewritten is left (the reader then refuses it, saying what to write)."""
    if not any(name in text for name in LEGACY_DISTRIBUTIONS):
        return text, []
    if len(text) > limits.AST_MAX_CHARS:
        raise MozaikFormatError(
            f"{display}: {len(text):,} characters, more than --modernise rewrites ({limits.AST_MAX_CHARS:,}, AST_MAX_CHARS): "
            f"write its legacy distributions as {HOW_TO_WRITE}"
        )
    body, shift = _parse(text, display)
    lines = text[shift:].splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line.encode("utf-8")))
    data = text[shift:].encode("utf-8")
    edits = []
    for node in ast.walk(body):
        if isinstance(node, ast.Call) and (today := todays_spelling(node)) is not None:
            begin = starts[node.lineno - 1] + node.col_offset  # ast counts UTF-8 bytes
            end = starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[operator]
            if any(outer[0] <= begin < outer[1] for outer in edits):  # inside a call rewritten (walked first)
                continue
            column = len(data[starts[node.lineno - 1] : begin].decode("utf-8")) + 1 + (shift if node.lineno == 1 else 0)
            edits.append((begin, end, today, Change(f"{display}, line {node.lineno}, column {column}", data[begin:end].decode("utf-8"), today)))
    for begin, end, today, _ in sorted(edits, reverse=True):
        data = data[:begin] + today.encode("utf-8") + data[end:]
    return text[:shift] + data.decode("utf-8"), [edit[3] for edit in sorted(edits)]
