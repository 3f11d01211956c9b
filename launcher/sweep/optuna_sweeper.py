"""Fitting a model: an adaptive sweep whose trials Optuna chooses, with every guarantee of a grid.

``hydra/sweeper=optuna`` selects :class:`FitSweeper` (Hydra's own config names:
``hydra.sweeper.params``, ``n_trials``, ``n_jobs``, ``direction``, ``sampler``,
``study_name``, ``storage``; the search space in Hydra's sweep syntax, on the
command line or in ``params``: ``interval()``, ``tag(log, interval())``,
``range()``, ``choice()``, ``a,b,c``). It is the mozaik sweeper asking Optuna's
ask-and-tell API for its jobs, a batch of ``n_jobs`` trials at a time:

- before the first trial, the objective (:class:`launcher.sweep.fit.Objective`, the
  root key ``objective``) and the search space are checked: each end of each
  interval and each choice is planned and validated as a job (unknown keys with
  suggestions, values out of a key's range), an objective naming a metric the
  model does not produce is refused (where the model says which it produces:
  ``task._metrics_``); nothing is created when one is wrong;
- each batch of trials is planned (run directories named after the trial's
  overrides, config hashes, validation: a trial the tree's rules refuse is
  failed without running) and run by the configured launcher (sequential, local
  parallel, Slurm), every job writing its ``results.json``; its metrics become
  the objective's value(s), told to Optuna; a failed job, a missing or NaN metric
  are told as a failed trial, never as a number, and the study goes on;
- the study lives in the sweep directory (SQLite, ``optuna.db``): running the same
  command again continues it. Completed and failed trials count towards
  ``n_trials`` and are not run again; a trial left running by a study that was
  stopped is failed (``interrupted``) and does not count; a trial whose tree was
  simulated before (same config hash) takes that result without running;
- ``manifest.json`` lists every trial (number, overrides, state, the values told
  to Optuna), ``summary.csv`` adds each trial's objective value(s) and marks the
  best, and the figures show the optimisation history (:mod:`launcher.report.figures`).

A fit exits 0 when at least one trial completed; its failed trials are listed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from launcher.launchers.protocol import waits_for_jobs
from launcher.sweep.fit import METRICS_ATTR, OBJECTIVE_KEY, TARGETS_ATTR, Objective, probe_values, search_space
from launcher.sweep.lock import SweepLock, sweeper_identity
from launcher.sweep.manifest import COMPLETED, FAILED, INTERRUPTED, PENDING, JobEntry, Manifest
from launcher.sweep.naming import run_dirname
from launcher.sweep.overrides import hydra_override
from launcher.sweep.sweeper import SweepFailed, ValidatingSweeper, sigterm_stops_sweep
from launcher.sweep.tree import ParameterError

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

#: The study's storage in the sweep directory, unless ``hydra.sweeper.storage`` names another.
STUDY_FILE = "optuna.db"
#: Where a model option says which metrics its task produces (checked against the objective).
METRICS_KEY = "task._metrics_"
#: The study's record of the trials a stopped fit left running (failed, not counted towards n_trials).
INTERRUPTED_ATTR = "interrupted_trials"
#: The sampler of a fit unless ``hydra.sweeper.sampler`` names another (the reason: its module's docstring).
DEFAULT_SAMPLER = "launcher.sweep.target_sampler.TargetSampler"


@dataclass
class FitSweeperConf:
    """The ``hydra/sweeper=optuna`` preset: hydra-optuna-sweeper's settings, on the mozaik sweeper."""

    _target_: str = "hydra_plugins.mozaik_sweeper.mozaik_sweeper.MozaikFitSweeper"
    #: The search space, in Hydra's sweep syntax (``{key: "interval(0.1, 1.0)"}``), besides the command line's.
    params: Optional[Dict[str, str]] = None
    #: Trials of the study in all, those of earlier runs of the same study included.
    n_trials: int = 20
    #: Trials asked for at once and run together (by a parallel launcher, side by side).
    n_jobs: int = 2
    #: ``minimize`` or ``maximize``, or a list of them for a list of metrics (a loss of targets is minimised).
    direction: Any = "minimize"
    #: The sampler, as Hydra names callables: its class and its arguments.
    #: The default models each target metric (launcher.sweep.target_sampler); without targets it is TPE.
    sampler: Dict[str, Any] = field(default_factory=lambda: {"_target_": DEFAULT_SAMPLER, "seed": None})
    study_name: str = "fit"
    #: Optuna's storage URL; None: ``sqlite:///<sweep dir>/optuna.db``.
    storage: Optional[str] = None
    #: Write summary.csv and the figures at the end of the fit.
    collect: bool = True
    #: As the mozaik sweeper's (see launcher.sweep.sweeper.MozaikSweeperConf).
    allow_non_empty: bool = False
    max_batch_size: Optional[int] = None


class FitSweeper(ValidatingSweeper):
    """Behaviour of the ``optuna`` sweeper (Hydra loads the class from ``hydra_plugins``)."""

    def __init__(
        self,
        params: Optional[Dict[str, str]] = None,
        n_trials: int = 20,
        n_jobs: int = 2,
        direction: Any = "minimize",
        sampler: Optional[Dict[str, Any]] = None,
        study_name: str = "fit",
        storage: Optional[str] = None,
        collect: bool = True,
        allow_non_empty: bool = False,
        max_batch_size: Optional[int] = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params, collect=collect, allow_non_empty=allow_non_empty)
        for name, value in (("n_trials", n_trials), ("n_jobs", n_jobs)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"hydra.sweeper.{name} = {value!r}: a whole number, at least 1")
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.direction = OmegaConf.to_container(direction) if OmegaConf.is_config(direction) else direction
        # Hydra instantiates the sampler (a node with _target_) before this sweeper; a spec is kept as one.
        self.sampler = OmegaConf.to_container(sampler) if OmegaConf.is_config(sampler) else sampler
        self.study_name, self.storage = study_name, storage

    # --- before the first trial -----------------------------------------------------------

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(self._parse_config() + list(arguments))
        objective = Objective.of(self.config.get(OBJECTIVE_KEY), self.direction)
        objective.check_metrics(_produced_metrics(self.config))
        fixed, space = search_space(overrides)
        # The objective is the fit's, not the model's: the trials' overrides leave it out.
        fixed = [line for line in fixed if line.partition("=")[0].lstrip("+~") != OBJECTIVE_KEY]
        if not space:
            raise ParameterError(
                "a fit needs a search space: sweep at least one key, e.g. 'sheets.V1.connectivity.exc_weight=interval(0.002,0.006)'"
            )
        self.check_space(fixed, space)
        if not waits_for_jobs(self.launcher):
            raise ParameterError("a fit waits for each batch of trials to choose the next: hydra.launcher.wait=false is for grids")
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        with SweepLock(sweep_dir), sigterm_stops_sweep():
            return self.fit(sweep_dir, objective, fixed, space)

    def check_space(self, fixed: List[str], space: Dict[str, Any]) -> None:
        """Plan and validate the ends of every interval and every choice (the other keys as fixed):
        one :class:`ParameterError` listing every problem, before anything is created."""
        probes = [fixed + [hydra_override(key, value)] for key, dist in space.items() for value in probe_values(dist)]
        planner = self.planner()
        problems: Dict[str, List[str]] = {}
        for number, overrides in enumerate(probes):
            _, found = self.plan_job(number, overrides, planner)
            for problem in found:
                problems.setdefault(problem, []).append(overrides[-1])
        if problems:
            lines = [f"  {problem}\n      at: {'; '.join(where[:5])}" for problem, where in problems.items()]
            raise ParameterError("The search space was rejected; nothing was run or created:\n" + "\n".join(lines))

    # --- the study ---------------------------------------------------------------------------

    def study(self, sweep_dir: Path, objective: Objective) -> "optuna.study.Study":
        """The study, new or as an earlier run of the same command left it."""
        import optuna
        from hydra.utils import instantiate

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep's log says what happens
        storage = self.storage or f"sqlite:///{(sweep_dir / STUDY_FILE).resolve()}"
        sampler = self.sampler
        if isinstance(sampler, dict):
            try:
                sampler = instantiate(sampler)
            except Exception as exc:  # Hydra's message names the class and what failed
                raise ParameterError(f"hydra.sweeper.sampler = {self.sampler}: {exc}") from exc
        study = optuna.create_study(
            storage=storage, sampler=sampler, study_name=self.study_name, load_if_exists=True, directions=list(objective.directions)
        )
        if [d.name.lower() for d in study.directions] != list(objective.directions):
            raise ParameterError(
                f"study {self.study_name!r} in {storage} optimises {[d.name.lower() for d in study.directions]}, not "
                f"{list(objective.directions)}: give another hydra.sweeper.study_name or hydra.sweep.dir"
            )
        if objective.targets is not None and TARGETS_ATTR not in study.user_attrs:
            study.set_user_attr(TARGETS_ATTR, dict(objective.targets))  # what a sampler of targets reads
        return study

    def fit(self, sweep_dir: Path, objective: Objective, fixed: List[str], space: Dict[str, Any]) -> Any:
        from optuna.trial import TrialState

        assert self.config is not None
        sweep_dir.mkdir(parents=True, exist_ok=True)
        self.save_config(sweep_dir)
        study = self.study(sweep_dir, objective)
        manifest = self.fit_manifest(sweep_dir, objective)
        entries = {job.number: job for job in manifest.jobs}
        stopped = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))]
        for number in stopped:  # left running by a fit that was stopped: no process runs it any more
            study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            if number in entries:
                entries[number].state, entries[number].error = INTERRUPTED, "interrupted: the fit was stopped"
        if stopped:
            study.set_user_attr(INTERRUPTED_ATTR, sorted(set(study.user_attrs.get(INTERRUPTED_ATTR, [])) | set(stopped)))
        done = _counted(study)
        if done:
            log.info("Continuing the study %r of %s: %d of %d trials done", self.study_name, sweep_dir, done, self.n_trials)
        planner = self.planner()
        while done < self.n_trials:
            batch = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            to_run: List[JobEntry] = []
            running: Dict[str, JobEntry] = {}  # run directory -> the trial that runs there in this batch
            for trial in batch:
                overrides = fixed + [hydra_override(key, value) for key, value in trial.params.items()]
                job, problems = self.plan_job(trial.number, overrides, planner)
                if job is None:  # the tree's rules refuse this point: failed, not run
                    job = JobEntry(trial.number, overrides, run_dirname(overrides), "", FAILED, error="; ".join(problems))
                    log.warning("Trial %d refused without running: %s", trial.number, job.error)
                elif job.apply_results(sweep_dir) is None or job.state != COMPLETED:  # not simulated before
                    job.state = PENDING
                    if job.run_dir not in running:  # the same point twice in a batch runs once
                        running[job.run_dir] = job
                        to_run.append(job)
                entries[trial.number] = job
            manifest.jobs = sorted(entries.values(), key=lambda entry: entry.number)
            manifest.save()
            if to_run:
                self.run(manifest, to_run)
            for trial in batch:
                job = entries[trial.number]
                record = job.apply_results(sweep_dir) if job.config_hash else None
                job.values = objective.values(record.get("metrics", {})) if record and job.state == COMPLETED else None
                if job.values is None:
                    study.tell(trial, state=TrialState.FAIL)
                    if job.state == COMPLETED:
                        log.warning("Trial %d: no value of %s in its metrics: told as failed", trial.number, ", ".join(objective.metrics))
                else:
                    if objective.targets is not None:  # the metrics, for a sampler that models them
                        trial.set_user_attr(METRICS_ATTR, {name: record["metrics"][name] for name in objective.targets})
                    study.tell(trial, job.values if len(job.values) > 1 else job.values[0])
            manifest.save()
            done = _counted(study)
            self.report(study, done)
        return self.finish(sweep_dir, manifest, study)

    def fit_manifest(self, sweep_dir: Path, objective: Objective) -> Manifest:
        """The fit's manifest: the one an earlier run of it left (its trials kept), else a new one."""
        assert self.config is not None
        earlier, damage = self.earlier_manifest(sweep_dir)
        if damage is not None:
            log.warning("%s. The manifest is rebuilt from the study and the run directories", damage)
        earlier.settle(swept=False)  # this process holds the directory: nobody else runs a job in it
        manifest = Manifest(sweep_dir, [] if earlier.rebuilt else list(earlier.jobs), job_log=f"{self.config.hydra.job.name}.log")
        manifest.created = earlier.created if not earlier.rebuilt else manifest.created
        manifest.sweeper = sweeper_identity()
        manifest.fit = {
            "metrics": list(objective.metrics),
            "directions": list(objective.directions),
            "targets": dict(objective.targets) if objective.targets is not None else None,
            "study": self.study_name,
        }
        return manifest

    def report(self, study: "optuna.study.Study", done: int) -> None:
        best = _best(study)
        if best is not None:
            log.info("Fit: %d/%d trials done; best so far: trial %d, %s, at %s", done, self.n_trials, best.number,
                     best.values if len(best.values) > 1 else best.value, best.params)

    def finish(self, sweep_dir: Path, manifest: Manifest, study: "optuna.study.Study") -> Any:
        """Collect the fit; list its failed trials; fail only if no trial completed."""
        if self.collect:
            self.collect_sweep(sweep_dir)
        failed = [job for job in manifest.jobs if job.state in (FAILED, INTERRUPTED) or (job.state == COMPLETED and job.values is None)]
        if failed:
            log.warning(
                "%d of %d trials have no value (failed, interrupted, or without the objective's metrics):\n%s",
                len(failed), len(manifest.jobs), "\n".join(manifest.describe_failure(job) for job in failed[:20]),
            )
        best = _best(study)
        if best is None:
            raise SweepFailed(f"No trial of the fit completed with a value; see {sweep_dir}")
        log.info("Best trial: %d, value %s, at %s", best.number, best.values if len(best.values) > 1 else best.value, best.params)
        return [best.params]


def _counted(study: "optuna.study.Study") -> int:
    """Trials that ran to an end (completed or failed), those a stopped fit left running left out."""
    from optuna.trial import TrialState

    interrupted = set(study.user_attrs.get(INTERRUPTED_ATTR, []))
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    return sum(1 for trial in finished if trial.number not in interrupted)


def _best(study: "optuna.study.Study") -> Optional[Any]:
    """The best completed trial (the first of the Pareto front for several objectives), or None."""
    try:
        return study.best_trial if len(study.directions) == 1 else (study.best_trials or [None])[0]
    except ValueError:  # no completed trial yet
        return None


def _produced_metrics(config: DictConfig) -> Optional[Sequence[str]]:
    """The metrics the model says its task produces (``task._metrics_``), or None if it does not say."""
    produced = OmegaConf.select(config, METRICS_KEY, default=None)
    return [str(name) for name in produced] if produced is not None else None
