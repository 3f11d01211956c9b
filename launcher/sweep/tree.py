"""The parameter tree of any model: key checks with suggestions, range validation.

Everything here works on plain OmegaConf objects and on the schema a caller passes (a model's
dataclass, e.g. the embedded model's :class:`launcher.model.config.RootConfig`, which its entry
points pass); nothing here knows a model or imports a simulator, so validation runs in seconds,
before any job or directory exists. The tree's hash is :mod:`launcher.run.tree_hash`'s.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from typing import Any, Callable, Iterable, Iterator, Mapping

from hydra.errors import CompactHydraException
import omegaconf.base
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from launcher.run.tree_hash import NOT_THE_MODELS, resolved_tree, tree_hash


def _cache_interpolation_parsing() -> None:
    """Make OmegaConf parse each interpolation string once per process, not at every access.

    Resolving a tree parses every ``${...}`` it holds with ANTLR, again at every
    resolution: most of the cost of validating and hashing each job of a sweep,
    though a sweep's jobs share the same few interpolation strings. Parse trees
    are only read by OmegaConf's visitor, and each token keeps its own input, so
    a parse tree can serve every later resolution of the same string.
    """
    if getattr(omegaconf.base.parse, "cache_info", None) is None:
        omegaconf.base.parse = functools.lru_cache(maxsize=4096)(omegaconf.base.parse)


_cache_interpolation_parsing()


class ParameterError(CompactHydraException):
    """A parameter tree or override that cannot run; the message says why and how to fix it."""


def schema_keys(schema: type, prefix: str = "") -> Iterator[str]:
    """Every dotted key of the schema, inner nodes included (``sheets``, ``sheets.V1``, ...)."""
    for f in dataclasses.fields(schema):
        key = f"{prefix}{f.name}"
        yield key
        nested = _nested_dataclass(f)
        if nested is not None:
            yield from schema_keys(nested, key + ".")


@functools.lru_cache(maxsize=None)
def schema_units(schema: type) -> dict[str, str]:
    """The unit of every leaf of the schema (its field's ``unit`` metadata, "" for none), by dotted key."""
    units: dict[str, str] = {}
    for f in dataclasses.fields(schema):
        nested = _nested_dataclass(f)
        if nested is not None:
            units.update({f"{f.name}.{key}": unit for key, unit in schema_units(nested).items()})
        else:
            units[f.name] = str(f.metadata.get("unit") or "")
    return units


def _nested_dataclass(f: dataclasses.Field) -> type | None:
    # Nested nodes are the fields built by a dataclass default_factory (field types
    # are strings under `from __future__ import annotations`).
    if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory):
        return f.default_factory  # type: ignore[return-value]
    return None


def suggest(key: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known keys closest to a misspelled one, best first.

    Each known key is compared whole and by as many of its last components as the
    misspelled key has, so that a key written without its parents still finds its
    full path (``desnity`` -> ``sheets.V1.density``, ``cell.tau_mm`` ->
    ``sheets.V1.cell.tau_m``). Of equally close keys the shorter comes first: a
    value shared by interpolation sits above the keys that refer to it. If nothing
    is close, a wrong leaf under a right parent gets the parent's children. The
    key's own parents, which exist, are never suggested.
    """
    known = [k for k in dict.fromkeys(known) if not key.startswith(k + ".")]
    close = _closest(key, known, n, cutoff=0.6)
    if not close:
        parent = key.rpartition(".")[0]
        siblings = [k for k in known if k.rpartition(".")[0] == parent]
        close = _closest(key, siblings, n, cutoff=0.3) or siblings[:n]
    return close


def _closest(key: str, candidates: Iterable[str], n: int, cutoff: float) -> list[str]:
    """The ``n`` candidates most similar to ``key`` (whole or by their tail), at least ``cutoff``."""
    depth = key.count(".") + 1
    matcher = difflib.SequenceMatcher(b=key)  # SequenceMatcher caches what it learns of b
    scored = []
    for candidate in candidates:
        tail = ".".join(candidate.split(".")[-depth:])
        score = max(_similarity(matcher, form, cutoff) for form in {candidate, tail})
        if score >= cutoff:
            scored.append((-score, len(candidate), candidate))
    return [candidate for _, _, candidate in sorted(scored)[:n]]


def _similarity(matcher: difflib.SequenceMatcher, text: str, cutoff: float) -> float:
    """difflib's ratio of ``text`` to the matcher's key; 0 when a cheap upper bound is below ``cutoff``
    (the same shortcut as :func:`difflib.get_close_matches`: a tree has hundreds of keys)."""
    matcher.set_seq1(text)
    if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
        return 0.0
    return matcher.ratio()


def unknown_key_message(key: str, override_line: str, known: Iterable[str]) -> str:
    """The line that refuses an override of a key the tree does not have, with the nearest known keys."""
    hint = suggest(key, known)
    return f"Unknown parameter '{key}' (in override '{override_line}')." + (f" Did you mean: {', '.join(hint)}?" if hint else "")


@functools.lru_cache(maxsize=None)
def known_schema_keys(schema: type) -> dict[str, None]:
    """A schema's dotted keys, in the schema's order (suggestions list them in a stable order)."""
    return dict.fromkeys(schema_keys(schema))


@dataclasses.dataclass(frozen=True)
class _Bounds:
    """The allowed range of a leaf, from its field's metadata (see :func:`launcher.model.config.param`):
    ``gt``, ``ge``, ``le`` and ``finite`` (no infinity), its ``unit`` for the message. NaN is
    never in a range."""

    gt: Any
    ge: Any
    le: Any
    finite: bool
    allowed: str  # e.g. "allowed: > 0 and finite (ms)"

    @classmethod
    def of(cls, meta: dataclasses.Field) -> "_Bounds | None":
        m = meta.metadata
        gt, ge, le, finite = m.get("gt"), m.get("ge"), m.get("le"), bool(m.get("finite"))
        bounds = [f"{op} {bound:g}" for op, bound in ((">", gt), (">=", ge), ("<=", le)) if bound is not None]
        if not bounds and not finite:
            return None
        unit = f" ({m['unit']})" if m.get("unit") else ""
        return cls(gt, ge, le, finite, f"allowed: {' and '.join(bounds + (['finite'] if finite else []))}{unit}")

    def problem(self, value: Any) -> str | None:
        if not _is_number(value):
            return None  # a missing or non-numeric value is OmegaConf's to refuse
        ok = math.isfinite(value) if self.finite else not math.isnan(value)
        ok = ok and (self.gt is None or value > self.gt)
        ok = ok and (self.ge is None or value >= self.ge)
        ok = ok and (self.le is None or value <= self.le)
        return None if ok else self.allowed


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _reference(raw_value: Any) -> str | None:
    """The key a raw value refers to when it is a single plain interpolation (``${a.b}``)."""
    if isinstance(raw_value, str) and raw_value.startswith("${") and raw_value.endswith("}") and raw_value.count("${") == 1:
        return raw_value[2:-1]
    return None


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested tree as one dict of dotted keys to leaves, in the tree's order."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@dataclasses.dataclass(frozen=True)
class TreeSchema:
    """What a composed tree declares about its values, for any model: the allowed range of
    each leaf of a typed node (a dataclass field's ``ge``/``gt``/``le`` metadata) and the rules
    between keys of each typed node (its dataclass's ``__post_init__``, raising ValueError with
    one line per broken rule). An untyped tree (plain YAML) declares nothing."""

    #: (dotted key, allowed range) of every bounded leaf, in the tree's order.
    bounds: tuple[tuple[str, _Bounds], ...] = ()
    #: (dotted key of the node, "" for the root; its dataclass) of each outermost typed node with rules.
    rules: tuple[tuple[str, type], ...] = ()
    #: Dotted keys of the typed nodes (their leaves' types are OmegaConf's to check).
    typed: frozenset[str] = frozenset()
    #: Keys that a typed node's dataclass does not have (Hydra's '+key=value' adds them even
    #: to a closed node), each with the existing keys nearest to it.
    unknown: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, cfg: DictConfig) -> "TreeSchema":
        bounds: list[tuple[str, _Bounds]] = []
        rules: list[tuple[str, type]] = []
        typed: set[str] = set()
        extra: list[str] = []
        keys: list[str] = []

        def walk(node: DictConfig, path: str, in_typed: bool) -> None:
            kind = OmegaConf.get_type(node)
            is_typed = kind is not None and dataclasses.is_dataclass(kind)
            fields = {f.name: f for f in dataclasses.fields(kind)} if is_typed else {}
            if is_typed:
                typed.add(path)
                for name, f in fields.items():
                    found = _Bounds.of(f)
                    if found is not None:
                        bounds.append((_join(path, name), found))
                if not in_typed and _has_rules(kind):
                    rules.append((path, kind))
            for key, value in node.items_ex(resolve=False):
                if path == "" and key in NOT_THE_MODELS:
                    continue  # Hydra's node, a fit's objective: not the model's
                dotted = _join(path, str(key))
                (extra if is_typed and key not in fields else keys).append(dotted)
                if isinstance(value, DictConfig):
                    walk(value, dotted, in_typed or is_typed)

        walk(cfg, "", False)
        unknown = tuple((key, tuple(suggest(key, keys))) for key in extra)
        return cls(tuple(bounds), tuple(rules), frozenset(typed), unknown)

    def problems(self, tree: Mapping[str, Any], raw: Mapping[str, Any]) -> list[str]:
        """Every out-of-range value and broken rule of a tree given resolved and nested
        (``tree``) and as written, flat (``raw``: dotted key -> leaf). A value taken by
        reference from a key already reported is not reported again: the fix is at the source."""
        values = flatten(tree)
        problems: dict[str, str] = {}
        for key, close in self.unknown:
            problems[key] = f"unknown parameter '{key}'" + (f"; did you mean: {', '.join(close)}?" if close else "")
        for key, bounds in self.bounds:
            problem = bounds.problem(values[key]) if key in values else None
            if problem and _reference(raw.get(key)) not in problems:
                problems[key] = f"{key} = {values[key]!r} is out of range; {problem}"
        found = list(problems.values())
        for path, kind in self.rules:
            node: Any = tree
            for part in path.split(".") if path else ():
                node = node.get(part) if isinstance(node, Mapping) else None
            if isinstance(node, Mapping):
                found += _rule_problems(kind, node, path)
        return found

    def is_typed(self, key: str) -> bool:
        """Whether a leaf's type is checked by OmegaConf (it belongs to a typed node)."""
        return key.rpartition(".")[0] in self.typed


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@functools.lru_cache(maxsize=None)
def _has_rules(kind: type) -> bool:
    """Whether a dataclass, or one nested in it, has a ``__post_init__``."""
    if getattr(kind, "__post_init__", None) is not None:
        return True
    return any(nested is not None and _has_rules(nested) for nested in map(_nested_dataclass, dataclasses.fields(kind)))


def _build(kind: type, data: Mapping[str, Any]) -> Any:
    """An instance of the dataclass ``kind`` (its nested ones too) from a resolved tree: what
    ``OmegaConf.to_object`` gives, without building a config; runs every ``__post_init__``."""
    arguments = {}
    for f in dataclasses.fields(kind):
        if f.name not in data:
            continue
        nested = _nested_dataclass(f)
        value = data[f.name]
        arguments[f.name] = _build(nested, value) if nested is not None and isinstance(value, Mapping) else value
    return kind(**arguments)


def _rule_problems(kind: type, data: Mapping[str, Any], path: str) -> list[str]:
    """The rules of a typed node broken by its values (its ``__post_init__``'s ValueError lines)."""
    return rule_problems_of(kind, path, lambda: _build(kind, data))


def rule_problems_of(kind: type, path: str, build: Callable[[], Any]) -> list[str]:
    """The rules broken when ``build`` makes the typed node ``kind`` at ``path`` (any way of building
    it: the planner builds a job's node from parts shared with other jobs)."""
    try:
        build()
    except ValueError as exc:
        return [line for line in str(exc).splitlines() if line.strip()]
    except Exception as exc:  # a rule that cannot even be evaluated on these values
        where = f" at {path}" if path else ""
        return [f"the rules of {kind.__name__}{where} could not be checked: {type(exc).__name__}: {exc}"]
    return []


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


#: For an untyped leaf, the kinds of value an override may give it, by the kind of its value in the config.
_COMPATIBLE = {"number": {"number"}, "boolean": {"boolean"}, "string": {"string", "number"}, "list": {"list"}, "mapping": {"mapping"}}


def type_problems(changed: Iterable[str], values: Mapping[str, Any], base: Mapping[str, Any], schema: TreeSchema) -> list[str]:
    """Overridden leaves of an untyped node (plain YAML, which OmegaConf does not type) whose
    new value is of another kind than the config's own (``rate=abc`` where the config has
    ``rate: 1.0``). ``changed``: the overridden dotted keys; ``values``/``base``: the job's and
    the config's leaves, flat. A leaf that is null in the config takes any value."""
    problems = []
    for key in changed:
        if key not in base or key not in values or schema.is_typed(key):
            continue
        was, now = _kind(base[key]), _kind(values[key])
        if was in _COMPATIBLE and now not in _COMPATIBLE[was]:
            problems.append(
                f"{key} = {values[key]!r} is a {now}, but the config's {key} is a {was} ({base[key]!r})"
            )
    return problems


def check_tree(
    cfg: DictConfig, changed: Iterable[str] = (), base: Mapping[str, Any] | None = None
) -> tuple[list[str], str | None]:
    """The problems of a composed tree (see :func:`tree_problems`) and its config hash
    (None if it cannot be resolved), resolving the tree once for both. With ``base``
    (the config's leaves without the job's overrides, flat), also the :func:`type_problems`
    of the ``changed`` keys."""
    try:
        values = resolved_tree(cfg)
    except OmegaConfBaseException as exc:  # an interpolation that fails or a missing value
        return [f"the parameter tree cannot be resolved: {exc}"], None
    schema = TreeSchema.of(cfg)
    problems = schema.problems(values, flatten(resolved_tree(cfg, resolve=False)))
    if base is not None:
        problems += type_problems(changed, flatten(values), base, schema)
    return problems, tree_hash(values)


def tree_problems(cfg: DictConfig) -> list[str]:
    """Every out-of-range value and broken rule of a composed tree, one line each (see
    :class:`TreeSchema`: ranges and rules come from the tree's typed nodes, for any model).

    A value taken by interpolation from a key that is already reported is not
    reported again: the fix is at the source.
    """
    return check_tree(cfg)[0]


def config_keys(cfg: DictConfig) -> list[str]:
    """Every dotted key of a composed config, inner nodes and Hydra's node included, in its order;
    nothing is resolved (Hydra's node holds values that resolve only in a job)."""
    return list(dotted_keys(OmegaConf.to_container(cfg, resolve=False)))  # type: ignore[arg-type]


def dotted_keys(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every dotted key of a nested tree, inner nodes included, in the tree's order."""
    for key, value in node.items():
        yield f"{prefix}{key}"
        if isinstance(value, dict):
            yield from dotted_keys(value, f"{prefix}{key}.")


def validate_tree(cfg: DictConfig) -> None:
    """Raise :class:`ParameterError` naming each bad key, its value and the allowed range."""
    problems = tree_problems(cfg)
    if problems:
        raise ParameterError("Invalid parameters:\n  " + "\n  ".join(problems))
