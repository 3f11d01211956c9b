"""The launcher protocol: what the sweeper may ask of a launcher, and what a launcher hands back.

Hydra's :class:`~hydra.plugins.launcher.Launcher` only returns one ``JobReturn`` per job once
they have all ended. The sweeper (:mod:`launcher.sweep.sweeper`) needs more, and every
launcher of this project (sequential, local parallel, Slurm) gives it the same way, here:

- :class:`StateReporting`: a launcher that tells the sweeper as its jobs are queued, start
  and end (:class:`StateChange` through ``on_state``, sent by :meth:`StateReporting.notify`),
  and says whether it waits for them (:func:`waits_for_jobs`);
- :class:`TakesJobNumbers`: a launcher that runs the jobs under the numbers the sweeper
  gives them (a resumed sweep's numbers are not consecutive);
- :class:`FollowsQueuedJobs`: a launcher that can say where the jobs an earlier submission left
  queued stand (a resumed sweep leaves those still queued to it);
- a job left queued by a launcher that does not wait: :func:`queued_return`, read back by
  :func:`queued_job_id`;
- a failed job: :func:`failed_return`, its exception (:class:`JobFailed` when the launcher
  knows how the job ended: a scheduler's end state, its log) read by :func:`returned_value`
  and shown by :func:`failure_message`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Literal, NamedTuple, Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus

#: A job's state as a launcher reports it (the manifest's states of the same names).
JobState = Literal["pending", "running", "completed", "failed"]


class StateChange(NamedTuple):
    """One job's new state: its index in the launch, the state, the launcher's id of the job (Slurm's)."""

    index: int
    state: JobState
    launcher_job_id: Optional[str] = None


#: What the sweeper gives a :class:`StateReporting` launcher, called with the changes of a moment.
StateCallback = Callable[[List[StateChange]], None]


class StateReporting:
    """Mixin of a launcher that tells the sweeper as its jobs change state, from the sweeping process."""

    #: Set by the sweeper before each launch; None: nobody listens.
    on_state: Optional[StateCallback] = None
    #: Whether :meth:`launch` returns once the jobs have ended (else once they are queued:
    #: each job's ``JobReturn`` is then a :func:`queued_return`).
    wait_for_jobs: bool = True

    def notify(self, changes: Sequence[StateChange]) -> None:
        """Tell the sweeper of ``changes``, if there are any and it listens."""
        if changes and self.on_state is not None:
            self.on_state(list(changes))


class TakesJobNumbers:
    """Mixin of a launcher that runs each job under the number the sweeper gives it."""

    #: Set by the sweeper before each launch: the numbers of its jobs, in order.
    job_numbers: Optional[List[int]] = None

    def take_job_numbers(self, count: int, initial_job_idx: int) -> List[int]:
        """The numbers of the ``count`` jobs of this launch: those the sweeper set (used once),
        else ``initial_job_idx`` onwards, as Hydra numbers them."""
        numbers, self.job_numbers = self.job_numbers, None
        return numbers or [initial_job_idx + i for i in range(count)]


class FollowsQueuedJobs:
    """Mixin of a launcher whose jobs can stay queued after the sweep ends (a non-waiting Slurm
    submission), and that can later tell where they stand."""

    def refresh_queued(self, jobs: Sequence[Any]) -> None:
        """Bring the states of manifest entries (``state``, ``error``) of jobs left queued, named by
        their launcher's id (``slurm_job_id``), up to date from the queue; leave them as they are
        when the queue cannot be asked."""
        raise NotImplementedError


def waits_for_jobs(launcher: Any) -> bool:
    """Whether a launcher's ``launch`` returns ended jobs (every launcher but a non-waiting Slurm one)."""
    return not isinstance(launcher, StateReporting) or launcher.wait_for_jobs


def ended_state(ret: JobReturn) -> JobState:
    """The state a launcher reports for a job that returned ``ret``."""
    return "completed" if ret.status == JobStatus.COMPLETED else "failed"


# --- what a launcher returns ----------------------------------------------------------------------


class JobFailed(Exception):
    """A job that did not complete, as its launcher saw it end: the end state its scheduler gave
    it (Slurm's ``CANCELLED``, ``TIMEOUT``...), if any, and the launcher's own log of it."""

    def __init__(self, message: str, state: Optional[str] = None, log_file: Optional[Path] = None) -> None:
        super().__init__(f"{state}: {message}" if state and message else (state or message))
        self.state = state
        self.log_file = log_file


@dataclass(frozen=True)
class QueuedJob:
    """The value of a job's ``JobReturn`` when its launcher left it queued: the launcher's id of it."""

    job_id: str


def failed_return(overrides: Sequence[str], error: BaseException) -> JobReturn:
    """The ``JobReturn`` of a job that failed with ``error`` (its value, as Hydra's ``run_job`` stores it)."""
    ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
    ret.return_value = error
    return ret


def queued_return(overrides: Sequence[str], job_id: str) -> JobReturn:
    """The ``JobReturn`` of a job left queued (status UNKNOWN: not ended), followed from here by
    ``status`` and ``collect``."""
    ret = JobReturn(overrides=list(overrides), status=JobStatus.UNKNOWN)
    ret.return_value = QueuedJob(job_id)
    return ret


def returned_value(ret: JobReturn) -> Any:
    """What a job returned: its value, or the exception it failed with, whatever its status.

    ``ret.return_value`` re-raises a failed job's exception (and asserts on an unknown status),
    and the field that stores the value is private to Hydra. A copy marked completed holds the
    same value and its public property returns it as it is.
    """
    return dataclasses.replace(ret, status=JobStatus.COMPLETED).return_value


def queued_job_id(ret: JobReturn) -> Optional[str]:
    """The launcher's id of a job it left queued (see :func:`queued_return`); None for any other return."""
    value = returned_value(ret) if ret.status == JobStatus.UNKNOWN else None
    return value.job_id if isinstance(value, QueuedJob) else None


def failure_message(error: BaseException) -> str:
    """A failed job's error as the sweep reports it: a :class:`JobFailed` with an end state as
    its message says (which starts with the state), any other as ``Type: message``."""
    if isinstance(error, JobFailed) and error.state:
        return str(error)
    return f"{type(error).__name__}: {error}"


def failure_log(error: BaseException) -> Optional[Path]:
    """The launcher's own log of a failed job (Slurm's), if it keeps one."""
    return error.log_file if isinstance(error, JobFailed) else None
