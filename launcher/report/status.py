"""A sweep's status: how many jobs completed, failed, run or wait, and each failed, interrupted
or damaged job with its overrides, error and log, read from its files only.

It reads the sweep directory (its ``manifest.json`` and the jobs' ``results.json``) and
never touches a running job, so it works during a sweep as well as after it. Damaged files
never stop it (see :mod:`launcher.run.jsonfile`): a job whose results.json cannot be read is
``damaged``, listed with the file and why; a damaged manifest is reported, and the jobs are
then those the run directories tell of (:meth:`launcher.sweep.manifest.Manifest.rebuild`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from launcher.sweep.lock import is_swept
from launcher.sweep.manifest import (
    COMPLETED, DAMAGED, FAILED, INTERRUPTED, JOB_LOG, MISSING, PENDING, RUNNING, JobEntry, Manifest, ManifestError
)  # fmt: skip

#: How status counts the interrupted jobs that never started (not a state of the manifest; one word,
#: as the counts line is "N state" pairs).
NOT_STARTED = "unstarted"
#: The order in which the status counts the jobs: what is done first.
STATUS_ORDER = (COMPLETED, FAILED, RUNNING, PENDING, INTERRUPTED, NOT_STARTED, DAMAGED, MISSING)


def read_sweep(sweep_dir: Path, rebuild_missing: bool = False) -> tuple[Manifest, Optional[str]]:
    """The sweep's manifest; if it is damaged, the jobs its run directories tell of, with a
    message saying so (what can still be reported is); a :class:`ManifestError` for a missing
    manifest or another program's. ``rebuild_missing``: a missing manifest too is rebuilt from
    the run directories, if any holds a results.json (a sweep killed before it wrote one, run
    directories copied without it)."""
    manifest = Manifest.read(sweep_dir)
    if not isinstance(manifest, ManifestError):
        return manifest, None
    missing = manifest.kind == ManifestError.MISSING
    if manifest.kind != ManifestError.DAMAGED and not (missing and rebuild_missing):
        raise manifest
    rebuilt = Manifest.rebuild(sweep_dir)
    if missing and not rebuilt.jobs:
        raise manifest  # no manifest and no run directory: not a sweep directory
    problem = (
        f"{manifest}{'' if missing else '.'} Reported instead: the run directories that hold a results.json (job numbers, "
        "and jobs without one, are not known until the sweep runs again and rebuilds the manifest)"
    )
    return rebuilt, problem


@dataclass
class StatusReport:
    """The state of every job of a sweep, as far as the files on disk tell."""

    sweep_dir: Path
    counts: dict[str, int]
    failed: list[JobEntry] = field(default_factory=list)
    #: The file name of each job's log in its run directory.
    job_log: str = JOB_LOG
    #: The jobs whose results.json cannot be read.
    damaged: list[JobEntry] = field(default_factory=list)
    #: Why the manifest could not be read, if it could not (the jobs are then the run directories').
    problem: Optional[str] = None
    #: The jobs left pending or running by a sweep that has ended.
    interrupted: list[JobEntry] = field(default_factory=list)
    #: The jobs once completed whose results.json or run directory is gone.
    missing: list[JobEntry] = field(default_factory=list)
    #: Whether the sweep is a fit (its interrupted trials are not run again).
    fit: bool = False
    #: The jobs left pending by a sweep that ended before they started (no run directory): counted
    #: as ``unstarted``, listed as never started, not among the interrupted ones.
    not_started: list[JobEntry] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def status(sweep_dir: Path | str) -> StatusReport:
    """Count the jobs of a sweep by state and describe the failed and damaged ones."""
    sweep_dir = Path(sweep_dir)
    manifest, problem = read_sweep(sweep_dir)
    if not manifest.rebuilt:  # a rebuilt manifest was read from the results.json just now
        manifest.refresh()
    if any(job.slurm_job_id and job.state in (PENDING, RUNNING) for job in manifest.jobs):
        from launcher.launchers.slurm_queue import refresh_states  # jobs left to Slurm: ask the queue

        refresh_states(manifest.jobs)
    manifest.settle(swept=is_swept(sweep_dir))  # a job no process runs any more is interrupted
    jobs = in_order(manifest.jobs)
    failed, damaged, interrupted, missing = ([job for job in jobs if job.state == state] for state in (FAILED, DAMAGED, INTERRUPTED, MISSING))
    # A job that never started has no run directory or log to point to (Ctrl-C, a launcher's failure).
    not_started = [job for job in interrupted if job.started is None and not (sweep_dir / job.run_dir).exists()]
    counts = manifest.counts()
    if not_started:
        interrupted = [job for job in interrupted if job not in not_started]
        counts[INTERRUPTED] -= len(not_started)
        counts = {**{k: v for k, v in counts.items() if k != INTERRUPTED or v}, NOT_STARTED: len(not_started)}
    return StatusReport(
        sweep_dir, counts, failed, manifest.job_log, damaged, problem, interrupted,
        missing=missing, fit=bool(manifest.fit), not_started=not_started,
    )  # fmt: skip


def format_status(report: StatusReport) -> str:
    """The status as a user reads it: one line of counts, then each failed and each damaged job."""
    counts = ", ".join(f"{report.counts[state]} {state}" for state in STATUS_ORDER if state in report.counts)
    lines = [f"Sweep {report.sweep_dir}: {report.total} jobs: {counts}"]
    for title, jobs in (
        ("Failed jobs:", report.failed),
        ("Interrupted trials (not counted: running the fit again samples new ones in their place):" if report.fit
         else "Interrupted jobs (no process runs them any more: running the sweep again runs them):", report.interrupted),
        ("Jobs whose results.json is damaged (not done: running the sweep again reruns them):", report.damaged),
        ("Jobs whose results are gone (not done any more: running the sweep again runs them):", report.missing),
    ):
        if jobs:
            lines.append(title)
        lines += [job.describe_failure(report.sweep_dir, report.job_log) for job in jobs]
    if report.not_started:
        lines.append(
            "Trials that never started (not counted: running the fit again samples new ones in their place):" if report.fit
            else "Jobs that never started (running the sweep again runs them):"
        )  # fmt: skip
        lines += [f"  #{job.number} {' '.join(job.overrides) or '(no overrides)'}" for job in report.not_started]
    return "\n".join(lines)


def in_order(jobs: Iterable[JobEntry]) -> list[JobEntry]:
    return sorted(jobs, key=lambda job: job.number)
