"""Walking and copying parameter trees, within the package's limits on their size and depth.

A copy never shares a dict, list or tuple with its source; :class:`_Copier` counts what it makes and refuses
a tree past :data:`MAX_NODES` or :data:`MAX_DEPTH`, as includes and references can repeat subtrees without
end. :func:`_inline` replaces each ``url()`` by a copy of the included file's tree.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import fields
from typing import Any, Callable, Iterable

import launcher.mozaik.parameter_files.limits as limits
from launcher.mozaik.parameter_files.constructs import Construct, Expr, Ref, _Include
from launcher.mozaik.parameter_files.errors import MozaikFormatError, _bounded

# --------------------------------------------------------------------------- walking trees


def _map_leaves(value: Any, leaf: Callable[[Any], Any], *, tuples: type = tuple) -> Any:
    """A copy of a tree with every non-container replaced by ``leaf(value)``; tuples become ``tuples``."""
    if isinstance(value, dict):
        return {key: _map_leaves(item, leaf, tuples=tuples) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_map_leaves(item, leaf, tuples=tuples) for item in value]
        return items if isinstance(value, list) else tuples(items)
    return leaf(value)


#: The leaves that copies of a tree share: they cannot change.
_IMMUTABLE = frozenset([str, int, float, bool, type(None)])


def _all_immutable(values: Iterable[Any]) -> bool:
    # map() and issuperset() run in C: a list of 100 numbers is checked without a Python call per number.
    return _IMMUTABLE.issuperset(map(type, values))


@functools.cache
def _field_names(construct: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(construct))


class _Copier:
    """Copies a tree: each dict, list and tuple anew (two places of a tree never share a mutable object), the
    immutable leaves shared. It counts the values it makes and the depth it reaches, and refuses a tree past
    :data:`MAX_NODES` or :data:`MAX_DEPTH` before copying any further: what repeats subtrees (includes,
    references) could make any size of tree from a small file. Subclasses replace some leaves (``leaf``)."""

    def __init__(self, what: str) -> None:
        self.what = what  # what makes the tree, for messages: "url() includes", "references"
        self.nodes = 1  # the root

    def copy(self, value: Any, depth: int, where: str, chain: tuple[str, ...] = ()) -> Any:
        """A copy of ``value``, which stands at ``depth`` of the tree being made (``where`` says where for
        messages; ``chain`` is the resolver's, see :class:`_Resolver`)."""
        if not isinstance(value, (dict, list, tuple)):
            return self.leaf(value, depth, where, chain)
        self.enter(len(value), depth, where)
        items = value.values() if isinstance(value, dict) else value
        if len(value) > 16 and _all_immutable(items):  # a long list of numbers: copied in C
            copied = value.copy() if isinstance(value, (dict, list)) else value
        elif isinstance(value, dict):
            copied = {k: v if type(v) in _IMMUTABLE else self.copy(v, depth + 1, where, chain) for k, v in value.items()}
        else:
            copied = [item if type(item) in _IMMUTABLE else self.copy(item, depth + 1, where, chain) for item in value]
        return tuple(copied) if isinstance(value, tuple) else copied

    def enter(self, items: int, depth: int, where: str) -> None:
        """Count the ``items`` of a container at ``depth``, refusing it past a limit."""
        self.nodes += items
        if depth >= limits.MAX_DEPTH:
            raise MozaikFormatError(f"{where}: {self.what} nest the tree more than {limits.MAX_DEPTH} deep (MAX_DEPTH)")
        if self.nodes > limits.MAX_NODES:
            raise MozaikFormatError(f"{where}: {self.what} make the tree more than {limits.MAX_NODES:,} values (MAX_NODES)")

    def leaf(self, value: Any, depth: int, where: str, chain: tuple[str, ...]) -> Any:
        if type(value) in _IMMUTABLE or isinstance(value, (Ref, Expr)):  # frozen, and their fields too
            return value
        if isinstance(value, Construct):  # frozen, but PyNNDistribution's params is a dict, ParameterRange's a list
            arguments = {name: getattr(value, name) for name in _field_names(type(value))}
            self.enter(len(arguments), depth, where)
            if _all_immutable(arguments.values()):
                return value
            return type(value)(**{name: self.copy(item, depth + 1, where, chain) for name, item in arguments.items()})
        return copy.deepcopy(value)  # anything else a caller put in a tree: never shared


class _Inliner(_Copier):
    """Copies a tree read with its includes, each url() replaced by a copy of the included file's tree."""

    def leaf(self, value: Any, depth: int, where: str, chain: tuple[str, ...]) -> Any:
        if isinstance(value, _Include):
            return self.copy(value.tree, depth, str(value.source), chain)
        return super().leaf(value, depth, where, chain)


def _inline(value: Any, where: str = "the parameter tree") -> Any:
    """The tree with every url() replaced by the included tree, as mozaik has it (a file included at two places
    is read once, and copied to each). Refused past :data:`MAX_NODES` or :data:`MAX_DEPTH`."""
    with _bounded(where):
        return _Inliner("url() includes").copy(value, 0, where)

