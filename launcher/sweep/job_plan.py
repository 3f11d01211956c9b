"""Planning a sweep's jobs: every job composed (or planned from the base) and validated, its run
directory and config hash, every problem of the sweep listed once, before anything is created
(:class:`PlansJobs`, the sweepers' part that plans); the jobs of a grid or a jobs file."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from hydra.errors import HydraException
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from launcher.run.files import LIMITS, read_user_file
from launcher import compat
from launcher.run.tree_hash import resolved_tree
from launcher.sweep.manifest import JobEntry, Manifest
from launcher.sweep.naming import outside_sweep_dir
from launcher.sweep.tree import ParameterError, check_tree, config_keys, dotted_keys, flatten, suggest

if TYPE_CHECKING:  # (imported when a sweep plans: not at Hydra's plugin scan)
    from launcher.sweep.planner import ValuePlanner

log = logging.getLogger(__name__)


def read_jobs_file(path: str) -> List[List[str]]:
    """The jobs of a ``jobs_file``: a JSON list of lists of override strings."""
    try:
        data = read_user_file(path, LIMITS["jobs file"], "jobs file")  # no FIFO: never a wait
        if len(data) > LIMITS["jobs file"]:
            raise ParameterError(f"hydra.sweeper.jobs_file: {path} holds more than {LIMITS['jobs file']:,} bytes")
        jobs = json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"hydra.sweeper.jobs_file: cannot read {path}: {exc}") from exc
    if not (isinstance(jobs, list) and all(isinstance(j, list) and all(isinstance(o, str) for o in j) for j in jobs)):
        raise ParameterError(f"hydra.sweeper.jobs_file: {path} must hold a JSON list of lists of overrides (strings)")
    return jobs


def _shared(jobs: List[JobEntry], key: Callable[[JobEntry], str]) -> List[Tuple[str, List[str]]]:
    """Each value of ``key`` that more than one job has, with those jobs' overrides."""
    # The values found twice from their hashes, sorted as an array: 16 bytes a job, where a set
    # of the values would take 40 (and a label for every job, most of the planning's memory).
    import numpy

    hashes = numpy.fromiter((hash(key(job)) for job in jobs), dtype=numpy.int64, count=len(jobs))
    hashes.sort()
    same = set(hashes[1:][hashes[1:] == hashes[:-1]].tolist())  # a hash twice: its values may be the same
    del hashes
    counted: Dict[str, int] = {}
    for job in jobs:
        if same and hash(key(job)) in same:
            counted[key(job)] = counted.get(key(job), 0) + 1
    twice = {value for value, count in counted.items() if count > 1}
    by_key: Dict[str, List[str]] = {}
    if twice:
        for job in jobs:
            value = key(job)
            if value in twice:
                by_key.setdefault(value, []).append(" ".join(job.overrides))
    return list(by_key.items())


_UNKNOWN = object()


@dataclass(frozen=True)
class _BaseFacts:
    """What the config without job overrides (the sweep's base) tells of a job's overrides."""

    #: Its leaves, resolved and flat (None if it does not resolve): the kinds an override must keep.
    leaves: Optional[Dict[str, Any]]
    #: Every dotted key of the model's tree: an override of another key is a misspelling.
    keys: frozenset[str]
    #: Its top-level config groups: an override of one chooses another option, another tree.
    groups: frozenset[str]
    #: Its keys whose value is an interpolation of a whole node (``${sheets.l4}``), with it.
    references: Dict[str, str]

    @classmethod
    def of(cls, composer: Any) -> "_BaseFacts":
        base = composer.base()
        raw = OmegaConf.to_container(base, resolve=False)
        model = {k: v for k, v in raw.items() if k != "hydra"}  # type: ignore[union-attr]
        keys = frozenset(dotted_keys(model))
        try:
            leaves: Optional[Dict[str, Any]] = flatten(resolved_tree(base))
        except OmegaConfBaseException:
            leaves = None
        references = {
            key: value
            for key, value in flatten(model).items()
            if isinstance(value, str) and "${" in value
            and OmegaConf.is_config(OmegaConf.select(base, key, throw_on_resolution_failure=False))
        }
        return cls(leaves, keys, composer.groups(), references)


class PlansJobs:
    """The planning of a sweeper: composes and validates jobs against its ``config`` with its
    ``hydra_context``'s config loader (set by the sweeper's ``setup``)."""

    hydra_context: Optional[HydraContext]
    config: Optional[DictConfig]
    _base_facts: Any = _UNKNOWN

    def plan(self, combinations: List[List[str]], numbers: Optional[Sequence[int]] = None) -> Manifest:
        """Compose and validate every job and plan its run directory; ``numbers``: the job
        numbers (by default 0, 1, ...; see :meth:`Manifest.numbers_for`).

        Raises one :class:`ParameterError` listing every problem once: among them two jobs
        that would share a run directory, or run the same parameter tree (``a=50,50.0``: one
        value written two ways; each would be run and listed as a job of its own).
        """
        assert self.config is not None and self.hydra_context is not None
        problems: Dict[str, List[str]] = {}  # problem -> labels of the jobs that have it
        jobs: List[JobEntry] = []
        planner = self.planner()
        for number, overrides in zip(range(len(combinations)) if numbers is None else numbers, combinations):
            job, found = self.plan_job(number, overrides, planner)
            for problem in found:
                problems.setdefault(problem, []).append(" ".join(overrides) or "(no overrides)")
            if job is not None:
                jobs.append(job)
        for run_dir, labels in _shared(jobs, lambda job: job.run_dir):
            problems[f"{len(labels)} jobs would share the run directory {run_dir!r}"] = labels
        for config_hash, labels in _shared(jobs, lambda job: job.config_hash):
            # The same simulation twice, under two names; the resume, table and figures would
            # count it twice. Refused, as a shared run directory is, rather than guessing which to keep.
            problems[
                f"{len(labels)} jobs would run the same parameter tree (config hash {config_hash}): "
                "one value written two ways? Give each value once"
            ] = labels
        if problems:
            lines = []
            for problem, labels in problems.items():
                where = f"all {len(combinations)} jobs" if len(labels) == len(combinations) else "; ".join(labels[:5])
                more = f" and {len(labels) - 5} more" if 5 < len(labels) < len(combinations) else ""
                lines.append(f"  {problem}\n      in: {where}{more}".replace("\n", "\n  ", problem.count("\n")))
            raise ParameterError("The sweep was rejected; nothing was run or created:\n" + "\n".join(lines))
        return Manifest(Path(str(self.config.hydra.sweep.dir)), jobs, job_log=f"{self.config.hydra.job.name}.log")

    def plan_job(
        self, number: int, overrides: Sequence[str], planner: Optional["ValuePlanner"]
    ) -> Tuple[Optional[JobEntry], List[str]]:
        """One job planned and checked: its entry (None if it has problems) and its problems.
        Plain value changes are planned from the base (``planner``), others composed in full."""
        planned = planner.plan(overrides) if planner is not None else None
        found, planned_hash, run_dir = planned if planned is not None else self._plan_composed(number, list(overrides))
        if run_dir is not None and outside_sweep_dir(run_dir):
            found = [*found, f"the run directory {run_dir!r} is not inside the sweep directory (see hydra.sweep.subdir)"]
        if found or planned_hash is None or run_dir is None:
            return None, found
        return JobEntry(number, overrides if isinstance(overrides, list) else list(overrides), run_dir, planned_hash), []

    def _plan_composed(self, number: int, overrides: List[str]) -> Tuple[List[str], Optional[str], Optional[str]]:
        """Compose one job in full and check it: its problems, config hash and run directory."""
        assert self.config is not None and self.hydra_context is not None
        under_references = self._under_references(overrides)
        if under_references:
            return under_references, None, None
        try:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        except HydraException as exc:
            cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
            return self._unknown_keys(overrides) or self._unknown_key_of(exc, overrides) or [f"{exc}{cause}"], None, None
        base, changes = self._base(), self._job_changes(overrides)
        if base is not None and base.leaves is not None and changes is not None:
            found, planned_hash = check_tree(cfg, [o.key_or_group for o in changes], base.leaves)
        else:  # the job chooses another config group option: no base to compare its kinds with
            found, planned_hash = check_tree(cfg)
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = number  # as the launcher will set it, for subdirs that use it
        try:
            return found, planned_hash, str(cfg.hydra.sweep.subdir)
        except OmegaConfBaseException as exc:
            return found + [f"hydra.sweep.subdir cannot be resolved: {exc}"], None, None

    def _base(self) -> Optional["_BaseFacts"]:
        """What the sweep's config without job overrides tells of a job (None if it cannot be composed)."""
        if self._base_facts is _UNKNOWN:
            from launcher.sweep.compose import ComposingConfigLoader, JobComposer

            self._base_facts = None
            loader = self.hydra_context.config_loader if self.hydra_context is not None else None
            if loader is not None and self.config is not None:
                # Off the fast paths, a composer of the same public calls (load_sweep_config).
                composer = loader.composer(self.config) if isinstance(loader, ComposingConfigLoader) else JobComposer(loader, self.config)
                try:
                    self._base_facts = _BaseFacts.of(composer)
                except Exception as exc:  # composing the base fails: every job will say why
                    compat.fell_back(
                        "The config without job overrides cannot be composed", exc,
                        "each job is composed and checked alone, without suggestions for misspelled keys",
                    )
        return self._base_facts  # type: ignore[return-value]

    def _job_changes(self, overrides: List[str]) -> Optional[List[Any]]:
        """The job's plain value overrides of the model's tree (None if it chooses a config group)."""
        base = self._base()
        if base is None:
            return None
        try:
            parsed = OverridesParser.create().parse_overrides(overrides)
        except HydraException:
            return None
        changes = []
        for override in parsed:
            key = override.key_or_group
            if "/" in key or key in base.groups or override.package is not None:
                return None  # another config group option: another tree
            if not override.is_hydra_override() and not override.is_delete():
                changes.append(override)
        return changes

    def _under_references(self, overrides: List[str]) -> List[str]:
        """A change of a key under an interpolation of a whole node (``b: ${a}``, then ``b.x=1``) is
        refused: OmegaConf 2.3 refuses it (the key is not in the node), 2.4 writes it through to the
        node referred to (``a.x`` changes too). Either would surprise; the message says what to do."""
        base, changes = self._base(), self._job_changes(overrides) or []
        problems = []
        for override in changes:
            parts = override.key_or_group.split(".")
            for end in range(1, len(parts)):
                node = ".".join(parts[:end])
                if base is not None and node in base.references:
                    problems.append(
                        f"{override.key_or_group}: {node} is the interpolation {base.references[node]}, a reference "
                        f"to a whole node, not a copy: change the key in the node it refers to (both change), or "
                        f"give {node} values of its own in the config"
                    )
                    break
        return problems

    def _unknown_keys(self, overrides: List[str]) -> List[str]:
        """For a job that Hydra refused: each key it changes that the config does not have,
        with the existing keys nearest to it (Hydra's message names the key, suggests nothing)."""
        base, changes = self._base(), self._job_changes(overrides) or []
        problems = []
        for override in changes:
            key = override.key_or_group
            if base is not None and key not in base.keys and override.type == OverrideType.CHANGE:
                close = suggest(key, base.keys)
                problems.append(f"Unknown parameter '{key}'." + (f" Did you mean: {', '.join(close)}?" if close else ""))
        return problems

    def _unknown_key_of(self, exc: HydraException, overrides: List[str]) -> List[str]:
        """Hydra refused a job for a key its config does not have, where the sweep's base config is
        another tree (a fit's trials choose ``model=my_net``): the key, with the nearest keys of the
        job's own config, composed without the overrides of that key."""
        key = getattr(exc.__cause__, "full_key", None)
        if not isinstance(exc.__cause__, (ConfigAttributeError, ConfigKeyError)) or not key or self.config is None:
            return []
        assert self.hydra_context is not None
        def of_key(line: str) -> bool:
            written = line.partition("=")[0].lstrip("+~")
            return written == key or written.startswith(f"{key}.")

        rest = [line for line in overrides if not of_key(line)]
        if len(rest) == len(overrides):
            return []
        try:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, rest)
        except HydraException:
            return []
        known = [k for k in config_keys(cfg) if k.split(".", 1)[0] != "hydra"]
        close = suggest(key, known)
        return [f"Unknown parameter '{key}'." + (f" Did you mean: {', '.join(close)}?" if close else "")]

    def planner(self) -> Optional["ValuePlanner"]:
        from launcher.sweep.compose import ComposingConfigLoader
        from launcher.sweep.planner import ValuePlanner

        loader = self.hydra_context.config_loader if self.hydra_context is not None else None
        if not isinstance(loader, ComposingConfigLoader) or self.config is None:
            return None
        return ValuePlanner(loader.composer(self.config))
