"""Resolving ``ref()``: each reference replaced by a copy of the value it names, arithmetic on refs computed.

Chains of references are followed, each path resolved once; cycles, missing paths, operands that are not
numbers and resolutions past :data:`MAX_NODES`, :data:`MAX_DEPTH` or :data:`MAX_REF_CHAIN` are refused.
"""

from __future__ import annotations

from typing import Any

import launcher.mozaik.parameter_files.limits as limits
from launcher.mozaik.parameter_files.arithmetic import evaluate_template
from launcher.mozaik.parameter_files.constructs import Expr, Ref, _expr_source
from launcher.mozaik.parameter_files.errors import MozaikFormatError, _bounded, _quote, _shorten
from launcher.mozaik.parameter_files.trees import _Copier

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
        if len(chain) >= limits.MAX_REF_CHAIN:
            raise MozaikFormatError(
                f"{ref.where or 'ref'}: ref({_quote(ref.path)}): more than {limits.MAX_REF_CHAIN} references followed one "
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
