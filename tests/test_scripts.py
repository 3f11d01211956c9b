"""Run scripts are bounded and never orphaned: a time limit per job, and no run script, process of
a script, worker or sweep left running however the sweep ends (launcher/launchers/process_group.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from launcher.launchers.process_group import run_group
from support import (
    RUN_SIM, assert_no_process_left, marked_env, marked_processes, run_launcher_cli, search_script, with_ctrl_c,
)  # fmt: skip

# --- the helper itself -------------------------------------------------------------------------


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


#: A command that starts a process of its own, then sleeps.
FORKS_AND_SLEEPS = python(
    """
    import subprocess, time
    subprocess.Popen(["sleep", "600"])
    time.sleep(600)
    """
)


def test_the_exit_status_is_the_commands_and_nothing_it_started_is_left(tmp_path: Path) -> None:
    env = marked_env(str(tmp_path))
    assert run_group(python("import sys; sys.exit(3)"), env=env).returncode == 3
    assert run_group(python("import os, signal; os.kill(os.getpid(), signal.SIGUSR1)"), env=env).returncode == -signal.SIGUSR1
    left_behind = run_group(python("import subprocess; subprocess.Popen(['sleep', '600'])"), env=env)
    assert left_behind.returncode == 0 and not left_behind.timed_out
    assert_no_process_left(str(tmp_path), within_s=2)


def test_past_its_time_limit_the_group_is_stopped(tmp_path: Path) -> None:
    ended = run_group(FORKS_AND_SLEEPS, env=marked_env(str(tmp_path)), timeout_s=1)
    assert ended.timed_out and ended.returncode == -signal.SIGTERM  # stopped, not ended by itself in 600 s
    assert_no_process_left(str(tmp_path), within_s=2)


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    stubborn = python("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)")
    ended = run_group(stubborn, env=marked_env(str(tmp_path)), timeout_s=0.5, grace_s=0.5)
    assert ended.timed_out and ended.returncode == -signal.SIGKILL
    assert_no_process_left(str(tmp_path), within_s=2)


def test_an_interrupt_stops_the_group_before_it_goes_on(tmp_path: Path) -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_group(FORKS_AND_SLEEPS, env=marked_env(str(tmp_path)))
        assert_no_process_left(str(tmp_path), within_s=1)  # signalled to end before the interrupt went on
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_group_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    starter = python(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from launcher.launchers.process_group import run_group
        run_group({FORKS_AND_SLEEPS!r})
        """
    )
    process = subprocess.Popen(starter, env=marked_env(str(tmp_path)), start_new_session=True)
    deadline = time.monotonic() + 30
    while len(marked_processes(str(tmp_path))) < 4 and time.monotonic() < deadline:  # starter, guard, command, sleep
        time.sleep(0.05)
    assert len(marked_processes(str(tmp_path))) == 4
    process.kill()
    process.wait()
    assert_no_process_left(str(tmp_path), within_s=5)


def test_a_command_that_cannot_run_is_named(tmp_path: Path) -> None:
    with open(tmp_path / "out.log", "wb") as output:
        ended = run_group(["no-such-program-here"], stdout=output, stderr=subprocess.STDOUT)
    assert ended.returncode == 127
    assert "cannot run no-such-program-here" in (tmp_path / "out.log").read_text()


# --- a mozaik model whose script runs until the test lets it end ---------------------------------

#: A mozaik run script that starts a process of its own (as mpirun starts its ranks), then, for a
#: job with ``hold: 1``, waits as long as the test's hold file exists.
SCRIPT = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    from launcher.mozaik.parameter_files import read_parameters
    simulator, threads, parameter_file, run_name = sys.argv[1:]
    tree = read_parameters(parameter_file)
    child = subprocess.Popen(["sleep", "600"])
    json.dump({"script": os.getpid(), "child": child.pid}, open("pids.json", "w"))
    while tree["hold"] and os.path.exists(os.environ["HOLD_FILE"]):
        time.sleep(0.05)
    child.kill()
    json.dump({"hold": tree["hold"]}, open("metrics.json", "w"))
    """
)
DEFAULTS = "{\n    'hold': 0,\n}\n"
#: The run directories of the sweep hold=0,1 of the imported model, by value of hold.
RUN_DIRS = {0: "hold=0", 1: "hold=1"}  # model= and task.* shared by every job: not in the names


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A mozaik model directory, imported as the model option ``held`` of run_sim.py (time limit 60 s)."""
    (tmp_path / "param").mkdir()
    (tmp_path / "param" / "defaults").write_text(DEFAULTS)
    (tmp_path / "held.py").write_text(SCRIPT)
    (tmp_path / "hold").touch()
    imported = run_launcher_cli("import-mozaik", "param/defaults", "conf", "--run-script", "held.py", "--name", "held", "--timeout-s", "60", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    return tmp_path


def environment(folder: Path) -> dict[str, str]:
    """The environment of the test's sweep: its marker, and the hold file of its scripts."""
    return marked_env(str(folder), HOLD_FILE=str(folder / "hold"))


def sweep_command(*extra: str) -> list[str]:
    # (no table nor figures: these tests read the jobs' records and the processes left)
    return [sys.executable, str(RUN_SIM), "--config-dir", "conf", "model=held", "-m", "hold=0,1", "hydra.sweep.dir=D",
            "hydra.sweeper.collect=false", *extra]  # fmt: skip


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def wait_for(path: Path, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path} was not written within {within_s} s"


# --- a time limit per job ------------------------------------------------------------------------


def test_a_script_past_its_time_limit_fails_alone_and_its_processes_are_gone(model: Path) -> None:
    assert "timeout_s: 60.0" in (model / "conf" / "model" / "held.yaml").read_text()  # import-mozaik --timeout-s
    proc = subprocess.run(sweep_command("task.timeout_s=2"), cwd=model, env=environment(model), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "1 of 2 jobs failed" in proc.stderr, proc.stderr
    held, free = (model / "D" / name for name in (RUN_DIRS[1], RUN_DIRS[0]))
    failed = record(held)
    assert failed["state"] == "failed"
    assert "timed out: still running after its time limit of 2 s (task.timeout_s)" in failed["error"]
    assert failed["timings"]["total_s"] < 10
    assert record(free)["state"] == "completed" and record(free)["metrics"] == {"hold": 0}
    assert_no_process_left(str(model), within_s=2)


@pytest.mark.parametrize("seconds", ["0", "-1", "soon", "inf"])
def test_import_mozaik_refuses_a_time_limit_that_is_not_seconds(model: Path, seconds: str) -> None:
    proc = run_launcher_cli("import-mozaik", "param/defaults", "c2", "--run-script", "held.py", "--name", "m", "--timeout-s", seconds, cwd=model)
    assert proc.returncode != 0 and "is not a number of seconds above 0" in proc.stderr
    assert not (model / "c2").exists()


# --- however the sweep ends, nothing is left running -------------------------------------------


SEQUENTIAL, PARALLEL = [], ["hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"]


@pytest.mark.parametrize(
    "launcher, signum",
    [
        (SEQUENTIAL, signal.SIGTERM),
        (SEQUENTIAL, signal.SIGINT),
        (SEQUENTIAL, signal.SIGKILL),
        (PARALLEL, signal.SIGTERM),
        (PARALLEL, signal.SIGKILL),
    ],
    ids=["sequential-term", "sequential-int", "sequential-kill", "parallel-term", "parallel-kill"],
)
def test_a_stopped_sweep_leaves_no_script_running(model: Path, launcher: list[str], signum: int) -> None:
    command = sweep_command(*launcher)
    sweep = subprocess.Popen(
        command, cwd=model, env=environment(model), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=with_ctrl_c,
    )  # fmt: skip
    held = model / "D" / RUN_DIRS[1]
    wait_for(held / "pids.json")  # the script and its own process run
    os.kill(sweep.pid, signum)
    _, stderr = sweep.communicate(timeout=60)
    assert sweep.returncode != 0
    assert_no_process_left(str(model), within_s=5)
    if signum == signal.SIGKILL:
        assert not (held / "results.json").exists()  # never looks finished
    else:
        failed = record(held)
        assert failed["state"] == "failed", stderr
        assert failed["error"].startswith("SweepTerminated" if signum == signal.SIGTERM and not launcher else "KeyboardInterrupt")

    (model / "hold").unlink()
    again = subprocess.run(command, cwd=model, env=environment(model), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert record(held)["state"] == "completed"
    assert_no_process_left(str(model), within_s=2)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["search-killed", "search-ctrl-c"])
def test_a_stopped_search_script_leaves_no_sweep_or_script_running(model: Path, signum: int) -> None:
    (model / "search.py").write_text(search_script("LocalSequentialBackend()", {"hold": [0, 1]}))
    command = [sys.executable, "search.py", "held.py", "nest", "param/defaults"]
    search = subprocess.Popen(
        command, cwd=model, env=environment(model), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=with_ctrl_c,
    )  # fmt: skip
    held = model / "CombinationParamSearch_hold=0_1" / "hold=1"
    wait_for(held / "pids.json")
    os.kill(search.pid, signum)
    search.wait(timeout=60)
    assert search.returncode != 0
    assert_no_process_left(str(model), within_s=15)
    # The sweep got SIGTERM: it stopped the script, then recorded the job failed.
    failed = record(held)
    assert failed["state"] == "failed" and failed["error"].startswith("SweepTerminated")

    (model / "hold").unlink()
    again = subprocess.run(command, cwd=model, env=environment(model), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Resuming: 1 of 2 jobs already completed, 1 to run" in again.stdout + again.stderr
    assert record(held)["state"] == "completed"
