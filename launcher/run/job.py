"""The job wrapper every launcher puts around a task: ``results.json``, whatever the task is.

A task is any Hydra task function (``@hydra.main``'s function, or the model a
config names through ``run_sim.py``). It builds, simulates, analyses and
returns its single values: a mapping of names to numbers. Everything else a
sweep promises about a job lives here, so that it holds for any task:

- :func:`recorded_job` writes the job's ``results.json`` when the job ends,
  last and atomically, with its state (``completed``, or ``failed`` with the
  error whatever happened, Ctrl-C and Slurm's SIGTERM included), metrics,
  overrides, config hash, timings, package versions, host, Slurm id and code
  version;
- :class:`RecordedTask` wraps a task function so that each call runs inside
  :func:`recorded_job` in the job's Hydra run directory. The sweeper and every
  launcher wrap the task they are given with :func:`recorded` (once: a wrapped
  task is not wrapped again, and a recorded task called inside a job that is
  already recorded just runs);
- :func:`current_record` lets a task add fields of its own to the record
  (the embedded model adds its population sizes and where its time went), and
  :func:`current_run_dir` names the job's run directory (Hydra's output dir in a
  Hydra job; the one given when a test calls a task directly).
"""

from __future__ import annotations

import contextvars
import functools
import importlib.metadata
import logging
import numbers
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from launcher.run import results
from launcher.run.jsonfile import write_json_atomic
from launcher.run.noise import simulator_noise_to_log
from launcher.run.results import now
from launcher.run.tree_hash import config_hash

log = logging.getLogger(__name__)

#: The config hash of the job about to run, when its launcher planned it already (it then need not
#: resolve the job's tree again: 1.6 ms of a no-op job's 5): see :func:`planned_config_hash`.
_PLANNED_HASH: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("mozaik_planned_hash", default=None)
#: The record and run directory of the job running in this context (None outside a recorded job).
_JOB: contextvars.ContextVar[Optional[tuple[dict[str, Any], Path]]] = contextvars.ContextVar("mozaik_job", default=None)

#: The stop (Ctrl-C, SIGTERM) the sweeping process has received, until its sweep ends: set by the
#: sweep's signal handlers (launcher.sweep.interrupt). The exception a handler raises can be
#: swallowed by the code it lands in (seen: a KeyboardInterrupt raised inside PyNN's get_data,
#: in an attribute lookup that numpy makes and whose error it drops), and the sweep would run on
#: with Ctrl-C ignored; a job that ends after it raises it again once its record is written.
_stop: list[KeyboardInterrupt] = []


def stop_received(stop: Optional[KeyboardInterrupt]) -> None:
    """Keep ``stop``, the stop the sweeping process received (None: its sweep has ended)."""
    _stop[:] = [] if stop is None else [stop]


def kept_stop() -> Optional[KeyboardInterrupt]:
    """The stop kept by :func:`stop_received`, if any."""
    return _stop[0] if _stop else None


#: Distributions whose versions a record lists when they are installed: the frameworks
#: every job runs on and the field's simulation stack.
PROVENANCE_DISTRIBUTIONS = {
    "launcher": "mozaik-hydra-launcher",
    "hydra-core": "hydra-core",
    "omegaconf": "omegaconf",
    "numpy": "numpy",
    "pyNN": "PyNN",
    "nest": "nest-simulator",
    "neo": "neo",
}


class TaskResultError(TypeError):
    """A task returned something other than its single values (a mapping of names to numbers)."""


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Installed versions of :data:`PROVENANCE_DISTRIBUTIONS` (those not installed are left out)."""
    found = {}
    for label, distribution in PROVENANCE_DISTRIBUTIONS.items():
        try:
            found[label] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def job_location(run_dir: Path | str | None, overrides: Sequence[str] | None) -> tuple[Path, list[str]]:
    """Run directory and overrides of a job: as given, else those of the current Hydra job."""
    from hydra.core.hydra_config import HydraConfig

    if run_dir is None or overrides is None:
        if not HydraConfig.initialized():
            raise ValueError("a run directory and overrides are needed outside a Hydra job")
        hydra_cfg = HydraConfig.get()
        run_dir = run_dir if run_dir is not None else hydra_cfg.runtime.output_dir
        overrides = overrides if overrides is not None else OmegaConf.to_container(hydra_cfg.overrides.task)
    return Path(run_dir), list(overrides)  # type: ignore[arg-type]


@contextmanager
def planned_config_hash(config_hash: Optional[str]) -> Iterator[None]:
    """Within the block, a job recorded takes ``config_hash`` as its config's hash (None: it computes
    it). For launchers that plan each job's hash from the sweep's base (equal to the job's own, tested)."""
    token = _PLANNED_HASH.set(config_hash)
    try:
        yield
    finally:
        _PLANNED_HASH.reset(token)


def current_record() -> dict[str, Any]:
    """The record of the job running now, for a task to add fields to (``record["x"] = ...``);
    outside a recorded job, a dict that nobody reads."""
    job = _JOB.get()
    return job[0] if job is not None else {"timings": {}}


def current_run_dir() -> Path:
    """The run directory of the job running now (in a Hydra job without a record: Hydra's)."""
    job = _JOB.get()
    return job[1] if job is not None else job_location(None, [])[0]


def single_values(value: Any) -> dict[str, Any]:
    """A task's return value as the job's metrics: a mapping of names to numbers (NaN for an
    undefined value), a single number (recorded as ``value``), or None (no metrics)."""
    if value is None:
        return {}
    if _is_number(value):
        return {"value": _plain_number(value)}
    if not isinstance(value, Mapping):
        raise TaskResultError(
            f"the task returned {type(value).__name__} {_short(value)}; a task returns its single values: "
            "a mapping of names to numbers (or one number, or None)"
        )
    if len(value) > results.MAX_METRICS:
        raise TaskResultError(
            f"the task returned {len(value):,} values; a job records at most {results.MAX_METRICS:,} single values "
            "(launcher.run.results.MAX_METRICS): return a job's summary numbers, and save its data in its run directory"
        )
    metrics = {}
    for name, number in value.items():
        if not isinstance(name, str) or not _is_number(number):
            raise TaskResultError(
                f"the task returned {_short(name)}: {_short(number)}; a task returns a mapping of names (strings) "
                "to numbers (int or float; NaN where a value is undefined)"
            )
        metrics[name] = _plain_number(number)
    return metrics


def _is_number(value: Any) -> bool:
    # numpy's scalars register as numbers.Real; a bool is an int to Python, not a single value here.
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def _plain_number(value: Any) -> int | float:
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _job_log(run_dir: Path) -> Optional[str]:
    """The job's log file, relative to its run directory: the root logger's file handler there
    (Hydra's ``<job name>.log``), if there is one."""
    for handler in logging.getLogger().handlers:
        filename = getattr(handler, "baseFilename", None)
        if filename:
            try:
                return str(Path(filename).relative_to(run_dir.resolve()))
            except ValueError:
                continue
    return None


@contextmanager
def recorded_job(
    cfg: DictConfig, run_dir: Path, overrides: Sequence[str], code_dir: Path | str | None = None, **fields: Any
) -> Iterator[dict[str, Any]]:
    """The job's record, written to ``results.json`` when the block ends, whatever happens.

    The block fills in ``metrics`` and anything else it learns (also through
    :func:`current_record`). The record's state is ``completed`` if the block
    returns, ``failed`` (with the error) if it raises, even on KeyboardInterrupt
    or SystemExit; the exception goes on (a Ctrl-C that the interrupted code turned
    into another error goes on as the KeyboardInterrupt it was). A ``results.json``
    left by an earlier attempt is removed first, so this attempt never looks
    finished before it is. ``code`` is the git version of ``code_dir`` (the task's
    program), by default this project's.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / results.RESULTS_FILE).unlink(missing_ok=True)
    record: dict[str, Any] = {
        "state": "running",
        "metrics": {},
        "overrides": list(overrides),
        "config_hash": _PLANNED_HASH.get() or config_hash(cfg),
        "versions": versions(),
        **results.host_info(),
        "code": results.code_version(code_dir) if code_dir is not None else results.code_version(),
        **fields,
        "timings": {"started": now()},
    }
    token = _JOB.set((record, run_dir))
    t0 = time.perf_counter()
    try:
        yield record
        record["state"] = results.COMPLETED
    except BaseException as exc:  # a killed or interrupted job is recorded as failed too
        record["state"] = results.FAILED
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
        interrupted = _interrupt_behind(exc)
        if interrupted:
            record["error"] = f"KeyboardInterrupt (then, while it was handled: {record['error']})"
        if interrupted or isinstance(exc, KeyboardInterrupt):  # the sweep ends with one line: no traceback here
            log.error("Job interrupted (%s); its traceback is in results.json", "KeyboardInterrupt" if interrupted else type(exc).__name__)
        else:
            log.error("Job failed: %s\n%s", record["error"], record["traceback"])
        if interrupted:
            # Ctrl-C stops the sweep, not just this job, however the interrupted code reacted.
            raise KeyboardInterrupt from exc
        raise
    finally:
        _JOB.reset(token)
        record["timings"]["total_s"] = round(time.perf_counter() - t0, 3)
        record["timings"]["finished"] = now()
        record["log"] = record.get("log") or _job_log(run_dir)
        _flush_logs()  # the log whole before the record says how the job ended
        try:
            write_json_atomic(run_dir / results.RESULTS_FILE, record)
        except OSError as exc:  # e.g. no space left on device: the job cannot be recorded, so it failed
            log.error("Could not write %s: %s", run_dir / results.RESULTS_FILE, exc)
            if record["state"] == results.COMPLETED:  # a completed job that cannot say so has failed, with this error
                raise
        if _stop and record["state"] == results.COMPLETED:  # a stop the job's code swallowed: the sweep stops now
            log.warning("The sweep was stopped while this job ran, which completed; the sweep stops after it")
            raise _stop[0]


def _flush_logs() -> None:
    """Hand every line logged so far to the operating system (a process killed after this loses none)."""
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except (OSError, ValueError):  # a full disk, a closed stream: the record is written all the same
            pass


def _interrupt_behind(exc: BaseException) -> bool:
    """Whether a Ctrl-C is behind another error: code interrupted half-way may fail differently
    while the KeyboardInterrupt is being handled (seen: an import of ``quantities`` cut short
    raising AttributeError), and the launcher would then go on to the next job."""
    seen = {id(exc)}
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return not isinstance(exc, KeyboardInterrupt)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


class RecordedTask:
    """A task function whose every call is a recorded job (see the module doc).

    Called as the task function (``task(cfg)``, in a Hydra job) or with an explicit
    run directory and overrides; returns what the task returns, as Hydra's
    launchers promise (a sweeper such as Optuna's reads it). Inside a job that is
    already recorded it just runs the task. Picklable when the task is (launchers
    send it to worker processes and Slurm).
    """

    def __init__(self, task: Callable[[DictConfig], Any], code_dir: Optional[str] = None) -> None:
        self.task = task
        #: The directory of the program that defines the task (its git version is recorded),
        #: taken where the sweep starts: a worker or a Slurm task runs another program.
        self.code_dir = code_dir if code_dir is not None else _program_dir()
        functools.update_wrapper(self, task)  # type: ignore[arg-type]

    def __call__(self, cfg: DictConfig, run_dir: Path | str | None = None, overrides: Sequence[str] | None = None) -> Any:
        return self.run(cfg, run_dir, overrides)[0]

    def run(
        self, cfg: DictConfig, run_dir: Path | str | None = None, overrides: Sequence[str] | None = None
    ) -> tuple[Any, Optional[dict[str, Any]]]:
        """The task's return value and the job's record (None inside a job already recorded)."""
        if _JOB.get() is not None:  # the launcher already records this job
            return self.task(cfg), None
        run_dir, overrides = job_location(run_dir, overrides)
        with recorded_job(cfg, run_dir, overrides, code_dir=self.code_dir) as record, simulator_noise_to_log():
            value = self.task(cfg)
            try:
                record["metrics"] = single_values(value)
            except TaskResultError as exc:  # a Hydra task may return anything: it has no single values then
                record["warning"] = f"no metrics: {exc}"
                log.warning("No metrics recorded: %s", exc)
            # In the log before the record says the job completed; named: parallel jobs' lines interleave.
            log.info("Metrics: %s (%s)", record["metrics"], run_dir.name)
        return value, record

    def __reduce__(self) -> Any:
        # update_wrapper copies __wrapped__, __dict__...: pickle only the task.
        return (RecordedTask, (self.task, self.code_dir))


def look_up_provenance(task: Callable[[DictConfig], Any]) -> None:
    """Look up now what every record of ``task`` looks up once per process (package versions,
    the code's git version: a few subprocesses and metadata reads), so that the jobs of a process
    forked from this one (packed Slurm tasks) find them done."""
    versions()
    code_dir = getattr(task, "code_dir", None)
    results.code_version(code_dir) if code_dir is not None else results.code_version()


def recorded(task: Callable[[DictConfig], Any]) -> RecordedTask:
    """``task`` as a :class:`RecordedTask` (a task already wrapped is returned as it is)."""
    return task if isinstance(task, RecordedTask) else RecordedTask(task)


def _program_dir() -> Optional[str]:
    """The directory of the running program (``run_sim.py``, a user's Hydra app), if it has one."""
    program = getattr(sys.modules.get("__main__"), "__file__", None)
    return str(Path(program).resolve().parent) if program else None
