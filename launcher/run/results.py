"""Per-run outputs: the completion record, the resolved tree, the recording, provenance.

``results.json`` is the completion marker. It is written last, atomically
(temporary file, fsync, rename: :func:`launcher.run.jsonfile.write_json_atomic`), so a job killed at any point leaves either no
``results.json`` or one from a finished attempt, never a partial one. A file
damaged later all the same (a full disk, a hand edit) is read by
:func:`load_results`, the one reader, as a :class:`~launcher.run.jsonfile.Damage`
saying why, never as an exception.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.run.files import FileProblem, open_directory
from launcher.run.jsonfile import NUMBERS, OPTIONAL_TEXT, TEXT, TEXTS, Damage, Kind, field_problem, is_text, one_of, read_json_object

if TYPE_CHECKING:
    import neo

RESULTS_FILE = "results.json"
PARAMETERS_FILE = "parameters.yaml"
#: The same resolved tree in mozaik's parameter-file format (what mozaik run scripts read).
MOZAIK_PARAMETERS_FILE = "parameters"
#: The run's recording (launcher/run/h5file.py: the layout, and why HDF5).
RECORDING_FILE = "recording.h5"
#: The recording of run directories written before recording.h5 (Neo's MATLAB format): still read.
MAT_RECORDING_FILE = "recording.mat"

#: The most single values (metrics) a job records: a table and its figures stay of a size to read,
#: and results.json within its limit (launcher.run.files.LIMITS). A task returning more records none,
#: with a warning saying so; a results.json holding more is damaged.
MAX_METRICS = 1000

#: States a results.json can hold.
COMPLETED, FAILED = "completed", "failed"

_REPO_DIR = Path(__file__).resolve().parent.parent


#: What each field of a results.json must hold, of those its readers use (a task may add fields
#: of its own: see :func:`launcher.run.job.current_record`).
_RESULTS_KINDS = {
    "state": one_of(COMPLETED, FAILED),
    "config_hash": TEXT,
    "metrics": NUMBERS,
    "overrides": TEXTS,
    "timings": Kind(
        lambda value: isinstance(value, dict) and all(is_text(value.get(k, "")) for k in ("started", "finished")),
        "an object whose 'started' and 'finished' are strings",
    ),
    "error": OPTIONAL_TEXT,
    "log": OPTIONAL_TEXT,
    "slurm_job_id": OPTIONAL_TEXT,
}
#: Without these a record cannot say whether its job is done.
_REQUIRED_RESULTS_KINDS = ("state", "config_hash", "metrics")


def now() -> str:
    """The current time as the manifest and results.json write it (UTC, ISO 8601)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_results(run_dir: Path | str) -> dict[str, Any] | Damage | None:
    """The results.json of a run directory, checked: its record; a :class:`Damage` saying why
    it cannot be used (not UTF-8, not JSON, not an object, a field missing or of another
    kind); None if the directory has none. Every reader of results.json reads it here."""
    path = os.path.join(run_dir, RESULTS_FILE)  # a str: pathlib would double the time of a large sweep's table
    try:
        directory = open_directory(run_dir)  # never a link: the file is read in the directory itself
    except FileNotFoundError:
        return None
    except FileProblem as exc:
        return Damage(Path(path), f"its run directory is {exc.why}; {exc.todo}")
    try:
        record = read_json_object(path, "results.json", dir_fd=directory)
    finally:
        os.close(directory)
    if not isinstance(record, dict):
        return record
    problem = field_problem(record, _RESULTS_KINDS, _REQUIRED_RESULTS_KINDS)
    if not problem and len(record["metrics"]) > MAX_METRICS:
        problem = f"it holds {len(record['metrics']):,} metrics, more than the {MAX_METRICS:,} a job records"
    return Damage(Path(path), problem) if problem else record


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """The record of a run directory's results.json, or None if it has none or a damaged one."""
    record = load_results(run_dir)
    return record if isinstance(record, dict) else None


def write_recording(block: neo.Block, run_dir: Path) -> Path:
    """Save the run's Neo block (spikes, and v where recorded) as ``recording.h5``: a tenth of the
    size of the ``recording.mat`` runs wrote before, read back ten times faster (launcher/run/h5file.py)."""
    from launcher.run.h5file import write_h5_recording  # numpy: imported by a job that records, not at startup

    return write_h5_recording(block, Path(run_dir) / RECORDING_FILE)


def recording_file(run_dir: Path | str) -> Path | None:
    """A run directory's recording: ``recording.h5``, else the ``recording.mat`` of a run
    directory written before it; None if it holds neither."""
    for name in (RECORDING_FILE, MAT_RECORDING_FILE):
        if (Path(run_dir) / name).is_file():
            return Path(run_dir) / name
    return None


def read_recording(run_dir: Path | str) -> neo.Block:
    """The Neo block of a run's recording (:func:`recording_file`). The spike trains of
    recording.h5 are built only when iterated."""
    path = recording_file(run_dir) or Path(run_dir) / RECORDING_FILE  # none: h5py names the missing file
    if path.name == RECORDING_FILE:
        from launcher.run.h5file import read_h5_recording

        return read_h5_recording(path)
    from neo.io import NeoMatlabIO

    return NeoMatlabIO(str(path)).read_block()


@functools.lru_cache(maxsize=16)
def code_version(directory: Path | str = _REPO_DIR) -> dict[str, Any]:
    """Git commit of the code in ``directory`` (by default this project's) and whether its work
    tree had uncommitted changes; both None outside a git work tree. Looked up once per
    process and directory: a sweep's code does not change under its jobs."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def host_info() -> dict[str, Any]:
    """Where the run happened, including its Slurm job when there is one."""
    slurm_job = os.environ.get("SLURM_JOB_ID")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        slurm_job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return {"host": socket.gethostname(), "python": platform.python_version(), "slurm_job_id": slurm_job}
