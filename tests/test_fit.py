"""Fitting the model (hydra/sweeper=optuna): every guarantee of a grid sweep under an adaptive one.

Real Optuna (its TPE sampler, SQLite storage in the sweep directory), the real model at a small
size, real launchers. The Slurm runs are in tests/slurm/.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from support import REPO, RUN_SIM, run_cli, run_launcher_cli, toy_app

#: The issue's command, at a small size (0.1 s a trial).
FIT = [
    "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.direction=minimize",
    "sheets.V1.connectivity.exc_weight=interval(0.002,0.006)", "sheets.V1.density=50",
]  # fmt: skip

def study(sweep: Path) -> optuna.study.Study:
    return optuna.load_study(study_name="fit", storage=f"sqlite:///{sweep / 'optuna.db'}")


def test_a_fit_leaves_every_record_of_a_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "F"
    proc = run_cli([*FIT, "objective=rate_exc_hz", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert manifest["fit"]["metrics"] == ["rate_exc_hz"] and manifest["fit"]["directions"] == ["minimize"]
    trials = manifest["jobs"]
    assert [job["number"] for job in trials] == [0, 1, 2, 3] and {job["state"] for job in trials} == {"completed"}
    for job in trials:
        record = json.loads((sweep / job["run_dir"] / "results.json").read_text())
        assert job["values"] == [record["metrics"]["rate_exc_hz"]]
        assert job["run_dir"].startswith("sheets.V1.connectivity.exc_weight=") and "objective" not in job["run_dir"]
    told = [trial.value for trial in study(sweep).trials]
    assert told == [job["values"][0] for job in trials]
    table = (sweep / "summary.csv").read_text().splitlines()
    assert table[0].endswith(",rate_exc_hz,rate_inh_hz,cv_isi,synchrony_chi,active_fraction,objective,best")
    best = [row for row in table[1:] if row.endswith(",True")]
    assert best and all(float(row.split(",")[-2]) == min(float(r.split(",")[-2]) for r in table[1:]) for row in best)
    assert (sweep / "fit_history.png").is_file() and (sweep / "fit_objective_sheets.V1.connectivity.exc_weight.png").is_file()
    status = run_launcher_cli("status", sweep)
    assert status.returncode == 0 and "4 jobs: 4 completed" in status.stdout


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["sheets.V1.connectivity.probability=interval(0.5,1.5)", "objective=rate_exc_hz"], "probability = 1.5 is out of range"),
        (["sheets.V1.conectivity.probability=interval(0.1,0.5)", "objective=rate_exc_hz"], "Did you mean: sheets.V1.connectivity.probability"),
        (["sheets.V1.connectivity.probability=interval(0.1,0.5)", "objective=rate_ex_hz"], "the model produces no metric 'rate_ex_hz'"),
        (["sheets.V1.connectivity.probability=interval(0.1,0.5)"], "a fit needs an objective"),
        (["objective=rate_exc_hz"], "a fit needs a search space"),
        (["sheets.V1.connectivity.probability=interval(0.1,0.5)", "objective={rate_exc_hz: high}"], "must be a finite number"),
    ],
)
def test_bad_fits_are_refused_before_anything_runs(tmp_path: Path, overrides: list, message: str) -> None:
    sweep = tmp_path / "F"
    proc = run_cli(["-m", "hydra/sweeper=optuna", *overrides, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not sweep.exists()


def test_targets_of_several_metrics_are_one_loss(tmp_path: Path) -> None:
    sweep = tmp_path / "F"
    proc = run_cli([*FIT, "objective={rate_exc_hz: 1.0, synchrony_chi: 0.5}", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for job in json.loads((sweep / "manifest.json").read_text())["jobs"]:
        metrics = json.loads((sweep / job["run_dir"] / "results.json").read_text())["metrics"]
        expected = ((metrics["rate_exc_hz"] - 1.0) / 1.0) ** 2 + ((metrics["synchrony_chi"] - 0.5) / 0.5) ** 2
        assert job["values"] == [pytest.approx(expected, rel=1e-12)]
    # What the default sampler models: the targets on the study, each trial's target metrics on the trial.
    fitted = study(sweep)
    assert fitted.user_attrs["fit_targets"] == {"rate_exc_hz": 1.0, "synchrony_chi": 0.5}
    for job, trial in zip(json.loads((sweep / "manifest.json").read_text())["jobs"], fitted.trials):
        metrics = json.loads((sweep / job["run_dir"] / "results.json").read_text())["metrics"]
        assert trial.user_attrs["fit_metrics"] == {name: metrics[name] for name in ("rate_exc_hz", "synchrony_chi")}


#: The fit of test_fit_resume.py on the toy app of tests/support.py (no simulator): the fit's machinery.
TOY_FIT = ["hydra/sweeper=mozaik_fit", "hydra.sweeper.direction=minimize", "+weight=interval(0.002,0.006)", "objective=rate_hz"]


def test_a_crashed_trial_fails_alone_in_batches_on_local_parallel(tmp_path: Path) -> None:
    sweep = tmp_path / "F"
    command = toy_app(tmp_path, *TOY_FIT, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2",
                      "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}")  # fmt: skip
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TOY_CRASH_ONCE": str(tmp_path / "crashed")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    jobs = json.loads((sweep / "manifest.json").read_text())["jobs"]
    states = [job["state"] for job in jobs]
    assert len(states) == 6 and states.count("failed") == 1 and states.count("completed") == 5
    (crashed,) = [job for job in jobs if job["state"] == "failed"]
    assert "SIGSEGV" in crashed["error"] and crashed["values"] is None
    trials = study(sweep).trials
    assert sum(t.state == optuna.trial.TrialState.FAIL for t in trials) == 1 and len(trials) == 6


def test_a_stopped_fit_continues_to_its_trial_count_without_rerunning(tmp_path: Path) -> None:
    sweep = tmp_path / "F"
    command = toy_app(tmp_path, *TOY_FIT, "hydra.sweeper.n_trials=8", "hydra.sweeper.n_jobs=1", "+duration=0.5",
                      f"hydra.sweep.dir={sweep}")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    fit = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while len(list(sweep.glob("*/results.json"))) < 5:
        assert time.monotonic() < deadline and fit.poll() is None, "the fit did not complete 5 trials"
        time.sleep(0.05)
    fit.send_signal(signal.SIGKILL)
    fit.wait(timeout=60)
    first = {p.parent.name: p.stat().st_mtime_ns for p in sweep.glob("*/results.json")}
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr
    counted = [t for t in study(sweep).trials if t.number not in study(sweep).user_attrs.get("interrupted_trials", [])]
    assert len([t for t in counted if t.state.is_finished()]) == 8
    assert all(p.stat().st_mtime_ns == first[p.parent.name] for p in sweep.glob("*/results.json") if p.parent.name in first)
    completed = [t for t in study(sweep).trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(completed) >= 8 - 1  # at most the trial the kill cut short is not a completed one


def test_the_readmes_fit_runs_as_written(tmp_path: Path) -> None:
    from support import readme_example, run_command, sweep_dir_of

    files, [command] = readme_example("Fit the model to targets")
    assert not files and "hydra/sweeper=optuna" in command
    proc = run_command(command.replace("run_sim.py", str(RUN_SIM)), tmp_path)
    assert proc.returncode == 0, proc.stderr
    sweep = sweep_dir_of(tmp_path)
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert len(manifest["jobs"]) == 20 and manifest["fit"]["targets"] == {"rate_exc_hz": 5.0, "rate_inh_hz": 10.0}
    assert sum(job["values"] is not None for job in manifest["jobs"]) >= 19
    assert (sweep / "fit_history.png").is_file()


def test_several_objectives(tmp_path: Path) -> None:
    sweep = tmp_path / "F"
    proc = run_cli([*FIT, "objective=[rate_exc_hz,synchrony_chi]", "hydra.sweeper.direction=[minimize,maximize]",
                    f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [d.name for d in study(sweep).directions] == ["MINIMIZE", "MAXIMIZE"]
    header = (sweep / "summary.csv").read_text().splitlines()[0]
    assert header.endswith(",objective:rate_exc_hz,objective:synchrony_chi,best")
    for job in json.loads((sweep / "manifest.json").read_text())["jobs"]:
        metrics = json.loads((sweep / job["run_dir"] / "results.json").read_text())["metrics"]
        assert job["values"] == [metrics["rate_exc_hz"], metrics["synchrony_chi"]]


#: A Hydra app (no simulator) whose metric is NaN, inf or -inf at some points of its search space, and
#: whose job at x=5 fails after recording a finite metric.
NON_FINITE_APP = """
import hydra
import launcher  # noqa: F401  (the run_dirname resolver; Hydra finds the sweeper)
from launcher.run.job import current_record

LOSS = {1: float("nan"), 2: float("inf"), 3: float("-inf"), 4: 4.0, 5: -1.0, 6: 6.0}


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    metrics = {"loss": LOSS[cfg.x], "other": 1.0}
    if cfg.x == 5:  # a job that fails after recording its metrics
        current_record()["metrics"] = metrics
        raise RuntimeError("failed after its metrics")
    return metrics


if __name__ == "__main__":
    main()
"""


def test_nan_and_inf_metrics_are_told_to_optuna_as_failed_trials_never_as_values(tmp_path: Path) -> None:
    """Trials whose metric is NaN, inf or -inf complete as jobs but are failed trials of the study:
    no value of theirs reaches Optuna (-inf, told, would be the best of a minimisation); nor does
    the metric a failed job recorded."""
    sweep = tmp_path / "F"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("x: 0\n")  # no key objective: the fit's preset adds it
    (tmp_path / "app.py").write_text(NON_FINITE_APP)
    command = [sys.executable, "app.py", "-m", "hydra/sweeper=mozaik_fit", "objective=loss", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=6",
               "hydra.sweeper.collect=false", "hydra.sweeper.sampler.seed=1", "x=choice(1,2,3,4,5,6)", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(RUN_SIM.parent), "HYDRA_FULL_ERROR": "0"})
    assert proc.returncode == 0, proc.stderr  # a fit goes on past its failed trials
    fitted = study(sweep)
    duplicates = set(fitted.user_attrs.get("duplicate_trials", []))  # proposals of points run before: not run
    by_x = {trial.params["x"]: trial for trial in fitted.trials if trial.number not in duplicates}
    assert sorted(by_x) == [1, 2, 3, 4, 5, 6]
    for x in (1, 2, 3, 5):
        assert by_x[x].state == optuna.trial.TrialState.FAIL and by_x[x].values is None, x
    for x in (1, 2, 3):
        assert f"Trial {by_x[x].number}: no value of loss in its metrics: told as failed" in proc.stdout + proc.stderr
    assert [(by_x[x].state, by_x[x].value) for x in (4, 6)] == [(optuna.trial.TrialState.COMPLETE, 4.0), (optuna.trial.TrialState.COMPLETE, 6.0)]
    assert fitted.best_trial.params == {"x": 4}
    jobs = {job["overrides"][0]: job for job in json.loads((sweep / "manifest.json").read_text())["jobs"]}
    assert {name: (job["state"], job["values"]) for name, job in jobs.items()} == {
        "x=1": ("completed", None), "x=2": ("completed", None), "x=3": ("completed", None),
        "x=4": ("completed", [4.0]), "x=5": ("failed", None), "x=6": ("completed", [6.0]),
    }  # fmt: skip


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), None, "1.0", True])
def test_an_objective_has_no_value_for_a_metric_missing_or_not_a_finite_number(bad) -> None:
    from launcher.sweep.fit import Objective

    metrics = {"a": 2.0, "b": bad}
    for objective in (Objective(("b",), ("minimize",)), Objective(("a", "b"), ("minimize", "maximize")),
                      Objective(("a", "b"), ("minimize",), {"a": 1.0, "b": 1.0})):
        assert objective.values(metrics) is None
        assert objective.values({"a": 2.0, "b": 3.0}) is not None


@pytest.mark.parametrize("huge", [1e200, 1e160, -1e300])
def test_a_loss_of_targets_out_of_range_is_no_value_rather_than_an_error_or_inf(huge) -> None:
    from launcher.sweep.fit import Objective

    objective = Objective(("a", "b"), ("minimize",), {"a": 1.0, "b": 0.0})
    assert objective.values({"a": huge, "b": 0.0}) is None
    assert objective.values({"a": 1.0, "b": huge}) is None
    assert objective.values({"a": 2.0, "b": 0.5}) == [1.25]
