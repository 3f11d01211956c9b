"""A fit continued, extended or stopped wastes nothing: no point of the study runs or counts
twice (seeded samplers included), a trial whose job completed keeps its value whenever the fit
stops, and Ctrl-C or SIGTERM ends the fit with one line naming what was saved.

The plain parts (:class:`launcher.sweep.optuna_sweeper.FitTrials`, the seed of a continued
study, the points of a discrete space) on real Optuna studies with a job plan of our own; the
end-to-end cases through the CLI and real Optuna, on the toy app of tests/support.py (no simulator).
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from launcher.report.status import format_status, status
from launcher.sweep.fit import Objective, continued_seed, point_index, space_size
from launcher.sweep.manifest import COMPLETED, INTERRUPTED, JobEntry, Manifest
from launcher.sweep.optuna_sweeper import (
    DUPLICATE_ATTR, INTERRUPTED_ATTR, MAX_PROPOSALS_RUN_BEFORE, FitSweeper, FitTrials, _counted,
)  # fmt: skip
from support import REPO, assert_no_process_left, marked_env, toy_app, with_ctrl_c

OBJECTIVE = Objective(("rate",), ("minimize",))


def plan(number: int, params: dict[str, Any]) -> JobEntry:
    """A trial's job as the sweeper plans it, its config hash one of its parameters (unit tests:
    the real planning is the sweeper's, run by the end-to-end cases)."""
    overrides = [f"{key}={value}" for key, value in sorted(params.items())]
    config_hash = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return JobEntry(number, overrides, ",".join(overrides), config_hash)


def fit_trials(study: optuna.study.Study, tmp_path: Path, space: dict[str, Any]) -> FitTrials:
    return FitTrials(study, tmp_path, OBJECTIVE, space, Manifest(tmp_path, []), plan)


def complete(trials: FitTrials, batch: list[JobEntry]) -> None:
    """Tell each trial of a batch a value, as its completed run would."""
    for job in batch:
        trials.study.tell(job.number, float(job.number))


def points(study: optuna.study.Study, numbers: Any = None) -> list[tuple]:
    """The points (parameters) of the study's trials (those numbered ``numbers``), in order."""
    return [tuple(sorted(t.params.items())) for t in study.get_trials(deepcopy=False) if numbers is None or t.number in numbers]


def new_study(sampler: Any) -> optuna.study.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(sampler=sampler)


# --- the plain parts --------------------------------------------------------------------------


def test_a_sampler_replaying_its_draws_runs_no_point_twice(tmp_path: Path) -> None:
    """The old fault: a continued study's sampler, made again with its seed, proposes its first
    points again. Each is told failed, listed, not counted; the batch holds new points only."""
    space = {"x": FloatDistribution(0.0, 1.0)}
    study = new_study(optuna.samplers.RandomSampler(seed=1))
    first = fit_trials(study, tmp_path, space)
    batch, why = first.ask_new(4)
    assert why is None and [job.number for job in batch] == [0, 1, 2, 3]
    complete(first, batch)
    study.sampler = optuna.samplers.RandomSampler(seed=1)  # made again with the same seed: it replays
    again = fit_trials(study, tmp_path, space)
    batch, why = again.ask_new(3)
    assert why is None
    replays = study.user_attrs[DUPLICATE_ATTR]
    assert replays == [4, 5, 6, 7]  # the four points of trials 0-3, proposed again in order
    assert points(study, replays) == points(study, [0, 1, 2, 3])
    assert {t.state for t in study.get_trials() if t.number in replays} == {TrialState.FAIL}
    assert [job.number for job in batch] == [8, 9, 10] and len(set(points(study, [0, 1, 2, 3, 8, 9, 10]))) == 7
    assert _counted(study) == 4  # the replays count for nothing; the batch is not told yet
    complete(again, batch)
    assert _counted(study) == 7
    assert sorted(job.number for job in again.manifest.jobs) == [8, 9, 10]  # replays are no jobs


def test_a_continued_seeded_study_draws_new_points_and_the_same_each_time(tmp_path: Path) -> None:
    spec = {"_target_": "optuna.samplers.TPESampler", "seed": 3}
    drawn = []
    for copy in ("A", "B"):
        sweep = tmp_path / copy
        sweep.mkdir()
        sweeper = FitSweeper(sampler=dict(spec))
        space = {"x": FloatDistribution(0.0, 1.0)}
        for n_trials in (4, 7):  # a fit of 4 trials, then the same command with n_trials=7
            study = sweeper.study(sweep, OBJECTIVE)
            trials = fit_trials(study, sweep, space)
            batch, why = trials.ask_new(n_trials - _counted(study))
            assert why is None
            complete(trials, batch)
        assert DUPLICATE_ATTR not in study.user_attrs and len(set(points(study))) == 7
        drawn.append(points(study))
    assert drawn[0] == drawn[1]  # a continued fit is reproducible
    fresh = new_study(optuna.samplers.TPESampler(seed=3))
    assert points(study)[:4] == [tuple(sorted(fresh.ask({"x": FloatDistribution(0.0, 1.0)}).params.items())) for _ in range(4)]


def test_the_seed_of_a_continued_study() -> None:
    import numpy

    assert continued_seed(3, 0) == 3  # a new study: Optuna's own draws for that seed
    assert continued_seed(3, 4) == int(numpy.random.SeedSequence([3, 4]).generate_state(1)[0])
    assert len({continued_seed(3, n) for n in range(50)}) == 50 and continued_seed(4, 4) != continued_seed(3, 4)
    with pytest.raises(Exception, match="hydra.sweeper.sampler.seed = -1: a whole number, at least 0"):
        continued_seed(-1, 4)


def test_a_discrete_space_run_in_full_ends_the_fit(tmp_path: Path) -> None:
    space = {"d": CategoricalDistribution([40, 50, 60])}
    study = new_study(optuna.samplers.RandomSampler(seed=0))
    trials = fit_trials(study, tmp_path, space)
    batch, why = trials.ask_new(5)
    assert sorted(dict(points(study, [job.number])[0])["d"] for job in batch) == [40, 50, 60]
    assert why == "The search space has no new point: all its 3 points were run"
    complete(trials, batch)
    asked = len(study.trials)
    assert fit_trials(study, tmp_path, space).ask_new(2) == ([], why)  # told at once, nothing asked
    assert len(study.trials) == asked


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # PartialFixedSampler
def test_a_sampler_proposing_only_points_run_ends_the_fit(tmp_path: Path) -> None:
    space = {"x": FloatDistribution(0.0, 1.0)}
    always = optuna.samplers.PartialFixedSampler({"x": 0.5}, optuna.samplers.RandomSampler(seed=0))
    study = new_study(always)
    trials = fit_trials(study, tmp_path, space)
    batch, why = trials.ask_new(3)
    assert [job.number for job in batch] == [0]
    assert why is not None and f"proposed points run before {MAX_PROPOSALS_RUN_BEFORE} times in a row" in why
    assert study.user_attrs[DUPLICATE_ATTR] == list(range(1, 1 + MAX_PROPOSALS_RUN_BEFORE))


def test_the_points_of_a_discrete_space() -> None:
    space = {"n": IntDistribution(1, 10, step=3), "w": FloatDistribution(0.1, 1.0, step=0.3), "c": CategoricalDistribution(["a", "b"])}
    assert space_size(space) == 4 * 4 * 2
    assert point_index(space, {"n": 7, "w": 0.1 + 2 * 0.3, "c": "b"}) == (2, 2, 1)  # 0.7000000000000001
    assert point_index(space, {"n": 8, "w": 0.7, "c": "b"}) is None  # off the step
    assert point_index(space, {"n": 7, "w": 1.3, "c": "b"}) is None  # past the end
    assert point_index(space, {"n": 7, "w": 0.7, "c": "z"}) is None
    assert point_index(space, {"n": 7, "w": 0.7}) is None
    assert space_size({**space, "x": FloatDistribution(0.0, 1.0)}) is None


def test_a_stopped_trial_whose_job_completed_keeps_its_value(tmp_path: Path) -> None:
    space = {"x": FloatDistribution(0.0, 1.0)}
    study = new_study(optuna.samplers.RandomSampler(seed=2))
    trials = fit_trials(study, tmp_path, space)
    batch, _ = trials.ask_new(3)
    done, changed, gone = batch
    for job, config_hash in ((done, done.config_hash), (changed, "0" * 16)):  # another tree ran in one
        (tmp_path / job.run_dir).mkdir()
        record = {"state": "completed", "config_hash": config_hash, "metrics": {"rate": 4.5}}
        (tmp_path / job.run_dir / "results.json").write_text(json.dumps(record))
    stopped = fit_trials(study, tmp_path, space)  # the next run of the fit: the manifest lists the batch
    stopped.entries.update({job.number: job for job in batch})
    stopped.settle_stopped()
    by_number = {t.number: t for t in study.trials}
    assert by_number[done.number].state == TrialState.COMPLETE and by_number[done.number].value == 4.5
    assert done.state == COMPLETED and done.values == [4.5]
    for job in (changed, gone):
        assert by_number[job.number].state == TrialState.FAIL and job.state == INTERRUPTED
    assert study.user_attrs[INTERRUPTED_ATTR] == [changed.number, gone.number]
    assert _counted(study) == 1


# --- end to end: the CLI, real Optuna, the toy app ----------------------------------------------
# (The fit's machinery: the toy app of tests/support.py, no simulator. Fits of the real network:
# tests/test_fit.py, tests/slurm/.)

#: A fit of the toy app's weight, seeded.
FIT = [
    "hydra/sweeper=mozaik_fit", "hydra.sweeper.direction=minimize", "hydra.sweeper.sampler.seed=3",
    "+weight=interval(0.002,0.006)", "objective=rate_hz",
    "hydra.sweeper.collect=false",  # (the table and figures are not what these tests check)
]  # fmt: skip
LAUNCHERS = {"sequential": [], "local_parallel": ["hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"]}


def fit_command(args: list[str], cwd: Path) -> list[str]:
    return toy_app(cwd, *args)


def run_fit(args: list[str], cwd: Path, marker: str = "fit-resume") -> subprocess.CompletedProcess:
    # PYTHONPATH: the toy app (and local_parallel's workers) import this checkout's launcher.
    env = marked_env(marker, PYTHONPATH=str(REPO))
    return subprocess.run(fit_command(args, cwd), cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def load(sweep: Path) -> optuna.study.Study:
    return optuna.load_study(study_name="fit", storage=f"sqlite:///{sweep / 'optuna.db'}")


def completed_records(sweep: Path) -> dict[str, dict[str, Any]]:
    """The run directories holding a completed results.json, and their records."""
    found = {}
    for path in sweep.glob("*/results.json"):
        record = json.loads(path.read_text())
        if record["state"] == "completed":
            found[path.parent.name] = record
    return found


def test_extending_a_seeded_fit_runs_only_new_points(tmp_path: Path) -> None:
    sweep = tmp_path / "F"
    first = run_fit([*FIT, "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert first.returncode == 0, first.stderr
    before = {p.parent.name: p.stat().st_mtime_ns for p in sweep.glob("*/results.json")}
    assert len(before) == 4
    extended = run_fit([*FIT, "hydra.sweeper.n_trials=7", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert extended.returncode == 0, extended.stderr
    study = load(sweep)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 7 and study.user_attrs == {}
    assert len({t.params["+weight"] for t in study.trials}) == 7
    after = {p.parent.name: p.stat().st_mtime_ns for p in sweep.glob("*/results.json")}
    assert len(after) == 7 and {name: after[name] for name in before} == before  # 3 new runs, none again
    jobs = json.loads((sweep / "manifest.json").read_text())["jobs"]
    assert [job["number"] for job in jobs] == list(range(7)) and {job["state"] for job in jobs} == {"completed"}
    for job, trial in zip(jobs, study.trials):
        record = json.loads((sweep / job["run_dir"] / "results.json").read_text())
        assert job["values"] == [trial.value] == [record["metrics"]["rate_hz"]]
    assert "its sampler continues with the seed" in extended.stdout


def test_a_fit_of_a_discrete_space_ends_when_every_point_ran(tmp_path: Path) -> None:
    sweep = tmp_path / "F"
    args = [*FIT[:3], "+seed=40,50", *FIT[-2:], "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={sweep}"]
    proc = run_fit(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "The search space has no new point: all its 2 points were run: the fit ends at 2 of 3 trials" in proc.stdout
    jobs = json.loads((sweep / "manifest.json").read_text())["jobs"]
    assert sorted(job["overrides"][-1] for job in jobs) == ["+seed=40", "+seed=50"]
    assert len(completed_records(sweep)) == 2


@pytest.mark.parametrize("launcher, signal_name", [("sequential", "SIGINT"), ("local_parallel", "SIGTERM")])
def test_a_stopped_fit_keeps_each_completed_trial_and_says_what_it_saved(tmp_path: Path, launcher: str, signal_name: str) -> None:
    sweep, marker = tmp_path / "F", f"fit-stop-{launcher}"
    # Three trials a batch, 1 s each: the stop lands once the first trial's job has completed, while
    # another runs (with two at a time, both of the batch could end together, leaving none to stop: seen in CI).
    args = [*FIT, "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=3", "+duration=1.0",
            *LAUNCHERS[launcher], f"hydra.sweep.dir={sweep}"]  # fmt: skip
    fit = subprocess.Popen(fit_command(args, tmp_path), cwd=tmp_path, preexec_fn=with_ctrl_c, text=True,
                           env=marked_env(marker, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 300
    while not completed_records(sweep):
        assert time.monotonic() < deadline and fit.poll() is None, "no trial of the fit completed"
        time.sleep(0.02)
    fit.send_signal(getattr(signal, signal_name))
    out, err = fit.communicate(timeout=120)
    assert_no_process_left(marker)
    told = f"stdout: {out[-4000:]}\nstderr: {err[-4000:]}"  # what the fit said, for a failure's message
    assert fit.returncode == 128 + getattr(signal, signal_name), told
    assert "Traceback" not in err and "Traceback" not in out, told
    study = load(sweep)
    counted = _counted(study)
    said = "Interrupted (Ctrl-C)" if signal_name == "SIGINT" else "Terminated (SIGTERM)"
    assert err.strip().splitlines() == [
        f"{said}: {counted} of 4 trials done, saved in {sweep} (optuna.db and manifest.json); "
        "run the same command again to continue the fit"
    ], told
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    jobs = {job["run_dir"]: job for job in json.loads((sweep / "manifest.json").read_text())["jobs"]}
    kept = completed_records(sweep)
    assert 1 <= len(kept) == counted, (sorted(kept), told)
    for run_dir, record in kept.items():  # every job that completed: its trial has its value, told and listed
        job = jobs[run_dir]
        trial = study.trials[job["number"]]
        assert trial.state == TrialState.COMPLETE and trial.value == record["metrics"]["rate_hz"]
        assert job["state"] == "completed" and job["values"] == [trial.value]
    stopped = [job for run_dir, job in jobs.items() if run_dir not in kept]
    assert sorted(job["number"] for job in stopped) == study.user_attrs.get(INTERRUPTED_ATTR, []), (stopped, told)
    assert all(job["state"] == "interrupted" for job in stopped), (stopped, told)
    # status says of them what Optuna holds (failed, not counted, never run again): listed interrupted, or
    # failed (the job recorded its stop in its results.json) with the fit's word.
    shown = format_status(status(sweep))
    assert "not counted" in shown and "sweep again runs" not in shown, shown

    before = {name: (sweep / name / "results.json").stat().st_mtime_ns for name in kept}
    again = run_fit(args, tmp_path, marker)
    assert again.returncode == 0, again.stderr
    assert _counted(load(sweep)) == 4 and len(completed_records(sweep)) == 4
    assert {name: (sweep / name / "results.json").stat().st_mtime_ns for name in kept} == before
    assert_no_process_left(marker)
