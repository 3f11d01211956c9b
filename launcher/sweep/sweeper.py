"""The sweeper: Hydra's basic sweeper plus validation, a manifest, resume, progress,
a failure report and collection.

Hydra's basic sweeper creates the sweep directory before it checks the jobs,
checks nothing but composition, stops at the first failed job it looks at and
reruns everything when started again. This one:

1. composes and validates every combination first: a rejected sweep creates
   nothing, and no two jobs may share a run directory or a parameter tree
   (:mod:`launcher.sweep.job_plan`);
2. writes ``manifest.json`` in the sweep directory (every job, its run
   directory, config hash and state) and keeps it current; the jobs of earlier
   sweeps into the directory stay listed with their numbers, a damaged or
   missing manifest is rebuilt, another program's ``manifest.json`` refused;
3. skips the jobs whose run directory already holds a completed
   ``results.json`` with the same config hash (a damaged one is named and its
   job run again; ``hydra.sweeper.force=true`` reruns everything;
   ``hydra.sweeper.plan=true`` only lists the jobs);
4. runs every other job, even when some fail, showing progress; SIGTERM stops it as
   Ctrl-C does (the running jobs are stopped and recorded failed, their run scripts
   first), where Python's default would end the process on the spot; either ends the
   process with one line naming what was saved and the signal's exit code (130, 143),
   no traceback (:mod:`launcher.sweep.interrupt`);
5. collects the sweep into ``summary.csv`` and figures (the ``collector`` its plugin gives it:
   reporting is a layer above), then lists each failed job with its error and log and exits
   non-zero if there is one.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from launcher import compat
from launcher.launchers.protocol import FollowsQueuedJobs, StateChange, StateReporting, TakesJobNumbers, failure_log, failure_message, queued_job_id, returned_value
from launcher.run.job import kept_stop, recorded
from launcher.run.results import now
from launcher.sweep.declared import DEFAULT_SEED_KEYS, seed_keys
from launcher.sweep.interrupt import interruption_stops_sweep, stop_sweep
from launcher.sweep.job_count import MAX_JOBS, count_jobs, size_problem
from launcher.sweep.job_plan import PlansJobs, read_jobs_file
from launcher.run.files import problem, quiet_log_files
from launcher.run.jsonfile import write_atomically
from launcher.sweep.lock import SweepLock, is_swept, sweeper_identity
from launcher.sweep.manifest import COMPLETED, DAMAGED, FAILED, INTERRUPTED, PENDING, RUNNING, JobEntry, Manifest, ManifestError
from launcher.sweep.progress import Progress
from launcher.sweep.sweep_dir import SweepRefused, manifest_stamp, refuse_as_sweep_dir, refuse_foreign_contents, refuse_linked_run_dirs
from launcher.sweep.naming import leave_shared_settings_out, name_run_dirs_after_overrides
from launcher.sweep.tree import ParameterError

log = logging.getLogger(__name__)


@dataclass
class MozaikSweeperConf:
    """Config of the sweeper (``hydra/sweeper=mozaik``, the project's default)."""

    _target_: str = "hydra_plugins.mozaik_sweeper.mozaik_sweeper.MozaikSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None
    #: Rerun every job, even those already completed with the same config.
    force: bool = False
    #: List the jobs, their run directories and states; run nothing.
    plan: bool = False
    #: Write summary.csv and figures at the end of the sweep.
    collect: bool = True
    #: A JSON file listing jobs as lists of overrides (``[["a=1", "b=2"], ...]``), run
    #: instead of a grid (each combined with the command line's own overrides).
    jobs_file: Optional[str] = None
    #: The most jobs a sweep may have: a larger one is refused before anything is planned.
    max_jobs: int = MAX_JOBS
    #: Sweep into a directory that holds files but no sweep of this program (refused by default:
    #: a sweep writes summary.csv, figures and run directories, over same-named files).
    allow_non_empty: bool = False
    #: Name run directories after the settings every job shares too (``model=``, ``task.*``): by default
    #: they are left out, as mozaik names a run after the parameters it varies.
    name_shared_settings: bool = False


class SweepFailed(CompactHydraException):
    """Some jobs of a sweep failed; the others' results are complete and kept."""


class LauncherFailed(Exception):
    """The launcher itself raised (hydra-joblib-launcher's TerminatedWorkerError on a worker's
    segfault, submitit's UncompletedJobError, Ray's WorkerCrashedError): the jobs it ended are
    recorded, the sweep is reported and collected, and it ends naming this error."""

    def __init__(self, launcher: Any, error: BaseException) -> None:
        lines = str(error).strip().splitlines()
        self.line = f"the launcher {type(launcher).__name__} failed: {type(error).__name__}" + (f": {lines[0]}" if lines else "")
        super().__init__(self.line)


def _record_return(job: JobEntry, ret: JobReturn, sweep_dir: Path, applied: bool = False) -> None:
    """Update a job's entry from what its launcher returned and what it wrote (``applied``:
    its results.json was already looked at, as the launcher told of its end)."""
    job.finished = job.finished or now()
    if ret.status == JobStatus.COMPLETED and (applied or job.apply_results(sweep_dir) is not None):
        return
    job.state = COMPLETED if ret.status == JobStatus.COMPLETED else FAILED
    if job.state == FAILED:
        error = returned_value(ret)
        job.error = failure_message(error)
        log_file = failure_log(error)  # the launcher's own log (Slurm's), if any
        job.log = str(log_file) if log_file else None


def in_number_order(jobs: Sequence[JobEntry]) -> bool:
    """Whether jobs are in the order of their numbers (a million-job list need then not be sorted)."""
    return all(a.number <= b.number for a, b in itertools.pairwise(jobs))


class ValidatingSweeper(PlansJobs, Sweeper):
    """Behaviour of the ``mozaik`` sweeper (Hydra loads the class from ``hydra_plugins``).

    Hydra's basic sweeper's grid and parameters, on Hydra's public ``Sweeper``: not a subclass of
    ``BasicSweeper``, which Hydra's plugin scan binds anew whenever a Plugins singleton is built
    (``Singleton.set_state``: Hydra's test fixtures, our launchers' workers), and whose
    ``__init__`` (``super(BasicSweeper, self)``) then refuses a subclass of the class before.
    """

    #: Writes the sweep's table and figures into the sweep directory it is given, and returns what
    #: it wrote (with ``damaged``: lines naming the damaged results it met). The reporting is a
    #: layer above the sweep: the plugin Hydra loads (``hydra_plugins.mozaik_sweeper``) sets it.
    collector: Optional[Callable[[Path], Any]] = None
    #: Refuses the sweep's config before any job is planned if the model's task cannot be found
    #: (raises :class:`ParameterError`); set by the plugin too, as the task is the app's.
    task_check: Optional[Callable[[DictConfig], None]] = None

    def __init__(
        self,
        max_batch_size: Optional[int] = None,
        params: Optional[Dict[str, str]] = None,
        force: bool = False,
        plan: bool = False,
        collect: bool = True,
        jobs_file: Optional[str] = None,
        max_jobs: int = MAX_JOBS,
        allow_non_empty: bool = False,
        name_shared_settings: bool = False,
    ) -> None:
        super().__init__()
        self.max_batch_size, self.params = max_batch_size, dict(params or {})
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher: Optional[Launcher] = None
        self.force, self.plan_only, self.collect, self.jobs_file = force, plan, collect, jobs_file
        self.max_jobs = max_jobs
        self.allow_non_empty = allow_non_empty
        self.name_shared_settings = name_shared_settings
        #: The model's seed keys (its config's task._seed_keys_), read as the sweep starts.
        self.seeds: Tuple[str, ...] = DEFAULT_SEED_KEYS

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # Every job's config, here and in the launcher, is composed by applying its
        # overrides to one composed base (launcher.sweep.compose): identical to Hydra's full
        # composition, about fifty times faster.
        from launcher.sweep.compose import ComposingConfigLoader

        name_run_dirs_after_overrides(config)
        if not self.name_shared_settings:
            listed = {line.partition("=")[0].lstrip("+~") for job in read_jobs_file(self.jobs_file) for line in job} if self.jobs_file else set()
            leave_shared_settings_out(config, listed)
        fast = hydra_context
        compat.say_if_off()
        if compat.fast_paths():  # else every job is composed by Hydra in full
            fast = HydraContext(config_loader=ComposingConfigLoader(hydra_context.config_loader), callbacks=hydra_context.callbacks)
        self.hydra_context, self.config = fast, config
        # Whatever launcher runs the jobs, each writes its results.json (launcher.run.job).
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=fast, task_function=recorded(task_function), config=config
        )

    def _parse_config(self) -> List[str]:
        """The sweep's ``params`` as override lines (``hydra.sweeper.params``), as Hydra's basic sweeper reads them."""
        return [f"{key}={value}" for key, value in self.params.items()]

    def sweep(self, arguments: List[str]) -> Any:
        logs = quiet_log_files()
        try:
            with interruption_stops_sweep("the sweep stopped before any job started; nothing was run"):  # (once one has: run_planned)
                return self.sweep_grid(arguments)
        finally:
            # The sweep's own log (Hydra's) on a full disk: said once, not a traceback a line.
            for handler in {id(h): h for h in [*logs, *quiet_log_files()]}.values():
                if getattr(handler, "error", None) is not None:
                    print(f"Could not write all of the sweep's log: {problem(handler.baseFilename, handler.error)}", file=sys.stderr)  # type: ignore[attr-defined]

    def sweep_grid(self, arguments: List[str]) -> Any:
        """Plan the jobs of a grid (or a jobs file), then run those not done (see the module doc)."""
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        if self.task_check is not None:
            self.task_check(self.config)
        self.seeds = seed_keys(self.config)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(self._parse_config() + list(arguments))
        listed = read_jobs_file(self.jobs_file) if self.jobs_file else None
        self.check_size(count_jobs(overrides, self.max_jobs) * (len(listed) if listed is not None else 1))
        # The jobs' override lists, each shared with its JobEntry (no copy: a million-job sweep
        # holds each list once); Hydra's own sweep loop, which reads self.overrides, is not run.
        combinations = [job for batch in compat.split_sweep(overrides, self.max_batch_size) for job in batch]
        if listed is not None:
            combinations = [common + job for common in combinations for job in listed]

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        stamp = manifest_stamp(sweep_dir)
        earlier, damage, manifest = self.plan_against_earlier(sweep_dir, combinations)
        if self.plan_only:
            planned, kept, to_run = self.what_runs(manifest, earlier, others_sweeping=is_swept(sweep_dir))
            for chunk in self.plan_lines(manifest, planned, to_run, chunk=10_000):
                print(chunk)  # a chunk at a time: the listing of a million jobs is 100 MB of text
            return []
        with SweepLock(sweep_dir):  # one sweeping process per sweep directory; see launcher.sweep.lock
            if manifest_stamp(sweep_dir) != stamp:  # another sweep wrote into it since: plan against what it left
                earlier, damage, manifest = self.plan_against_earlier(sweep_dir, combinations)
            if damage is not None:  # said once the sweep is known to go ahead
                log.warning(
                    "%s. The manifest is rebuilt from this sweep's jobs and the %d run directories that hold a results.json",
                    damage, len(earlier.jobs),
                )
            planned, kept, to_run = self.what_runs(manifest, earlier, others_sweeping=False)
            return self.run_planned(sweep_dir, manifest, earlier, planned, kept, to_run)

    def plan_against_earlier(
        self, sweep_dir: Path, combinations: List[List[str]]
    ) -> Tuple[Manifest, Optional[ManifestError], Manifest]:
        """What earlier sweeps left in the directory (see :meth:`earlier_manifest`) and this sweep's
        plan, its jobs numbered after theirs."""
        earlier, damage = self.earlier_manifest(sweep_dir)
        tic = time.perf_counter()
        manifest = self.plan(combinations, earlier.numbers_for(combinations))
        log.debug("Validated %d jobs in %.2f s", len(combinations), time.perf_counter() - tic)
        return earlier, damage, manifest

    def what_runs(
        self, manifest: Manifest, earlier: Manifest, others_sweeping: bool
    ) -> Tuple[List[JobEntry], List[JobEntry], List[JobEntry]]:
        """This sweep's jobs, the earlier jobs it keeps listed, and the jobs it runs (not completed
        with the same config, not still queued by an earlier submission), after their results.
        An earlier job left pending or running by a sweep that has ended is ``interrupted``
        (``others_sweeping``: whether another process sweeps the directory now)."""
        earlier.settle(swept=others_sweeping)
        interrupted = [job for job in earlier.jobs if job.state == INTERRUPTED]
        if interrupted:
            log.warning("%d jobs were interrupted by the end of an earlier sweep (#%s); they are not done",
                        len(interrupted), ", #".join(str(job.number) for job in interrupted[:10]))
        # The plan's own list, not a copy (Manifest.keep gives the manifest a new list, never
        # changes this one); to_run too, when every job runs (a new directory): no copy of a million.
        planned = manifest.jobs
        if manifest.sweep_dir.exists():  # a sweep run before: a completed run of the same config need not run again
            manifest.refresh()
            self.warn_of_damage(planned)
        kept = manifest.keep(earlier)
        manifest.refresh(kept)
        to_run = planned
        if not self.force and any(job.state == COMPLETED for job in planned):
            to_run = [job for job in planned if job.state != COMPLETED]
        if not in_number_order(to_run):  # (no copy when in order already)
            to_run = sorted(to_run, key=lambda job: job.number)  # a new list: planned keeps its order
        to_run = self.leave_queued_jobs(earlier, to_run)
        if manifest.sweep_dir.exists():
            refuse_linked_run_dirs(manifest.sweep_dir, to_run)
        return planned, kept, to_run

    def run_planned(
        self, sweep_dir: Path, manifest: Manifest, earlier: Manifest, planned: List[JobEntry], kept: List[JobEntry], to_run: List[JobEntry]
    ) -> Any:
        """Run a planned sweep, report and collect it."""
        if kept:
            log.log(
                logging.WARNING if earlier.rebuilt else logging.INFO,
                "%d earlier jobs of %s that this sweep does not run stay listed in its manifest, status and table (#%s)",
                len(kept), sweep_dir, ", #".join(str(job.number) for job in kept[:10]) + (", ..." if len(kept) > 10 else ""),
            )

        sweep_dir.mkdir(parents=True, exist_ok=True)
        manifest.sweeper = sweeper_identity()  # who runs the jobs, for the readers (see Manifest.settle)
        self.save_config(sweep_dir)
        for job in to_run:
            job.state, job.error, job.log, job.started, job.finished = PENDING, None, None, None, None
            job.slurm_job_id = job.damage = None
        manifest.save()
        if len(to_run) < len(planned):
            done = sum(job.state == COMPLETED for job in planned)
            log.info("Resuming: %d of %d jobs already completed, %d to run", done, len(planned), len(to_run))

        launcher_failed: Optional[LauncherFailed] = None
        try:  # (SIGTERM is a KeyboardInterrupt here too: see sweep)
            returns = self.run(manifest, to_run)
        except LauncherFailed as exc:  # reported below, with the jobs it leaves failed or not run
            returns, launcher_failed = [], exc
        except KeyboardInterrupt as interrupt:  # run() stopped the running jobs and saved the manifest
            done = sum(job.state == COMPLETED for job in planned)
            stop_sweep(
                interrupt,
                f"{done} of {len(planned)} jobs completed, their results and the manifest saved in {sweep_dir}; "
                "run the same command again to run the rest",
            )
        queued = [job for job in planned if job.state in (PENDING, RUNNING)]
        if queued and launcher_failed is None:  # (after a launcher's failure its jobs not run are pending: reported below)
            log.info(
                "Submitted %d jobs and left them to the cluster. Follow them with `python -m launcher status %s`, "
                "then `python -m launcher collect %s`; run the same sweep again to rerun what failed.",
                len(queued), sweep_dir, sweep_dir,
            )
            return returns
        failed = [job for job in planned if job.state == FAILED]
        if self.collect:
            self.collect_sweep(sweep_dir)
        if launcher_failed is not None:
            done = sum(job.state == COMPLETED for job in planned)
            raise SweepFailed(
                f"{launcher_failed.line}\n{done} of {len(planned)} jobs completed, their results kept; "
                f"{len(failed)} failed, {len(planned) - done - len(failed)} not run; run the same command again to run "
                "the rest" + "".join(f"\n{manifest.describe_failure(job)}" for job in failed)
            )
        if failed:
            raise SweepFailed(
                f"{len(failed)} of {len(planned)} jobs failed (the other results are complete):\n"
                + "\n".join(manifest.describe_failure(job) for job in failed)
            )
        return returns

    def save_config(self, sweep_dir: Path) -> None:
        """Hydra's record of the sweep's config, ``multirun.yaml``."""
        try:
            write_atomically(sweep_dir / "multirun.yaml", lambda tmp: OmegaConf.save(self.config, tmp))  # a link replaced, not written through
        except OSError as exc:  # e.g. no space left: the jobs can still say why they fail
            log.error("Could not write %s: %s", sweep_dir / "multirun.yaml", exc)

    def check_size(self, count: int) -> None:
        """Say how many jobs the sweep has; refuse an empty one, and one above ``max_jobs``, before
        anything is planned (:func:`launcher.sweep.job_count.size_problem`)."""
        problem = size_problem(count, self.max_jobs)
        if problem is not None:
            raise ParameterError(problem)
        log.info("Planning %d job%s", count, "" if count == 1 else "s")

    def earlier_manifest(self, sweep_dir: Path) -> Tuple[Manifest, Optional[ManifestError]]:
        """What the sweep directory holds from earlier sweeps: its manifest; if that is damaged
        (then returned too: the manifest this sweep writes replaces it) or missing, the jobs its
        run directories tell of; nothing for a new directory.

        Raises :class:`SweepRefused` if the directory's manifest.json is another program's.
        """
        assert self.config is not None
        refuse_as_sweep_dir(sweep_dir, self.allow_non_empty)
        found = Manifest.read(sweep_dir)
        if not isinstance(found, ManifestError):
            return found, None
        if found.kind == ManifestError.FOREIGN:
            raise SweepRefused(
                f"The sweep was refused; nothing was run or written: {found}. Choose another hydra.sweep.dir, "
                "or move the file away."
            )
        if found.kind == ManifestError.MISSING and not self.allow_non_empty:
            refuse_foreign_contents(sweep_dir)
        rebuilt = Manifest.rebuild(sweep_dir, job_log=f"{self.config.hydra.job.name}.log")
        return rebuilt, found if found.kind == ManifestError.DAMAGED else None

    @staticmethod
    def warn_of_damage(jobs: List[JobEntry]) -> None:
        """Name each job whose results.json is damaged: it is not done, so it runs again."""
        damaged = [job for job in jobs if job.state == DAMAGED]
        if damaged:
            log.warning(
                "%d jobs have a damaged results.json and run again:\n%s",
                len(damaged), "\n".join(f"  #{job.number} {job.damage}" for job in damaged),
            )

    def leave_queued_jobs(self, earlier: Manifest, to_run: List[JobEntry]) -> List[JobEntry]:
        """Leave out the jobs that an earlier, non-waiting submission of this sweep still has in
        its launcher's queue (running them again would run them twice), as the launcher in force
        reads that queue (:class:`launcher.launchers.protocol.FollowsQueuedJobs`)."""
        submitted = [job for job in earlier.jobs if job.slurm_job_id]
        if not submitted:
            return to_run
        earlier.refresh(submitted)
        if isinstance(self.launcher, FollowsQueuedJobs):
            self.launcher.refresh_queued(submitted)
        elif any(job.state in (PENDING, RUNNING) for job in submitted):
            compat.fell_back(
                f"{type(self.launcher).__name__} cannot read the queue of an earlier submission", "not a Slurm launcher",
                "its jobs that the manifest says are pending or running are left to it, as when Slurm cannot be asked",
            )
        queued = {job.run_dir: job for job in submitted if job.state in (PENDING, RUNNING)}
        for job in to_run:
            if job.run_dir in queued:
                job.state, job.slurm_job_id = queued[job.run_dir].state, queued[job.run_dir].slurm_job_id
        if queued:
            log.info("%d jobs of an earlier submission are still in the Slurm queue: left to it", len(queued))
        return [job for job in to_run if job.run_dir not in queued]

    def run(self, manifest: Manifest, to_run: List[JobEntry]) -> List[Sequence[JobReturn]]:
        """Launch the jobs, keeping the manifest and the progress display current.

        Hydra's basic launcher runs one job at a time in this process, so it gets
        one job per launch; other launchers get whole batches and report their
        jobs' states through ``on_state`` (see :class:`launcher.launchers.protocol.StateReporting`).
        """
        assert self.launcher is not None and self.config is not None
        batch_size = 1 if isinstance(self.launcher, compat.basic_launcher()) else (self.max_batch_size or len(to_run) or 1)
        progress = Progress(to_run, self.seeds)
        counted: set[int] = set()  # jobs whose end the progress display has shown
        applied: set[int] = set()  # jobs whose results.json was looked at as they ended
        returns: List[Sequence[JobReturn]] = []

        def on_state(batch: List[JobEntry], changes: List[StateChange]) -> None:
            for index, state, launcher_job_id in changes:
                job = batch[index]
                job.slurm_job_id = launcher_job_id or job.slurm_job_id
                if state == RUNNING and job.state != RUNNING:
                    job.state, job.started = RUNNING, now()
                    progress.job_started(job.number)
                elif state in (COMPLETED, FAILED) and job.number not in counted:
                    job.apply_results(manifest.sweep_dir)  # times and error, if the job wrote them
                    applied.add(job.number)
                    job.state, job.finished = state, job.finished or now()  # the launcher's word on the state
                    counted.add(job.number)
                    progress.job_finished(job, state == FAILED)
                manifest.changed(job)
            manifest.save(at_most_every_s=1.0)

        try:
            for start in range(0, len(to_run), batch_size):
                batch = to_run[start : start + batch_size]
                if batch_size == 1:
                    batch[0].state, batch[0].started = RUNNING, now()
                    progress.job_started(batch[0].number)
                    manifest.changed(batch[0])
                manifest.save(at_most_every_s=1.0)
                if isinstance(self.launcher, StateReporting):
                    self.launcher.on_state = lambda changes, batch=batch: on_state(batch, changes)
                if isinstance(self.launcher, TakesJobNumbers):
                    self.launcher.job_numbers = [job.number for job in batch]
                try:
                    results = self.launcher.launch([job.overrides for job in batch], initial_job_idx=batch[0].number)
                except Exception as exc:  # the launcher's own failure, not a job's (those it returns)
                    stop = kept_stop()
                    if stop is not None:  # a stop (Ctrl-C, SIGTERM) that the launcher's code turned into another error: the stop it was
                        raise stop from exc
                    if batch_size == 1 and isinstance(exc, OSError):
                        quiet_log_files()  # (Hydra's basic launcher configures the logs anew for each job)
                        # Hydra's basic launcher writing the job's .hydra files met a full disk (or the
                        # like): this job fails, named, and the sweep goes on to its report.
                        job = batch[0]
                        where = Path(exc.filename) if exc.filename else manifest.sweep_dir / job.run_dir
                        job.state, job.finished, job.error = FAILED, now(), f"{type(exc).__name__}: {problem(where, exc)}"
                        counted.add(job.number)
                        progress.job_finished(job, True)
                        manifest.changed(job)
                        manifest.save(at_most_every_s=1.0)
                        continue
                    failed = LauncherFailed(self.launcher, exc)
                    for job in batch:  # what each job's run directory says; no word from the launcher
                        job.apply_results(manifest.sweep_dir)
                        if job.state in (PENDING, RUNNING) and (manifest.sweep_dir / job.run_dir).exists():
                            job.state, job.error, job.finished = FAILED, f"no result: {failed.line}", job.finished or now()
                        elif job.state == RUNNING:  # never started after all: not run
                            job.state, job.started = PENDING, None
                    manifest.changed(*batch)
                    raise failed from exc
                if batch_size == 1:
                    quiet_log_files()
                for job, ret in zip(batch, results):
                    queued_as = queued_job_id(ret)
                    if queued_as is not None:  # queued by a launcher that does not wait
                        job.slurm_job_id = queued_as
                        counted.add(job.number)
                        continue
                    _record_return(job, ret, manifest.sweep_dir, applied=job.number in applied)
                    if job.number not in counted:
                        counted.add(job.number)
                        progress.job_finished(job, job.state == FAILED)
                manifest.changed(*batch)
                manifest.save(at_most_every_s=1.0)
                returns.append(results)
        finally:
            # Also when the sweep is interrupted (Ctrl-C) or a launcher fails: the manifest
            # says where every job stands, a job that ended its own way included (also one
            # still pending here: a parallel worker may have run it whole before the stop,
            # its return and state changes never read).
            for job in to_run:
                if job.state in (RUNNING, PENDING):
                    job.apply_results(manifest.sweep_dir)
            manifest.save()
        return returns

    @staticmethod
    def plan_lines(manifest: Manifest, planned: List[JobEntry], to_run: List[JobEntry], chunk: int = 1) -> Iterator[str]:
        """The plan-mode listing (``hydra.sweeper.plan=true``), ``chunk`` lines joined at a time:
        every job, its run directory and state, what would run (earlier jobs of the directory that
        this sweep does not plan are skipped)."""
        width = max((len(job.run_dir) for job in manifest.jobs), default=0)
        lines = [f"Sweep dir: {manifest.sweep_dir}", f"{len(to_run)} of {len(planned)} jobs would run:"]
        # Both in number order, walked side by side: no set of a million numbers (and no sorted
        # copy of to_run when it is in order already, as what_runs gives it).
        running = iter(to_run if in_number_order(to_run) else sorted(to_run, key=lambda job: job.number))
        next_run = next(running, None)
        earlier = len(manifest.jobs) - len(planned)
        for job in manifest.jobs:
            action = "skip"
            if next_run is not None and next_run.number == job.number:
                action, next_run = "run", next(running, None)
            lines.append(f"  #{job.number:<4} {job.run_dir:<{width}}  {job.state:<9}  {action}")
            if len(lines) >= chunk:
                yield "\n".join(lines)
                lines = []
        if earlier:
            lines.append(f"({earlier} earlier jobs of the directory are not in this sweep: listed, not run)")
        if lines:
            yield "\n".join(lines)

    def collect_sweep(self, sweep_dir: Path) -> None:
        """Write the sweep's table and figures (:attr:`collector`); a failure here never hides the jobs' results."""
        if self.collector is None:
            log.warning("No collector was given to %s: summary.csv and figures are not written (run "
                        "`python -m launcher collect %s`)", type(self).__name__, sweep_dir)
            return
        try:
            written = self.collector(sweep_dir)
            log.info("Collected the sweep: %s", written)
            for line in written.damaged:  # an earlier job this sweep did not run: its own were named before
                log.warning("%s", line)
        except Exception as exc:  # collection is a convenience, the results are on disk
            log.error("Could not collect %s: %s (run `python -m launcher collect %s`)", sweep_dir, exc, sweep_dir)

