"""Packed Slurm tasks (``hydra.launcher.jobs_per_task=K`` or ``auto``): K jobs of a sweep one
after the other in one array task, which imports Python, Hydra, the model and its simulator once.

Every Slurm task pays a fresh interpreter, Hydra, PyNN and NEST (seconds); a short job
(a fraction of a second) is then mostly start-up. A pack pays it once:

- :class:`PackTask` is what one array task runs: the pack's jobs (overrides and number) and the
  launch's shared payload (the launcher with Hydra's context, config and task). It imports
  what a first job imports (:func:`launcher.launchers.local_parallel._warm_up`), builds one
  :class:`launcher.launchers.sequential.JobRunner`, then forks a child of that warmed-up
  process which runs the jobs one after the other, as a local parallel worker does (the
  simulator kept between jobs). Each job gets its own run directory, ``.hydra/``, log and
  ``results.json`` as in any other launcher. A job that crashes the child (a segfault in
  NEST) fails alone, with its signal (:class:`launcher.launchers.local_parallel.JobProcessDied`),
  and a new child, forked again, runs the jobs after it. Forking before any job's ``sim.setup``
  is safe: the simulator's threads (OpenMP) start with a simulation, never in the task's own
  process. (A child per job was measured too: every job then paid the simulator's first-run
  costs again, 0.3 s a job against 0.2 s for the tiny network);
- each job's ``JobReturn`` is written, as it ends, to its own file in the launch's folder
  (:func:`return_file`): the launcher follows the jobs of a pack one by one from those files
  and gives the jobs without one the state the task ended in (``CANCELLED``, ``TIMEOUT``...);
- SIGTERM (``scancel``, the time limit) ends the running job (recorded as failed, as
  unpacked) and the pack: that job and those after it have no return file, so they are
  reported with the task's end state, and a task requeued at its time limit runs only them;
- :func:`auto_jobs_per_task` chooses K for ``jobs_per_task=auto`` (see its doc).
"""

from __future__ import annotations

import faulthandler
import logging
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import cloudpickle
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals

from launcher import compat
from launcher.run.files import read_bounded
from launcher.launchers.protocol import failed_return
from launcher.run.job import look_up_provenance
from launcher.run.jsonfile import write_atomically
from launcher.run.results import read_results

log = logging.getLogger(__name__)

#: Earlier jobs' durations read for ``auto`` at most (the median of a sample is enough).
_DURATION_SAMPLE = 200


class JobTerminated(Exception):
    """Raised inside a job when Slurm sends SIGTERM (scancel, time limit, preemption)."""


def raise_terminated(signum: int, frame: Any) -> None:
    """The SIGTERM handler of a job run by a Slurm task, packed or not: the job records its failure."""
    raise JobTerminated(f"received {signal.Signals(signum).name} from Slurm (cancelled, out of time or preempted)")


class PackFailed(Exception):
    """Raised at the end of a pack with a failed job, so that Slurm marks the task FAILED."""


class PackTerminated(Exception):
    """Raised when Slurm ended a pack (SIGTERM: cancelled, out of time, preempted)."""


def return_folder(payload: str | Path) -> Path:
    """The folder of a launch's per-job return files (next to its payload)."""
    return Path(payload).with_suffix("")


def return_file(folder: Path, number: int) -> Path:
    """The file holding job ``number``'s pickled ``JobReturn`` once it has ended."""
    return folder / f"{number}.pkl"


def read_return(path: Path) -> Optional[JobReturn]:
    """The ``JobReturn`` in ``path``, or None if the job has not ended (no file yet)."""
    try:
        data = read_bounded(path, "job return")  # no link, no FIFO: never a wait
    except FileNotFoundError:
        return None
    return cloudpickle.loads(data)  # type: ignore[no-any-return]


def _write_return(path: Path, ret: JobReturn) -> None:
    from launcher.launchers.local_parallel import _sendable

    data = _sendable(ret)
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


class PackTask:
    """What one packed Slurm task runs: its jobs (overrides, number), one after the other.

    Has ``checkpoint`` so that submitit requeues it at its time limit; the requeued task runs
    the jobs that have not ended (no return file).
    """

    def __init__(self, payload: str, jobs: Sequence[Tuple[List[str], int]], time_limit_min: Optional[float] = None) -> None:
        self.payload = payload
        self.jobs = [(list(overrides), number) for overrides, number in jobs]
        #: The minutes the task gets without --time, when its batch script has none (submitit needs them).
        self.time_limit_min = time_limit_min

    def __call__(self) -> List[JobReturn]:
        from hydra.core.singleton import Singleton

        if self.time_limit_min is not None:
            compat.tell_submitit_the_time_limit(self.time_limit_min)
        launcher, singleton_state = cloudpickle.loads(Path(self.payload).read_bytes())
        Singleton.set_state(singleton_state)
        setup_globals()
        return run_pack(launcher.hydra_context, launcher.task_function, launcher.config, self.jobs, return_folder(self.payload))

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def run_pack(hydra_context: Any, task_function: Any, config: Any, jobs: Sequence[Tuple[List[str], int]], folder: Path) -> List[JobReturn]:
    """Run ``jobs`` one after the other in a child forked from this warmed-up process (a new child
    after one that crashed); each job's ``JobReturn`` is written to its :func:`return_file` in
    ``folder`` as it ends. Raises if a job failed (the task is then FAILED in Slurm) or Slurm
    ended the task."""
    from launcher.launchers.local_parallel import JobProcessDied, _warm_up
    from launcher.launchers.sequential import JobRunner

    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    folder.mkdir(parents=True, exist_ok=True)
    _warm_up(config)  # the model's modules and its simulator backend: imported once for the pack
    look_up_provenance(task_function)
    runner = JobRunner(hydra_context, task_function, config)
    # The runner's file writer is a thread; a forked child has none of its parent's threads:
    # stop it here and let each child start its own.
    runner.close()
    terminated: List[int] = []
    child: List[int] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        # Slurm signals every process of the task; pass it on in case the job's child missed it.
        terminated.append(signum)
        for pid in child:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_sigterm)
    left = [(overrides, number) for overrides, number in jobs if not return_file(folder, number).exists()]  # a requeued task: not those that ended
    while left and not terminated:
        exitcode = _run_in_child(runner, left, folder, child)
        if terminated:
            break  # the job cut short wrote no return file: it ends with the task's state (and runs again if requeued)
        left = [(overrides, number) for overrides, number in left if not return_file(folder, number).exists()]
        if left:  # the child died running the first of them: that job fails alone, a new child runs the others
            (overrides, number), left = left[0], left[1:]
            error = JobProcessDied(exitcode)
            log.error("#%d : %s failed: %s; the other jobs of the pack go on", number, " ".join(filter_overrides(overrides)), error)
            _write_return(return_file(folder, number), failed_return(overrides, error))
    if terminated:
        raise PackTerminated("received SIGTERM from Slurm (cancelled, out of time or preempted)")
    returns = [read_return(return_file(folder, number)) for _, number in jobs]
    failed = [number for (_, number), ret in zip(jobs, returns) if ret is None or ret.status != JobStatus.COMPLETED]
    if failed:
        raise PackFailed(f"{len(failed)} of {len(jobs)} jobs of the pack failed: #{', #'.join(map(str, failed))}")
    return returns  # type: ignore[return-value]


def _run_in_child(runner: Any, jobs: Sequence[Tuple[List[str], int]], folder: Path, child: List[int]) -> Optional[int]:
    """Run ``jobs`` one after the other in a child of this process, as a local parallel worker runs
    them (one runner, the simulator kept between jobs), each job's ``JobReturn`` written to its
    return file as it ends; the child's exit code (negative: the signal that ended it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: run the jobs, leave without Python's cleanup (the parent's to do)
        code = 70
        stopped: List[int] = []

        def on_sigterm(signum: int, frame: Any) -> None:
            if stopped:  # the same stop again: Slurm signals every process, and the parent passes it on.
                return  # Raised again, it would cut short the job's record of the first (seen: no results.json)
            stopped.append(signum)
            raise_terminated(signum, frame)  # the running job records its failure

        try:
            signal.signal(signal.SIGTERM, on_sigterm)
            signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # submitit's time-limit signal: the task's to handle
            runner.restart_writer()
            faulthandler.enable()  # a crashing job prints its Python stack to the task's log
            for overrides, number in jobs:
                log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
                try:
                    ret = runner.run(overrides, number)
                    runner.flush()
                except BaseException as exc:  # also SystemExit: this job fails, the others go on
                    ret = failed_return(overrides, exc)
                if stopped:  # cut short by Slurm: no return file, the job gets the task's end state
                    break
                _write_return(return_file(folder, number), ret)
            runner.close()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    child.append(pid)
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:
        # The task ends here (submitit's time-limit handler raises in this process): its job ends
        # too, recording its failure, and no child outlives the task.
        _stop(pid)
        raise
    finally:
        child.remove(pid)
    return os.waitstatus_to_exitcode(status)


def _stop(pid: int, grace_s: float = 5.0) -> None:
    """End the child ``pid``: SIGTERM (its job records its failure), SIGKILL after ``grace_s``."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except ChildProcessError:  # already reaped
        pass
    except ProcessLookupError:
        pass


# --- on the submitting host: how many jobs a task runs -------------------------------------


def earlier_durations(sweep_dir: Path) -> List[float]:
    """Durations (``timings.total_s``) of completed jobs of this sweep that ran before, a sample."""
    found: List[float] = []
    if not sweep_dir.is_dir():
        return found
    for run_dir in sweep_dir.iterdir():
        if len(found) >= _DURATION_SAMPLE:
            break
        if not run_dir.is_dir() or not (run_dir / "results.json").exists():
            continue
        record = read_results(run_dir)
        total = (record or {}).get("timings", {}).get("total_s") if record and record.get("state") == "completed" else None
        if isinstance(total, (int, float)) and total >= 0:
            found.append(float(total))
    return found


def cluster_slots(cpus_per_task: Optional[int], partition: Optional[str]) -> Optional[int]:
    """Tasks of ``cpus_per_task`` CPUs the cluster (the partition) can run at once, from
    ``sinfo``'s CPU count, or None if it cannot be read."""
    command = ["sinfo", "--noheader", "--format=%C"] + ([f"--partition={partition}"] if partition else [])
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    total = 0
    for line in out.split():
        parts = line.split("/")  # allocated/idle/other/total
        if len(parts) == 4 and parts[3].isdigit():
            total += int(parts[3])
    return total // max(1, cpus_per_task or 1) if total else None


def auto_jobs_per_task(
    n_jobs: int,
    durations: Sequence[float],
    slots: Optional[int],
    array_parallelism: int,
    timeout_min: float,
    target_s: float,
    default_job_s: float,
) -> int:
    """The jobs per task of ``jobs_per_task=auto``: as many as fit ``target_s`` seconds (a few
    minutes) of a job's estimated duration, but

    - no more than spreads the sweep over the tasks that can run at once (``slots`` of the
      cluster, at most ``array_parallelism``): larger packs would leave CPUs idle;
    - no more than fill half the time limit (``timeout_min``) at that estimate.

    The estimate is the median duration of the sweep's jobs that completed before (``durations``,
    from their results.json), else ``default_job_s``.
    """
    estimate = max(statistics.median(durations) if durations else default_job_s, 1e-3)
    at_once = max(1, min(array_parallelism, slots or array_parallelism))
    spread = math.ceil(n_jobs / at_once)
    by_time = math.floor(target_s / estimate)
    by_limit = math.floor(timeout_min * 60 * 0.5 / estimate)
    return max(1, min(spread, by_time, by_limit))
