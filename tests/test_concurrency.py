"""Two sweeps into one sweep directory: one sweeps at a time, nothing is lost, nothing runs twice.

Each test starts two real sweeps as a user would in two terminals, the second while the first
runs: sweeps of the toy app of tests/support.py (the lock and the manifest are the sweep's, not the
model's; no simulator to import).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from support import REPO, run_launcher_cli, toy_app

#: A second a job: long enough for the second sweep to start while the first runs.
JOB = ["+duration=1.0"]


def start(sweep: Path, cwd: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        toy_app(cwd, *overrides, *JOB, f"hydra.sweep.dir={sweep}"),
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONPATH": str(REPO)},  # the toy app imports this checkout's launcher
    )


def wait_for_first_job(sweep: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not list(sweep.glob("*/.hydra/config.yaml")):
        assert time.monotonic() < deadline, "the first sweep did not start a job"
        time.sleep(0.1)


def metric_lines(sweep: Path) -> dict[str, int]:
    """How many times each run directory's job logged its metrics (once per run of the job)."""
    return {d.name: (d / "toy_app.log").read_text().count("Metrics:") for d in sweep.iterdir() if (d / "toy_app.log").exists()}


def test_a_second_sweep_into_the_directory_waits_and_every_job_is_listed(tmp_path: Path) -> None:
    sweep = tmp_path / "X"
    first = start(sweep, tmp_path, "+seed=1,2,3")
    wait_for_first_job(sweep)
    second = start(sweep, tmp_path, "+seed=7,8")
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "is being swept by another process (pid" in err2 + out2 and str(first.pid) in err2 + out2
    manifest = json.loads((sweep / "manifest.json").read_text())
    seeds = sorted(int(job["overrides"][0].split("=")[1]) for job in manifest["jobs"])
    assert seeds == [1, 2, 3, 7, 8]
    assert {job["state"] for job in manifest["jobs"]} == {"completed"}
    assert set(metric_lines(sweep).values()) == {1}  # every job ran once
    status = run_launcher_cli("status", sweep)
    assert "5 jobs: 5 completed" in status.stdout, status.stdout
    rows = (sweep / "summary.csv").read_text().splitlines()
    assert len(rows) == 6


def test_two_identical_sweeps_started_together_run_each_job_once(tmp_path: Path) -> None:
    sweep = tmp_path / "X"
    first = start(sweep, tmp_path, "+seed=1,2")
    second = start(sweep, tmp_path, "+seed=1,2")
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, results
    assert sorted(metric_lines(sweep).values()) == [1, 1]  # two jobs, each run once
    resumed = [out + err for out, err in results if "Resuming: 2 of 2 jobs already completed, 0 to run" in out + err]
    assert len(resumed) == 1  # the one that waited found both jobs done


def test_a_stale_lock_never_blocks(tmp_path: Path) -> None:
    sweep = tmp_path / "X"
    killed = start(sweep, tmp_path, "+seed=1,2")
    wait_for_first_job(sweep)
    killed.kill()  # SIGKILL: no cleanup runs, the lock file stays
    killed.communicate(timeout=60)
    assert (sweep / ".sweep.lock").exists()
    again = start(sweep, tmp_path, "+seed=1,2")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "is being swept by another process" not in out + err
