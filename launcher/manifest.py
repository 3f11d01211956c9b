"""The sweep manifest: one JSON file per sweep directory listing every job and its state.

Only the process that runs the sweep writes it, always whole and atomically,
so it is never half-written however many jobs end at once; the jobs write
their own ``results.json``, which stays the truth about a finished job.
:func:`Manifest.load` folds those in, so a reader (``status``, ``collect``)
sees jobs that finished after the manifest was last written.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from launcher import results

MANIFEST_FILE = "manifest.json"
#: The log a job of run_sim.py writes into its run directory (Hydra's ``<job name>.log``);
#: a manifest names its own (``job_log``), this is for manifests written before it did.
JOB_LOG = "run_sim.log"
PENDING, RUNNING = "pending", "running"
COMPLETED, FAILED = results.COMPLETED, results.FAILED
STATES = (PENDING, RUNNING, COMPLETED, FAILED)


def now() -> str:
    """The current time as the manifest and results.json write it (UTC, ISO 8601)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class JobEntry:
    """One job of a sweep."""

    number: int
    overrides: list[str]
    run_dir: str  # relative to the sweep directory
    config_hash: str
    state: str = PENDING
    slurm_job_id: Optional[str] = None
    started: Optional[str] = None
    finished: Optional[str] = None
    error: Optional[str] = None
    log: Optional[str] = None  # a launcher's log of the job (e.g. Slurm's), if it has one

    def log_path(self, sweep_dir: Path, job_log: str = JOB_LOG) -> Path:
        """The most useful log of the job: the launcher's if it names one, else the run directory's
        (``job_log``: its file name there, Hydra's ``<job name>.log``)."""
        if self.log:
            return Path(sweep_dir) / self.log  # an absolute path stays as it is
        return Path(sweep_dir) / self.run_dir / job_log

    def describe_failure(self, sweep_dir: Path, job_log: str = JOB_LOG) -> str:
        """What a user needs to look into this job when it failed: overrides, error, run dir, log."""
        return "\n".join(
            [
                f"  #{self.number} {' '.join(self.overrides) or '(no overrides)'}",
                f"      error: {self.error or '(none recorded)'}",
                f"      run dir: {Path(sweep_dir) / self.run_dir}",
                f"      log: {self.log_path(sweep_dir, job_log)}",
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        """The entry as the manifest writes it (``dataclasses.asdict``, without its deep copies)."""
        entry = {f.name: getattr(self, f.name) for f in _ENTRY_FIELDS}
        entry["overrides"] = list(self.overrides)
        return entry

    def apply_results(self, sweep_dir: Path) -> Optional[dict[str, Any]]:
        """Take state, times and error from the job's results.json, if it has one for this config."""
        record = results.read_results(Path(sweep_dir) / self.run_dir)
        if record is None or record.get("config_hash") != self.config_hash:
            return None
        if record.get("state") in (COMPLETED, FAILED):
            # An error already recorded came from the launcher, which knows more
            # (Slurm's CANCELLED or TIMEOUT) than the job that was stopped.
            self.error = (self.error or record.get("error")) if record["state"] == FAILED else None
            self.state = record["state"]
        timings = record.get("timings", {})
        self.started = timings.get("started", self.started)
        self.finished = timings.get("finished", self.finished)
        self.slurm_job_id = record.get("slurm_job_id") or self.slurm_job_id
        return record


_ENTRY_FIELDS = dataclasses.fields(JobEntry)


@dataclass
class Manifest:
    """All jobs of a sweep, in job-number order."""

    sweep_dir: Path
    jobs: list[JobEntry] = field(default_factory=list)
    created: str = field(default_factory=now)
    #: The file name of the log each job writes into its run directory.
    job_log: str = JOB_LOG
    _saved_at: float = field(default=float("-inf"), repr=False, compare=False)
    _save_duration: float = field(default=0.0, repr=False, compare=False)

    @property
    def path(self) -> Path:
        return Path(self.sweep_dir) / MANIFEST_FILE

    def save(self, at_most_every_s: float = 0.0) -> None:
        """Write the manifest (whole, atomically); with ``at_most_every_s``, skip the write if
        the last one is more recent than that (large sweeps report many changes a second),
        or than 20 times the last write took (a write of 10,000 jobs takes a while: the
        manifest then costs the sweep at most 5% of its time)."""
        if at_most_every_s:
            interval = max(at_most_every_s, 20 * self._save_duration)
            if time.monotonic() - self._saved_at < interval:
                return
        started = time.monotonic()
        data = {
            "version": 1,
            "created": self.created,
            "updated": now(),
            "job_log": self.job_log,
            "jobs": [job.as_dict() for job in self.jobs],
        }
        results.write_json_atomic(self.path, data)
        self._saved_at = time.monotonic()
        self._save_duration = self._saved_at - started

    @classmethod
    def load(cls, sweep_dir: Path | str, refresh: bool = True) -> "Manifest":
        """Read a sweep's manifest; with ``refresh``, fold in the jobs' own results.json."""
        sweep_dir = Path(sweep_dir)
        path = sweep_dir / MANIFEST_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{sweep_dir} has no {MANIFEST_FILE}: is it a sweep directory?") from None
        manifest = cls(sweep_dir, [JobEntry(**job) for job in data["jobs"]], data.get("created", now()), data.get("job_log", JOB_LOG))
        if refresh:
            for job in manifest.jobs:
                job.apply_results(sweep_dir)
        return manifest

    def describe_failure(self, job: JobEntry) -> str:
        """What a user needs to look into a failed job: overrides, error, run dir, log."""
        return job.describe_failure(self.sweep_dir, self.job_log)

    def counts(self) -> dict[str, int]:
        return {state: sum(job.state == state for job in self.jobs) for state in STATES}
