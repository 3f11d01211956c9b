"""Sweeps on this machine, N jobs at a time, where a crashed job ends only itself.

Hydra's basic launcher runs one job after the other; hydra-joblib-launcher runs
them in parallel but a job that kills its process (NEST can segfault) aborts
the whole sweep and loses the other jobs' results; submitit's local executor
has no cap on the jobs running at once. This launcher
(``hydra/launcher=local_parallel``, ``hydra.launcher.n_jobs=N``):

- runs the jobs in N *lanes*, each a ``ProcessPoolExecutor(max_workers=1)``:
  a lane takes the next job as soon as it is free, so at most N jobs run at
  once; its worker process starts when the sweep does and imports the
  simulator while the sweep validates its jobs, and persists, so the simulator
  is imported once per lane, not once per job (every job resets the simulator
  at its start);
- runs a job exactly as the sequential launcher does (:class:`launcher.launchers.sequential.JobRunner`,
  so as Hydra's basic launcher does): same run directories, same ``.hydra/``
  files and job log, same results, the same ``JobReturn`` in the order of the jobs;
- turns the death of a worker (a signal, ``os._exit``) into a failed
  ``JobReturn`` for that job alone (:class:`JobProcessDied`, naming the signal or
  exit code) and replaces the lane; every other job goes on;
- tells the sweeper (``on_state``, see :class:`launcher.launchers.protocol.StateReporting`) as
  jobs start and end, from this process only;
- on Ctrl-C (or any error) stops its workers: the running jobs are interrupted,
  then terminated, then killed; a worker also ends as soon as the sweep's process
  ends, even killed: no worker outlives the sweep, and no run script a job started
  outlives its worker (:mod:`launcher.launchers.process_group`).
"""

from __future__ import annotations

import faulthandler
import hashlib
import importlib
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from launcher import compat
from launcher.run.files import quiet_log_files
from launcher.run.job import recorded
from launcher.run.noise import held_while_warming_up, quiet_simulators
from launcher.launchers.process_group import GRACE_S
from launcher.launchers.protocol import StateChange, StateReporting, ended_state, failed_return, returned_value
from launcher.sweep.interrupt import SweepTerminated

if TYPE_CHECKING:
    from launcher.launchers.sequential import JobRunner

log = logging.getLogger(__name__)

#: Seconds that interrupted jobs get to record their failure before their workers are terminated:
#: time to stop a run script first (launcher.launchers.process_group: SIGTERM, then SIGKILL after GRACE_S).
STOP_GRACE_S = GRACE_S + 1.0


@dataclass
class LocalParallelConf:
    """The ``hydra/launcher=local_parallel`` preset."""

    _target_: str = "hydra_plugins.mozaik_local_launcher.mozaik_local_launcher.LocalParallelLauncher"
    #: Jobs running at once; None: the number of CPUs this process may use.
    n_jobs: Optional[int] = None


class JobProcessDied(Exception):
    """The process running a job died before the job returned (a signal such as SIGSEGV, or an exit)."""

    def __init__(self, exitcode: Optional[int]) -> None:
        self.exitcode = exitcode
        self.signal = signal.Signals(-exitcode) if exitcode is not None and exitcode < 0 else None
        if self.signal is not None:
            how = f"was killed by signal {-exitcode} ({self.signal.name}: {signal.strsignal(self.signal)})"
        elif exitcode is not None:
            how = f"exited with code {exitcode}"
        else:
            how = "ended, exit status unknown"
        super().__init__(f"the process running the job {how}")

    def __reduce__(self) -> Any:
        # Sent back from a worker or a packed task's return file as what it is, not as text.
        return (JobProcessDied, (self.exitcode,))


class UnpicklableJobError(Exception):
    """A job's exception that cannot be sent back from its worker process, as text."""


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# --- in the worker processes -------------------------------------------------------------


def _end_with(sweep_pid: int) -> None:
    """Kill this worker as soon as the sweep's process ends, however it ends (SIGKILL, SIGTERM:
    no cleanup runs there). Needed: the fork server, the worker's parent, lives on as long as
    its workers do, and an idle worker waits for work forever."""
    try:
        pidfd = os.pidfd_open(sweep_pid)  # Linux >= 5.3: readable when the process ends
        select.select([pidfd], [], [])
    except (AttributeError, OSError):  # elsewhere, or the sweep has already ended
        while _alive(sweep_pid):
            time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _init_worker(sweep_pid: int) -> None:
    threading.Thread(target=_end_with, args=(sweep_pid,), name="end-with-sweep", daemon=True).start()
    faulthandler.enable()  # a crashing job's Python stack: into its log (launcher.run.noise), else the sweep's stderr
    quiet_simulators()
    # Ctrl-C reaches the whole process group: an idle worker leaves the stop to the
    # launcher, a busy one interrupts its job (see _run_job_in_worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupt_job(signum: int, frame: Any) -> None:
    # Once per job: a second SIGINT (the terminal's and the launcher's) must not cut
    # short the job's recording of its own failure.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _terminate_job(signum: int, frame: Any) -> None:
    # The sweep stopping while it ignores SIGINT (started in the background) terminates its busy
    # workers: the job records its failure, as on Ctrl-C; once per job, as _interrupt_job.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SweepTerminated("the sweep stopped (SIGTERM) while the job ran")


def _sendable(ret: JobReturn) -> bytes:
    """``ret`` pickled; a return value or exception that does not survive the trip is replaced."""
    try:
        data = cloudpickle.dumps(ret)
        cloudpickle.loads(data)
        return data
    except Exception as exc:
        value = returned_value(ret)
        if ret.status == JobStatus.COMPLETED:
            log.warning("The job's return value cannot be sent to the sweep (%s); it returns None", exc)
            ret.return_value = None
        else:
            ret.return_value = UnpicklableJobError(f"{type(value).__name__}: {value}")
        return cloudpickle.dumps(ret)


#: The payload this worker received last (its hash) and the job runner built from it: a
#: launch sends the same payload with every job, unpickled and set up once per worker.
_runner_of_payload: Dict[str, Any] = {}


def _job_runner(payload: bytes) -> "JobRunner":
    from launcher.launchers.sequential import JobRunner

    key = hashlib.sha1(payload).hexdigest()
    if _runner_of_payload.get("key") != key:
        if _runner_of_payload.get("runner") is not None:
            _runner_of_payload.pop("runner").close()
        hydra_context, task_function, config, singleton_state, resolvers = cloudpickle.loads(payload)
        Singleton.set_state(singleton_state)
        setup_globals()
        for name, resolver in resolvers.items():
            if not OmegaConf.has_resolver(name):
                compat.add_resolver(name, cloudpickle.loads(resolver))
        _runner_of_payload.update(key=key, runner=JobRunner(hydra_context, task_function, config))
    return _runner_of_payload["runner"]  # type: ignore[no-any-return]


def _run_job_in_worker(payload: bytes, overrides: List[str], idx: int, interruptible: bool) -> bytes:
    """Run one job in a worker, as the sequential launcher runs it (so as the basic launcher
    does); return its pickled JobReturn once the job's files are written.

    ``interruptible``: SIGINT interrupts the job, unless the sweep itself ignores it
    (started in the background by a shell, under nohup...)."""
    if interruptible:
        signal.signal(signal.SIGINT, _interrupt_job)
    signal.signal(signal.SIGTERM, _terminate_job)
    try:
        runner = _job_runner(payload)
        ret = runner.run(overrides, idx)
        runner.flush()
    except BaseException as exc:  # also KeyboardInterrupt, SystemExit: this job fails, the worker lives
        ret = failed_return(overrides, exc)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # an idle worker ends on SIGTERM
    return _sendable(ret)


# --- in the sweeping process ----------------------------------------------------------


def _context() -> multiprocessing.context.BaseContext:
    """The start method of the workers, its server started (it then loads while the sweep
    validates its jobs)."""
    # forkserver: workers are forked from a single-threaded server process started once
    # per sweep (it imports __main__, guarded in run_sim.py, and this module), so a lane
    # starts in milliseconds, also when it replaces a crashed one. Not fork: this process
    # runs a manager thread per lane while lanes are (re)started, and forking a threaded
    # process can deadlock the child (CPython issue 90622); it may also hold a simulator
    # (NEST, OpenMP) that must not be forked. Not spawn: every lane would pay a fresh
    # interpreter and the imports of __main__ (about a second each, per replacement too).
    # The simulator itself is imported by each worker's first job, never by the server.
    # Where there is no forkserver (Windows), spawn.
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", __name__])
    forkserver.ensure_running()  # starts the server, does not wait for it
    return context


def _resolvers() -> Dict[str, bytes]:
    """OmegaConf resolvers of this process, pickled, for workers that lack them (as the jobs of
    the basic launcher have them): those registered at run time, e.g. under ``__main__``'s guard."""
    found = {}
    for name, resolver in compat.registered_resolvers().items():
        try:
            found[name] = cloudpickle.dumps(resolver)
        except Exception as exc:  # a job that needs it fails as it would with any other launcher
            log.debug("Resolver %s cannot be sent to the workers: %s", name, exc)
    return found


def _warm_up(config: Optional[DictConfig]) -> None:
    """Import in a new worker what its first job imports anyway, while the sweep still
    validates and plans its jobs: the module of the model's task when the config names one
    (``task._target_``, see :mod:`launcher.app`), and whatever that module's optional
    ``warm_up(config)`` imports (the default model: its simulator backend). Every job still
    starts afresh (the default model resets its simulator)."""
    target = OmegaConf.select(config, "task._target_", default=None) if config is not None else None
    if not isinstance(target, str) or "." not in target:
        return
    try:
        with held_while_warming_up():  # the simulator's noise goes to the first job's log
            module = importlib.import_module(target.rpartition(".")[0])
            warm_up = getattr(module, "warm_up", None)
            if callable(warm_up):
                warm_up(config)
    except Exception:  # the first job imports again and reports the error as its own
        pass


class _Lane:
    """One worker process, one job at a time."""

    def __init__(self, context: multiprocessing.context.BaseContext, config: Optional[DictConfig] = None) -> None:
        self.executor = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_init_worker, initargs=(os.getpid(),)
        )
        self.process: Optional[multiprocessing.process.BaseProcess] = None
        self.job: Optional[int] = None  # index in the batch of the job it runs
        self.broken = False
        #: The worker's warm-up (started with the lane, so that it overlaps the sweep's planning).
        self.warm_up: Optional[Future] = self._submit(_warm_up, config)

    def _submit(self, *call: Any) -> Future:
        future = self.executor.submit(*call)
        if self.process is None:
            # The worker's Process, for its exit status and a forced stop (see launcher.compat).
            self.process = compat.pool_worker_process(self.executor)
        return future

    def died_warming_up(self) -> bool:
        """Whether the worker died during its warm-up (then the lane is replaced before any job)."""
        return self.warm_up is not None and self.warm_up.done() and isinstance(self.warm_up.exception(), BrokenProcessPool)

    def submit(self, job: int, *args: Any) -> Future:
        self.job = job
        return self._submit(_run_job_in_worker, *args)

    def result(self, future: Future, overrides: Sequence[str], idx: int) -> JobReturn:
        """The JobReturn of the lane's finished job; the lane is free again, or broken."""
        self.job = None
        try:
            return cloudpickle.loads(future.result())
        except BrokenProcessPool:
            self.broken = True
            error = JobProcessDied(self._exitcode())
            log.error(f"#{idx} : {' '.join(filter_overrides(overrides))} failed: {error}; the other jobs go on")
            return failed_return(overrides, error)
        except Exception as exc:  # the executor could not run the call at all
            return failed_return(overrides, exc)

    def _exitcode(self) -> Optional[int]:
        # The executor's own thread reaps the dead worker; read the status once it has
        # (two threads reading it at once could lose it).
        self.executor.shutdown(wait=True)
        deadline = time.monotonic() + 2.0
        while self.process is not None and time.monotonic() < deadline:
            self.process.join(timeout=0.1)
            if self.process.exitcode is not None:
                return self.process.exitcode
        return None


class LocalParallelSweepLauncher(StateReporting, Launcher):
    """Behaviour of the ``local_parallel`` launcher (Hydra loads the class from ``hydra_plugins``)."""

    def __init__(self, n_jobs: Optional[int] = None) -> None:
        super().__init__()
        if n_jobs is not None and n_jobs < 1:
            raise HydraException(f"hydra.launcher.n_jobs = {n_jobs}: must be at least 1 (or null: one per CPU)")
        self.n_jobs = n_jobs or cpu_count()
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None
        self.context: Optional[multiprocessing.context.BaseContext] = None
        self._lanes: List[_Lane] = []
        # on_state (launcher.launchers.protocol.StateReporting): told as jobs start and end.

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = recorded(task_function)  # every job writes its results.json
        self.context = _context()
        # The workers start now and import the model while the sweeper validates the
        # jobs (a second or more on a large sweep); a worker ends with this process.
        self._lanes = [_Lane(self.context, self.config) for _ in range(self.n_jobs)]

    def _payload(self) -> bytes:
        # cloudpickle: the task function is the @hydra.main function of __main__, which
        # plain pickle can only name (and __main__.main is hydra.main's wrapper).
        state = (self.hydra_context, self.task_function, self.config, Singleton.get_state(), _resolvers())
        try:
            return cloudpickle.dumps(state)
        except Exception as exc:
            raise HydraException(
                f"hydra/launcher=local_parallel cannot send the task to worker processes ({type(exc).__name__}: {exc});"
                " run the sweep with the basic launcher"
            ) from exc

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        assert self.context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        quiet_log_files()  # the sweep's log on a full disk: said once by the sweeper
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        payload = self._payload()
        interruptible = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        n_lanes = min(self.n_jobs, len(job_overrides))
        log.info(f"Launching {len(job_overrides)} jobs locally, at most {n_lanes} at a time")

        lanes, spare = self._lanes[:n_lanes], self._lanes[n_lanes:]
        self._lanes = []
        for lane in spare:  # fewer jobs than lanes: the spare workers leave
            lane.executor.shutdown(wait=False, cancel_futures=True)
        lanes += [_Lane(self.context, self.config) for _ in range(n_lanes - len(lanes))]  # a later launch of the sweep
        lanes = [_Lane(self.context, self.config) if lane.died_warming_up() else lane for lane in lanes]
        running: Dict[Future, _Lane] = {}
        results: Dict[int, JobReturn] = {}
        waiting = list(range(len(job_overrides)))[::-1]  # popped from the end: job order
        try:
            while waiting or running:
                started = []
                for lane in (lane for lane in lanes if lane.job is None):
                    if not waiting:
                        break
                    i = waiting.pop()
                    idx = initial_job_idx + i
                    log.info(f"\t#{idx} : {' '.join(filter_overrides(job_overrides[i]))}")
                    running[lane.submit(i, payload, list(job_overrides[i]), idx, interruptible)] = lane
                    started.append(StateChange(i, "running"))
                self.notify(started)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                ended = []
                for future in done:
                    lane = running.pop(future)
                    i = lane.job
                    assert i is not None
                    results[i] = lane.result(future, job_overrides[i], initial_job_idx + i)
                    if lane.broken:
                        lanes[lanes.index(lane)] = _Lane(self.context, self.config)
                    ended.append(StateChange(i, ended_state(results[i])))
                self.notify(ended)
        except BaseException:
            _stop(lanes, interrupt=interruptible)
            raise
        for lane in lanes:
            lane.executor.shutdown(wait=True)
        return [results[i] for i in range(len(job_overrides))]


def _stop(lanes: List[_Lane], interrupt: bool) -> None:
    """Stop every worker: interrupt the running jobs (they record their failure), then
    terminate, then kill what is left. A second Ctrl-C does not cut this short."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        for lane in lanes:
            lane.executor.shutdown(wait=False, cancel_futures=True)  # idle workers exit
        processes = [lane.process for lane in lanes if lane.process is not None]
        busy = [lane.process for lane in lanes if lane.job is not None and lane.process is not None]
        for process in busy:  # each job records its failure (SIGTERM: when the sweep ignores SIGINT, see _terminate_job)
            _signal(process, signal.SIGINT if interrupt else signal.SIGTERM)
        deadline = time.monotonic() + (STOP_GRACE_S if busy else 0.0)
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for stop in (lambda p: p.terminate(), lambda p: p.kill()):
            alive = [p for p in processes if p.is_alive()]
            for process in alive:
                stop(process)
            for process in alive:
                process.join(timeout=1.0)
        log.info("Stopped %d worker processes", len(processes))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _signal(process: multiprocessing.process.BaseProcess, signum: int) -> None:
    try:
        os.kill(process.pid, signum)  # type: ignore[arg-type]
    except (ProcessLookupError, TypeError):
        pass
