"""The local Slurm cluster of the tests: is it up, (re)start it, what is in its queue."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CLUSTER_SCRIPT = Path(__file__).with_name("local_cluster.sh")


def cluster_problem() -> str | None:
    """Why no cluster can be used, or None if one is up."""
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        return "Slurm's commands (sbatch, squeue) are not installed: run `bash tests/slurm/local_cluster.sh start`"
    proc = subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True, timeout=30)
    states = proc.stdout.split()
    if proc.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states):
        return f"no Slurm node is up ({(proc.stderr or proc.stdout).strip()}): run `bash tests/slurm/local_cluster.sh start`"
    return None


def start_cluster(max_array_size: int | None) -> None:
    """(Re)start the local cluster with the given MaxArraySize (None: Slurm's default)."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_MAX_ARRAY_SIZE"}
    if max_array_size is not None:
        env["SLURM_MAX_ARRAY_SIZE"] = str(max_array_size)
    subprocess.run(["bash", str(CLUSTER_SCRIPT), "start"], check=True, env=env, capture_output=True, timeout=300)


def queue(*job_ids: str) -> list[tuple[str, str]]:
    """(task id, state) of the given jobs' tasks in the queue, one per array task."""
    proc = subprocess.run(
        ["squeue", "--noheader", "--array", "--format=%i %T", "--jobs", ",".join(job_ids)],
        capture_output=True, text=True, timeout=60,
    )
    return [tuple(line.split()) for line in proc.stdout.splitlines() if line.strip()]  # type: ignore[misc]
