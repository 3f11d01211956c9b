"""The sweep manifest: one JSON file per sweep directory listing every job and its state.

Only the process that runs the sweep writes it, whole and atomically, so it is
never half-written however many jobs end at once; the jobs write their own
``results.json``, which stays the truth about a finished job.
:func:`Manifest.load` folds those in, so a reader (``status``, ``collect``)
sees jobs that finished after the manifest was last written.

While jobs run, their changes are appended to a journal (``manifest.journal``,
one JSON line per changed job) instead of rewriting the whole file: a write
costs what changed, not the size of the sweep. The manifest names its journal
by a token that the journal's first line repeats; a reader folds in the lines
of the journal named so, and ignores any other (left by a write cut short
between the two files: the manifest then holds everything). When the journal
has as many lines as the sweep has jobs, and when the sweep ends, the manifest
is written whole again under a new token (compaction): each change is written
a bounded number of times, whatever the sweep's size.

Files on disk may still be damaged (a full disk, a hand edit). Every read of
a manifest goes through :meth:`Manifest.read`, which checks it field by field
and says what is wrong instead of raising; a job whose results.json is damaged
is in the state ``damaged`` (not done: a resume reruns it). What the run
directories still tell is read by :func:`jobs_on_disk`, from which a sweep
rebuilds a damaged or missing manifest.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from launcher.run import results
from launcher.run.results import now
from launcher.run.files import open_regular, read_bounded
from launcher.run.files import problem as file_problem
from launcher.run.jsonfile import (
    COUNT, OPTIONAL_TEXT, TEXT, TEXTS, Damage, Kind, field_problem, is_number, is_text, one_of, read_json_object, short,
    write_atomically, write_json_atomic,
)
from launcher.sweep.job_entry import (  # noqa: F401  (the states: read from here by the sweep's readers)
    COMPLETED, DAMAGED, ENTRY_FIELDS, FAILED, INTERRUPTED, JOB_LOG, MISSING, PENDING, RARE_STATES, RUNNING, STATES, JobEntry,
)
from launcher.sweep.naming import outside_sweep_dir

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
#: The changes to the manifest's jobs since it was last written whole (see the module's docstring).
JOURNAL_FILE = "manifest.journal"
#: The journal is folded into the manifest (a whole write) once it has this many lines, or as many
#: as the sweep has jobs if that is more: a whole write of a small sweep is cheap, of a large one
#: it costs about as much as the lines it replaces.
COMPACT_AFTER_LINES = 1000
#: The manifest format this module writes (2: it may name a journal), and those it reads.
VERSION = 2
READABLE_VERSIONS = (1, 2)


#: What each field of a job in manifest.json must hold (one for each field of :class:`JobEntry`).
_JOB_KINDS = {
    "number": COUNT,
    "overrides": TEXTS,
    "run_dir": Kind(lambda value: TEXT.test(value) and not outside_sweep_dir(value), "a path inside the sweep directory"),
    "config_hash": TEXT,
    "state": one_of(*STATES),
    **{name: OPTIONAL_TEXT for name in ("slurm_job_id", "started", "finished", "error", "log", "damage")},
    "values": Kind(lambda value: value is None or (isinstance(value, list) and all(map(is_number, value))), "null or a list of numbers"),
}
assert set(_JOB_KINDS) == set(ENTRY_FIELDS), "a field of JobEntry the manifest reader does not check"
#: What the manifest's own fields must hold; ``created`` and ``job_log`` are missing from early manifests.
_MANIFEST_KINDS = {
    "version": Kind(
        lambda value: type(value) is int and value in READABLE_VERSIONS,
        f"{' or '.join(map(str, READABLE_VERSIONS))} (the formats this program reads)",
    ),
    "created": TEXT,
    "updated": TEXT,
    "job_log": TEXT,
    "sweeper": Kind(
        lambda value: value is None or (isinstance(value, dict) and all(is_text(k) for k in value)),
        "null or an object (the sweeping process: pid, host, started)",
    ),
    "fit": Kind(
        lambda value: value is None
        or (isinstance(value, dict) and all(is_text(k) for k in value) and ("tolerance" not in value or _is_tolerance(value["tolerance"]))),
        "null or an object (what a fit optimises: metrics, directions, targets; its tolerance, a number above 0)",
    ),
    "jobs": Kind(lambda value: isinstance(value, list), "a list"),
    "journal": Kind(lambda value: value is None or (is_text(value) and value.isalnum()), "null or a token of letters and digits"),
}


def _is_tolerance(value: Any) -> bool:
    """A fit's tolerance (launcher.sweep.consistency): a finite number above 0."""
    return is_number(value) and math.isfinite(value) and value > 0


class ManifestError(Exception):
    """A sweep directory's manifest.json that cannot be used: missing, damaged, or another
    program's (``foreign``). The message names the file and says what is wrong."""

    MISSING, DAMAGED, FOREIGN = "missing", "damaged", "foreign"

    def __init__(self, kind: str, path: Path, why: str = "") -> None:
        self.kind, self.path, self.why = kind, Path(path), why
        if kind == self.MISSING:
            message = f"{self.path.parent} has no {MANIFEST_FILE}: is it a sweep directory?"
        elif kind == self.FOREIGN:
            message = f"{self.path} is not a sweep manifest ({why}): another program's file? It is left as it is"
        else:
            message = f"{self.path} is damaged: {why}"
        super().__init__(message)


def _manifest_problem(data: dict[str, Any]) -> Optional[str]:
    """What is wrong with the content of a manifest.json (an object with ``version`` or ``jobs``),
    None if nothing: its fields, each job's fields, two jobs with one number or run directory."""
    problem = field_problem(data, _MANIFEST_KINDS, ("version", "jobs"), closed=True)
    if problem:
        return problem
    for i, job in enumerate(data["jobs"]):
        problem = _job_problem(job)
        if problem:
            return f"job {i} of the list: {problem}"
    return _duplicate_problem(data)


def _job_problem(job: Any) -> Optional[str]:
    """What is wrong with one job as manifest.json (or a line of its journal) holds it, None if nothing."""
    if not isinstance(job, dict):
        return f"{short(job)} is not an object"
    return field_problem(job, _JOB_KINDS, ("number", "overrides", "run_dir", "config_hash"), closed=True)


def _duplicate_problem(data: dict[str, Any]) -> Optional[str]:
    """Two jobs of a manifest's content with one number, or one run directory (but in a fit)."""
    # A fit may sample one point twice: its trials then share the point's run directory.
    for name in ("number",) if data.get("fit") else ("number", "run_dir"):
        values = [job[name] for job in data["jobs"]]
        if len(set(values)) < len(values):
            return f"two jobs have the same {name}"
    return None


def _fold_journal(sweep_dir: Path, data: dict[str, Any]) -> Optional[str]:
    """Replace (or add) the jobs of a manifest's content ``data`` by the later states its journal
    holds; return what is wrong, if anything, with the part of the journal left out.

    Only the journal that the manifest names (by its token) is read: another one is left over
    from a compaction cut short, and the manifest holds all it says. A last line without its
    newline is a write cut short (a killed sweep) and is left out without a word; a line that
    cannot be read stops the folding there, and the lines after it are left out too (the jobs'
    results.json still tell how each ended)."""
    token = data.get("journal")
    if not token:
        return None
    path = Path(sweep_dir) / JOURNAL_FILE
    try:
        lines = read_bounded(path, "manifest journal").split(b"\n")[:-1]  # the last piece: b"" or a line cut short
    except FileNotFoundError:  # the sweep stopped between writing the manifest and its journal
        return None
    except OSError as exc:  # a FileProblem too: a link, a FIFO...
        return f"{file_problem(path, exc)}; the jobs' states are those of {MANIFEST_FILE} meanwhile"
    if not lines or lines[0] != _journal_header(token):
        return None
    at = {job["number"]: i for i, job in enumerate(data["jobs"])}
    for line_number, line in enumerate(lines[1:], start=2):
        try:
            job = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            problem: Optional[str] = f"not a JSON line ({exc})"
        else:
            problem = _job_problem(job)
        if problem:
            return f"{path}, line {line_number}: {problem}; the changes from there on are left out"
        if job["number"] in at:
            data["jobs"][at[job["number"]]] = job
        else:
            at[job["number"]] = len(data["jobs"])
            data["jobs"].append(job)
    return None


def _journal_header(token: str) -> bytes:
    """The first line of the journal that a manifest names by ``token`` (without its newline)."""
    return json.dumps({"journal": token, "of": MANIFEST_FILE}).encode()


def jobs_on_disk(sweep_dir: Path) -> list[JobEntry]:
    """The jobs that the run directories directly under ``sweep_dir`` tell of, numbered in name order.

    Each directory holding a results.json is a job, with the overrides, config hash
    and state recorded there, or ``damaged`` (overrides unknown) if it cannot be
    read. For a sweep directory whose manifest is damaged or missing: the job
    numbers, and the jobs that never wrote a results.json, are lost with it.
    """
    try:
        candidates = sorted(p for p in Path(sweep_dir).iterdir() if not p.name.startswith("."))
    except OSError:  # no sweep directory (yet)
        return []
    jobs = []
    for run_dir in candidates:
        if not is_text(run_dir.name) or not run_dir.is_dir():
            continue  # a name that cannot be printed is not one this program gave
        found = results.load_results(run_dir)
        if found is None:
            continue
        record = found if isinstance(found, dict) else {"overrides": [], "config_hash": ""}
        job = JobEntry(len(jobs), list(record.get("overrides", [])), run_dir.name, record["config_hash"])
        job.take_results(found)
        jobs.append(job)
    return jobs


@dataclass
class Manifest:
    """All jobs of a sweep, in job-number order."""

    sweep_dir: Path
    jobs: list[JobEntry] = field(default_factory=list)
    created: str = field(default_factory=now)
    #: The file name of the log each job writes into its run directory.
    job_log: str = JOB_LOG
    #: Whether the jobs were rebuilt from the run directories (:func:`jobs_on_disk`): their
    #: numbers are not the sweep's.
    rebuilt: bool = False
    #: The process that runs (or last ran) the sweep's jobs: pid, host, start time.
    sweeper: Optional[dict[str, Any]] = None
    #: For a fit: what it optimises (``metrics``, ``directions``, ``targets``; see launcher.sweep.fit).
    fit: Optional[dict[str, Any]] = None
    #: What is wrong with the part of the journal that was left out when the manifest was read, if anything.
    journal_problem: Optional[str] = field(default=None, compare=False)
    _saved_at: float = field(default=float("-inf"), repr=False, compare=False)
    _write_failed: bool = field(default=False, repr=False, compare=False)
    #: The token of the journal that the manifest on disk names (None: it names none).
    _journal: Optional[str] = field(default=None, repr=False, compare=False)
    _journal_lines: int = field(default=0, repr=False, compare=False)
    #: The jobs changed since the manifest or its journal was last written (by identity).
    _changed: dict[int, JobEntry] = field(default_factory=dict, repr=False, compare=False)

    @property
    def path(self) -> Path:
        return Path(self.sweep_dir) / MANIFEST_FILE

    @property
    def journal_path(self) -> Path:
        return Path(self.sweep_dir) / JOURNAL_FILE

    def changed(self, *jobs: JobEntry) -> None:
        """Note jobs whose entries changed: the next :meth:`save` with ``at_most_every_s`` writes
        them to the journal (a whole write writes every job anyway)."""
        for job in jobs:
            self._changed[id(job)] = job

    def save(self, at_most_every_s: float = 0.0) -> None:
        """Write the manifest whole, atomically, without a journal: at the start and the end of a
        sweep. With ``at_most_every_s`` (while jobs run), write the jobs noted by :meth:`changed`
        to the journal instead, unless the last write is more recent than that (large sweeps
        report many changes a second): the first such save, and one after as many journal lines
        as the sweep has jobs, writes the manifest whole under a new journal (see the module's
        docstring)."""
        if not at_most_every_s:
            self._write_whole(journal=False)
            return
        if time.monotonic() - self._saved_at < at_most_every_s:
            return
        if self._journal is None or self._journal_lines + len(self._changed) > max(COMPACT_AFTER_LINES, len(self.jobs)):
            self._write_whole(journal=True)
        elif self._changed:
            self._append_to_journal()

    def _write_whole(self, journal: bool) -> None:
        """Write every job to manifest.json; ``journal``: under a new, empty journal, else under none
        (and the journal file goes)."""
        token = secrets.token_hex(8) if journal else None
        data = {
            "version": VERSION,
            "created": self.created,
            "updated": now(),
            "job_log": self.job_log,
            "sweeper": self.sweeper,
            "fit": self.fit,
            "journal": token,
            "jobs": [job.as_dict() for job in self.jobs],
        }
        try:
            write_json_atomic(self.path, data)
            if token is None:
                self.journal_path.unlink(missing_ok=True)  # named by no manifest any more: read by no one
            else:  # a journal of one line (the manifest names it), whole or not there: readers never see it half-made
                write_atomically(self.journal_path, lambda tmp: tmp.write_bytes(_journal_header(token) + b"\n"))
        except OSError as exc:  # e.g. no space left: the file keeps its last whole version, the jobs go on
            if not self._write_failed:
                log.error("Could not write %s (%s); it keeps its last whole version, the jobs go on", self.path, exc)
            self._write_failed = True
            return
        self._write_failed = False
        self._journal, self._journal_lines = token, 0
        self._changed.clear()
        self._saved_at = time.monotonic()

    def _append_to_journal(self) -> None:
        """Append the changed jobs to the journal, a line each, in one write."""
        lines = b"".join(json.dumps(job.as_dict(), default=str).encode() + b"\n" for job in self._changed.values())
        try:
            fd = open_regular(self.journal_path, os.O_WRONLY | os.O_APPEND, "manifest journal")
            try:
                written = os.write(fd, lines)
                os.fsync(fd)
            finally:
                os.close(fd)
            if written != len(lines):
                raise OSError(f"{written} of {len(lines)} bytes written")
        except OSError as exc:
            # The journal may now end in a line cut short, after which nothing can be appended:
            # the next save writes the manifest whole, under a new journal.
            log.warning("Could not append to %s (%s); the manifest is written whole at the next save", self.journal_path, exc)
            self._journal = None
            return
        self._journal_lines += len(self._changed)
        self._changed.clear()
        self._saved_at = time.monotonic()

    @classmethod
    def read(cls, sweep_dir: Path | str) -> "Manifest | ManifestError":
        """A sweep's manifest as its file says (the one reader of manifest.json), or why it
        cannot be used: no file, a damaged one (not UTF-8, not JSON, not an object, a field
        unknown, missing or of another kind), or a JSON object that is not a sweep manifest
        at all (neither ``version`` nor ``jobs``: another program's file)."""
        sweep_dir = Path(sweep_dir)
        path = sweep_dir / MANIFEST_FILE
        data = read_json_object(path, "manifest.json")
        if data is None:
            return ManifestError(ManifestError.MISSING, path)
        if isinstance(data, Damage):
            return ManifestError(ManifestError.DAMAGED, path, data.why)
        if "version" not in data and "jobs" not in data:
            fields = ", ".join(short(name) for name in list(data)[:5]) or "none"
            return ManifestError(ManifestError.FOREIGN, path, f"no 'version' and no 'jobs'; its fields: {fields}")
        problem = _manifest_problem(data)
        if problem:
            return ManifestError(ManifestError.DAMAGED, path, problem)
        journal_problem = _fold_journal(sweep_dir, data)
        problem = _duplicate_problem(data) if data.get("journal") else None
        if problem:
            return ManifestError(ManifestError.DAMAGED, sweep_dir / JOURNAL_FILE, f"with its changes folded in, {problem}")
        if journal_problem:
            log.warning("%s", journal_problem)
        jobs = sorted((JobEntry(**job) for job in data["jobs"]), key=lambda job: job.number)
        return cls(
            sweep_dir, jobs, data.get("created", now()), data.get("job_log", JOB_LOG), sweeper=data.get("sweeper"), fit=data.get("fit"),
            journal_problem=journal_problem,
        )

    @classmethod
    def load(cls, sweep_dir: Path | str, refresh: bool = True) -> "Manifest":
        """Read a sweep's manifest (:class:`ManifestError` if it cannot be used); with ``refresh``,
        fold in the jobs' own results.json."""
        manifest = cls.read(sweep_dir)
        if isinstance(manifest, ManifestError):
            raise manifest
        if refresh:
            manifest.refresh()
        return manifest

    @classmethod
    def rebuild(cls, sweep_dir: Path | str, job_log: str = JOB_LOG) -> "Manifest":
        """The manifest as far as the run directories tell (see :func:`jobs_on_disk`), not saved."""
        return cls(Path(sweep_dir), jobs_on_disk(Path(sweep_dir)), job_log=job_log, rebuilt=True)

    def refresh(self, jobs: Optional[Sequence[JobEntry]] = None) -> None:
        """Fold the jobs' own results.json into their entries (all jobs, or ``jobs``)."""
        for job in self.jobs if jobs is None else jobs:
            job.apply_results(self.sweep_dir)

    def numbers_for(self, combinations: Sequence[Sequence[str]]) -> Sequence[int]:
        """The number each job of a new sweep into this directory takes: the number of this
        manifest's job with the same overrides (in any order), else the next one after all of
        this manifest's. A rebuilt manifest's numbers are not the sweep's: the new sweep
        numbers its jobs from 0."""
        earlier = [] if self.rebuilt else self.jobs
        if not earlier:  # a new directory: 0, 1, ... (a range: no list, no table of a million tuples)
            return range(len(combinations))
        numbers = {tuple(sorted(job.overrides)): job.number for job in earlier}
        following = max((job.number for job in earlier), default=-1) + 1
        planned = []
        for overrides in combinations:
            number = numbers.get(tuple(sorted(overrides)))
            if number is None:
                number, following = following, following + 1
            planned.append(number)
        return planned

    def keep(self, earlier: "Manifest") -> list[JobEntry]:
        """Add the jobs of ``earlier`` (this directory's manifest before this sweep) that this
        sweep does not plan again, so that a sweep adding jobs to a directory loses none; return them.

        An earlier job is planned again when a job of this sweep takes its number (same
        overrides, see :meth:`numbers_for`) or its run directory. The jobs of a rebuilt
        manifest take numbers after this sweep's; the others keep theirs.
        """
        if not earlier.jobs:  # nothing to keep: no sets of this sweep's numbers and run directories
            if not earlier.rebuilt:
                self.created = earlier.created
            return []
        numbers = set() if earlier.rebuilt else {job.number for job in self.jobs}
        run_dirs = {job.run_dir for job in self.jobs}
        kept = [job for job in earlier.jobs if job.number not in numbers and job.run_dir not in run_dirs]
        if earlier.rebuilt:
            following = max((job.number for job in self.jobs), default=-1) + 1
            for offset, job in enumerate(kept):
                job.number = following + offset
        else:
            self.created = earlier.created
        self.jobs = sorted([*self.jobs, *kept], key=lambda job: job.number)
        return kept

    def describe_failure(self, job: JobEntry) -> str:
        """What a user needs to look into a failed or damaged job: overrides, error, run dir, log."""
        return job.describe_failure(self.sweep_dir, self.job_log)

    def settle(self, swept: bool) -> None:
        """Make the jobs that no process runs any more ``interrupted``: when no process sweeps the
        directory (``swept`` false, see :func:`launcher.sweep.lock.is_swept`), a job still pending or
        running that Slurm does not hold was left so by a sweep that ended before it did."""
        if swept:
            return
        by = self.sweeper or {}
        who = f"pid {by.get('pid')} on {by.get('host')}, started {by.get('started')}" if by else "its process"
        # A fit runs no trial twice: run again, it tells the study that such a trial failed (Optuna
        # holds it so), does not count it, and samples new ones.
        again = "running the fit again leaves it uncounted and samples new trials" if self.fit else "running the sweep again runs it"
        for job in self.jobs:
            if job.state in (PENDING, RUNNING) and not job.slurm_job_id:
                job.state = INTERRUPTED
                job.error = f"interrupted: its {'fit' if self.fit else 'sweep'} ({who}) ended before the job did; {again}"

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state; ``damaged`` and ``interrupted`` only when there are some."""
        counts = {state: sum(job.state == state for job in self.jobs) for state in STATES}
        for state in RARE_STATES:
            if not counts[state]:
                del counts[state]
        return counts
