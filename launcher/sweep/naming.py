"""Run-directory names derived from a job's overrides: readable, safe and unique.

Hydra's ``override_dirname`` joins ``key=value`` pairs as they are: a ``/`` in a
value nests directories, ``..`` escapes the sweep directory and a long value
breaks the 255-byte file-name limit. :func:`run_dirname` keeps Hydra's readable
form (sorted ``key=value`` pairs joined by ``,``) whenever it is a faithful,
safe, single path component, and otherwise replaces the offending characters,
shortens the name and appends ``~`` and a hash of the full overrides. ``~`` never
appears in a faithful name, so a faithful name and a hashed one never collide,
and two different override sets never share a directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from omegaconf import OmegaConf, open_dict, read_write

from launcher import compat

#: File names are limited to 255 bytes on the file systems of clusters and laptops.
MAX_NAME_BYTES = 255
#: Hex digits of the hash appended to a name that had to be altered (40 bits).
HASH_CHARS = 10
#: Name of the run directory of a job without overrides.
NO_OVERRIDES_NAME = "defaults"
#: Punctuation kept as is; every other non-alphanumeric character (path separators,
#: quotes, spaces, control characters, and the ',' '=' '~' of the name's own syntax)
#: is replaced by '_', which makes the name unfaithful and adds the hash.
_SAFE_PUNCTUATION = frozenset("._-+:@%")
#: The ``hydra.sweep.subdir`` the mozaik sweeper gives a sweep: this resolver over the job's
#: overrides, leaving out ``hydra.job.config.override_dirname.exclude_keys``.
SWEEP_SUBDIR = "${run_dirname:${hydra.overrides.task},${hydra.job.config.override_dirname.exclude_keys}}"
#: Hydra's own ``hydra.sweep.subdir``: the job's number.
HYDRA_SUBDIR = "${hydra.job.num}"


def overrides_hash(overrides: Iterable[str]) -> str:
    """A short, stable hash of a set of overrides (order does not matter)."""
    canonical = "\n".join(sorted(overrides))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:HASH_CHARS]


@functools.lru_cache(maxsize=65536)  # a sweep's keys and values repeat across its jobs
def _clean(text: str) -> str:
    return "".join(c if (c.isalnum() or c in _SAFE_PUNCTUATION) else "_" for c in text)


@functools.lru_cache(maxsize=65536)  # called for every job of a sweep: its lines repeat
def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


@functools.lru_cache(maxsize=65536)
def _pair(override: str) -> tuple[str, bool]:
    """An override line's part of the name, and whether it is the line as written."""
    key, sep, value = override.partition("=")
    clean_key, clean_value = _clean(key), _clean(value)
    return f"{clean_key}={clean_value}", bool(sep) and clean_key == key and clean_value == value


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def run_dirname(overrides: Iterable[str], exclude_keys: Iterable[str] = ()) -> str:
    """The run-directory name of a job, from its override strings (``key=value``).

    Overrides of ``exclude_keys`` are left out, as Hydra's
    ``hydra.job.config.override_dirname.exclude_keys`` leaves them out of
    ``override_dirname`` (the sweeper refuses a sweep in which two jobs would then
    share a directory).
    """
    excluded = exclude_keys if isinstance(exclude_keys, (set, frozenset)) else set(exclude_keys)
    overrides = [o for o in map(str, overrides) if _key(o) not in excluded]
    if not overrides:
        return NO_OVERRIDES_NAME
    overrides.sort()
    pairs = [_pair(override) for override in overrides]
    name = ",".join(pair for pair, _ in pairs)
    if all(faithful for _, faithful in pairs) and len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    suffix = "~" + overrides_hash(overrides)
    return _truncate_utf8(name, MAX_NAME_BYTES - len(suffix)) + suffix


def name_run_dirs_after_overrides(config: Any) -> None:
    """Give a sweep's master config :data:`SWEEP_SUBDIR` unless the app chose its own subdir (in
    its config, or ``hydra.sweep.subdir=...`` on the command line, Hydra's own default included).

    The sweeper calls this for any app, so that no app needs to set ``hydra.sweep.subdir``.
    Every job's config is composed again from the master's Hydra overrides, so the
    setting is added there too, as if given on the command line (quoted: Hydra's
    override grammar reads an unquoted ``${...}`` holding a comma as a sweep).
    """
    if OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir") != HYDRA_SUBDIR:
        return
    if any(_key(str(line)) == "hydra.sweep.subdir" for line in OmegaConf.to_container(config.hydra.overrides.hydra)):
        return  # Hydra's numbered directories, asked for by name: as Hydra means them
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.sweep.subdir = SWEEP_SUBDIR
        config.hydra.overrides.hydra.append(f"hydra.sweep.subdir='{SWEEP_SUBDIR}'")


#: Root keys of a config that say how a model's task runs, not what it simulates (``task.env``, ``task.mpi``...).
SETTING_ROOTS = ("task",)


def shared_settings(task_overrides: Iterable[str], groups: Iterable[str], listed_keys: Iterable[str] = ()) -> dict[str, str]:
    """The overrides of ``task_overrides`` (a sweep's command line) that every job shares and that lie outside
    the model's tree, by key: a choice of a config group (``model=NAME``; ``groups``) or a run setting
    (``task.env=...``), given one value, and not changed by a job of a jobs file (``listed_keys``). mozaik names
    a run after the parameters it varies; leaving these out of a sweep's run-directory names never makes two
    of its jobs share one."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups, listed, lines = set(groups), set(listed_keys), list(map(str, task_overrides))
    found = {}
    for line, override in zip(lines, OverridesParser.create().parse_overrides(lines)):
        key = override.key_or_group
        setting = (key in groups and not key.startswith("hydra")) or key.split(".")[0] in SETTING_ROOTS
        if setting and not override.is_sweep_override() and not override.is_delete() and key not in listed:
            found[key] = line
    return found


def kept_in_names(sweep_dir: Path, settings: dict[str, str]) -> set[str]:
    """Those of the shared ``settings`` (key -> override line) that a sweep into ``sweep_dir`` keeps in its
    run-directory names: those that name run directories there already (a sweep begun before they were left
    out: it keeps its names, and resumes), and those its earlier jobs ran with another value or without (a
    job of the new value is another configuration: it gets a directory of its own). All of them when its
    manifest cannot be read."""
    from launcher.run.jsonfile import Damage, read_json_object

    try:
        names = [entry.name for entry in os.scandir(sweep_dir) if entry.is_dir()]
    except OSError:  # no sweep there yet
        return set()
    kept = {pair.partition("=")[0] for name in names for pair in name.split(",")} & settings.keys()
    manifest = read_json_object(Path(sweep_dir) / "manifest.json")
    if isinstance(manifest, Damage) or (manifest is not None and not isinstance(manifest.get("jobs"), list)):
        return set(settings)
    for job in manifest.get("jobs", []) if manifest is not None else []:
        lines = {_key(str(line)): str(line) for line in (job.get("overrides") or []) if isinstance(job, dict)}
        kept |= {key for key, line in settings.items() if lines.get(key) != line}
    return kept


def leave_shared_settings_out(config: Any, listed_keys: Iterable[str] = ()) -> list[str]:
    """Leave the :func:`shared_settings` of a sweep's master ``config`` out of its run-directory names (added
    to ``hydra.job.config.override_dirname.exclude_keys``, for the jobs' configs too), but those
    :func:`kept_in_names`; the keys left out."""
    if not names_run_dirs(config):  # the app names its run directories itself
        return []
    choices = OmegaConf.to_container(config.hydra.runtime.choices) if "choices" in config.hydra.runtime else {}
    settings = shared_settings(config.hydra.overrides.task, choices or {}, listed_keys)  # type: ignore[arg-type]
    kept = kept_in_names(Path(str(config.hydra.sweep.dir)), settings) if settings else set()
    keys = [key for key in settings if key not in kept]
    if not keys:
        return []
    excluded = list(dict.fromkeys([*map(str, config.hydra.job.config.override_dirname.exclude_keys), *keys]))
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.job.config.override_dirname.exclude_keys = excluded
        config.hydra.overrides.hydra.append(f"hydra.job.config.override_dirname.exclude_keys=[{','.join(excluded)}]")
    return keys


def outside_sweep_dir(run_dir: str) -> bool:
    """Whether a run directory (relative to the sweep directory) would lie outside it, or be it."""
    if "/" not in run_dir and "\\" not in run_dir:  # one name, as run_dirname gives: no path to parse
        return run_dir in ("", ".", "..")
    path = PurePosixPath(run_dir.replace("\\", "/"))
    return path.is_absolute() or not path.parts or path.parts == (".",) or ".." in path.parts


def names_run_dirs(config: Any) -> bool:
    """Whether a composed config's ``hydra.sweep.subdir`` is :data:`SWEEP_SUBDIR`: a job's run
    directory is then ``run_dirname`` of its override lines, computable without resolving."""
    return OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir") == SWEEP_SUBDIR  # type: ignore[union-attr]


def _resolve_run_dirname(overrides: object, exclude_keys: object = ()) -> str:
    # The resolver receives hydra.overrides.task (and the keys to leave out) as ListConfigs.
    def plain(value: object) -> list[str]:
        return list(OmegaConf.to_container(value) if OmegaConf.is_config(value) else value)  # type: ignore[arg-type]

    return run_dirname(plain(overrides), plain(exclude_keys))


compat.register_resolver("run_dirname", _resolve_run_dirname)
