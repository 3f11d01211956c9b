"""Checks on the command line of ``run_sim.py`` that must happen before Hydra starts.

Hydra refuses an override of a key the config does not have, but only names the
key. Here the config is composed first, with Hydra's own compose API and as
Hydra will compose it (the same primary config, search path and overrides, one
value of each sweep), and only when that fails because an override names a key
the config does not have does the check stop the run, naming the nearest
existing keys. Every other outcome, success or any other error, is left to
Hydra, so the check never refuses what Hydra accepts: config groups of
``--config-dir`` or ``hydra.searchpath``, ``+group=option``, another model's
tree, Hydra's own keys. Nothing is written. When every override is a plain
``key=value`` of a schema key or of Hydra's settings and the config is the app's own, no
key can be missing and nothing is composed (the composition costs about half a second of CPU).

A sweep of more jobs than ``hydra.sweeper.max_jobs`` (``range(0,10000000000)``) is refused
here too, with the sweeper's own message, when the command line leaves no doubt about the
sweeper and its settings (:func:`reject_oversized_sweep`): before Hydra's plugin scan and its
two compositions of the config, which take most of a second.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Optional, Sequence

from hydra import compose, initialize_config_dir, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, RangeSweep, ValueType
from hydra.errors import ConfigCompositionException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from launcher.compat import hydra_args_parser
from launcher.sweep.job_count import MAX_JOBS, count_jobs, size_problem
from launcher.sweep.overrides import hydra_override
from launcher.sweep.tree import config_keys, known_schema_keys, unknown_key_message

#: The ``version_base`` of ``run_sim.py``'s ``@hydra.main``.
VERSION_BASE = "1.3"
SEARCHPATH_KEY = "hydra.searchpath"


@dataclass(frozen=True)
class CommandLine:
    """What the check needs of a command line, read as Hydra reads it."""

    overrides: list[Override]
    config_path: str  # where the primary config is: hydra.main's config_path or --config-path
    config_name: str
    config_dir: Optional[str]  # --config-dir: a directory added to the search path
    multirun: bool
    #: The app's own config (no --config-path, --config-name or --config-dir), built on the schema.
    own_config: bool


@dataclass(frozen=True)
class _Line:
    """One override as composed (a sweep by one of its values) and as the user wrote it."""

    composed: str
    given: Override


#: Hydra's flag of a sweep.
MULTIRUN_FLAGS = ("-m", "--multirun")


def multirun_first(argv: Sequence[str]) -> list[str]:
    """The command line with ``-m``/``--multirun`` moved to its front, where it means the same.

    Hydra's parser takes the overrides as one run of positional arguments, so
    ``run_sim.py --config-dir my_conf model=my_net -m net.w=1,2`` (overrides on both
    sides of ``-m``, as users write it) is refused by argparse with "unrecognized
    arguments". The flag takes no value, so its place changes nothing else.
    """
    flags = [arg for arg in argv if arg in MULTIRUN_FLAGS]
    return [*flags, *(arg for arg in argv if arg not in MULTIRUN_FLAGS)]


def reject_unknown_parameters(
    argv: Sequence[str], app_dir: Path, config_path: str, config_name: str, schema: Optional[type] = None
) -> None:
    """Exit with a clear message if an override names a key the config Hydra will compose does not have.

    ``app_dir``, ``config_path`` and ``config_name`` are those of the ``@hydra.main``
    app (its file's directory and the decorator's arguments); ``schema``: the dataclass the app's
    own config is built on, if any (plain overrides of its keys are then known without composing).
    """
    line = read_command_line(argv, config_path, config_name)
    problems = unknown_keys(line, app_dir, schema) if line is not None else []
    if problems:
        print("Error: " + "\n".join(problems), file=sys.stderr)
        sys.exit(1)


#: The one key of ``hydra.sweeper`` that :func:`reject_oversized_sweep` reads from the command line;
#: an override of any other key of the sweeper (``params``, ``jobs_file``...) leaves the check to it.
SWEEPER_LIMIT_KEY = "hydra.sweeper.max_jobs"


def reject_oversized_sweep(argv: Sequence[str], config_path: str, config_name: str, schema: type) -> None:
    """Exit with the sweeper's own message if a sweep of the app's own config has more jobs than
    ``hydra.sweeper.max_jobs`` (or none), before Hydra starts: a ``range(0,10000000000)`` typo is
    refused in the time of Python's and Hydra's imports.

    Only where the command line settles it: a sweep (``-m``) of the app's own config (built on
    ``schema``, whose config chooses the project's grid sweeper and leaves its settings at their
    defaults: ``test_validation.py`` holds it to that), every override a plain ``key=value`` of a
    schema key or of Hydra's settings, none choosing another sweeper, search path or config, nor
    setting the sweeper's ``params`` or ``jobs_file``. Anything else, or a sweep Hydra cannot count
    without its config loader (a glob), is left to the sweeper, which checks every sweep with the
    same functions (:mod:`launcher.sweep.job_count`).
    """
    line = read_command_line(argv, config_path, config_name)
    max_jobs = _sweep_limit(line, schema) if line is not None and line.multirun and line.own_config else None
    if line is None or max_jobs is None:
        return
    try:
        count = count_jobs([o for o in line.overrides if not o.is_hydra_override()], max_jobs)
    except Exception:  # noqa: BLE001 - a glob or a sweep Hydra refuses: the sweeper (or Hydra) says why
        return
    problem = size_problem(count, max_jobs)
    if problem is not None:
        print(problem, file=sys.stderr)
        sys.exit(1)


def _sweep_limit(line: CommandLine, schema: type) -> Optional[int]:
    """The sweeper's ``max_jobs`` if the command line leaves the app's own grid sweeper and its
    settings as the app's config has them (see :func:`reject_oversized_sweep`), else None."""
    known = known_schema_keys(schema)
    max_jobs = MAX_JOBS
    for override in line.overrides:
        key = override.key_or_group
        if not _is_plain(override):
            return None
        if not override.is_hydra_override():
            if key not in known:
                return None  # the check of unknown keys says which, with suggestions
            continue
        if override.is_sweep_override() or key == SEARCHPATH_KEY:
            return None
        if key == SWEEPER_LIMIT_KEY:
            value = override.value()
            if type(value) is not int:
                return None  # Hydra refuses it, saying why
            max_jobs = value
        elif key.startswith("hydra.sweeper") or key.startswith("hydra/sweeper"):
            return None
    return max_jobs


def read_command_line(argv: Sequence[str], config_path: str, config_name: str) -> Optional[CommandLine]:
    """The command line as Hydra will read it, or None when there is nothing to check: a command
    that composes no job from the overrides (shell completion, --info, --help, --hydra-help,
    --version, --experimental-rerun) or a command line that Hydra's parsers refuse (Hydra says
    why when it reads it again)."""
    parser = hydra_args_parser()
    if parser is None:
        return None
    try:
        # argparse prints its errors (and --version) itself: Hydra will print them when it reads argv
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            args = parser.parse_args(list(argv))
    except SystemExit:
        return None
    if args.shell_completion or args.info is not None or args.help or args.hydra_help:
        return None
    if getattr(args, "experimental_rerun", None) is not None:
        return None  # the job's config is read back from a pickle, not composed
    try:
        overrides = OverridesParser.create().parse_overrides(args.overrides)
    except OverrideParseException:
        return None  # malformed: Hydra's own parse error is the clearest message
    return CommandLine(
        overrides=overrides,
        config_path=args.config_path if args.config_path is not None else config_path,
        config_name=args.config_name if args.config_name is not None else config_name,
        config_dir=args.config_dir,
        multirun=bool(args.multirun),
        own_config=args.config_path is None and args.config_name is None and args.config_dir is None,
    )


def unknown_keys(line: CommandLine, app_dir: Path, schema: Optional[type] = None) -> list[str]:
    """One message per override whose key the composed config does not have, with suggestions;
    empty when the config composes or fails for any other reason (then Hydra decides)."""
    if schema is not None and _within_schema(line, schema):
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Hydra warns again when it initialises and composes
            with _initialize(line.config_path, app_dir):
                lines = _composed_lines(line)
                return [] if lines is None else _compose_failures(line.config_name, lines)
    except Exception:  # noqa: BLE001 - a failure to initialise or compose is Hydra's to report
        return []


def _within_schema(line: CommandLine, schema: type) -> bool:
    """Whether no key can be missing without composing anything: the app's own config, built on
    ``schema`` (run_sim.py's: :mod:`launcher.model.config`), and only plain ``key=value`` overrides
    (sweeps too) of schema keys. It saves the composition on the most common command lines; were the
    config ever not built on the schema, the check would only be skipped, never refuse anything."""
    known = {**known_schema_keys(schema), **_own_config_hydra_keys()}
    return line.own_config and all(_is_plain(o) and o.key_or_group in known for o in line.overrides)


@functools.lru_cache(maxsize=None)
def _own_config_hydra_keys() -> dict[str, None]:
    """The keys of Hydra's node that the app's own config has whatever the command line: Hydra's
    settings (``hydra.sweep.dir``, ``hydra.run.dir``... every key of Hydra's schema) and those of
    the sweeper the config chooses (``hydra.sweeper.collect``: the project's grid sweeper). A command
    line that chooses another sweeper or launcher has a group override, which is no schema
    key, so it is composed. Most commands set one of these (``hydra.sweep.dir=...``): known, they
    save a composition of the config, half a second of CPU."""
    from hydra.conf import HydraConf

    from launcher.sweep.sweeper import MozaikSweeperConf

    return dict.fromkeys(
        [f"hydra.{key}" for key in known_schema_keys(HydraConf)]
        + [f"hydra.sweeper.{key}" for key in known_schema_keys(MozaikSweeperConf) if key != "_target_"]
    )


def _is_plain(override: Override) -> bool:
    """Whether an override is a plain ``key=value`` (no ``+``, ``++``, ``~`` or ``@package``)."""
    return not (override.is_add() or override.is_force_add() or override.is_delete() or override.package is not None)


def _initialize(config_path: str, app_dir: Path) -> ContextManager[Any]:
    """Hydra initialised on the primary config directory that hydra.main will use: ``config_path``
    absolute, ``pkg://module``, or relative to the app's file (``compute_search_path_dir`` in
    hydra/_internal/utils.py)."""
    if config_path.startswith("pkg://"):
        return initialize_config_module(config_module=config_path[len("pkg://"):], version_base=VERSION_BASE)
    config_dir = os.path.normpath(os.path.join(os.path.realpath(app_dir), config_path))
    return initialize_config_dir(config_dir=config_dir, version_base=VERSION_BASE)


def _composed_lines(line: CommandLine) -> Optional[list[_Line]]:
    """The overrides to compose, or None if they cannot stand for what Hydra will compose.

    ``--config-dir`` becomes ``hydra.searchpath`` (the compose API has no search path
    of its own). A sweep (``-m a=1,2``, ``range()``, ``choice()``, ``glob()``) is
    composed with one of its values: each job is composed with one, and a key is in
    the config or not whatever its value.
    """
    lines: Optional[list[_Line]] = [_Line(str(override.input_line), override) for override in line.overrides]
    if line.config_dir is not None:
        lines = _with_config_dir(lines, line.config_dir, line.config_name)
    if lines is None or not line.multirun:
        return lines
    searchpath = [x.composed for x in lines if x.given.get_key_element() == SEARCHPATH_KEY][:1]
    loader = GlobalHydra.instance().config_loader()

    def group_options(group: str) -> list[str]:
        return loader.get_group_options(group, config_name=line.config_name, overrides=searchpath)

    one_each = []
    for x in lines:
        composed = _one_value(x.given, group_options) if x.given.is_sweep_override() else x.composed
        if composed is None:
            return None
        one_each.append(_Line(composed, x.given))
    return one_each


def _one_value(sweep: Override, group_options: Callable[[str], list[str]]) -> Optional[str]:
    """The override of one value of a sweep (its first), or None if it has none to give
    (an empty glob, or a sweep such as interval() that only a sweeper plugin samples).
    A glob lists the group's options on the search path the check composes with."""
    try:
        if sweep.value_type is ValueType.GLOB_CHOICE_SWEEP:
            values: Iterable[str] = sweep.value().filter(group_options(sweep.key_or_group))
        elif isinstance(sweep.value(), RangeSweep):  # its first value: Hydra lists a shuffled range whole first
            values = map(str, sweep.value().range())
        else:
            values = sweep.sweep_string_iterator()
        value = next(iter(values), None)
    except Exception:  # noqa: BLE001 - Hydra raises HydraException or asserts for sweeps it cannot list
        return None
    return None if value is None else f"{sweep.get_key_element()}={value}"


def _with_config_dir(lines: list[_Line], config_dir: str, config_name: str) -> Optional[list[_Line]]:
    """The overrides with ``--config-dir`` on ``hydra.searchpath``, where Hydra puts it: after the
    primary config, before the search path of ``hydra.searchpath`` (the command line's, else the
    primary config's). None if the directory does not exist (Hydra says so)."""
    path = os.path.abspath(config_dir)
    if not os.path.isdir(path):
        return None
    # Hydra takes the search path from the first hydra.searchpath override only.
    index = next((i for i, x in enumerate(lines) if x.given.get_key_element() == SEARCHPATH_KEY), None)
    searchpath = lines[index].given.value() if index is not None else _primary_searchpath(config_name)
    if not isinstance(searchpath, list):
        return None  # Hydra refuses it
    composed = hydra_override(SEARCHPATH_KEY, [f"file://{path}", *searchpath])
    if index is None:
        given = OverridesParser.create().parse_override(composed)
        return [*lines, _Line(composed, given)]
    return [*lines[:index], _Line(composed, lines[index].given), *lines[index + 1 :]]


def _primary_searchpath(config_name: str) -> list[Any]:
    """``hydra.searchpath`` of the primary config as written, the only config Hydra reads it from."""
    for source in GlobalHydra.instance().config_loader().get_sources():
        if source.is_config(config_name):
            searchpath = OmegaConf.select(source.load_config(config_name).config, SEARCHPATH_KEY)
            return list(searchpath) if searchpath is not None else []
    return []


def _compose_failures(config_name: str, lines: list[_Line]) -> list[str]:
    """Compose, leaving out each override whose key the config does not have until the rest
    composes; one message per such override, with suggestions from the composed config."""
    missing: list[_Line] = []
    cfg: Optional[DictConfig] = None
    while cfg is None:
        try:
            cfg = compose(config_name, overrides=[x.composed for x in lines], return_hydra_config=True)
        except Exception as exc:  # noqa: BLE001 - Hydra fails with many types; one cause is ours
            culprit = _unknown_key_line(exc, lines)
            if culprit is None:
                break  # another error: the keys found so far are still unknown, but nothing suggests
            missing.append(culprit)
            lines = [x for x in lines if x is not culprit]
    known = config_keys(cfg) if cfg is not None else []
    return [
        unknown_key_message(x.given.key_or_group, str(x.given.input_line), _same_part(x.given.key_or_group, known))
        for x in missing
    ]


def _unknown_key_line(exc: Exception, lines: list[_Line]) -> Optional[_Line]:
    """The override that failed composition because its key is not in the config, if that is why.

    Hydra reports it as a ConfigCompositionException caused by OmegaConf's key error,
    whose ``full_key`` is the override's key or its first part that the config does not have.
    Only a plain ``key=value`` can fail so: ``+`` and ``++`` add keys, ``~`` says so itself.
    """
    cause = exc.__cause__
    if not isinstance(exc, ConfigCompositionException) or not isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return None
    if not cause.full_key:
        return None
    for x in lines:
        key = x.given.key_or_group
        if _is_plain(x.given) and (key == cause.full_key or key.startswith(f"{cause.full_key}.")):
            return x
    return None


def _same_part(key: str, known: list[str]) -> list[str]:
    """The known keys on the same side of the config as ``key``: Hydra's node or the model's tree
    (a misspelled model key is never meant as one of Hydra's hundreds of keys)."""
    in_hydra = key.split(".", 1)[0] == "hydra"
    return [k for k in known if (k.split(".", 1)[0] == "hydra") == in_hydra]
