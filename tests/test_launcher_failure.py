"""A launcher that raises (not a job: the launcher itself) still leaves the sweep's report: the
jobs that completed are recorded, the others failed with the launcher's error, the manifest,
summary.csv and the failure report are written, the sweep exits non-zero naming that error, and
running it again runs only what is missing.

Real hydra-joblib-launcher (the ``test`` extra), whose pool raises ``TerminatedWorkerError`` when
a worker dies; a tiny own Hydra app whose job segfaults, no simulator. The crash's dump goes to
the job's log (launcher.run.noise), the console gets the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="hydra-joblib-launcher is in the test extra")

SEGFAULTING_APP = """
import os
import signal
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    if cfg.x == 2 and Path("crash").exists():
        # once job x=1 has its record, so that the sweep has a completed job whatever the scheduling
        first, deadline = Path(HydraConfig.get().sweep.dir) / "+x=1" / "results.json", time.monotonic() + 120
        while not first.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGSEGV)
    return {"y": float(cfg.x)}


if __name__ == "__main__":
    main()
"""


def test_a_segfault_under_joblib_ends_with_the_report_and_a_rerun_runs_only_the_missing_job(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SEGFAULTING_APP)
    (tmp_path / "crash").touch()
    sweep = tmp_path / "S"
    command = [sys.executable, "app.py", "-m", "+x=1,2", "hydra/sweeper=mozaik", "hydra/launcher=joblib",
               "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "0"}
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert first.returncode != 0
    assert "the launcher JoblibLauncher failed: TerminatedWorkerError" in first.stderr, first.stderr
    assert "1 of 2 jobs completed, their results kept; 1 failed, 0 not run" in first.stderr
    assert "#1 +x=2" in first.stderr  # the failure report names the job and its run directory
    # The crash's Python stack (faulthandler, which joblib's workers enable) in the job's log, not on the console
    assert "Fatal Python error" not in first.stdout + first.stderr
    assert "Fatal Python error: Segmentation fault" in (sweep / "+x=2" / "app.log").read_text()
    manifest = json.loads((sweep / "manifest.json").read_text())
    states = {job["run_dir"]: (job["state"], job.get("error") or "") for job in manifest["jobs"]}
    assert states["+x=1"] == ("completed", "")
    assert states["+x=2"][0] == "failed" and states["+x=2"][1].startswith("no result: the launcher JoblibLauncher failed")
    assert (sweep / "summary.csv").read_text().count("\n") == 3  # header and both jobs
    kept = (sweep / "+x=1" / "results.json").read_bytes()

    (tmp_path / "crash").unlink()
    # (the table and figures were checked above: not written again)
    again = subprocess.run([*command, "hydra.sweeper.collect=false"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Resuming: 1 of 2 jobs already completed, 1 to run" in again.stdout + again.stderr
    assert (sweep / "+x=1" / "results.json").read_bytes() == kept  # not run again
    assert [job["state"] for job in json.loads((sweep / "manifest.json").read_text())["jobs"]] == ["completed", "completed"]


def test_status_lists_jobs_a_stopped_sweep_never_started_as_not_started(tmp_path: Path) -> None:
    """A job the sweep left pending without a run directory is not 'interrupted' with paths that
    do not exist: it is counted as unstarted and listed as never started."""
    from launcher.report.status import format_status, status
    from launcher.sweep.manifest import JobEntry, Manifest

    sweep = tmp_path / "S"
    (sweep / "a=1").mkdir(parents=True)
    started = JobEntry(0, ["a=1"], "a=1", "0" * 16, "running")
    started.started = "2026-01-01T00:00:00"
    Manifest(sweep, [started, JobEntry(1, ["a=2"], "a=2", "1" * 16, "pending")]).save()
    report = status(sweep)
    assert report.counts == {"completed": 0, "failed": 0, "running": 0, "pending": 0, "interrupted": 1, "unstarted": 1}
    text = format_status(report)
    assert text.splitlines()[0].endswith("2 jobs: 0 completed, 0 failed, 0 running, 0 pending, 1 interrupted, 1 unstarted")
    assert text.endswith("Jobs that never started (running the sweep again runs them):\n  #1 a=2")
    assert str(sweep / "a=2") not in text  # no run directory or log that does not exist
