"""Sweeps stopped (SIGKILL, SIGTERM, SIGINT) as a user, a cluster or a crash would, at chosen points
(the manifest written, one, three or five of six jobs ended: 8 stops, on the toy app of
tests/support.py: the sweep's machinery) and, under ``-m slow``, at 120 random ones (the real network):
afterwards no job is shown running or pending that no process runs, no process of the sweep is
left, and running the sweep again completes it, each job run to its end once. A sweep stopped by
Ctrl-C or SIGTERM ends with one line naming what it saved, and no traceback."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher.report.status import status
from launcher.sweep.interrupt import SweepTerminated, stop_sweep
from launcher.sweep.manifest import Manifest
from support import REPO, RUN_SIM, assert_no_process_left, marked_env, run_launcher_cli, toy_app, with_ctrl_c

#: Six jobs of a fraction of a second each: a stop lands before, during or after any of them.
JOBS = ["pynn_seed=1,2,3,4,5,6", "sheets.V1.density=100", "experiment.spontaneous_duration=300"]
#: The same six jobs of the toy app (tests/support.py): 0.3 s each, no simulator.
TOY_JOBS = ["+seed=1,2,3,4,5,6", "+duration=0.3"]
LAUNCHERS = {"sequential": [], "local_parallel": ["hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"]}
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}
#: Stops of each launcher by each signal (the issue asks for at least 20).
RUNS = 20


def states(sweep: Path) -> tuple[str, dict[str, int]]:
    """The status command's first line and its counts."""
    proc = run_launcher_cli("status", sweep)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    first = proc.stdout.splitlines()[0]
    counts = {name: int(n) for n, name in (part.split() for part in first.split("jobs: ")[1].split(", "))}
    return first, counts


#: Points of a sweep at which the quick test stops it, each with what the sweep directory shows
#: then: the manifest written (no job ended), then 1, 3 and 5 jobs ended (the next one running;
#: with 6 jobs the journal is folded into the manifest as the last ones end).
POINTS = {
    "manifest": lambda sweep: (sweep / "manifest.json").exists(),
    "1 ended": lambda sweep: len(list(sweep.glob("*/results.json"))) >= 1,
    "3 ended": lambda sweep: len(list(sweep.glob("*/results.json"))) >= 3,
    "5 ended": lambda sweep: len(list(sweep.glob("*/results.json"))) >= 5,
}
#: Each launcher stopped at each point, by each signal in turn (8 stops): every point is met by
#: both launchers, every signal by both launchers and at least two points.
CHOSEN = [
    (launcher, list(SIGNALS)[(n * len(POINTS) + i) % len(SIGNALS)], point)
    for n, launcher in enumerate(LAUNCHERS)
    for i, point in enumerate(POINTS)
]


def stop_and_resume(tmp_path: Path, launcher: str, signal_name: str, name: str, stop_when, toy: bool = False) -> None:
    """Start the six-job sweep (of the toy app if ``toy``, else of the network), stop it with the
    signal once ``stop_when(sweep)`` holds (or the sweep has ended), then check that no process is
    left, no job is shown running or pending, and that running the sweep again completes every job."""
    sweep, marker = tmp_path / name, f"kill-{launcher}-{signal_name}-{name}"
    swept = toy_app(tmp_path, *TOY_JOBS) if toy else [sys.executable, str(RUN_SIM), "-m", *JOBS]
    command = [*swept, *LAUNCHERS[launcher], f"hydra.sweep.dir={sweep}"]
    env = marked_env(marker, PYTHONPATH=str(REPO))  # the toy app's sweep imports this checkout's launcher
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, preexec_fn=with_ctrl_c,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not stop_when(sweep) and proc.poll() is None:
        assert time.monotonic() < deadline, f"{name}: the sweep did not get there within 300 s"
        time.sleep(0.01)
    proc.send_signal(SIGNALS[signal_name])
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{name}: the sweep did not end within 60 s of SIG{signal_name}")
    assert_no_process_left(marker)
    if (sweep / "manifest.json").exists():
        counts = status(sweep).counts
        assert counts.get("running", 0) == 0 and counts.get("pending", 0) == 0, f"{name}: {counts}"
    # (resumed without the table and figures: the first run keeps them, for a stop that lands there)
    resumed = subprocess.run([*command, "hydra.sweeper.collect=false"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, f"{name}: {resumed.stderr[-2000:]}"
    counts = status(sweep).counts
    assert counts == {"completed": 6, "failed": 0, "running": 0, "pending": 0}, f"{name}: {counts}"
    for run_dir in (p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")):
        assert json.loads((run_dir / "results.json").read_text())["state"] == "completed"
    assert_no_process_left(marker)


@pytest.mark.parametrize("launcher, signal_name, point", CHOSEN)
def test_a_sweep_stopped_at_a_chosen_point_leaves_true_states_and_resumes(tmp_path: Path, launcher: str, signal_name: str, point: str) -> None:
    stop_and_resume(tmp_path, launcher, signal_name, "S", POINTS[point], toy=True)


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", list(SIGNALS))
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_a_sweep_stopped_at_random_points_leaves_true_states_and_resumes(tmp_path: Path, launcher: str, signal_name: str) -> None:
    """The long form (``-m slow``): 20 stops of each launcher by each signal, after random sleeps."""
    rng = random.Random(f"{launcher}-{signal_name}")  # the same points on every run of the test
    for run in range(RUNS):
        stop_at = time.monotonic() + rng.uniform(0.5, 6.0)
        stop_and_resume(tmp_path, launcher, signal_name, f"S{run}", lambda sweep: time.monotonic() >= stop_at)


def test_stop_sweep_says_what_was_saved_in_one_line_and_exits_as_the_signal_would(capsys: pytest.CaptureFixture) -> None:
    for interrupt, said, code in ((KeyboardInterrupt(), "Interrupted (Ctrl-C)", 130), (SweepTerminated("x"), "Terminated (SIGTERM)", 143)):
        with pytest.raises(SystemExit) as ended:
            stop_sweep(interrupt, "3 of 6 jobs completed")
        assert ended.value.code == code and ended.value.__suppress_context__
        assert capsys.readouterr().err == f"{said}: 3 of 6 jobs completed\n"


@pytest.mark.parametrize(
    "launcher, signal_name, presses",
    [("sequential", "INT", 1), ("local_parallel", "INT", 1), ("sequential", "TERM", 1), ("sequential", "INT", 2)],
)
def test_a_stopped_sweep_ends_with_one_line_naming_what_it_saved(tmp_path: Path, launcher: str, signal_name: str, presses: int) -> None:
    """``presses``: Ctrl-C pressed twice, the second while the sweep stops (ignored, not a traceback)."""
    sweep, marker = tmp_path / "S", f"one-line-{launcher}-{signal_name}-{presses}"
    command = [sys.executable, str(RUN_SIM), "-m", *JOBS[:-1], "experiment.spontaneous_duration=1000", *LAUNCHERS[launcher],
               f"hydra.sweep.dir={sweep}"]  # fmt: skip
    # PYTHONPATH: local_parallel's workers import this checkout's launcher, as the sweep does.
    proc = subprocess.Popen(command, cwd=tmp_path, env=marked_env(marker, PYTHONPATH=str(REPO)), preexec_fn=with_ctrl_c,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while len(list(sweep.glob("*/results.json"))) < 2:  # two jobs have ended: the stop lands mid-sweep
        assert time.monotonic() < deadline and proc.poll() is None, "the sweep did not get to its third job"
        time.sleep(0.02)
    proc.send_signal(SIGNALS[signal_name])
    if presses == 2:
        time.sleep(0.05)  # (not a wait for a state: the second press may land anywhere in the stop, or after it)
        proc.send_signal(SIGNALS[signal_name])
    out, err = proc.communicate(timeout=120)
    assert_no_process_left(marker)
    assert proc.returncode == 128 + SIGNALS[signal_name], err
    assert "Traceback" not in out + err
    jobs = json.loads((sweep / "manifest.json").read_text())["jobs"]
    done = [job for job in jobs if job["state"] == "completed"]
    records = [json.loads(p.read_text()) for p in sweep.glob("*/results.json")]
    assert 2 <= len(done) == sum(record["state"] == "completed" for record in records) < 6
    said = "Interrupted (Ctrl-C)" if signal_name == "INT" else "Terminated (SIGTERM)"
    assert err.strip().splitlines() == [
        f"{said}: {len(done)} of 6 jobs completed, their results and the manifest saved in {sweep}; "
        "run the same command again to run the rest"
    ]
    first, counts = states(sweep)
    assert counts["completed"] == len(done) and counts.get("running", 0) == counts.get("pending", 0) == 0, first


def test_a_background_parallel_sweep_stopped_by_sigterm_records_its_running_jobs_as_failed(tmp_path: Path) -> None:
    """Started in the background (SIGINT ignored, so no Ctrl-C reaches the workers), the sweep stopped
    by SIGTERM: each job it had started ends with a results.json, completed or failed, never none."""
    sweep, marker = tmp_path / "S", "background-term"
    command = [sys.executable, str(RUN_SIM), "-m", *JOBS[:-1], "experiment.spontaneous_duration=1000", *LAUNCHERS["local_parallel"],
               f"hydra.sweep.dir={sweep}"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=tmp_path, env=marked_env(marker, PYTHONPATH=str(REPO)),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    # A job inside its task (it has written its tree, not yet its record): a stop then is its to record.
    while not [p for p in sweep.glob("*/parameters.yaml") if not (p.parent / "results.json").exists()]:
        assert time.monotonic() < deadline and proc.poll() is None, "no job of the sweep started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert_no_process_left(marker)
    assert proc.returncode == 128 + signal.SIGTERM, err
    manifest = Manifest.load(sweep)
    manifest.settle(swept=False)
    started = {job.number: job.state for job in manifest.jobs if (sweep / job.run_dir).is_dir()}
    assert "failed" in started.values(), started
    inside = [job for job in manifest.jobs if (sweep / job.run_dir / "parameters.yaml").exists()]
    assert all(job.state in ("completed", "failed") for job in inside), started  # none inside its task left interrupted
    stopped = [job for job in manifest.jobs if job.state == "failed"]
    assert all("SIGTERM" in job.error for job in stopped), stopped
    records = [json.loads(p.read_text()) for p in sweep.glob("*/results.json")]  # a job stopped inside its task records it
    assert all("SIGTERM" in record["error"] for record in records if record["state"] == "failed"), records


#: A job whose code swallows the KeyboardInterrupt that Ctrl-C raises in it, as a library may (seen:
#: numpy dropping the error of an attribute lookup inside PyNN's get_data): the first job presses
#: Ctrl-C on itself inside such code.
SWALLOWING_APP = """
import os
import signal
import time
import weakref

import hydra

WHERE = "where"


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    if cfg.x == 1 and WHERE == "except":
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except BaseException:
            pass
    if cfg.x == 1 and WHERE == "weakref":  # where Python cannot raise it: a weakref callback ("Exception ignored in")
        weakref.finalize(Thing(), lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(1)))
    return {"y": float(cfg.x)}


class Thing:
    pass


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize(
    "where, launcher, signal_name",
    [("except", "sequential", "INT"), ("except", "sequential", "TERM"), ("except", "basic", "INT"), ("except", "basic", "TERM"),
     ("weakref", "sequential", "INT"), ("weakref", "sequential", "TERM")],
)  # fmt: skip
def test_a_stop_that_a_job_s_code_swallows_still_stops_the_sweep_after_that_job(tmp_path: Path, where: str, launcher: str, signal_name: str) -> None:
    app = SWALLOWING_APP.replace("signal.SIGINT", f"signal.SIG{signal_name}").replace('WHERE = "where"', f"WHERE = {where!r}")
    (tmp_path / "app.py").write_text(app)
    sweep, marker = tmp_path / "S", f"swallowed-{launcher}-{signal_name}"
    command = [sys.executable, "app.py", "-m", "+x=1,2,3", "hydra/sweeper=mozaik", f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(command, cwd=tmp_path, env=marked_env(marker, PYTHONPATH=str(REPO)), preexec_fn=with_ctrl_c,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 128 + SIGNALS[signal_name], proc.stderr
    said = "Interrupted (Ctrl-C)" if signal_name == "INT" else "Terminated (SIGTERM)"
    assert proc.stderr.strip().splitlines()[-1].startswith(f"{said}: 1 of 3 jobs completed"), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert json.loads((sweep / "+x=1" / "results.json").read_text())["state"] == "completed"  # it did complete
    assert not (sweep / "+x=2").exists()  # the sweep stopped after the job, not at the end
    assert_no_process_left(marker)


#: An app whose third job finds the sequential launcher failing in its own code (not a job's): after a
#: stop that the launcher's code turned into that error ("stop"), or on its own ("fail").
FAILING_LAUNCHER_APP = """
import hydra

import launcher.launchers.sequential as sequential
from launcher.run.job import stop_received

MODE = "mode"


def broken(overrides):
    if MODE == "stop":
        stop_received(KeyboardInterrupt())  # as the sweep's Ctrl-C handler keeps it
    raise RuntimeError("the launcher's own failure")


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    if cfg.x == 2:
        sequential.filter_overrides = broken  # called by the launcher as it starts the next job
    return {"y": float(cfg.x)}


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("mode", ["stop", "fail"])
def test_a_launcher_failing_in_its_own_code_is_never_taken_for_jobs_left_to_a_cluster(tmp_path: Path, mode: str) -> None:
    """Seen in CI: Ctrl-C landing in the sequential launcher's own code became another error there,
    and the sweep, finding jobs still pending, said it had left them to the cluster and exited 0.
    A stop that became an error is the stop; a launcher's failure is reported as one, non-zero."""
    (tmp_path / "app.py").write_text(FAILING_LAUNCHER_APP.replace('MODE = "mode"', f"MODE = {mode!r}"))
    sweep = tmp_path / "S"
    command = [sys.executable, "app.py", "-m", "+x=1,2,3,4", "hydra/sweeper=mozaik", "hydra/launcher=sequential", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(command, cwd=tmp_path, env=marked_env(f"launcher-fails-{mode}", PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    said = proc.stdout + proc.stderr
    assert "left them to the cluster" not in said, said
    if mode == "stop":
        assert proc.returncode == 130, said
        assert proc.stderr.strip().splitlines()[-1].startswith("Interrupted (Ctrl-C): 2 of 4 jobs completed"), said
    else:
        assert proc.returncode != 0 and "the launcher's own failure" in proc.stderr, said
        assert "2 of 4 jobs completed" in proc.stderr, said
