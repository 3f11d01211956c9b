"""The local parallel launcher (hydra/launcher=local_parallel): same results as the basic
launcher, at most n_jobs at once, a crashed job ends only itself, no worker outlives the sweep."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hydra import version
from hydra._internal.callbacks import Callbacks
from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite
from hydra.types import HydraContext, RunMode
from hydra.version import VersionBase

from launcher.launchers.local_parallel import JobProcessDied, LocalParallelSweepLauncher
from support import REPO, SMALL, assert_no_process_left, marked_env, run_cli, with_ctrl_c

# --- a tiny Hydra app whose jobs can crash their process ---------------------------------

APP = textwrap.dedent(
    """
    import json, os, signal, time
    from pathlib import Path

    import hydra
    from hydra.core.hydra_config import HydraConfig

    import launcher  # noqa: F401  (the run_dirname resolver; Hydra finds the sweeper and launcher)


    @hydra.main(version_base="1.3", config_path="conf", config_name="config")
    def main(cfg):
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        start = time.time()
        (run_dir / "worker.pid").write_text(str(os.getpid()))
        if cfg.x == cfg.crash_x:
            if cfg.how == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            os._exit(3)
        time.sleep(cfg.sleep)
        (run_dir / "done.json").write_text(json.dumps({"x": cfg.x, "pid": os.getpid(), "start": start, "end": time.time()}))
        return cfg.x


    if __name__ == "__main__":
        main()
    """
)

CONFIG = textwrap.dedent(
    """
    defaults:
      - _self_
      - override hydra/sweeper: mozaik
      - override hydra/launcher: local_parallel
    x: 0
    crash_x: -1
    how: segv
    sleep: 0.0
    hydra:
      job:
        chdir: false
      sweep:
        subdir: ${run_dirname:${hydra.overrides.task}}
      launcher:
        n_jobs: 2
    """
)


def write_app(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir(exist_ok=True)
    (tmp_path / "conf" / "config.yaml").write_text(CONFIG)
    (tmp_path / "app.py").write_text(APP)


def app_command(tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """Write the tiny app into tmp_path; the command and environment of a sweep of it (its
    processes carry a marker in their environment)."""
    write_app(tmp_path)
    env = marked_env(str(tmp_path), PYTHONPATH=str(REPO))  # the app imports this checkout's launcher
    return [sys.executable, "app.py", "-m", *args], env


def run_app(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a sweep of the tiny app into tmp_path/D."""
    command, env = app_command(tmp_path, *args, f"hydra.sweep.dir={tmp_path / 'D'}")
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)


# --- the launcher in this process: JobReturns and on_state -----------------------------------


@pytest.fixture
def app_context(tmp_path, hydra_restore_singletons):
    """(Hydra's context, the composed config) of the tiny app, as Hydra's multirun sets them up."""
    write_app(tmp_path)
    hydra_ = Hydra.create_main_hydra2("app", create_config_search_path(str(tmp_path / "conf")))
    try:
        cfg = hydra_.compose_config("config", [f"hydra.sweep.dir={tmp_path / 'D'}"], run_mode=RunMode.MULTIRUN, with_log_configuration=False)
        HydraConfig.instance().set_config(cfg)
        yield HydraContext(config_loader=hydra_.config_loader, callbacks=Callbacks(cfg)), cfg
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture
def launch_in_process(app_context):
    """launch_in_process(launcher, task, jobs): set the launcher up on the tiny app's config, as
    Hydra's multirun does, and launch the jobs (lists of overrides)."""
    context, cfg = app_context

    def launch(launcher, task, jobs):
        launcher.setup(hydra_context=context, task_function=task, config=cfg)
        return launcher.launch(jobs, initial_job_idx=10)

    return launch


def test_job_returns_are_those_of_the_basic_launcher_in_job_order(launch_in_process):
    def task(cfg):
        time.sleep(1.0 if cfg.x == 1 else 0.0)  # the first job ends last
        if cfg.x == 4:
            raise ValueError("x=4 is refused")
        return {"x": cfg.x, "job": HydraConfig.get().job.num}

    jobs = [["x=1"], ["x=2"], ["x=3"], ["x=4"]]
    basic = launch_in_process(BasicLauncher(), task, jobs)
    local = LocalParallelSweepLauncher(n_jobs=2)
    changes = []
    local.on_state = changes.extend
    parallel = launch_in_process(local, task, jobs)

    assert [r.status for r in parallel] == [JobStatus.COMPLETED] * 3 + [JobStatus.FAILED]
    for a, b in zip(basic, parallel):
        assert (a.overrides, a.cfg, a.hydra_cfg, a.working_dir, a.task_name, a.status) == (b.overrides, b.cfg, b.hydra_cfg, b.working_dir, b.task_name, b.status)
    assert [r.return_value for r in parallel[:3]] == [{"x": 1, "job": 10}, {"x": 2, "job": 11}, {"x": 3, "job": 12}]
    assert type(parallel[3]._return_value) is ValueError and str(parallel[3]._return_value) == "x=4 is refused"
    assert sorted(c for c in changes if c[1] == "running") == [(i, "running", None) for i in range(4)]
    assert sorted(c for c in changes if c[1] != "running") == [(0, "completed", None), (1, "completed", None), (2, "completed", None), (3, "failed", None)]
    assert changes.index((0, "completed", None)) > changes.index((1, "completed", None))  # told as they end


def test_a_crashed_worker_fails_its_job_only_and_is_replaced(launch_in_process):
    def task(cfg):
        if cfg.x == 2:
            os.abort()
        return os.getpid()

    rets = launch_in_process(LocalParallelSweepLauncher(n_jobs=1), task, [["x=1"], ["x=2"], ["x=3"]])
    assert [r.status for r in rets] == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED]
    error = rets[1]._return_value
    assert isinstance(error, JobProcessDied) and error.signal == signal.SIGABRT
    assert str(error) == "the process running the job was killed by signal 6 (SIGABRT: Aborted)"
    assert rets[1].overrides == ["x=2"]
    assert rets[0].return_value != rets[2].return_value  # the third job ran in a new worker


def test_a_job_calling_sys_exit_fails_alone_and_its_worker_runs_the_next(launch_in_process):
    def task(cfg):
        if cfg.x == 2:
            sys.exit(3)
        return os.getpid()

    rets = launch_in_process(LocalParallelSweepLauncher(n_jobs=1), task, [["x=1"], ["x=2"], ["x=3"]])
    assert [r.status for r in rets] == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED]
    assert type(rets[1]._return_value) is SystemExit and rets[1]._return_value.code == 3
    assert rets[0].return_value == rets[2].return_value  # the same worker


@pytest.mark.parametrize("exitcode, said", [
    (-11, "was killed by signal 11 (SIGSEGV: Segmentation fault)"), (3, "exited with code 3"), (0, "exited with code 0"),
    (None, "ended, exit status unknown"),
])  # fmt: skip
def test_how_a_job_process_died_is_told(exitcode, said):
    error = JobProcessDied(exitcode)
    assert str(error) == f"the process running the job {said}"
    assert error.signal == (signal.SIGSEGV if exitcode == -11 else None)


def test_a_packed_slurm_task_runs_on_after_a_job_that_crashes_its_process(app_context, tmp_path):
    """run_pack (what a packed Slurm task runs), without Slurm: the job that segfaults fails alone
    with its signal, one that raises fails alone too; the jobs after them run and write their
    return files; run again (requeued), the pack runs only the jobs without one."""
    from launcher.launchers.slurm_pack import PackFailed, read_return, return_file, run_pack

    def task(cfg):
        if cfg.x == 2:
            os.kill(os.getpid(), signal.SIGSEGV)
        if cfg.x == 4:
            raise ValueError("x=4 is refused")
        return {"x": cfg.x, "pid": os.getpid()}

    context, cfg = app_context
    folder = tmp_path / "returns"
    jobs = [([f"x={x}"], 9 + x) for x in range(1, 6)]  # numbered 10 to 14
    sigterm = signal.getsignal(signal.SIGTERM)

    def pack_fails(message: str) -> None:
        try:
            with pytest.raises(PackFailed, match=message):
                run_pack(context, task, cfg, jobs, folder)
        finally:
            signal.signal(signal.SIGTERM, sigterm)  # run_pack sets its own, as a Slurm task's

    pack_fails(r"2 of 5 jobs of the pack failed: #11, #13$")
    rets = [read_return(return_file(folder, number)) for _, number in jobs]
    assert [ret.status for ret in rets] == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED]
    assert isinstance(rets[1]._return_value, JobProcessDied) and rets[1]._return_value.signal == signal.SIGSEGV
    assert "the process running the job was killed by signal 11 (SIGSEGV" in str(rets[1]._return_value)
    assert str(rets[3]._return_value) == "x=4 is refused"
    assert [rets[i].overrides for i in (1, 3)] == [["x=2"], ["x=4"]]
    values = [rets[i].return_value for i in (0, 2, 4)]
    assert [v["x"] for v in values] == [1, 3, 5]
    assert values[0]["pid"] != values[1]["pid"] == values[2]["pid"] != os.getpid()  # a new child after the crash, one for the rest
    assert all((tmp_path / "D" / f"x={x}" / ".hydra" / "config.yaml").is_file() for x in (1, 3, 5))  # each its run directory

    # Run again (a requeued task): the jobs with a return file are not run again.
    stamps = {number: return_file(folder, number).stat().st_mtime_ns for _, number in jobs}
    return_file(folder, 12).unlink()
    pack_fails(r"#11, #13$")
    assert read_return(return_file(folder, 12)).return_value["x"] == 3
    assert {n: return_file(folder, n).stat().st_mtime_ns for n in stamps if n != 12} == {n: t for n, t in stamps.items() if n != 12}


# --- same results as the basic launcher --------------------------------------------------


def test_same_run_dirs_and_bit_identical_metrics_as_the_basic_launcher(tmp_path):
    args = ["-m", *SMALL, "pynn_seed=1,2,3"]
    basic = run_cli([*args, f"hydra.sweep.dir={tmp_path / 'basic'}"], cwd=tmp_path)
    local = run_cli([*args, "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 'local'}"], cwd=tmp_path)
    assert basic.returncode == 0, basic.stderr
    assert local.returncode == 0, local.stderr
    assert "Launching 3 jobs locally, at most 2 at a time" in local.stdout + local.stderr

    def run_dirs(sweep: Path) -> list[str]:
        return sorted(p.name for p in sweep.iterdir() if p.is_dir())

    assert run_dirs(tmp_path / "basic") == run_dirs(tmp_path / "local") and len(run_dirs(tmp_path / "basic")) == 3
    for name in run_dirs(tmp_path / "basic"):
        a, b = tmp_path / "basic" / name, tmp_path / "local" / name
        ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
        assert rb["state"] == "completed"
        assert ra["metrics"].keys() == rb["metrics"].keys()
        assert all(ra["metrics"][k] == rb["metrics"][k] or (math.isnan(ra["metrics"][k]) and math.isnan(rb["metrics"][k])) for k in ra["metrics"])
        assert (ra["config_hash"], ra["overrides"], ra["population_sizes"]) == (rb["config_hash"], rb["overrides"], rb["population_sizes"])
        for f in (".hydra/config.yaml", ".hydra/overrides.yaml", "parameters.yaml", "parameters"):
            assert (a / f).read_text() == (b / f).read_text(), f
        assert "Metrics:" in (b / "run_sim.log").read_text()
        ha, hb = ((d / ".hydra" / "hydra.yaml").read_text() for d in (a, b))
        job = lambda text: text[text.index("  job:\n") : text.index("  runtime:\n")]  # noqa: E731
        assert job(ha) == job(hb)  # job name, id, num, override_dirname
    ma, mb = (json.loads((tmp_path / s / "manifest.json").read_text())["jobs"] for s in ("basic", "local"))
    keys = ("number", "overrides", "run_dir", "config_hash", "state")
    assert [[j[k] for k in keys] for j in ma] == [[j[k] for k in keys] for j in mb]


# --- a crashed job ends only itself -----------------------------------------------------


@pytest.mark.parametrize("how, said", [("segv", "was killed by signal 11 (SIGSEGV"), ("exit", "exited with code 3")])
def test_a_job_that_kills_its_process_fails_alone(tmp_path, how, said):
    proc = run_app(tmp_path, "x=1,2,3,4,5", "crash_x=3", f"how={how}")
    assert proc.returncode != 0
    assert "1 of 5 jobs failed" in proc.stderr
    assert f"JobProcessDied: the process running the job {said}" in proc.stderr
    assert f"#2 x=3 crash_x=3 how={how}" in proc.stderr
    manifest = {j["overrides"][0]: j for j in json.loads((tmp_path / "D" / "manifest.json").read_text())["jobs"]}
    for x in (1, 2, 3, 4, 5):
        job = manifest[f"x={x}"]
        done = (tmp_path / "D" / job["run_dir"] / "done.json").exists()
        if x == 3:
            assert job["state"] == "failed" and said in job["error"] and not done
        else:
            assert job["state"] == "completed" and done, job
    assert_no_process_left(str(tmp_path))


# --- the cap holds ----------------------------------------------------------------------


def test_at_most_n_jobs_run_at_once_in_persistent_workers(tmp_path):
    proc = run_app(tmp_path, "x=1,2,3,4,5,6", "sleep=0.5")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "D").glob("*/done.json")]
    assert len(records) == 6
    events = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records], key=lambda e: (e[0], e[1]))
    running, most = 0, 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most == 2  # never more than n_jobs, and the jobs do run in parallel
    assert len({r["pid"] for r in records}) == 2  # one worker per lane, reused from job to job
    assert_no_process_left(str(tmp_path))


# --- Ctrl-C, or the sweep killed ------------------------------------------------------------


@pytest.mark.parametrize(
    "signum, to_group",
    [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGKILL, False)],
    ids=["ctrl-c-in-terminal", "sigint-to-sweep-only", "sweep-killed"],
)
def test_no_worker_outlives_a_stopped_sweep(tmp_path, signum, to_group):
    command, env = app_command(tmp_path, "x=1,2,3,4", "sleep=60", f"hydra.sweep.dir={tmp_path / 'I'}")
    sweep = subprocess.Popen(
        command, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=with_ctrl_c,
    )
    deadline = time.monotonic() + 30
    while len(list((tmp_path / "I").glob("*/worker.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list((tmp_path / "I").glob("*/worker.pid"))) == 2  # two jobs running
    (os.killpg if to_group else os.kill)(sweep.pid, signum)
    _, stderr = sweep.communicate(timeout=30)
    assert sweep.returncode != 0
    if signum == signal.SIGINT:  # one line naming what was saved, no traceback (see tests/test_kill.py)
        assert sweep.returncode == 130 and "Traceback" not in stderr, stderr
        assert stderr.strip().splitlines() == [
            f"Interrupted (Ctrl-C): 0 of 4 jobs completed, their results and the manifest saved in {tmp_path / 'I'}; "
            "run the same command again to run the rest"
        ]
    assert_no_process_left(str(tmp_path))


# --- Hydra's own launcher test suites (in process, with Hydra's basic sweeper) ----------------


@pytest.fixture
def fresh_version_base(hydra_restore_singletons):
    """Hydra's suites expect the version base of a fresh process; other tests set 1.3."""
    VersionBase.instance().version_base = version._UNSPECIFIED_


@pytest.mark.usefixtures("fresh_version_base")
@pytest.mark.parametrize("launcher_name, overrides", [("local_parallel", ["hydra.launcher.n_jobs=2", "hydra.sweeper.max_batch_size=2"])])
class TestHydraBatchedSweeperSuite(BatchedSweeperTestSuite):
    pass


def test_a_packed_job_stopped_by_slurm_records_its_failure_though_the_stop_comes_twice(app_context, tmp_path, monkeypatch):
    """Slurm signals every process of a task, and the pack passes SIGTERM on to its child: the job
    gets it twice. The second, arriving while the job writes its record of the first, is ignored
    (raised again, it cut the record short: CI once saw a cancelled pack's job with no results.json)."""
    import launcher.run.job as job_module
    from launcher.launchers.slurm_pack import run_pack

    write = job_module.write_json_atomic

    def write_after_the_second_stop(path, record):
        if record.get("state") == "failed":
            os.kill(os.getpid(), signal.SIGTERM)  # the same stop again, as the parent passes it on
        write(path, record)

    monkeypatch.setattr(job_module, "write_json_atomic", write_after_the_second_stop)  # (the pack's child inherits it: fork)

    def task(cfg):
        os.kill(os.getpid(), signal.SIGTERM)  # Slurm's stop, while the job runs
        time.sleep(5)

    context, cfg = app_context
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Exception):
            run_pack(context, job_module.recorded(task), cfg, [(["x=1"], 10)], tmp_path / "returns")  # as the sweeper gives it
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    record = json.loads((tmp_path / "D" / "x=1" / "results.json").read_text())
    assert record["state"] == "failed" and "SIGTERM" in record["error"], record
