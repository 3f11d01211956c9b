"""Sweeps stopped at random points (SIGKILL, SIGTERM, SIGINT), as a user, a cluster or a crash would:
afterwards no job is shown running or pending that no process runs, no process of the sweep is
left, and running the sweep again completes it, each job run to its end once."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import RUN_SIM, assert_no_process_left, marked_env, run_launcher_cli, with_ctrl_c

#: Six jobs of a fraction of a second each: a stop lands before, during or after any of them.
JOBS = ["pynn_seed=1,2,3,4,5,6", "sheets.V1.density=100", "experiment.spontaneous_duration=300"]
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


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", list(SIGNALS))
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_a_sweep_stopped_at_random_points_leaves_true_states_and_resumes(tmp_path: Path, launcher: str, signal_name: str) -> None:
    rng = random.Random(f"{launcher}-{signal_name}")  # the same points on every run of the test
    for run in range(RUNS):
        sweep, marker = tmp_path / f"S{run}", f"kill-{launcher}-{signal_name}-{run}"
        command = [sys.executable, str(RUN_SIM), "-m", *JOBS, *LAUNCHERS[launcher], f"hydra.sweep.dir={sweep}"]
        proc = subprocess.Popen(command, cwd=tmp_path, env=marked_env(marker), preexec_fn=with_ctrl_c,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.5, 6.0))
        proc.send_signal(SIGNALS[signal_name])
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"run {run}: the sweep did not end within 60 s of SIG{signal_name}")
        assert_no_process_left(marker)
        if (sweep / "manifest.json").exists():
            first, counts = states(sweep)
            assert counts.get("running", 0) == 0 and counts.get("pending", 0) == 0, f"run {run}: {first}"
        resumed = subprocess.run(command, cwd=tmp_path, env=marked_env(marker), capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, f"run {run}: {resumed.stderr[-2000:]}"
        first, counts = states(sweep)
        assert counts == {"completed": 6, "failed": 0, "running": 0, "pending": 0}, f"run {run}: {first}"
        for run_dir in (p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")):
            assert json.loads((run_dir / "results.json").read_text())["state"] == "completed"
        assert_no_process_left(marker)
