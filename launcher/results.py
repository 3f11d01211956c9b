"""Per-run outputs: the completion record, the resolved tree, the recording, provenance.

``results.json`` is the completion marker. It is written last, atomically
(temporary file, fsync, rename), so a job killed at any point leaves either no
``results.json`` or one from a finished attempt, never a partial one.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import secrets
from pathlib import Path
from typing import Any, Mapping

import neo
from omegaconf import OmegaConf

RESULTS_FILE = "results.json"
PARAMETERS_FILE = "parameters.yaml"
#: The same resolved tree in mozaik's parameter-file format (what mozaik run scripts read).
MOZAIK_PARAMETERS_FILE = "parameters"
RECORDING_FILE = "recording.mat"

#: States a results.json can hold.
COMPLETED, FAILED = "completed", "failed"

_REPO_DIR = Path(__file__).resolve().parent.parent


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON so that readers see the old file or the whole new one, nothing between."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """The results.json of a run directory, or None if it has none (or a damaged one)."""
    try:
        with open(Path(run_dir) / RESULTS_FILE, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_parameters(tree: Mapping[str, Any], run_dir: Path) -> Path:
    """Save the fully resolved parameter tree the run used, as YAML and in mozaik's format.

    Returns the path of the mozaik-format file.
    """
    from launcher.mozaik_format import from_hydra, write_parameters as write_mozaik

    OmegaConf.save(OmegaConf.create(dict(tree)), Path(run_dir) / PARAMETERS_FILE)
    path = Path(run_dir) / MOZAIK_PARAMETERS_FILE
    write_mozaik(from_hydra(dict(tree)), path)
    return path


def write_recording(block: neo.Block, run_dir: Path) -> Path:
    """Save the run's Neo block (spikes, and v where recorded) with Neo's MATLAB IO.

    Neo's NIX writer would be the obvious choice but stores every spike train as
    its own HDF5 object: 50 s and 100 MB for the default 4,000-cell run, against
    under 2 s and 6 MB here. Every spike train keeps PyNN's annotations
    (``source_population``, ``source_index``).
    """
    path = Path(run_dir) / RECORDING_FILE
    neo.io.NeoMatlabIO(str(path)).write_block(block)
    return path


def read_recording(run_dir: Path) -> neo.Block:
    """The Neo block of a run's recording."""
    return neo.io.NeoMatlabIO(str(Path(run_dir) / RECORDING_FILE)).read_block()


def code_version() -> dict[str, Any]:
    """Git commit of this code and whether the work tree had uncommitted changes."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(_REPO_DIR), *args], capture_output=True, text=True, timeout=10, check=True
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
