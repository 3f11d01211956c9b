"""Planning a sweep's jobs from plain data: run directory, config hash and problems of each job.

The sweeper must know, before anything runs, every job's run directory, the hash
of its resolved tree (for resume) and every problem of its values. Composing and
resolving each job's config with OmegaConf costs milliseconds a job, minutes for
10,000 jobs. But the jobs of a sweep differ from one composed base only in the
leaves they override, and the model tree's interpolations are plain references
(``${sheets.V1.connectivity.exc_weight}``, mozaik's ``ref()``). So
:class:`ValuePlanner` resolves the base once and, for each job:

- converts each override's value once per distinct override line, by setting it
  on the leaf of a copy of the base as Hydra's override code does (so a value is
  typed exactly as in the job's config: ``density=1000`` is the float ``1000.0``);
- sets those values in a flat copy of the base tree, follows the references, and
  checks and hashes the result with the same functions as the full path
  (:class:`launcher.sweep.tree.TreeSchema` of the base, :func:`launcher.run.tree_hash.tree_hash`);
- names the run directory with :func:`launcher.sweep.naming.run_dirname`, as the
  config's ``hydra.sweep.subdir`` does.

The work that depends only on which keys a job overrides is done once per set of keys
(:class:`_Template`): the canonical JSON of the tree is cut where the job's values go, so a
job's hash is the hash of a prefix, state copied, fed its values' JSON; the bounds are checked
for its values alone; the typed nodes its values are not in are built once, the others once per
distinct value. A grid of a million jobs is planned in a few microseconds a job.

Anything it does not handle this way returns None and the sweeper composes that
job in full: an override that is not a plain change of a model leaf (config
groups, ``+``/``~``, Hydra's keys), a value that is itself an interpolation, of
another type than the base's, or refused by OmegaConf (Hydra's error then comes
from the full path); and a whole sweep whose interpolations are not plain references or whose
``hydra.sweep.subdir`` is not the sweeper's. Tests check the two paths give the
same plans.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, OmegaConf, ValueNode

from launcher import compat
from launcher.sweep.compose import JobComposer, leaf_node, set_leaf
from launcher.sweep.naming import names_run_dirs, run_dirname
from launcher.run.tree_hash import resolved_tree, tree_hash
from launcher.sweep.tree import TreeSchema, _build, _nested_dataclass, _reference, flatten, rule_problems_of

#: A whole-string plain reference to another key of the tree: ``${a.b.c}``.
_REFERENCE = re.compile(r"\$\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}")

#: What a job's plan is: (problems, config hash or None, run directory relative to the sweep dir).
Plan = Tuple[List[str], Optional[str], str]


def _copy_tree(tree: Dict[str, Any]) -> Dict[str, Any]:
    return {key: _copy_tree(value) if isinstance(value, dict) else value for key, value in tree.items()}


class ValuePlanner:
    """Plans the jobs of one sweep from its :class:`~launcher.sweep.compose.JobComposer`'s base.

    ``plan(overrides)`` gives what the full path (compose, :func:`launcher.sweep.tree.check_tree`,
    ``hydra.sweep.subdir``) gives, or None for a job it leaves to the full path.
    """

    def __init__(self, composer: JobComposer) -> None:
        self.composer = composer
        self.fast = 0
        self._values: Dict[str, Any] = {}  # override line -> converted value, or _SLOW
        self._ready: Optional[bool] = None
        self._scratch: Optional[DictConfig] = None
        self._lines: Dict[str, Any] = {}  # override line -> _Line, or _SLOW
        self._templates: Dict[Tuple[str, ...], Any] = {}  # the keys a job overrides -> _Template, or _SLOW

    def _prepare(self) -> bool:
        base = self.composer.base()
        if not names_run_dirs(base):
            return False
        raw = flatten(resolved_tree(base, resolve=False))
        self._base_tree = resolved_tree(base)
        values = flatten(self._base_tree)
        self._references: Dict[str, str] = {}
        for key, value in raw.items():
            if isinstance(value, str) and "${" in value:
                match = _REFERENCE.fullmatch(value)
                if match is None or match.group(1) not in raw:
                    return False  # a resolver, a string interpolation, a relative or outside key
                self._references[key] = match.group(1)
        # OmegaConf converts a reference's value to the type of the referring node:
        # plans are exact where the two types are the same, as in the project's tree.
        for key in self._references:
            if type(values[key]) is not type(values[self._source(raw, key)]):
                return False
        self._base_raw, self._base_values = raw, values
        self._schema = TreeSchema.of(base)
        self._paths = {key: key.split(".") for key in raw}
        exclude = base.hydra.job.config.override_dirname.exclude_keys
        self._exclude_keys = frozenset(str(k) for k in exclude)
        self._base_task = [str(line) for line in base.hydra.overrides.task]
        return True

    def _source(self, raw: Dict[str, Any], key: str) -> str:
        """The key whose plain value ``key`` takes, following references (a cycle raises)."""
        seen = {key}
        # A key overridden with a plain value no longer refers to its base reference.
        while key in self._references and raw[key] == "${" + self._references[key] + "}":
            key = self._references[key]
            if key in seen:
                raise ValueError(f"interpolation cycle at {key}")
            seen.add(key)
        return key

    def _value(self, line: str, override: Any) -> Any:
        """The value a plain override line gives its leaf in the job's config, or _SLOW."""
        if line in self._values:
            return self._values[line]
        value: Any = _SLOW
        key = override.key_or_group
        if override.type == OverrideType.CHANGE and key in self._base_raw:
            try:
                # One scratch copy of the base serves every line: the leaf is set back after.
                if self._scratch is None:
                    self._scratch = self.composer.base()
                node = leaf_node(self._scratch, key)
                if not isinstance(node, ValueNode):
                    raise TypeError(key)
                set_leaf(self._scratch, key, override.value())
                converted = compat.node_value(node)
                set_leaf(self._scratch, key, self._base_raw[key])
            except Exception:
                converted = _SLOW  # the full path reports Hydra's own error
                self._scratch = None  # in whatever state the failure left it: not used again
            base_value = self._base_values[key]
            if (
                converted is not _SLOW
                and not OmegaConf.is_config(converted)
                and not (isinstance(converted, str) and "${" in converted)
                and type(converted) is type(base_value)
            ):
                value = converted
        self._values[line] = value
        return value

    def plan(self, overrides: Sequence[str]) -> Optional[Plan]:
        """The job's problems, config hash and run directory, or None: compose it in full."""
        if self._ready is None:
            try:
                self._ready = self._prepare()
            except Exception as exc:
                compat.fell_back("The planner cannot plan from the sweep's base config", exc, "every job is composed in full (slower, same jobs)")
                self._ready = False
        if not self._ready:
            return None
        lines = []
        for line in overrides:
            found = self._lines.get(line)
            if found is None:
                found = self._lines[line] = self._line(line)
            if found is _SLOW:
                return None
            lines.append(found)
        keys = tuple(line.key for line in lines)
        template = self._templates.get(keys)
        if template is None:
            template = self._templates[keys] = self._template(keys)
        if template is _SLOW:
            return self._plan_tree(overrides)
        self.fast += 1
        return template.plan(lines, self._base_task, self._exclude_keys)

    def _line(self, line: str) -> Any:
        """What a job's plan needs of one override line (:class:`_Line`), or _SLOW."""
        parsed = self.composer.plain([line])
        if parsed is None or parsed[0].is_hydra_override():
            return _SLOW
        value = self._value(line, parsed[0])
        if value is _SLOW:
            return _SLOW
        return _Line(parsed[0].key_or_group, line, value, json.dumps(value).encode("utf-8"))

    def _template(self, keys: Tuple[str, ...]) -> Any:
        """The plan of every job overriding ``keys`` (in this order), or _SLOW: each such job is
        planned by :meth:`_plan_tree` (a key given twice; a base with out-of-range values)."""
        if len(set(keys)) != len(keys):
            return _SLOW
        try:
            return _Template(self, keys)
        except _NotExact:
            return _SLOW

    def _plan_tree(self, overrides: Sequence[str]) -> Optional[Plan]:
        """A job's plan from a copy of the whole tree: what :class:`_Template` gives, for any job."""
        parsed = self.composer.plain(overrides)
        if parsed is None:
            return None
        raw, values = dict(self._base_raw), dict(self._base_values)
        for override in parsed:
            if override.is_hydra_override():
                return None
            value = self._value(override.input_line, override)
            if value is _SLOW:
                return None
            raw[override.key_or_group] = values[override.key_or_group] = value
        try:
            for key in self._references:
                values[key] = values[self._source(raw, key)]
        except ValueError:
            return None  # a cycle: the full path reports OmegaConf's error
        # The hash is of the nested tree, as in the full path: the base's, with the leaves
        # that may differ from it set (overridden keys and references).
        tree = _copy_tree(self._base_tree)
        for key in [override.key_or_group for override in parsed] + list(self._references):
            *parents, leaf = self._paths[key]
            node = tree
            for part in parents:
                node = node[part]
            node[leaf] = values[key]
        self.fast += 1
        lines = self._base_task + [override.input_line for override in parsed]
        return self._schema.problems(tree, raw), tree_hash(tree), run_dirname(lines, self._exclude_keys)


@dataclass(frozen=True)
class _Line:
    """One override line of a sweep, read once for all the jobs that have it."""

    key: str
    line: str
    value: Any  # as the job's config holds it
    encoded: bytes  # its canonical JSON, as the config hash writes it


class _NotExact(Exception):
    """A set of keys the template would not plan exactly as the whole tree does."""


#: Where a job's value goes in the template's canonical JSON (a string no value of the tree holds).
_HOLE = "\x00hole{}\x00"
_HOLES = re.compile(r'"\\u0000hole(\d+)\\u0000"'.encode())


class _Template:
    """Everything of a job's plan that depends on which keys it overrides, not on their values.

    Built once for each set of keys a sweep overrides (one for a grid): the keys that take a
    job's values (the overridden ones, and the references that follow them: the "holes"), the
    tree's canonical JSON cut at the holes, the bounds of the holes, and how to build each typed
    node with rules: its parts without holes built once, its nodes with holes once per values.
    """

    #: Typed nodes built for distinct values kept at most (a node per value of a swept key).
    MAX_BUILT = 100_000

    def __init__(self, planner: ValuePlanner, keys: Tuple[str, ...]) -> None:
        references, schema = planner._references, planner._schema
        holes = {key: index for index, key in enumerate(keys)}  # dotted key -> the job value it takes
        for key in references:
            if key in holes:
                continue
            source, seen = key, {key}
            while source in references and source not in holes:
                source = references[source]
                if source in seen:
                    raise _NotExact(f"interpolation cycle at {source}")  # the full path says OmegaConf's error
                seen.add(source)
            if source in holes:
                holes[key] = holes[source]
        self.holes = holes
        tree = _copy_tree(planner._base_tree)
        for number, key in enumerate(holes):
            *parents, leaf = planner._paths[key]
            node = tree
            for part in parents:
                node = node[part]
            node[leaf] = _HOLE.format(number)
        canonical = json.dumps(tree, sort_keys=True, separators=(",", ":")).encode("utf-8")
        pieces = _HOLES.split(canonical)  # text, hole number, text, ...
        if len(pieces) != 2 * len(holes) + 1:
            raise _NotExact("a value of the tree looks like a hole")
        indices = list(holes.values())
        self.prefix = hashlib.sha256(pieces[0])
        self.fill = [(indices[int(number)], text) for number, text in zip(pieces[1::2], pieces[2::2])]

        base_raw, base_values = planner._base_raw, planner._base_values
        raw = {key: (None if key in keys else base_raw.get(key)) for key in holes}  # a job's values are plain
        self.unknown = {key: f"unknown parameter '{key}'" + (f"; did you mean: {', '.join(close)}?" if close else "")
                        for key, close in schema.unknown}
        self.bounds = []
        for key, bounds in schema.bounds:
            if key in holes:
                self.bounds.append((key, bounds, holes[key], _reference(raw[key])))
            elif key in base_values and bounds.problem(base_values[key]):
                raise _NotExact(key)  # the base itself is out of range: planned by the whole tree
        self.rules: List[Any] = []  # per typed node with rules: its problems, or a function of a job's values
        for path, kind in schema.rules:
            node = _subtree(planner._base_tree, path)
            if not isinstance(node, dict):
                continue
            if not _holes_under(holes, path):
                self.rules.append(rule_problems_of(kind, path, lambda kind=kind, node=node: _build(kind, node)))
            else:
                build = self._builder(kind, node, path, top=True)
                self.rules.append(lambda values, kind=kind, path=path, build=build: rule_problems_of(kind, path, lambda: build(values)))

    def _builder(self, kind: type, data: Dict[str, Any], path: str, top: bool = False) -> Callable[[Sequence[Any]], Any]:
        """A function of a job's values building the typed node ``kind`` at ``path`` as
        :func:`launcher.sweep.tree._build` does from the job's tree, from parts built once."""
        fixed: Dict[str, Any] = {}
        taken: List[Tuple[str, int]] = []  # field -> index of the job value it takes
        nested: List[Tuple[str, Callable[[Sequence[Any]], Any]]] = []
        for f in dataclasses.fields(kind):
            if f.name not in data:
                continue
            dotted, inner, value = f"{path}.{f.name}" if path else f.name, _nested_dataclass(f), data[f.name]
            if inner is not None and isinstance(value, Mapping):
                if _holes_under(self.holes, dotted):
                    nested.append((f.name, self._builder(inner, value, dotted)))
                else:
                    nested.append((f.name, _built_once(inner, value)))
            elif dotted in self.holes:
                taken.append((f.name, self.holes[dotted]))
            else:
                fixed[f.name] = value
        indices = sorted({index for key, index in self.holes.items() if key.startswith(f"{path}.") or not path})

        def build(values: Sequence[Any]) -> Any:
            arguments = dict(fixed)
            for name, index in taken:
                arguments[name] = values[index]
            for name, make in nested:
                arguments[name] = make(values)
            return kind(**arguments)

        if top:  # the node of the rules: its __post_init__ runs for every job
            return build
        built: Dict[Tuple[Any, ...], Any] = {}

        def cached(values: Sequence[Any]) -> Any:
            key = tuple(values[index] for index in indices)
            found = built.get(key)
            if found is None:
                if len(built) >= self.MAX_BUILT:
                    built.clear()
                try:
                    found = built[key] = (build(values), None)
                except Exception as exc:  # raised again for every job with these values
                    found = built[key] = (None, exc)
            if found[1] is not None:
                raise found[1].with_traceback(None)
            return found[0]

        return cached

    def plan(self, lines: Sequence[_Line], base_task: Sequence[str], exclude_keys: frozenset) -> Plan:
        values = [line.value for line in lines]
        digest = self.prefix.copy()
        for index, text in self.fill:
            digest.update(lines[index].encoded)
            digest.update(text)
        problems = dict(self.unknown)
        for key, bounds, index, reference in self.bounds:
            problem = bounds.problem(values[index])
            if problem and reference not in problems:
                problems[key] = f"{key} = {values[index]!r} is out of range; {problem}"
        found = list(problems.values())
        for rule in self.rules:
            found += rule if isinstance(rule, list) else rule(values)
        run_dir = run_dirname([*base_task, *(line.line for line in lines)], exclude_keys)
        return found, digest.hexdigest()[:16], run_dir


def _subtree(tree: Dict[str, Any], path: str) -> Any:
    node: Any = tree
    for part in path.split(".") if path else ():
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _holes_under(holes: Dict[str, int], path: str) -> bool:
    return not path or any(key.startswith(f"{path}.") for key in holes)


def _built_once(kind: type, data: Dict[str, Any]) -> Callable[[Sequence[Any]], Any]:
    """A typed node without a job's values: built once (or its error, raised again for each job)."""
    try:
        instance, error = _build(kind, data), None
    except Exception as exc:
        instance, error = None, exc

    def make(values: Sequence[Any]) -> Any:
        if error is not None:
            raise error.with_traceback(None)
        return instance

    return make


class _Slow:
    def __repr__(self) -> str:
        return "<composed in full>"


_SLOW: Any = _Slow()
