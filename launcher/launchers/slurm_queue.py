"""What the Slurm queue says of a sweep's tasks: the cluster's queries (``squeue``, ``scontrol``,
``sacct``) and the one reading of them, :func:`task_states`, shared by the Slurm launcher that
waits for its tasks (:mod:`launcher.launchers.slurm`) and by the readers of a sweep left to Slurm
(:func:`refresh_states`: ``status``, ``collect``, a resumed sweep).

A task is followed in the queue with ``squeue``; once it has left the queue its final state
comes from ``scontrol`` (slurmctld still remembers it), then from ``sacct`` (accounting): an
array task cancelled while pending shows in neither, so its state is then unknown ("").
"""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence

if TYPE_CHECKING:
    from launcher.sweep.manifest import JobEntry

log = logging.getLogger(__name__)

#: Slurm's default MaxArraySize, used when the cluster's cannot be read.
DEFAULT_MAX_ARRAY_SIZE = 1001


def _run(command: List[str]) -> subprocess.CompletedProcess:
    # Slurm's commands, called with argument lists: nothing passes through a shell.
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def cluster_max_array_size() -> int:
    """The cluster's MaxArraySize (array indices must stay below it)."""
    try:
        out = _run(["scontrol", "show", "config"]).stdout
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_MAX_ARRAY_SIZE
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.MULTILINE)
    return int(match.group(1)) if match else DEFAULT_MAX_ARRAY_SIZE


def slurm_minutes(text: str) -> int:
    """Slurm's time formats (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) in whole minutes
    (a part of a minute counts as one). Raises ValueError for anything else or for no time at all."""
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        hours, minutes, seconds = 0, parts[0], parts[1] if len(parts) > 1 else 0
    total = int(days or 0) * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    if total <= 0:
        raise ValueError(text)
    return total


def partition_time_limit(partition: Optional[str]) -> Optional[int]:
    """The minutes a job of ``partition`` (None: the cluster's default partition) gets when it asks
    for no time: the partition's DefaultTime, else its MaxTime; None when that is unlimited or
    cannot be read."""
    try:
        out = _run(["scontrol", "show", "partition", "--oneliner", *([partition] if partition else [])]).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if partition is None and fields.get("Default") != "YES":
            continue
        for key in ("DefaultTime", "MaxTime"):
            try:
                return slurm_minutes(fields.get(key, ""))
            except ValueError:  # NONE, UNLIMITED, INFINITE or absent
                continue
        return None
    log.warning("The time limit of partition %s could not be read; the jobs ask for none", partition or "(the default)")
    return None


def queued_tasks(array_ids: Iterable[str]) -> Optional[dict[str, str]]:
    """State of each task (``123_4`` or ``123``) still in the queue (``PENDING``, ``RUNNING``,
    ``COMPLETING``...), or None when the controller cannot be asked right now."""
    ids = sorted(set(array_ids))
    if not ids:
        return {}
    try:
        proc = _run(["squeue", "--noheader", "--array", "--format=%i %T", "--jobs", ",".join(ids)])
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("squeue failed (%s); asking again", exc)
        return None
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return {}  # every job of the list has left the queue and been purged
        log.warning("squeue failed (%s); asking again", proc.stderr.strip())
        return None
    return dict(line.split(maxsplit=1) for line in proc.stdout.splitlines() if line.strip())


def _expand_task_ids(array_id: str, spec: str) -> list[str]:
    """``"3"`` -> [``id_3``]; ``"[0-2,5%2]"`` -> [``id_0``, ``id_1``, ``id_2``, ``id_5``]."""
    tasks = []
    for part in spec.strip("[]").split("%")[0].split(","):
        low, _, high = part.partition("-")
        if low.isdigit():
            tasks += [f"{array_id}_{i}" for i in range(int(low), int(high or low) + 1)]
    return tasks


def final_states(array_ids: Iterable[str]) -> dict[str, str]:
    """State of each task of the given arrays (``COMPLETED``, ``CANCELLED``...), from slurmctld,
    completed by accounting for tasks slurmctld has already forgotten."""
    states: dict[str, str] = {}
    for array_id in sorted(set(array_ids)):
        proc = _run(["scontrol", "--oneliner", "show", "job", array_id])
        for line in proc.stdout.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            state = fields.get("JobState", "")
            if "ArrayTaskId" in fields:
                for task in _expand_task_ids(fields.get("ArrayJobId", array_id), fields["ArrayTaskId"]):
                    states[task] = state
            elif "JobId" in fields:
                states[fields["JobId"]] = state
    missing = [a for a in array_ids if not any(t == a or t.startswith(f"{a}_") for t in states)]
    if missing:
        proc = _run(["sacct", "--noheader", "--parsable2", "--allocations", "--format=JobID,State", "--jobs", ",".join(missing)])
        for line in proc.stdout.splitlines():
            job_id, _, state = line.partition("|")
            state = state.split()[0] if state else ""
            main, _, task = job_id.partition("_")
            for t in _expand_task_ids(main, task) if task else [main]:
                states.setdefault(t, state)
    return states


def array_of(task_id: str) -> str:
    """The array job id of a task id (``123`` of ``123_4``; a plain job is its own array)."""
    return task_id.split("_")[0]


@dataclass(frozen=True)
class TaskStates:
    """Where the asked tasks stand: those in the queue with their queue state (``PENDING``,
    ``RUNNING``...), those that have left it with their final state ("" when Slurm keeps none)."""

    queued: Dict[str, str]
    ended: Dict[str, str]


def task_states(task_ids: Iterable[str]) -> Optional[TaskStates]:
    """Where each task (``123_4`` or ``123``) stands, or None when the controller cannot be asked
    right now (the tasks are then still its: ask again later). Final states are asked for only
    when a task has left the queue."""
    ids = list(task_ids)
    in_queue = queued_tasks(array_of(task) for task in ids)
    if in_queue is None:
        return None
    gone = [task for task in ids if task not in in_queue]
    finals = final_states({array_of(task) for task in gone}) if gone else {}
    return TaskStates(
        queued={task: in_queue[task].strip() for task in ids if task in in_queue},
        ended={task: finals.get(task, "") for task in gone},
    )


def refresh_states(jobs: Sequence["JobEntry"]) -> None:
    """Bring the state of manifest entries (:class:`launcher.sweep.manifest.JobEntry`) of jobs left
    to Slurm up to date from the queue: running, still waiting, or gone without a result.

    For the readers of a sweep that was submitted without waiting (``status``, ``collect``);
    entries whose job wrote its results.json are already settled and left alone.
    """
    open_jobs = [job for job in jobs if job.slurm_job_id and job.state in ("pending", "running")]
    if not open_jobs:
        return
    states = task_states(job.slurm_job_id for job in open_jobs)
    if states is None:
        return  # the controller cannot be asked: keep what the manifest says
    for job in open_jobs:
        if job.slurm_job_id in states.queued:
            job.state = "running" if states.queued[job.slurm_job_id] == "RUNNING" else "pending"
        else:
            job.state = "failed"
            state = states.ended[job.slurm_job_id] or "CANCELLED or LOST (Slurm keeps no record)"
            job.error = f"{state}: Slurm job {job.slurm_job_id} left the queue without a result"
