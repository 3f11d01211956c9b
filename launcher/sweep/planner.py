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
  (:class:`launcher.sweep.tree.TreeSchema` of the base, :func:`launcher.sweep.tree._hash`);
- names the run directory with :func:`launcher.sweep.naming.run_dirname`, as the
  config's ``hydra.sweep.subdir`` does.

Anything it does not handle this way returns None and the sweeper composes that
job in full: an override that is not a plain change of a model leaf (config
groups, ``+``/``~``, Hydra's keys), a value that is itself an interpolation, of
another type than the base's, or refused by OmegaConf (Hydra's error then comes
from the full path); and a whole sweep whose interpolations are not plain references or whose
``hydra.sweep.subdir`` is not the sweeper's. Tests check the two paths give the
same plans.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, OmegaConf, ValueNode

from launcher import compat
from launcher.sweep.compose import JobComposer, leaf_node, set_leaf
from launcher.sweep.naming import names_run_dirs, run_dirname
from launcher.sweep.tree import TreeSchema, _hash, flatten, resolved_tree

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
        self._exclude_keys = [str(k) for k in exclude]
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
            except Exception:
                self._ready = False
        if not self._ready:
            return None
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
        return self._schema.problems(tree, raw), _hash(tree), run_dirname(lines, self._exclude_keys)


class _Slow:
    def __repr__(self) -> str:
        return "<composed in full>"


_SLOW: Any = _Slow()
