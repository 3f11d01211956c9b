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
  ``n_trials`` and are not run again; no point runs or counts twice in a study
  (:class:`FitTrials`: a seeded sampler continuing a study is seeded anew, a
  proposal of a point run before is failed at once and not counted); a trial
  left running by a stopped fit keeps its value if its job completed, else is
  failed (``interrupted``) and does not count; a trial whose tree was simulated
  before outside the study (same config hash) takes that result without running;
- Ctrl-C or SIGTERM ends the fit with one line saying how many trials are done
  and saved (:func:`launcher.sweep.sweeper.stop_sweep`);
- ``manifest.json`` lists every trial (number, overrides, state, the values told
  to Optuna) and records the tolerance and the searched space; ``summary.csv`` adds
  each trial's objective value(s), marks the best (the Pareto front of several
  objectives) and, for targets, the trials ``consistent`` with them; the figures
  show the optimisation history, the objective over the searched space, the
  targets and the consistent set, the Pareto front (:mod:`launcher.report.fit_figures`);
- the log ends with the best trial, or the Pareto trials, and for targets the
  trials within ``hydra.sweeper.tolerance`` of every target, the range of each
  parameter among them and a warning for each range the targets leave wide
  (:mod:`launcher.sweep.consistency`).

A fit exits 0 when at least one trial completed; its failed trials are listed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from launcher.launchers.protocol import waits_for_jobs
from launcher.run.files import FileProblem, open_regular
from launcher.sweep.declared import produced_metrics, seed_keys
from launcher.sweep.consistency import DEFAULT_TOLERANCE, check_tolerance, consistency, space_record
from launcher.sweep.fit import (
    METRICS_ATTR, OBJECTIVE_KEY, TARGETS_ATTR, Objective, check_optuna, continued_seed, point_index, probe_values, refuse_searched_seeds, search_space, space_size,
)
from launcher.sweep.lock import SweepLock, sweeper_identity
from launcher.sweep.manifest import COMPLETED, FAILED, INTERRUPTED, PENDING, JobEntry, Manifest
from launcher.sweep.naming import run_dirname
from launcher.sweep.overrides import hydra_override
from launcher.sweep.interrupt import interruption_stops_sweep, stop_sweep
from launcher.sweep.sweeper import LauncherFailed, SweepFailed, ValidatingSweeper
from launcher.sweep.sweep_dir import refuse_linked_run_dirs
from launcher.sweep.tree import ParameterError

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

#: The study's storage in the sweep directory, unless ``hydra.sweeper.storage`` names another.
STUDY_FILE = "optuna.db"
#: The study's record of the trials a stopped fit left running (failed, not counted towards n_trials).
INTERRUPTED_ATTR = "interrupted_trials"
#: The study's record of the trials whose point was run before in the study (failed, not run, not counted).
DUPLICATE_ATTR = "duplicate_trials"
#: Proposals in a row of points run before after which a fit ends: its sampler has no new point to give.
MAX_PROPOSALS_RUN_BEFORE = 20
#: The sampler of a fit unless ``hydra.sweeper.sampler`` names another (the reason: its module's docstring).
DEFAULT_SAMPLER = "launcher.sweep.target_sampler.TargetSampler"


@dataclass
class FitSweeperConf:
    """The ``hydra/sweeper=mozaik_fit`` preset (``optuna`` in run_sim.py): hydra-optuna-sweeper's settings, on the mozaik sweeper."""

    _target_: str = "hydra_plugins.mozaik_sweeper.mozaik_sweeper.MozaikFitSweeper"
    #: The sampler reaches the sweeper as its spec, made by it (:meth:`FitSweeper.make_sampler`):
    #: Optuna is checked first (:func:`launcher.sweep.fit.check_optuna`), a bad spec is named.
    _recursive_: bool = False
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
    #: A trial is consistent with targets when each metric is within this fraction of its target.
    tolerance: float = DEFAULT_TOLERANCE
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
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> None:
        check_optuna()  # before the sampler or anything of the fit touches it
        super().__init__(max_batch_size=max_batch_size, params=params, collect=collect, allow_non_empty=allow_non_empty)
        for name, value in (("n_trials", n_trials), ("n_jobs", n_jobs)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"hydra.sweeper.{name} = {value!r}: a whole number, at least 1")
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.direction = OmegaConf.to_container(direction) if OmegaConf.is_config(direction) else direction
        # The sampler's spec (the preset's _recursive_: false); an object where an app's own config made one.
        self.sampler = OmegaConf.to_container(sampler) if OmegaConf.is_config(sampler) else sampler
        self.study_name, self.storage = study_name, storage
        self.tolerance = check_tolerance(tolerance)

    # --- before the first trial -----------------------------------------------------------

    def sweep(self, arguments: List[str]) -> Any:
        with interruption_stops_sweep("the fit stopped before any trial started; nothing was run"):  # (once one has: fit)
            return self.sweep_fit(arguments)

    def sweep_fit(self, arguments: List[str]) -> Any:
        """Check the objective and the search space, then run the fit (see the module doc)."""
        assert self.config is not None and self.hydra_context is not None
        if self.task_check is not None:
            self.task_check(self.config)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(self._parse_config() + list(arguments))
        objective = Objective.of(self.config.get(OBJECTIVE_KEY), self.direction)
        objective.check_metrics(produced_metrics(self.config))
        fixed, space = search_space(overrides)
        # The objective is the fit's, not the model's: the trials' overrides leave it out.
        fixed = [line for line in fixed if line.partition("=")[0].lstrip("+~") != OBJECTIVE_KEY]
        if not space:
            raise ParameterError(
                "a fit needs a search space: sweep at least one key, e.g. 'sheets.V1.connectivity.exc_weight=interval(0.002,0.006)'"
            )
        self.seeds = seed_keys(self.config)
        refuse_searched_seeds(space, self.seeds)
        self.check_space(fixed, space)
        if not waits_for_jobs(self.launcher):
            raise ParameterError("a fit waits for each batch of trials to choose the next: hydra.launcher.wait=false is for grids")
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        with SweepLock(sweep_dir):
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
        """The study, new or as an earlier run of the same command left it. A seeded sampler
        continuing a study is seeded anew (:func:`launcher.sweep.fit.continued_seed`): made again
        with its seed, it would propose the points it proposed before."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep's log says what happens
        import sqlalchemy.exc

        study_file = sweep_dir / STUDY_FILE
        if self.storage is None:
            _check_study_file(study_file)
        storage = self.storage or f"sqlite:///{sweep_dir.resolve() / STUDY_FILE}"
        spec = self.sampler_spec()
        try:
            study = optuna.create_study(
                storage=storage, sampler=self.make_sampler(spec, 0), study_name=self.study_name, load_if_exists=True,
                directions=list(objective.directions),
            )
        except sqlalchemy.exc.SQLAlchemyError as exc:  # a damaged or foreign database
            where = study_file if self.storage is None else storage
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise ParameterError(
                f"{where}: not a study Optuna can read ({reason}); move it aside (mv '{where}' '{where}.damaged') and run "
                "the fit again: it starts a new study, the trials' run directories are kept"
                if self.storage is None else f"{where}: not a study Optuna can read ({reason}); give another hydra.sweeper.storage"
            ) from None
        if [d.name.lower() for d in study.directions] != list(objective.directions):
            raise ParameterError(
                f"study {self.study_name!r} in {storage} optimises {[d.name.lower() for d in study.directions]}, not "
                f"{list(objective.directions)}: give another hydra.sweeper.study_name or hydra.sweep.dir"
            )
        if objective.targets is not None and TARGETS_ATTR not in study.user_attrs:
            study.set_user_attr(TARGETS_ATTR, dict(objective.targets))  # what a sampler of targets reads
        trials = len(study.get_trials(deepcopy=False))
        if trials and spec is not None and spec.get("seed") is not None:
            study.sampler = self.make_sampler(spec, trials)
            log.info("The study holds %d trials: its sampler continues with the seed %d (of hydra.sweeper.sampler.seed=%s and %d)",
                     trials, continued_seed(spec["seed"], trials), spec["seed"], trials)
        return study

    def sampler_spec(self) -> Optional[Dict[str, Any]]:
        """The sampler as configured (its ``_target_`` and arguments), None if it was given as an object."""
        if isinstance(self.sampler, dict):
            return self.sampler
        # Hydra instantiated the sampler with this sweeper; its config says how to make it again.
        node = OmegaConf.select(self.config, "hydra.sweeper.sampler", default=None) if self.config is not None else None
        found = OmegaConf.to_container(node) if OmegaConf.is_dict(node) else None
        return found if isinstance(found, dict) and "_target_" in found else None  # type: ignore[return-value]

    def make_sampler(self, spec: Optional[Dict[str, Any]], trials: int) -> Any:
        """The sampler of ``spec`` for a study of ``trials`` trials (its seed, if any, continued); the
        configured object where there is no spec."""
        from hydra.utils import instantiate

        if spec is None:
            return self.sampler
        try:
            seed = spec.get("seed")
            return instantiate({**spec, **({"seed": continued_seed(seed, trials)} if seed is not None else {})})
        except Exception as exc:  # Hydra's message names the class and what failed
            raise ParameterError(f"hydra.sweeper.sampler = {spec}: {exc}") from exc

    def fit(self, sweep_dir: Path, objective: Objective, fixed: List[str], space: Dict[str, Any]) -> Any:
        assert self.config is not None
        sweep_dir.mkdir(parents=True, exist_ok=True)
        self.save_config(sweep_dir)
        study = self.study(sweep_dir, objective)
        manifest = self.fit_manifest(sweep_dir, objective)
        planner = self.planner()
        trials = FitTrials(study, sweep_dir, objective, space, manifest, lambda number, params: self.plan_trial(number, fixed, params, planner))
        try:
            trials.settle_stopped()  # left running by a fit that was stopped: no process runs them any more
            manifest.save()
            done = _counted(study)
            if done:
                log.info("Continuing the study %r of %s: %d of %d trials done", self.study_name, sweep_dir, done, self.n_trials)
            while done < self.n_trials:
                batch, short = trials.ask_new(min(self.n_jobs, self.n_trials - done))
                if batch:
                    self.run_trials(trials, batch)
                    done = _counted(study)
                    self.report(study, done)
                if short is not None:
                    log.warning("%s: the fit ends at %d of %d trials", short, done, self.n_trials)
                    break
        except LauncherFailed as failed:  # the launcher's own failure: as a stop, reported and collected
            trials.settle_stopped()
            manifest.save()
            if self.collect:
                self.collect_sweep(sweep_dir)
            where = f"{sweep_dir} ({STUDY_FILE} and manifest.json)" if self.storage is None else f"{self.storage} and {sweep_dir}"
            raise SweepFailed(f"{failed.line}\n{_counted(study)} of {self.n_trials} trials done, saved in {where}; run the "
                              "same command again to continue the fit" + "".join(
                                  f"\n{manifest.describe_failure(job)}" for job in manifest.jobs if job.state == FAILED)) from failed
        except KeyboardInterrupt as interrupt:  # Ctrl-C, SIGTERM: each trial that completed keeps its value
            trials.settle_stopped()
            manifest.save()
            where = f"{sweep_dir} ({STUDY_FILE} and manifest.json)" if self.storage is None else f"{self.storage} and {sweep_dir}"
            stop_sweep(interrupt, f"{_counted(study)} of {self.n_trials} trials done, saved in {where}; "
                       "run the same command again to continue the fit")
        return self.finish(sweep_dir, manifest, study)

    def plan_trial(self, number: int, fixed: List[str], params: Dict[str, Any], planner: Any) -> JobEntry:
        """The job of a trial at ``params`` (the fixed overrides besides); a point the tree's rules
        refuse is a failed job, with the problems as its error, that never runs."""
        overrides = fixed + [hydra_override(key, value) for key, value in params.items()]
        job, problems = self.plan_job(number, overrides, planner)
        if job is None:
            return JobEntry(number, overrides, run_dirname(overrides), "", FAILED, error="; ".join(problems))
        return job

    def run_trials(self, trials: "FitTrials", batch: List[JobEntry]) -> None:
        """Run a batch of new trials (those the tree refuses fail without running; one whose tree was
        simulated before in the sweep directory, by a grid say, takes that result) and tell Optuna
        how each ended."""
        to_run: List[JobEntry] = []
        linked: set[int] = set()  # numbers of the trials refused for a link: their run directories are not read either
        for job in batch:
            if job.state == FAILED and not job.config_hash:
                log.warning("Trial %d refused without running: %s", job.number, job.error)
                continue
            try:  # a run directory that is a link, or holds one: the trial would write through it
                refuse_linked_run_dirs(trials.sweep_dir, [job])
            except FileProblem as problem:  # this trial fails, not the fit
                job.state, job.error = FAILED, str(problem)
                log.warning("Trial %d refused without running: %s", job.number, problem)
                linked.add(job.number)
                continue
            if job.apply_results(trials.sweep_dir) is None or job.state != COMPLETED:  # not simulated before
                job.state = PENDING
                to_run.append(job)
        trials.manifest.save()
        if to_run:
            self.run(trials.manifest, to_run)
        for job in batch:
            trials.tell(job, read_results=job.number not in linked)
        trials.manifest.save()

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
            "tolerance": self.tolerance,
        }
        return manifest

    def report(self, study: "optuna.study.Study", done: int) -> None:
        best = _best(study)
        if best is not None and len(study.directions) > 1:
            front = sorted(trial.number for trial in study.best_trials)
            log.info("Fit: %d/%d trials done; Pareto front so far: trials %s", done, self.n_trials, ", ".join(map(str, front)))
        elif best is not None:
            log.info("Fit: %d/%d trials done; best so far: trial %d, %s, at %s", done, self.n_trials, best.number, best.value, best.params)

    def finish(self, sweep_dir: Path, manifest: Manifest, study: "optuna.study.Study") -> Any:
        """Record the searched space, collect the fit; list its failed trials; say what fits: the
        best trial, the Pareto front of several objectives, or the trials consistent with the
        targets and the range of each parameter among them; fail only if no trial completed."""
        if manifest.fit is not None:  # the intervals the ranges are measured against (launcher.sweep.consistency)
            manifest.fit["space"] = space_record({k: d for t in study.get_trials(deepcopy=False) for k, d in t.distributions.items()})
            manifest.save()
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
        if len(study.directions) > 1:
            front = sorted(study.best_trials, key=lambda trial: trial.number)
            names = (manifest.fit or {}).get("metrics") or [f"objective {i}" for i in range(len(study.directions))]
            log.info(
                "Pareto front: %d trials that no other beats in every objective (%s):\n%s",
                len(front), ", ".join(f"{n} {d.name.lower()}d" for n, d in zip(names, study.directions)),
                "\n".join(f"  trial {t.number}: {', '.join(f'{n}={v:.4g}' for n, v in zip(names, t.values))} at {t.params}" for t in front),
            )
            return [trial.params for trial in front]
        log.info("Best trial: %d, value %s, at %s", best.number, best.value, best.params)
        self.report_consistency(sweep_dir, manifest, study)
        return [best.params]

    def report_consistency(self, sweep_dir: Path, manifest: Manifest, study: "optuna.study.Study") -> None:
        """Log the trials consistent with the fit's targets, each parameter's range among them, and
        a warning for each range the targets leave wide (nothing for a fit without targets)."""
        params = {trial.number: trial.params for trial in study.get_trials(deepcopy=False)}
        trials = []
        for job in manifest.jobs:
            record = job.apply_results(sweep_dir) if job.state == COMPLETED and job.config_hash else None
            trials.append((job.number, params.get(job.number, {}), (record or {}).get("metrics", {})))
        found = consistency(trials, manifest.fit or {})
        if found is None:
            return
        log.info("%s", "\n".join(found.lines()))
        for warning in found.warnings():
            log.warning("%s", warning)


class FitTrials:
    """A fit's trials as the sweeper keeps them: the study, each trial's job (the manifest's entries)
    and the points run so far, so that no point of the study runs or counts twice.

    A point is a trial's parameter tree (its config hash; its parameters, for a point the tree's
    rules refuse). A proposal of a point run before in the study is told to Optuna as failed, listed
    in the study's user attribute ``duplicate_trials``, not run, not counted, not in the manifest;
    a failed trial is one Optuna's samplers learn nothing from, so it does not bias the search.
    """

    def __init__(
        self, study: "optuna.study.Study", sweep_dir: Path, objective: Objective, space: Dict[str, Any],
        manifest: Manifest, plan: Callable[[int, Dict[str, Any]], JobEntry],
    ) -> None:
        self.study, self.sweep_dir, self.objective, self.space, self.manifest = study, sweep_dir, objective, space, manifest
        #: The trials this process asked for, by number: where a trial's metrics are recorded (METRICS_ATTR).
        self.asked: Dict[int, Any] = {}
        #: The job of a trial at given parameters (see FitSweeper.plan_trial).
        self.plan = plan
        self.entries = {job.number: job for job in manifest.jobs}
        #: Each point run (or running) in the study, and the trial that ran it.
        self.points: Dict[str, int] = {}
        #: The points of a discrete search space run so far (see launcher.sweep.fit.point_index).
        self.grid: Set[Tuple[int, ...]] = set()
        self.size = space_size(space)
        for trial in _counted_trials(study):
            self.add(self.entries.get(trial.number) or plan(trial.number, trial.params), trial.params)

    def key(self, job: JobEntry, params: Dict[str, Any]) -> str:
        """What makes two trials the same point: their tree, or their parameters where the tree is refused."""
        return job.config_hash or "refused " + json.dumps(params, sort_keys=True, default=str)

    def add(self, job: JobEntry, params: Dict[str, Any]) -> None:
        self.points.setdefault(self.key(job, params), job.number)
        index = point_index(self.space, params)
        if index is not None:
            self.grid.add(index)

    def mark(self, attr: str, number: int) -> None:
        """List trial ``number`` in the study's user attribute ``attr`` (before the trial is told:
        a stop in between leaves it running and listed, never counted)."""
        self.study.set_user_attr(attr, sorted(set(self.study.user_attrs.get(attr, [])) | {number}))

    def ask_new(self, count: int) -> Tuple[List[JobEntry], Optional[str]]:
        """Up to ``count`` new trials, each at a point not run before in the study (their jobs, in the
        manifest), and why there are fewer (None if there are not): a discrete space whose every point
        was run, or a sampler proposing only points run before."""
        from optuna.trial import TrialState

        batch: List[JobEntry] = []
        why: Optional[str] = None
        repeated = 0
        while len(batch) < count:
            if self.size is not None and len(self.grid) >= self.size:
                why = f"The search space has no new point: all its {self.size} points were run"
                break
            trial = self.study.ask(self.space)
            job = self.plan(trial.number, trial.params)
            earlier = self.points.get(self.key(job, trial.params))
            if earlier is not None:
                self.mark(DUPLICATE_ATTR, trial.number)
                self.study.tell(trial, state=TrialState.FAIL)
                log.info("Trial %d: the sampler proposed the point of trial %d again; not run, not counted", trial.number, earlier)
                repeated += 1
                if repeated == MAX_PROPOSALS_RUN_BEFORE:
                    why = (f"The sampler proposed points run before {repeated} times in a row (the search space may hold "
                           "new points it does not choose: another sampler or a wider space may find them)")
                    break
                continue
            repeated = 0
            self.asked[trial.number] = trial
            self.add(job, trial.params)
            self.entries[trial.number] = job
            batch.append(job)
        self.manifest.jobs = sorted(self.entries.values(), key=lambda entry: entry.number)
        return batch, why

    def tell(self, job: JobEntry, read_results: bool = True) -> None:
        """Tell Optuna how a trial's job ended: the objective's value(s) of its metrics, or failed
        (a failed job, a refused point, a missing or NaN metric). ``read_results``: False for a job
        whose run directory was refused (a link in it): it stays failed as it is."""
        from optuna.trial import TrialState

        record = job.apply_results(self.sweep_dir) if job.config_hash and read_results else None
        job.values = self.objective.values(record.get("metrics", {})) if record and job.state == COMPLETED else None
        if job.values is None:
            self.study.tell(job.number, state=TrialState.FAIL, skip_if_finished=True)
            if job.state == COMPLETED:
                log.warning("Trial %d: no value of %s in its metrics: told as failed", job.number, ", ".join(self.objective.metrics))
        else:
            trial = self.asked.get(job.number)
            if self.objective.targets is not None and trial is not None and record is not None:
                # The target metrics it reached, for a sampler that models them (TargetSampler). A trial
                # asked by an earlier process and settled now has no Trial object here: the sampler
                # leaves it out of its model, as one without metrics.
                trial.set_user_attr(METRICS_ATTR, {name: record["metrics"][name] for name in self.objective.targets})
            self.study.tell(job.number, job.values if len(job.values) > 1 else job.values[0], skip_if_finished=True)

    def settle_stopped(self) -> None:
        """Tell Optuna how each trial left running (by a stop of this fit, or of an earlier one) ended:
        a trial whose job completed keeps its value, whether the fit stopped before or after it
        heard; any other is failed and listed ``interrupted``: not counted, its point free to run."""
        from optuna.trial import TrialState

        duplicates = set(self.study.user_attrs.get(DUPLICATE_ATTR, []))
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
            if trial.number in duplicates:  # stopped between its listing and its telling
                self.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                continue
            job = self.entries.get(trial.number)
            if job is None:  # asked, not yet in the manifest
                job = self.entries[trial.number] = self.plan(trial.number, trial.params)
            if job.config_hash and job.apply_results(self.sweep_dir) is not None and job.state == COMPLETED:
                log.info("Trial %d completed before the fit was stopped: its value is kept", trial.number)
                self.tell(job)
                self.add(job, trial.params)
            elif job.state == FAILED and not job.config_hash:  # refused: its end is known
                self.tell(job)
            else:
                self.mark(INTERRUPTED_ATTR, trial.number)
                self.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                job.state, job.error = INTERRUPTED, "interrupted: the fit was stopped; failed in the study, not counted: the fit samples new trials"
        self.manifest.jobs = sorted(self.entries.values(), key=lambda entry: entry.number)


def _counted_trials(study: "optuna.study.Study") -> List[Any]:
    """Trials that ran to an end (completed or failed), without those a stopped fit left running
    and the proposals of points run before (see :class:`FitTrials`)."""
    from optuna.trial import TrialState

    left_out = set(study.user_attrs.get(INTERRUPTED_ATTR, [])) | set(study.user_attrs.get(DUPLICATE_ATTR, []))
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    return [trial for trial in finished if trial.number not in left_out]


def _counted(study: "optuna.study.Study") -> int:
    """How many trials count towards ``n_trials`` (see :func:`_counted_trials`)."""
    return len(_counted_trials(study))


def _best(study: "optuna.study.Study") -> Optional[Any]:
    """The best completed trial (the first of the Pareto front for several objectives), or None."""
    try:
        return study.best_trial if len(study.directions) == 1 else (study.best_trials or [None])[0]
    except ValueError:  # no completed trial yet
        return None


def _check_study_file(path: Path) -> None:
    """A :class:`~launcher.run.files.FileProblem` if the sweep directory's study file is there but
    not a regular file (a link, a FIFO on which SQLite would wait forever, a directory)."""
    try:
        os.close(open_regular(path, os.O_RDONLY, "Optuna study (SQLite)"))
    except FileNotFoundError:  # a new fit: Optuna creates it
        pass
    except FileProblem as exc:
        raise FileProblem(path, exc.why, f"move it aside (mv '{path}' '{path}.damaged') and run the fit again: it starts a new study, "
                          "the trials' run directories are kept", exc.errno or 0) from None
