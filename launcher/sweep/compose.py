"""Per-job composition of a sweep: one composed base config, the job's values applied to a copy.

Hydra composes the whole config again for every job of a sweep (and twice: when
the sweeper validates it and when the launcher runs it), ~50-200 ms a job.
:meth:`ConfigLoader.load_sweep_config` does, for the master config's Hydra
overrides ``H`` and a job's overrides ``J``:

1. build the defaults list from ``H + J`` and merge the configs it names;
2. apply the config (value) overrides of ``H``, then those of ``J``, with
   Hydra's override code (:func:`launcher.compat.apply_overrides`);
3. fill the Hydra fields that depend on the overrides or the process
   (``hydra.overrides.*``, ``hydra.runtime.*``, ``hydra.job.name``,
   ``hydra.job.override_dirname``, ...);
4. copy the master's resolver cache (so ``${now:...}`` gives the sweep's time).

When every override of ``J`` is a plain value change, step 1 gives the same
result as for ``H`` alone and step 2 starts with the same ``H``. So
:class:`JobComposer` composes, once, the job without overrides
(``load_sweep_config(master, [])``: steps 1-3 for ``H``) and, for each job,
restores a copy of it, applies ``J`` with Hydra's own override code and redoes
the parts of step 3 that depend on ``J``, then step 4.

A job whose overrides also choose options of the app's config groups (``model=my_net``: a
sweep of one's own model, every job carries the choice of the command line) has its base
composed with those choices alone (``load_sweep_config(master, C)``, once per set ``C``): a
choice adds no value override, so step 2 on that base is the same. Everything else falls
back to Hydra's full composition (see :meth:`JobComposer.plain` and :meth:`JobComposer.split_choices`).
"""

from __future__ import annotations

import copy
import os
import pickle
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra import version
from hydra.core.config_loader import ConfigLoader
from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.utils import JobRuntime
from hydra.plugins.config_source import ConfigSource
from hydra.types import RunMode
from omegaconf import DictConfig, Node, OmegaConf, ValueNode, open_dict

from launcher import compat
from launcher.compat import restore, snapshot

#: Keys Hydra fills after applying the overrides from things other than their
#: values (the override lines, the search path, the environment, the process).
#: An override of one of them, of a key below them or of a node above them
#: (``hydra.job={...}``) is composed in full: the base already holds Hydra's
#: values there, which the override would change or merge into.
DERIVED_KEYS: Tuple[str, ...] = (
    "hydra.searchpath",
    "hydra.overrides",
    "hydra.runtime",
    "hydra.job.env_set",
    "hydra.job.env_copy",
    "hydra.job.config_name",
)


def _touches_derived(key: str) -> bool:
    return any(key == d or key.startswith(d + ".") or d.startswith(key + ".") for d in DERIVED_KEYS)


#: ``key=value`` lines whose parse is plain to see: a dotted key of identifiers and a decimal
#: integer, a decimal fraction or an identifier (Hydra's grammar gives these the same Override).
_SIMPLE_LINE = re.compile(
    r"(?P<key>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)="
    r"(?P<value>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*)"
)
#: Identifiers Hydra's grammar reads as something else than a string (any case).
_KEYWORDS = frozenset(["true", "false", "null", "inf", "nan"])


def simple_override(line: str) -> Optional[Override]:
    """The Override Hydra's parser gives a simple ``key=value`` line, without running the
    parser (ANTLR: ~0.3 ms a line, and a sweep over seeds has a new line per job);
    None for any other line. Tests compare it with the parser's result."""
    match = _SIMPLE_LINE.fullmatch(line)
    if match is None:
        return None
    text = match.group("value")
    value: Any
    if text[0].isalpha() or text[0] == "_":
        if text.lower() in _KEYWORDS:
            return None
        value = text
    else:
        value = float(text) if "." in text else int(text)
    return compat.plain_override(match.group("key"), value, line)


def leaf_node(cfg: DictConfig, key: str) -> Node:
    """The node at a dotted key of an existing path (``a.b.c``)."""
    node: Any = cfg
    for part in key.split("."):
        node = compat.child_node(node, part)
        if node is None:
            raise KeyError(key)
    return node  # type: ignore[no-any-return]


def set_leaf(cfg: DictConfig, key: str, value: Any) -> None:
    """What Hydra's override code does for a plain change of an existing leaf:
    ``OmegaConf.update(cfg, key, value, merge=True)`` ends in setting the leaf's value
    (type check and conversion); this goes there without looking the parent up again."""
    node = leaf_node(cfg, key)
    if isinstance(node, ValueNode):
        compat.set_node_value(node, value)
    else:
        OmegaConf.update(cfg, key, value, merge=True)


class JobComposer:
    """Composes the jobs of one sweep; ``compose(o)`` equals ``load_sweep_config(master, o)``.

    ``fast`` and ``full`` count the jobs composed from the base and by Hydra. The
    master config's Hydra overrides and config name are taken to stay as they are
    (Hydra never changes them during a sweep); its resolver cache is read per job.
    """

    def __init__(self, config_loader: ConfigLoader, master_config: DictConfig) -> None:
        self.config_loader = config_loader
        self.master_config = master_config
        self.fast = 0
        self.full = 0
        # Hydra parses job overrides with a parser without config loader; so do we.
        self._parser = OverridesParser.create()
        self._parsed: Dict[str, Override] = {}
        self._top_groups: Optional[frozenset[str]] = None
        # The base config of each set of group choices (() for none) as a snapshot (see
        # snapshot()), and what it was composed under.
        self._bases: Dict[Tuple[str, ...], Tuple[bytes | DictConfig, Tuple[str, str, str]]] = {}
        # Hydra's override code is a static method of its loader; another loader: no fast path.
        self._enabled = compat.fast_paths() and compat.is_hydras_config_loader(config_loader)

    def __getstate__(self) -> Dict[str, Any]:
        # Launchers pickle their config loader to their workers (Slurm tasks, local
        # processes): the bases go with it as their snapshots (a worker composing its own
        # took 0.5 s of CPU a lane), each with the environment it was composed in, which a
        # worker whose environment differs does not match (it composes its own).
        bases = {choices: kept for choices, kept in self._bases.items() if isinstance(kept[0], bytes)}
        state = dict(self.__dict__, _parsed={}, _top_groups=None, _bases=bases)
        del state["_parser"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state, _parser=OverridesParser.create())

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """The job's config, as ``config_loader.load_sweep_config(master, overrides)`` gives it."""
        overrides = list(overrides)
        parsed = self.plain(overrides) if self._enabled else None
        choices: Tuple[Override, ...] = ()
        ordered: List[Override] = []
        if parsed is None and self._enabled:
            split = self.split_choices(overrides)
            if split is not None:
                choices, parsed, ordered = split
        fast_failed: Optional[Exception] = None
        if parsed is not None:
            try:
                cfg = self._compose_fast(parsed, choices, ordered)
            except Exception as exc:
                # An invalid value (or a '+' add of a key the base holds but Hydra's
                # intermediate config does not, e.g. '+hydra.job.name=x'): let Hydra
                # compose it, which raises its own error or returns its own result.
                fast_failed = exc
            else:
                self.fast += 1
                return cfg
        self.full += 1
        cfg = self.config_loader.load_sweep_config(self.master_config, overrides)
        if fast_failed is not None:  # Hydra composed what the fast path could not: a fallback (an invalid value is not)
            compat.fell_back(
                "A job's overrides cannot be applied to the base config", f"{' '.join(overrides)}: {fast_failed}",
                "the job is composed by Hydra in full",
            )
        return cfg

    def plain(self, overrides: Sequence[str]) -> Optional[List[Override]]:
        """The parsed overrides if all are plain value changes the fast path composes, else None.

        Not plain: a config-group choice or deletion (``hydra/launcher=...``, any key
        that is a group, ``key@package``: they change the defaults list), a deletion
        ``~key`` (composed in full, as for groups), a sweep (``a=1,2``: Hydra refuses
        it here, with its own message), an override of a key Hydra derives
        (:data:`DERIVED_KEYS`), or a line that does not parse (Hydra's error).
        """
        result = []
        for line in overrides:
            override = self._parsed.get(line)
            if override is None:
                try:
                    override = simple_override(line) or self._parser.parse_overrides([line])[0]
                except Exception:
                    return None
                self._parsed[line] = override
            key = override.key_or_group
            if (
                override.is_sweep_override()
                or override.type not in (OverrideType.CHANGE, OverrideType.ADD, OverrideType.FORCE_ADD)
                or override.package is not None
                or "/" in key
                or key in self.groups()
                or _touches_derived(key)
            ):
                return None
            result.append(override)
        return result

    def split_choices(self, overrides: Sequence[str]) -> Optional[Tuple[Tuple[Override, ...], List[Override], List[Override]]]:
        """The job's choices of config groups, its other overrides, and all of them in the job's
        order, when the others are plain (:meth:`plain`) and each choice is a plain
        ``group=option`` of the app's groups (not of Hydra's: those change Hydra's own lines; no
        ``+``, ``~``, ``@package`` or sweep); else None."""
        choices: List[Override] = []
        others: List[Override] = []
        ordered: List[Override] = []
        for line in overrides:
            plain = self.plain([line])
            if plain is not None:
                others += plain
                ordered += plain
                continue
            override = self._parsed.get(line)  # (parsed by plain(), unless the line does not parse)
            if (
                override is None
                or override.type != OverrideType.CHANGE
                or override.package is not None
                or override.is_sweep_override()
                or override.is_hydra_override()
                or not isinstance(override.value(), str)
                or not ("/" in override.key_or_group or override.key_or_group in self.groups())
            ):
                return None
            choices.append(override)
            ordered.append(override)
        if not choices:
            return None
        return tuple(choices), others, ordered

    def groups(self) -> frozenset[str]:
        """Top-level config groups of the primary config's search path (nested ones have a '/')."""
        if self._top_groups is None:
            self._top_groups = frozenset(
                self.config_loader.get_group_options(
                    "",
                    results_filter=ObjectType.GROUP,
                    config_name=self.master_config.hydra.job.config_name,
                    overrides=self._master_hydra_overrides(),
                )
            )
        return self._top_groups

    def _master_hydra_overrides(self) -> List[str]:
        # As load_sweep_config reads them: the lines as written (one may hold ${now:...}).
        lines = OmegaConf.to_container(self.master_config.hydra.overrides.hydra, resolve=False)
        assert isinstance(lines, list)
        return [str(line) for line in lines]

    def _environment(self) -> Tuple[str, str, str]:
        # What Hydra's composition reads from the process besides os.environ (read per job):
        # the job name it falls back to, the version base and the working directory.
        return (str(JobRuntime().get("name")), str(version.getbase()), os.getcwd())

    def base(self) -> DictConfig:
        """A fresh copy of the job without overrides (``load_sweep_config(master, [])``)."""
        return self._restore_base(())

    def _restore_base(self, choices: Tuple[str, ...]) -> DictConfig:
        """A fresh copy of ``load_sweep_config(master, choices)``: the job of those group choices alone."""
        environment = self._environment()
        kept = self._bases.get(choices)
        if kept is None or environment != kept[1]:
            composed = self.config_loader.load_sweep_config(self.master_config, list(choices))
            try:
                base: bytes | DictConfig = snapshot(composed)
            except (pickle.PicklingError, AttributeError, TypeError):
                base = composed  # e.g. a structured config class defined in a function
            self._bases[choices] = kept = (base, environment)
        if isinstance(kept[0], bytes):
            return restore(kept[0])
        return copy.deepcopy(kept[0])

    def _compose_fast(
        self, overrides: List[Override], choices: Tuple[Override, ...] = (), ordered: Sequence[Override] = ()
    ) -> DictConfig:
        """The job of the group choices ``choices`` and the plain ``overrides``; ``ordered``: all
        of the job's overrides in its order (needed with choices only)."""
        cfg = self._restore_base(tuple(choice.input_line for choice in choices))
        # Step 2: the base holds H's values; the job's follow, applied by Hydra's code.
        compat.apply_overrides(overrides, cfg)
        # Step 3, the job-dependent part. The base's lists already end with H's lines
        # (H holds only Hydra overrides), so the job's lines follow in Hydra's order.
        # (Nodes are fetched once: each attribute access of a DictConfig costs ~20 us.)
        hydra = cfg.hydra
        lists = hydra.overrides
        hydra_lines, task_lines = lists.hydra, lists.task
        task: List[Override] = []
        if choices:
            # The base's task lines are its choices (none is Hydra's): every task line of the
            # job goes there again in the job's order, which Hydra keeps (choices are task lines).
            task_lines.clear()
            overrides = list(ordered)
        for override in overrides:
            if override.is_hydra_override():
                hydra_lines.append(override.input_line)
            else:
                task_lines.append(override.input_line)
                task.append(override)
        job = hydra.job
        if len(job.env_copy) > 0:
            with open_dict(hydra):  # the environment may have changed since the base
                for name in job.env_copy:
                    job.env_set[name] = os.environ[name]
        if "name" not in job:  # the job set hydra.job.name to ???: Hydra's default
            job.name = JobRuntime().get("name")
        dirname = job.config.override_dirname  # read after the job's overrides, as Hydra does
        job.override_dirname = compat.overrides_dirname(task, dirname.exclude_keys, dirname.item_sep, dirname.kv_sep)
        # Step 4.
        OmegaConf.copy_cache(from_config=self.master_config, to_config=cfg)
        return cfg


class ComposingConfigLoader(ConfigLoader):
    """Hydra's config loader whose ``load_sweep_config`` goes through a :class:`JobComposer`.

    For launchers, which call ``hydra_context.config_loader.load_sweep_config(config,
    overrides)`` for each job: give them ``HydraContext(ComposingConfigLoader(loader),
    callbacks)`` and they compose each job from the base as the sweeper does. One
    composer per master config; everything else is the wrapped loader's.
    """

    def __init__(self, loader: ConfigLoader) -> None:
        self.loader = loader
        self._composers: List[JobComposer] = []

    def composer(self, master_config: DictConfig) -> JobComposer:
        """The composer of a master config (the same object: a sweep has one)."""
        for composer in self._composers:
            if composer.master_config is master_config:
                return composer
        composer = JobComposer(self.loader, master_config)
        self._composers.append(composer)
        return composer

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        return self.composer(master_config).compose(sweep_overrides)

    def load_configuration(
        self,
        config_name: Optional[str],
        overrides: List[str],
        run_mode: RunMode,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> DictConfig:
        return self.loader.load_configuration(
            config_name, overrides, run_mode, from_shell=from_shell, validate_sweep_overrides=validate_sweep_overrides
        )

    def get_search_path(self) -> ConfigSearchPath:
        return self.loader.get_search_path()

    def get_sources(self) -> List[ConfigSource]:
        return self.loader.get_sources()

    def list_groups(self, parent_name: str) -> List[str]:
        return self.loader.list_groups(parent_name)

    def get_group_options(
        self,
        group_name: str,
        results_filter: Optional[ObjectType] = ObjectType.CONFIG,
        config_name: Optional[str] = None,
        overrides: Optional[List[str]] = None,
    ) -> List[str]:
        return self.loader.get_group_options(group_name, results_filter, config_name, overrides)

    def compute_defaults_list(self, config_name: Optional[str], overrides: List[str], run_mode: RunMode) -> Any:
        return self.loader.compute_defaults_list(config_name, overrides, run_mode)

    def __getattr__(self, name: str) -> Any:
        # Anything else Hydra's implementation has (e.g. its repository) is the wrapped loader's.
        if name == "loader":  # not set yet (while unpickling): no delegation loop
            raise AttributeError(name)
        return getattr(self.loader, name)
