"""A job of a sweep as its manifest lists it (:class:`JobEntry`): number, overrides, run directory,
config hash, state, and what its results.json and its launcher told of it; the states a job can be in.
The manifest (:mod:`launcher.sweep.manifest`) holds one per job."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from launcher.run import results
from launcher.run.jsonfile import Damage

log = logging.getLogger(__name__)

#: The log a job of run_sim.py writes into its run directory (Hydra's ``<job name>.log``);
#: a manifest names its own (``job_log``), this is for manifests written before it did.
JOB_LOG = "run_sim.log"
PENDING, RUNNING = "pending", "running"
COMPLETED, FAILED = results.COMPLETED, results.FAILED
#: A job whose run directory holds a results.json that cannot be read: not done (a resume
#: reruns it), and not failed either (nothing says how it ended).
DAMAGED = "damaged"
#: A job left pending or running by a sweep that has ended (killed, interrupted): no process runs
#: it any more, so it is not done, and a resume runs it (see :meth:`Manifest.settle`).
INTERRUPTED = "interrupted"
#: A job once completed whose results.json (or whole run directory) is gone: not done any more (a
#: job counts as completed only while its results.json says so), and a resume runs it again.
MISSING = "missing"
STATES = (PENDING, RUNNING, COMPLETED, FAILED, DAMAGED, INTERRUPTED, MISSING)
#: The states shown only when a job is in them (rare ones).
RARE_STATES = (DAMAGED, INTERRUPTED, MISSING)


#: The fields of a job that most jobs leave empty (None): kept only when set (see :class:`JobEntry`).
_OPTIONAL_FIELDS = ("slurm_job_id", "started", "finished", "error", "log", "damage", "values")


def _optional(name: str, doc: str) -> Any:
    """A field of :data:`_OPTIONAL_FIELDS`: None unless set, held in the entry's one dict of them."""

    def get(self: "JobEntry") -> Any:
        return self._more.get(name) if self._more else None

    def set_(self: "JobEntry", value: Any) -> None:
        if value is None:
            if self._more:
                self._more.pop(name, None)
        elif self._more is None:
            self._more = {name: value}
        else:
            self._more[name] = value

    return property(get, set_, doc=doc)


#: How :class:`JobEntry` marks a run directory it derives from its overrides: joined by ``,`` as
#: they are, or sorted first (as :func:`launcher.sweep.naming.run_dirname` sorts them).
_JOINED, _JOINED_SORTED = None, False


def _stored_run_dir(run_dir: str, overrides: Sequence[str]) -> Optional[str | bool]:
    """How a job keeps its run directory: :data:`_JOINED` or :data:`_JOINED_SORTED` when it is its
    override lines joined by ``,`` (the name :func:`launcher.sweep.naming.run_dirname` gives a
    grid's jobs when nothing in them needs escaping), derived again when read; else the string
    itself. A million-job plan then holds no name but the odd one.

    A name derived so follows the list: a job's list of overrides is not changed in place
    (assigning another list keeps the name)."""
    if type(run_dir) is not str or not isinstance(overrides, (list, tuple)):
        return run_dir
    try:
        joined = ",".join(overrides)
    except TypeError:  # an override that is not a string (a damaged record): nothing to derive from
        return run_dir
    if joined == run_dir:
        return _JOINED
    if len(joined) == len(run_dir) and ",".join(sorted(overrides)) == run_dir:  # (sorted only when it may be)
        return _JOINED_SORTED
    return run_dir


def _stored_hash(config_hash: str) -> int | str:
    """How a job keeps its config hash: a hash of 16 lowercase hex digits (every one the sweeper
    computes) as the int they write, 48 bytes where the string takes 80; any other string ("" for
    a refused trial, what an older manifest holds) as it is, so that it is read back unchanged."""
    if type(config_hash) is str and len(config_hash) == 16:
        try:
            value = int(config_hash, 16)
        except ValueError:
            return config_hash
        if f"{value:016x}" == config_hash:  # (int() also takes upper case, "+", "_" and spaces)
            return value
    return config_hash


class JobEntry:
    """One job of a sweep: its number, overrides, run directory, config hash and state, and what
    its run told (times, error, logs...).

    A plain class with slots, its seven optional fields held together in one dict made when the
    first is set: a sweep plans every job before any runs, a million entries at once, each job
    then 80 bytes of entry where a dataclass of twelve fields takes 128 (and 360 with a dict).
    For the same reason a grid's run directory and config hash are kept in a compact form and
    given as strings when read (see :func:`_stored_run_dir` and :func:`_stored_hash`): some 130
    bytes less a job.
    """

    __slots__ = ("number", "_overrides", "_run_dir", "_config_hash", "state", "_more")

    slurm_job_id = _optional("slurm_job_id", "The job's id in a launcher's queue (Slurm's), if it has one.")
    started = _optional("started", "When it started (ISO 8601, UTC).")
    finished = _optional("finished", "When it ended.")
    error = _optional("error", "Why it failed.")
    log = _optional("log", "A launcher's log of the job (e.g. Slurm's), if it has one.")
    damage = _optional("damage", "Why its results.json cannot be read (state damaged), naming the file.")
    values = _optional("values", "A fit's trial: the objective's value(s) told to the sampler (None: none, the trial failed).")

    def __init__(
        self,
        number: int,
        overrides: list[str],
        run_dir: str,  # relative to the sweep directory
        config_hash: str,
        state: str = PENDING,
        slurm_job_id: Optional[str] = None,
        started: Optional[str] = None,
        finished: Optional[str] = None,
        error: Optional[str] = None,
        log: Optional[str] = None,
        damage: Optional[str] = None,
        values: Optional[list[float]] = None,
    ) -> None:
        self.number, self.state = number, state
        self._overrides = overrides
        self._run_dir = _stored_run_dir(run_dir, overrides)
        self._config_hash = _stored_hash(config_hash)
        optional = (slurm_job_id, started, finished, error, log, damage, values)
        self._more: Optional[dict[str, Any]] = None
        if optional.count(None) < len(optional):  # (a planned job has none: no loop a job)
            self._more = {name: value for name, value in zip(_OPTIONAL_FIELDS, optional) if value is not None}

    @property
    def overrides(self) -> list[str]:
        """The job's override lines (``key=value``), as the sweep made them."""
        return self._overrides

    @overrides.setter
    def overrides(self, overrides: list[str]) -> None:
        run_dir = self.run_dir  # the run directory stays what it was, whatever it was derived from
        self._overrides = overrides
        self._run_dir = _stored_run_dir(run_dir, overrides)

    @property
    def run_dir(self) -> str:
        """The job's run directory, relative to the sweep directory."""
        stored = self._run_dir
        if stored is _JOINED:
            return ",".join(self._overrides)
        if stored is _JOINED_SORTED:
            return ",".join(sorted(self._overrides))
        return stored  # type: ignore[return-value]

    @run_dir.setter
    def run_dir(self, run_dir: str) -> None:
        self._run_dir = _stored_run_dir(run_dir, self._overrides)

    @property
    def config_hash(self) -> str:
        """The hash of the job's resolved parameter tree ("" if it has none: a refused trial)."""
        stored = self._config_hash
        return stored if isinstance(stored, str) else f"{stored:016x}"

    @config_hash.setter
    def config_hash(self, config_hash: str) -> None:
        self._config_hash = _stored_hash(config_hash)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobEntry) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it was

    def __repr__(self) -> str:
        return "JobEntry(" + ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items()) + ")"

    def log_path(self, sweep_dir: Path, job_log: str = JOB_LOG) -> Path:
        """The most useful log of the job: the launcher's if it names one, else the run directory's
        (``job_log``: its file name there, Hydra's ``<job name>.log``)."""
        if self.log:
            return Path(sweep_dir) / self.log  # an absolute path stays as it is
        return Path(sweep_dir) / self.run_dir / job_log

    def describe_failure(self, sweep_dir: Path, job_log: str = JOB_LOG) -> str:
        """What a user needs to look into this job when it failed or its results.json is damaged:
        overrides, error (or what is wrong with the file), run dir, log."""
        what = f"{self.state}: {self.damage}" if self.state in (DAMAGED, MISSING) else f"error: {self.error or '(none recorded)'}"
        return "\n".join(
            [
                f"  #{self.number} {' '.join(self.overrides) or '(no overrides)'}",
                f"      {what}",
                f"      run dir: {Path(sweep_dir) / self.run_dir}",
                f"      log: {self.log_path(sweep_dir, job_log)}",
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        """The entry as the manifest writes it: every field, in order."""
        entry = {name: getattr(self, name) for name in ENTRY_FIELDS}
        entry["overrides"] = list(self.overrides)
        return entry

    def apply_results(self, sweep_dir: Path) -> Optional[dict[str, Any]]:
        """Take state, times and error from the job's results.json, if it has one for this config."""
        return self.take_results(results.load_results(Path(sweep_dir) / self.run_dir))

    def take_results(self, found: dict[str, Any] | Damage | None) -> Optional[dict[str, Any]]:
        """Take state, times and error from what the job's run directory holds (see
        :func:`launcher.run.results.load_results`); return the record if it is this config's.

        A damaged results.json makes the job ``damaged``, unless the manifest knows it to be
        on its way (running, or queued on Slurm), which will replace the file; a record of
        another config (an earlier sweep into the same directory) is not this job's.
        """
        if isinstance(found, Damage):
            self.damage = str(found)
            if not (self.state == RUNNING or (self.state == PENDING and self.slurm_job_id)):
                self.state, self.error = DAMAGED, None
            return None
        self.damage = None
        if self.state == DAMAGED:  # the file is gone or replaced since: nothing says the job is done
            self.state = PENDING
        if found is None and self.state in (COMPLETED, MISSING):  # a job is completed only while its results.json says so
            self.state, self.error = MISSING, None
            self.damage = f"{results.RESULTS_FILE} or its run directory is gone since the job completed"
            return None
        if found is None or found["config_hash"] != self.config_hash:
            return None
        # An error already recorded came from the launcher, which knows more
        # (Slurm's CANCELLED or TIMEOUT) than the job that was stopped.
        self.error = (self.error or found.get("error")) if found["state"] == FAILED else None
        self.state = found["state"]
        timings = found.get("timings", {})
        self.started = timings.get("started", self.started)
        self.finished = timings.get("finished", self.finished)
        self.slurm_job_id = found.get("slurm_job_id") or self.slurm_job_id
        return found


#: The fields of a job in manifest.json, in order.
ENTRY_FIELDS = ("number", "overrides", "run_dir", "config_hash", "state", *_OPTIONAL_FIELDS)
