"""The parameter tree: key checks with suggestions, range validation, hashing.

Everything here works on plain OmegaConf objects and the schema in
:mod:`launcher.config`; nothing imports a simulator, so validation runs in
seconds, before any job or directory exists.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import math
from typing import Any, Iterable, Iterator, Mapping

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import CompactHydraException
import omegaconf.base
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from launcher.config import RootConfig


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


def schema_keys(schema: type = RootConfig, prefix: str = "") -> Iterator[str]:
    """Every dotted key of the schema, inner nodes included (``sheets``, ``sheets.V1``, ...)."""
    for f in dataclasses.fields(schema):
        key = f"{prefix}{f.name}"
        yield key
        nested = _nested_dataclass(f)
        if nested is not None:
            yield from schema_keys(nested, key + ".")


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


def check_override_keys(overrides: list[str], config_groups: Iterable[str] = ()) -> None:
    """Refuse overrides of keys the schema does not have, naming the nearest existing keys.

    Hydra's own message for a misspelled key names it but suggests nothing; this
    check needs no composition. Hydra's keys (``hydra.*``, ``hydra/...``) and
    config-group choices are left to Hydra. The command line of ``run_sim.py`` is
    checked against the config Hydra composes instead (:mod:`launcher.cli`).
    """
    known = known_schema_keys()
    groups = set(config_groups)
    problems = [
        unknown_key_message(override.key_or_group, str(override.input_line), known)
        for override in OverridesParser.create().parse_overrides(overrides)
        if not (override.is_hydra_override() or override.key_or_group in groups or override.key_or_group in known)
    ]
    if problems:
        raise ParameterError("\n".join(problems))


@functools.lru_cache(maxsize=None)
def _schema_leaves(schema: type = RootConfig) -> tuple[tuple[str, "_Bounds | None"], ...]:
    """(dotted key, bounds or None) of every leaf of the schema, in the schema's order."""
    leaves: list[tuple[str, _Bounds | None]] = []

    def walk(node: type, prefix: str) -> None:
        for f in dataclasses.fields(node):
            nested = _nested_dataclass(f)
            if nested is not None:
                walk(nested, f"{prefix}{f.name}.")
            else:
                leaves.append((f"{prefix}{f.name}", _Bounds.of(f)))

    walk(schema, "")
    return tuple(leaves)


@functools.lru_cache(maxsize=None)
def known_schema_keys() -> dict[str, None]:
    """The schema's dotted keys, in the schema's order (suggestions list them in a stable order)."""
    return dict.fromkeys(schema_keys())


@dataclasses.dataclass(frozen=True)
class _Bounds:
    """The allowed range of a leaf, from its field's metadata (see :func:`launcher.config.param`)."""

    gt: Any
    ge: Any
    le: Any
    allowed: str  # e.g. "allowed: > 0 (ms)"

    @classmethod
    def of(cls, meta: dataclasses.Field) -> "_Bounds | None":
        m = meta.metadata
        gt, ge, le = m.get("gt"), m.get("ge"), m.get("le")
        bounds = [f"{op} {bound}" for op, bound in ((">", gt), (">=", ge), ("<=", le)) if bound is not None]
        if not bounds:
            return None
        unit = f" ({m['unit']})" if m.get("unit") else ""
        return cls(gt, ge, le, f"allowed: {' and '.join(bounds)}{unit}")

    def problem(self, value: Any) -> str | None:
        ok = not (isinstance(value, float) and math.isnan(value))
        ok = ok and (self.gt is None or value > self.gt)
        ok = ok and (self.ge is None or value >= self.ge)
        ok = ok and (self.le is None or value <= self.le)
        return None if ok else self.allowed


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


def follows_schema(cfg: DictConfig) -> bool:
    """Whether a composed tree is the project's model tree (built on the schema), which
    :func:`tree_problems` can check; a tree imported from mozaik is not."""
    return OmegaConf.get_type(cfg) is RootConfig


def check_tree(cfg: DictConfig) -> tuple[list[str], str | None]:
    """The problems of a composed tree (see :func:`tree_problems`) and its config hash
    (None if it cannot be resolved), resolving the tree once for both."""
    try:
        values = resolved_tree(cfg)
    except OmegaConfBaseException as exc:  # an interpolation that fails or a missing value
        return [f"the parameter tree cannot be resolved: {exc}"], None
    if not follows_schema(cfg):
        return [], _hash(values)
    return _problems(values, resolved_tree(cfg, resolve=False)), _hash(values)


def tree_problems(cfg: DictConfig) -> list[str]:
    """Every out-of-range value and broken cross-key rule of a composed tree, one line each.

    A value taken by interpolation from a key that is already reported is not
    reported again: the fix is at the source. A tree that does not follow the
    schema (:func:`follows_schema`) has only Hydra's own checks: nothing here.
    """
    return check_tree(cfg)[0]


def _problems(values: dict[str, Any], raw: dict[str, Any]) -> list[str]:
    problems: dict[str, str] = {}
    known = known_schema_keys()
    for key in _plain_keys(values):
        # Hydra's '+key=value' adds to even a closed tree; the tree must still match the schema.
        if key not in known:
            hint = suggest(key, known)
            problems[key] = f"unknown parameter '{key}'" + (f"; did you mean: {', '.join(hint)}?" if hint else "")
    return value_problems(flatten(values), flatten(raw), problems)


def value_problems(values: Mapping[str, Any], raw: Mapping[str, Any], reported: dict[str, str] | None = None) -> list[str]:
    """Out-of-range values and broken cross-key rules of a tree given flat (dotted key -> leaf),
    resolved (``values``) and as written (``raw``), after the problems already ``reported``
    (key -> problem). A value taken by reference from a reported key is not reported again."""
    problems = dict(reported or {})
    for key, bounds in _schema_leaves():
        problem = bounds.problem(values[key]) if bounds is not None else None
        if problem and _reference(raw.get(key)) not in problems:
            problems[key] = f"{key} = {values[key]!r} is out of range; {problem}"
    return list(problems.values()) + _cross_key_problems(values)


def config_keys(cfg: DictConfig) -> list[str]:
    """Every dotted key of a composed config, inner nodes and Hydra's node included, in its order;
    nothing is resolved (Hydra's node holds values that resolve only in a job)."""
    return list(_plain_keys(OmegaConf.to_container(cfg, resolve=False)))  # type: ignore[arg-type]


def _plain_keys(node: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        yield f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _plain_keys(value, f"{prefix}{key}.")


def validate_tree(cfg: DictConfig) -> None:
    """Raise :class:`ParameterError` naming each bad key, its value and the allowed range."""
    problems = tree_problems(cfg)
    if problems:
        raise ParameterError("Invalid parameters:\n  " + "\n  ".join(problems))


def _cross_key_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []

    def require(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    require(v["simulator"].isidentifier(), f"simulator = {v['simulator']!r} is not a PyNN backend name (e.g. 'nest')")
    require(v["min_delay"] >= v["time_step"], f"min_delay = {v['min_delay']} must be >= time_step = {v['time_step']} (ms)")
    require(v["max_delay"] >= v["min_delay"], f"max_delay = {v['max_delay']} must be >= min_delay = {v['min_delay']} (ms)")
    for sheet in ("sheets.V1",):
        cell = f"{sheet}.cell"
        require(
            v[f"{cell}.v_reset"] < v[f"{cell}.v_thresh"],
            f"{cell}.v_reset = {v[f'{cell}.v_reset']} must be < {cell}.v_thresh = {v[f'{cell}.v_thresh']} (mV)",
        )
        require(
            v[f"{sheet}.v_init.low"] <= v[f"{sheet}.v_init.high"],
            f"{sheet}.v_init.low = {v[f'{sheet}.v_init.low']} must be <= {sheet}.v_init.high = {v[f'{sheet}.v_init.high']} (mV)",
        )
        for conn in ("exc_exc", "exc_inh", "inh_exc", "inh_inh"):
            key = f"{sheet}.connections.{conn}.delay"
            require(
                v["min_delay"] <= v[key] <= v["max_delay"],
                f"{key} = {v[key]} is out of range; allowed: between min_delay = {v['min_delay']} "
                f"and max_delay = {v['max_delay']} (ms)",
            )
    return problems


def resolved_tree(cfg: DictConfig, resolve: bool = True) -> dict[str, Any]:
    """The tree as plain data, interpolations resolved (unless told not to), Hydra's own node left out."""
    tree: dict[str, Any] = {}
    for key in cfg:
        if key == "hydra":  # Hydra's node holds run-specific values (dirs, times): not the model's
            continue
        node = cfg._get_node(key)
        if OmegaConf.is_config(node):
            tree[str(key)] = OmegaConf.to_container(node, resolve=resolve, throw_on_missing=resolve)
        else:
            tree[str(key)] = cfg[key] if resolve else node._value()
    return tree


def config_hash(cfg: DictConfig) -> str:
    """A hash of the resolved tree: equal hashes mean the same simulation."""
    return _hash(resolved_tree(cfg))


def _hash(values: dict[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
