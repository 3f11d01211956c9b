"""The sweeper: Hydra's basic sweeper, plus validation of every job before any runs
and a failure report at the end.

Hydra's basic sweeper creates the sweep directory before it checks the jobs,
checks nothing but composition, and stops at the first failed job it looks at.
This one composes and validates every combination first (a rejected sweep
creates nothing), makes sure no two jobs share a run directory, runs every job
even when some fail, and ends by listing each failed job with its error and log.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException, HydraException
from omegaconf import OmegaConf

from launcher.tree import ParameterError, tree_problems

log = logging.getLogger(__name__)


@dataclass
class MozaikSweeperConf:
    """Config of the sweeper (``hydra/sweeper=mozaik``); same knobs as Hydra's basic sweeper."""

    _target_: str = "hydra_plugins.mozaik_sweeper.mozaik_sweeper.MozaikSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None


class SweepFailed(CompactHydraException):
    """Some jobs of a sweep failed; the others' results are complete and kept."""


@dataclass
class FailedJob:
    """What the user needs to look into one failed job."""

    number: int
    overrides: List[str]
    state: str
    error: str
    run_dir: Optional[str]
    logs: List[str]

    def describe(self) -> str:
        return (
            f"  #{self.number} {' '.join(self.overrides) or '(no overrides)'}\n"
            f"      state: {self.state}\n"
            f"      error: {self.error}\n"
            f"      run dir: {self.run_dir}\n"
            + "".join(f"      log: {path}\n" for path in self.logs)
        ).rstrip("\n")


def failed_job(number: int, overrides: Sequence[str], ret: JobReturn, run_dir: Optional[str], job_name: str) -> FailedJob:
    """Describe a failed JobReturn of any launcher.

    ``run_dir`` is where the job was to write (known before launch): a job that
    never started has no Hydra config of its own to tell.
    """
    error = ret._return_value  # the exception; .return_value would re-raise it
    if ret.hydra_cfg is not None:
        run_dir = str(ret.hydra_cfg.hydra.runtime.output_dir)
    logs = []
    if run_dir is not None:
        logs.append(str(Path(run_dir) / f"{job_name}.log"))
    launcher_log = getattr(error, "log_file", None)  # e.g. the Slurm task's stderr
    if launcher_log is not None:
        logs.append(str(launcher_log))
    message = str(error)
    state = getattr(error, "state", "FAILED")
    if message.startswith(f"{state}: "):
        message = message[len(state) + 2 :]
    return FailedJob(number, list(overrides), state, f"{type(error).__name__}: {message}", run_dir, logs)


class ValidatingSweeper(BasicSweeper):
    """Behaviour of the ``mozaik`` sweeper (Hydra loads the class from ``hydra_plugins``)."""

    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(self._parse_config() + list(arguments))
        self.overrides = self.split_arguments(overrides, self.max_batch_size)
        jobs = [list(job) for batch in self.overrides for job in batch]

        tic = time.perf_counter()
        run_dirs = self.validate_jobs(jobs)
        log.debug("Validated %d jobs in %.2f s", len(jobs), time.perf_counter() - tic)

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        returns: List[Sequence[JobReturn]] = []
        failures: List[FailedJob] = []
        first = 0
        while not self.is_done():
            batch = self.get_job_batch()
            results = self.launcher.launch(batch, initial_job_idx=first)
            for offset, (job, ret) in enumerate(zip(batch, results)):
                if ret.status != JobStatus.COMPLETED:
                    run_dir = run_dirs.get(tuple(job))
                    failures.append(failed_job(first + offset, job, ret, run_dir, str(self.config.hydra.job.name)))
            first += len(batch)
            returns.append(results)

        if failures:
            raise SweepFailed(
                f"{len(failures)} of {len(jobs)} jobs failed (the other results are complete):\n"
                + "\n".join(f.describe() for f in failures)
            )
        return returns

    def validate_jobs(self, jobs: List[List[str]]) -> Dict[tuple, str]:
        """Compose and validate every job; raise one error listing every problem once.

        Returns the run directory of each job (by its overrides).
        """
        assert self.config is not None and self.hydra_context is not None
        problems: Dict[str, List[str]] = {}  # problem -> labels of the jobs that have it
        dirs: Dict[str, List[str]] = {}
        run_dirs: Dict[tuple, str] = {}
        for job in jobs:
            label = " ".join(job) or "(no overrides)"
            try:
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, job)
            except HydraException as exc:
                cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
                problems.setdefault(f"{exc}{cause}", []).append(label)
                continue
            for problem in tree_problems(cfg):
                problems.setdefault(problem, []).append(label)
            subdir = OmegaConf.select(cfg, "hydra.sweep.subdir", default=None, throw_on_resolution_failure=False)
            if subdir is not None:
                dirs.setdefault(str(subdir), []).append(label)
                run_dirs[tuple(job)] = os.path.join(str(cfg.hydra.sweep.dir), str(subdir))
        for subdir, labels in dirs.items():
            if len(labels) > 1:
                problems[f"{len(labels)} jobs would share the run directory {subdir!r}"] = labels
        if problems:
            lines = []
            for problem, labels in problems.items():
                where = f"all {len(jobs)} jobs" if len(labels) == len(jobs) else "; ".join(labels[:5])
                more = f" and {len(labels) - 5} more" if len(labels) > 5 and len(labels) < len(jobs) else ""
                lines.append(f"  {problem}\n      in: {where}{more}".replace("\n", "\n  ", problem.count("\n")))
            raise ParameterError("The sweep was rejected; nothing was run or created:\n" + "\n".join(lines))
        return run_dirs
