"""Sweeps on Slurm through submitit: arrays that fit the cluster, job states that never hang.

Stock hydra-submitit-launcher submits one ``sbatch --array`` for the whole
sweep (refused past the cluster's MaxArraySize), learns job states from
``sacct`` alone (an array task cancelled while pending never shows there, so it
waits forever) and reports a task cancelled while running as a success if it
finishes within its signal grace. This launcher:

- splits a sweep into arrays of at most MaxArraySize tasks, chained with
  ``--dependency=afterany`` so that ``array_parallelism`` bounds the whole sweep;
- asks for ``threads`` CPUs per task, per job when the sweep varies ``threads``;
- follows tasks with ``squeue`` and, once a task has left the queue, takes its
  final state from ``scontrol`` (then ``sacct``) (:mod:`launcher.launchers.slurm_queue`),
  so a cancelled, killed or timed-out task is reported with that state whatever its
  result file says;
- turns SIGTERM in a job into an exception (the run is recorded as failed) and
  re-raises a failed job's exception so that Slurm marks the task FAILED.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.errors import HydraException
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
from omegaconf import OmegaConf

from launcher import compat
from launcher.launchers.protocol import FollowsQueuedJobs, JobFailed, StateChange, StateReporting, ended_state, failed_return, queued_return, returned_value
from launcher.launchers.slurm_pack import PackTask, auto_jobs_per_task, cluster_slots, earlier_durations, raise_terminated, read_return, return_file, return_folder
from launcher.launchers.slurm_queue import array_of, cluster_max_array_size, partition_time_limit, refresh_states, task_states
from launcher.run.job import recorded

log = logging.getLogger(__name__)

#: Final states that mean the run did not finish as asked, whatever its result file says.
CUT_SHORT_STATES = {"CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


@dataclass
class MozaikSlurmConf(SlurmQueueConf):
    """The ``hydra/launcher=submitit_slurm`` preset: stock submitit_slurm settings, resources
    that follow the run config, site settings from the environment or from the
    git-ignored ``conf/local/slurm.yaml``, and how to follow the jobs."""

    defaults: List[Any] = field(default_factory=lambda: ["_self_", {"optional /local@_here_": "slurm"}])
    _target_: str = "hydra_plugins.mozaik_launcher.mozaik_launcher.MozaikSlurmLauncher"
    submitit_folder: str = "${hydra.sweep.dir}/.submitit/%j"
    #: The Slurm job name: the model's ``name`` if it has one, else the app's job name.
    name: str = "${oc.select:name,${hydra.job.name}}"
    #: CPUs per task: the model's ``threads`` (a mozaik model's ``task.threads``) if it has that key, else 1
    #: (per job when the sweep varies it).
    cpus_per_task: Optional[int] = "${oc.select:threads,${oc.select:task.threads,1}}"  # type: ignore[assignment]
    #: Slurm tasks per job (``--ntasks``), MPI processes: a mozaik model's ``task.mpi`` if it has that key, else 1
    #: (per job when the sweep varies it). Above 1 the job's wrapper runs once, in the batch step, and its run
    #: script starts the ranks with ``srun`` (:func:`launcher.mozaik.script_task.mpi_command`); Slurm places the
    #: tasks on as many nodes as it likes unless ``nodes`` says how many.
    ntasks: Optional[int] = "${oc.select:task.mpi,1}"  # type: ignore[assignment]
    #: Nodes per job; None: Slurm's choice (one for a job of one task).
    nodes: Optional[int] = None  # type: ignore[assignment]
    #: Memory per node in GB; None: none asked, the cluster's default (e.g. its DefMemPerCPU) applies.
    mem_gb: Optional[int] = None
    #: Minutes a job may run; None: the partition's own limit (its DefaultTime, else MaxTime), none if unlimited.
    timeout_min: Optional[int] = None  # type: ignore[assignment]
    #: USR2 this long before the time limit: requeue (up to max_num_timeout) or report. At most a
    #: third of ``timeout_min`` (:func:`signal_delay`): 60 s before a one-minute limit is its start.
    signal_delay_s: int = 60
    #: Requeues of a job that reached its time limit (it then starts again from scratch).
    max_num_timeout: int = 0
    #: Tasks running at once, over the whole sweep.
    array_parallelism: int = 256
    partition: Optional[str] = "${oc.env:MOZAIK_SLURM_PARTITION,null}"
    account: Optional[str] = "${oc.env:MOZAIK_SLURM_ACCOUNT,null}"
    qos: Optional[str] = "${oc.env:MOZAIK_SLURM_QOS,null}"
    #: Seconds between two looks at the queue.
    poll_interval_s: float = 2.0
    #: Seconds to wait for the result file of a task that left the queue without a known state.
    result_grace_s: float = 30.0
    #: Largest array to submit; None: the cluster's MaxArraySize.
    max_array_size: Optional[int] = None
    #: Wait for the jobs (and report, collect); false: return once every array is queued,
    #: then follow with ``python -m launcher status|collect SWEEP_DIR``.
    wait: bool = True
    #: Jobs run one after the other in one task, which imports everything once (each job in a
    #: child process of it: a crash fails that job alone); ``auto``: see :func:`launcher.launchers.slurm_pack.auto_jobs_per_task`.
    jobs_per_task: Any = 1
    #: With ``jobs_per_task=auto``: the seconds a task should run for...
    pack_target_s: float = 180.0
    #: ...at this estimate of a job's seconds when no job of the sweep has completed before.
    pack_job_s: float = 1.0


#: The largest part of a task's time limit that the warning before it (``signal_delay_s``) takes: what is left
#: is the job's. 60 s before a one-minute limit would warn it at its start (it ended after 15 s).
SIGNAL_SHARE = 1 / 3


def signal_delay(timeout_min: Optional[float], signal_delay_s: Optional[float]) -> Optional[int]:
    """The seconds before the time limit at which a task is warned (USR2): ``signal_delay_s``, but at most
    :data:`SIGNAL_SHARE` of a ``timeout_min`` minutes' limit (at least 1 s)."""
    if signal_delay_s is None or not timeout_min:
        return None if signal_delay_s is None else int(signal_delay_s)
    return max(1, min(int(signal_delay_s), int(timeout_min * 60 * SIGNAL_SHARE)))


#: ``--time=0``: no time limit, as sbatch reads it.
UNLIMITED = 0


def _task_count(value: Any, setting: str) -> int:
    """A number of Slurm tasks (at least 1), or a one-line error naming ``setting``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HydraException(f"{setting} = {value!r}: give the number of MPI processes (Slurm tasks) of each job, at least 1")
    return value


#: A line of the batch script of an MPI job (see :meth:`SlurmSweepLauncher._shape_parameters`): the batch shell
#: ignores the warning before the time limit that ``--signal=B:...`` sends it alone.
IGNORE_WARNING = "trap '' USR2"


class SlurmJobFailed(JobFailed):
    """A task of a Slurm sweep that did not complete, with its Slurm state and log."""

    def __init__(self, state: str, message: str, log_file: Optional[Path] = None) -> None:
        super().__init__(message, state, log_file)


_payloads: Dict[str, Any] = {}


class SlurmTask:
    """What one Slurm task runs: one job's overrides and number, and the launch's shared payload.

    Has ``checkpoint`` so that submitit requeues it when it reaches its time limit.
    """

    def __init__(self, payload: str, overrides: List[str], number: int, time_limit_min: Optional[float] = None) -> None:
        self.payload, self.overrides, self.number = payload, overrides, number
        #: The minutes the task gets without --time, when its batch script has none (submitit needs them).
        self.time_limit_min = time_limit_min

    def __call__(self) -> JobReturn:
        import cloudpickle
        from hydra.core.singleton import Singleton

        if self.time_limit_min is not None:
            compat.tell_submitit_the_time_limit(self.time_limit_min)
        if self.payload not in _payloads:
            _payloads[self.payload] = cloudpickle.loads(Path(self.payload).read_bytes())
        launcher, singleton_state = _payloads[self.payload]
        Singleton.set_state(singleton_state)
        return launcher(self.overrides, "hydra.sweep.dir", self.number, f"job_id_for_{self.number}", singleton_state)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _error_summary(traceback_text: str) -> str:
    lines = [line for line in str(traceback_text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"


class SlurmSweepLauncher(StateReporting, FollowsQueuedJobs, BaseSubmititLauncher):
    """Behaviour of the ``submitit_slurm`` launcher (Hydra loads the class from ``hydra_plugins``)."""

    _EXECUTOR = "slurm"

    def __init__(
        self,
        poll_interval_s: float = 2.0,
        result_grace_s: float = 30.0,
        max_array_size: Optional[int] = None,
        wait: bool = True,
        jobs_per_task: Any = 1,
        pack_target_s: float = 180.0,
        pack_job_s: float = 1.0,
        ntasks: Any = 1,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.ntasks = _task_count(ntasks, "hydra.launcher.ntasks")
        #: The partition's limit in minutes when the tasks ask for no time (no --time line): see :meth:`_executor`.
        self.unasked_time_limit: Optional[float] = None
        if (self.params.get("tasks_per_node") or 1) != 1:
            raise HydraException(
                f"hydra.launcher.tasks_per_node = {self.params['tasks_per_node']!r}: each job's wrapper would run once per "
                "task and record the job as many times; give MPI processes as hydra.launcher.ntasks (a mozaik model's task.mpi)"
            )
        if not (jobs_per_task == "auto" or (isinstance(jobs_per_task, int) and not isinstance(jobs_per_task, bool) and jobs_per_task >= 1)):
            raise HydraException(f"hydra.launcher.jobs_per_task = {jobs_per_task!r}: a number of jobs (at least 1) or auto")
        self.jobs_per_task = jobs_per_task
        self.pack_target_s = pack_target_s
        self.pack_job_s = pack_job_s
        self.wait_for_jobs = wait
        self.poll_interval_s = poll_interval_s
        self.result_grace_s = result_grace_s
        self.max_array_size = max_array_size
        # on_state (launcher.launchers.protocol.StateReporting): told as tasks are queued, start and end.

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        super().setup(hydra_context=hydra_context, task_function=recorded(task_function), config=config)

    def __getstate__(self) -> Dict[str, Any]:
        # The instance is pickled once per launch for the tasks: the sweeper's callback stays here.
        return {**self.__dict__, "on_state": None}

    # --- on the compute node -------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        """Run one job (called by :class:`SlurmTask` with the job's overrides and number)."""
        # submitit ignores SIGTERM; a job that Slurm ends must not go on and look finished.
        signal.signal(signal.SIGTERM, raise_terminated)
        ret = super().__call__(*args, **kwargs)
        if ret.status != JobStatus.COMPLETED:
            # Hydra returns the exception; raising it makes the Slurm task FAILED
            # and puts the traceback in submitit's result and log.
            raise returned_value(ret)
        return ret

    # --- on the submitting host ----------------------------------------------

    def refresh_queued(self, jobs: Sequence[Any]) -> None:
        refresh_states(jobs)

    def _executor(self) -> Any:
        import submitit

        init_keys = {"submitit_folder", "max_num_timeout"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params.get("max_num_timeout", 0),
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        params = dict(self.params)
        params["nodes"] = params.get("nodes") or 1  # submitit counts a job's tasks from it; see _shape_parameters
        time_given = params.get("timeout_min") is not None
        if not time_given:
            # No time asked: the partition's own limit, read here (what Slurm gives the job), for submitit's handler
            # of the warning before it (an unlimited partition's is 0); no --time line in the batch script where
            # submitit allows (it would write --time=5 for a job that asks none).
            limit = partition_time_limit(params.get("partition"))
            params["timeout_min"] = UNLIMITED if limit is None else limit
        if "signal_delay_s" in params:
            given, params["signal_delay_s"] = params["signal_delay_s"], signal_delay(params.get("timeout_min"), params["signal_delay_s"])
            if params["signal_delay_s"] != given:
                log.info(
                    "hydra.launcher.signal_delay_s=%s is more than a third of timeout_min=%s: each task is warned "
                    "%s s before its time limit", given, params.get("timeout_min"), params["signal_delay_s"],
                )
        executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items() if k not in init_keys})
        self.unasked_time_limit = None if time_given or not compat.ask_no_time_limit(executor) else params["timeout_min"]
        return executor

    def _shape(self, overrides: Sequence[str]) -> tuple[Optional[int], int]:
        """(CPUs per task, tasks) of one job: its ``threads`` (``task.threads``) and ``task.mpi`` overrides,
        else the launcher's settings."""
        cpus, ntasks = self.params.get("cpus_per_task"), self.ntasks
        for override in overrides:
            key, _, value = override.partition("=")
            if key in ("threads", "task.threads") and value.isdigit():
                cpus = int(value)
            elif key == "task.mpi" and value.isdigit():
                ntasks = _task_count(int(value), "task.mpi")
        return cpus, ntasks

    def _shape_parameters(self, cpus: Optional[int], ntasks: int) -> Dict[str, Any]:
        """submitit's parameters for tasks of ``cpus`` CPUs, ``ntasks`` Slurm tasks per job.

        One task: submitit's own job (its wrapper under ``srun``). More (MPI, mozaik's ``-n num_mpi -c
        num_threads``): ``--ntasks``, the wrapper run once in the batch step (``use_srun=False``) so that the
        job's run script can start its ranks with ``srun`` over every task; Slurm's warning before the time
        limit goes to the batch shell alone, which ignores it (sent to the job's steps, as submitit asks, it
        would kill the ranks; a run script cannot be requeued halfway): at its limit the job ends TIMEOUT.
        """
        if ntasks == 1:  # every key given (submitit keeps a key given None as it was): nothing left of an MPI group's
            return {"cpus_per_task": cpus, "slurm_use_srun": True,
                    "slurm_additional_parameters": self.params.get("additional_parameters") or {},
                    "slurm_setup": self.params.get("setup") or []}  # fmt: skip
        delay = signal_delay(self.params.get("timeout_min"), self.params.get("signal_delay_s")) or 60
        additional = {
            **(self.params.get("additional_parameters") or {}),
            "ntasks": ntasks,
            "ntasks_per_node": ntasks,  # submitit writes 1 (its tasks per node); with --ntasks, a maximum
            "nodes": self.params.get("nodes") or f"1-{ntasks}",
            "signal": f"B:USR2@{delay}",
        }
        return {"cpus_per_task": cpus, "slurm_use_srun": False, "slurm_additional_parameters": additional,
                "slurm_setup": [*(self.params.get("setup") or []), IGNORE_WARNING]}  # fmt: skip

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import cloudpickle
        from hydra.core.singleton import Singleton

        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        executor = self._executor()
        chunk = self.max_array_size or cluster_max_array_size()
        # What every task needs (Hydra's context, the config, the task function) is
        # written once per launch; each task's own pickle holds only its overrides.
        payload = Path(executor.folder).parent / f"launch-{time.strftime('%Y%m%d-%H%M%S')}-{initial_job_idx}.pkl"
        payload.parent.mkdir(parents=True, exist_ok=True)
        payload.write_bytes(cloudpickle.dumps((self, Singleton.get_state())))

        by_shape: Dict[tuple[Optional[int], int], List[int]] = defaultdict(list)  # by (CPUs per task, tasks)
        for i, overrides in enumerate(job_overrides):
            by_shape[self._shape(overrides)].append(i)
        per_task = self._jobs_per_task(len(job_overrides), sweep_dir, by_shape)
        if per_task > 1:
            return self._launch_packs(executor, payload, job_overrides, initial_job_idx, by_shape, per_task, chunk)
        jobs: List[Any] = [None] * len(job_overrides)
        previous: Optional[str] = None
        for shape, indices in by_shape.items():
            for start in range(0, len(indices), chunk):
                part = indices[start : start + chunk]
                executor.update_parameters(**self._shape_parameters(*shape), slurm_dependency=f"afterany:{previous}" if previous else None)
                with executor.batch():
                    submitted = [executor.submit(SlurmTask(str(payload), list(job_overrides[i]), initial_job_idx + i, self.unasked_time_limit)) for i in part]
                for i, job in zip(part, submitted):
                    jobs[i] = job
                    log.debug("#%d : %s -> Slurm job %s", initial_job_idx + i, " ".join(filter_overrides(job_overrides[i])), job.job_id)
                self.notify([StateChange(i, "pending", job.job_id) for i, job in zip(part, submitted)])
                previous = array_of(submitted[0].job_id)
                log.info("Submitted jobs #%d-#%d as Slurm job %s", initial_job_idx + part[0], initial_job_idx + part[-1], previous)
        log.info("Submitted %d jobs to Slurm in arrays of at most %d; sweep dir: %s", len(jobs), chunk, sweep_dir)
        if not self.wait_for_jobs:
            return [queued_return(overrides, job.job_id) for job, overrides in zip(jobs, job_overrides)]
        return self.wait(jobs, job_overrides)

    def wait(self, jobs: Sequence[Any], job_overrides: Sequence[Sequence[str]]) -> List[JobReturn]:
        """Wait until every task has left the queue and return one JobReturn per job, in order."""
        results: Dict[int, JobReturn] = {}
        left_queue_at: Dict[int, float] = {}
        last_seen: Dict[int, str] = {}  # last state squeue showed for each task
        while len(results) < len(jobs):
            pending = [i for i in range(len(jobs)) if i not in results]
            states = task_states(jobs[i].job_id for i in pending)
            if states is None:  # the controller is unreachable for now: the jobs are still its
                time.sleep(self.poll_interval_s)
                continue
            changes = []
            for i in pending:
                state = states.queued.get(jobs[i].job_id)
                if state is not None:
                    if state == "RUNNING" and last_seen.get(i) != "RUNNING":
                        changes.append(StateChange(i, "running", jobs[i].job_id))
                    last_seen[i] = state
            gone = [i for i in pending if jobs[i].job_id in states.ended]
            now = time.monotonic()
            for i in gone:
                left_queue_at.setdefault(i, now)
                state = states.ended[jobs[i].job_id]
                if not state and last_seen.get(i) == "PENDING":
                    # A task that leaves the queue while pending either starts (and
                    # Slurm keeps a record) or is cancelled, of which Slurm keeps none.
                    state = "CANCELLED"
                outcome = self._outcome(jobs[i], state, now - left_queue_at[i], job_overrides[i])
                if outcome is not None:
                    results[i] = outcome
                    changes.append(StateChange(i, ended_state(outcome), jobs[i].job_id))
            self.notify(changes)
            if gone or changes:
                running = sum(state == "RUNNING" for state in states.queued.values())
                log.info("Slurm: %d/%d jobs ended, %d running, %d waiting", len(results), len(jobs), running, len(states.queued) - running)
            if len(results) < len(jobs):
                time.sleep(self.poll_interval_s)
        return [results[i] for i in range(len(jobs))]

    def _outcome(self, job: Any, state: str, waited_s: float, overrides: Sequence[str]) -> Optional[JobReturn]:
        """The JobReturn of a task that left the queue, or None to look again later."""
        from submitit.core.utils import pickle_load

        result_file = Path(job.paths.result_pickle)
        result = pickle_load(result_file) if result_file.exists() else None
        if state in CUT_SHORT_STATES:
            detail = _error_summary(result[1]) if result and result[0] == "error" else "ended by Slurm"
            return self._failed(job, state, detail, overrides)
        if result is not None:
            tag, value = result
            if tag == "success":
                return value
            summary = _error_summary(value)
            return self._failed(job, "TIMEOUT" if "UncompletedJobError" in summary else "FAILED", summary, overrides)
        if waited_s < self.result_grace_s and state not in {"FAILED"}:
            return None  # the result file may still be on its way (shared file systems lag)
        return self._failed(job, state or "UNKNOWN", "left the queue without a result", overrides)

    @staticmethod
    def _failed(job: Any, state: str, detail: str, overrides: Sequence[str]) -> JobReturn:
        return failed_return(overrides, SlurmJobFailed(state, f"Slurm job {job.job_id}: {detail}", Path(job.paths.stderr)))

    # --- packed tasks (jobs_per_task > 1): launcher.launchers.slurm_pack ------------------

    def _jobs_per_task(self, n_jobs: int, sweep_dir: Path, by_shape: Dict[tuple[Optional[int], int], List[int]]) -> int:
        """Jobs per task of this launch: the setting, or for ``auto`` the choice of
        :func:`launcher.launchers.slurm_pack.auto_jobs_per_task`."""
        if self.jobs_per_task != "auto":
            return int(self.jobs_per_task)
        cpus = max(((c or 1) * n for c, n in by_shape), default=1)
        durations = earlier_durations(sweep_dir)
        chosen = auto_jobs_per_task(
            n_jobs, durations, cluster_slots(cpus, self.params.get("partition")), int(self.params.get("array_parallelism") or 256),
            float(self.params.get("timeout_min") or 60), self.pack_target_s, self.pack_job_s,
        )  # fmt: skip
        source = f"the median of {len(durations)} earlier jobs" if durations else f"pack_job_s={self.pack_job_s}"
        log.info("jobs_per_task=auto: %d jobs per task (a job's time from %s)", chosen, source)
        return chosen

    def _launch_packs(
        self, executor: Any, payload: Path, job_overrides: Sequence[Sequence[str]], initial_job_idx: int,
        by_shape: Dict[tuple[Optional[int], int], List[int]], per_task: int, chunk: int,
    ) -> Sequence[JobReturn]:  # fmt: skip
        """Submit the jobs ``per_task`` to an array task (:class:`PackTask`), arrays of at most
        ``chunk`` tasks chained as unpacked; each job is reported under its pack's task id."""
        packs: List[List[int]] = []
        tasks: List[Any] = []
        previous: Optional[str] = None
        for shape, indices in by_shape.items():
            these = [indices[start : start + per_task] for start in range(0, len(indices), per_task)]
            for start in range(0, len(these), chunk):
                part = these[start : start + chunk]
                executor.update_parameters(**self._shape_parameters(*shape), slurm_dependency=f"afterany:{previous}" if previous else None)
                with executor.batch():
                    submitted = [
                        executor.submit(PackTask(str(payload), [(list(job_overrides[i]), initial_job_idx + i) for i in pack], self.unasked_time_limit))
                        for pack in part
                    ]
                packs += part
                tasks += submitted
                self.notify([StateChange(i, "pending", job.job_id) for pack, job in zip(part, submitted) for i in pack])
                previous = array_of(submitted[0].job_id)
                log.info("Submitted jobs #%d-#%d in %d tasks of up to %d jobs as Slurm job %s",
                         initial_job_idx + part[0][0], initial_job_idx + part[-1][-1], len(part), per_task, previous)  # fmt: skip
        log.info("Submitted %d jobs to Slurm in %d tasks", len(job_overrides), len(tasks))
        if not self.wait_for_jobs:
            task_of = {i: job for pack, job in zip(packs, tasks) for i in pack}
            return [queued_return(overrides, task_of[i].job_id) for i, overrides in enumerate(job_overrides)]
        return self.wait_packs(tasks, packs, job_overrides, return_folder(payload), initial_job_idx)

    def wait_packs(
        self, tasks: Sequence[Any], packs: Sequence[Sequence[int]], job_overrides: Sequence[Sequence[str]], folder: Path, initial_job_idx: int
    ) -> List[JobReturn]:
        """Wait until every packed task has left the queue; one JobReturn per job, in order.

        A job ends when its return file appears (while its task still runs); the jobs of a task
        that left the queue without one get the task's end state (CANCELLED, TIMEOUT...)."""
        results: Dict[int, JobReturn] = {}
        left_queue_at: Dict[int, float] = {}
        last_seen: Dict[int, str] = {}
        running: set[int] = set()  # jobs reported running
        open_packs = list(range(len(tasks)))
        while open_packs:
            states = task_states(tasks[p].job_id for p in open_packs)
            if states is None:
                time.sleep(self.poll_interval_s)
                continue
            changes: List[StateChange] = []
            now = time.monotonic()
            for p in list(open_packs):
                job_id = tasks[p].job_id
                for i in packs[p]:
                    if i not in results:
                        ret = read_return(return_file(folder, initial_job_idx + i))
                        if ret is not None:
                            results[i] = ret
                            changes.append(StateChange(i, ended_state(ret), job_id))
                state = states.queued.get(job_id)
                if state is not None:
                    last_seen[p] = state
                    current = next((i for i in packs[p] if i not in results), None)
                    if state == "RUNNING" and current is not None and current not in running:
                        running.add(current)
                        changes.append(StateChange(current, "running", job_id))
                    continue
                if job_id not in states.ended:
                    continue
                left_queue_at.setdefault(p, now)
                end = states.ended[job_id]
                if not end and last_seen.get(p) == "PENDING":
                    end = "CANCELLED"  # left the queue while pending: Slurm keeps no record of it
                outcome = self._pack_outcome(tasks[p], end, now - left_queue_at[p])
                if outcome is None:
                    continue
                for i in packs[p]:
                    if i not in results:
                        results[i] = self._failed(tasks[p], outcome[0], outcome[1], job_overrides[i])
                        changes.append(StateChange(i, "failed", job_id))
                open_packs.remove(p)
            self.notify(changes)
            if changes:
                log.info("Slurm: %d/%d jobs ended, %d tasks left", len(results), len(job_overrides), len(open_packs))
            if open_packs:
                time.sleep(self.poll_interval_s)
        return [results[i] for i in range(len(job_overrides))]

    def _pack_outcome(self, task: Any, state: str, waited_s: float) -> Optional[tuple[str, str]]:
        """The state and reason given to the jobs of a task that left the queue without ending them,
        or None to look again later."""
        from submitit.core.utils import pickle_load

        result_file = Path(task.paths.result_pickle)
        result = pickle_load(result_file) if result_file.exists() else None
        if state in CUT_SHORT_STATES:
            return state, "ended by Slurm before this job ended"
        if result is not None:
            tag, value = result
            if tag == "success":
                return "UNKNOWN", "its task ended without running it"
            summary = _error_summary(value)  # submitit's own end at the time limit, as unpacked
            return ("TIMEOUT" if "UncompletedJobError" in summary else "FAILED"), summary
        if waited_s < self.result_grace_s and state not in {"FAILED"}:
            return None
        return state or "UNKNOWN", "left the queue without a result"
