"""The fast paths (launcher/compat.py's private uses) change nothing but speed: the same sweeps run
with them forced off (``MOZAIK_LAUNCHER_FAST_PATHS=0``: Hydra's full composition and ``run_job``
for every job) give identical run directories, ``.hydra/`` files, ``results.json`` and manifests."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support import RUN_SIM, SMALL

from launcher import compat

NOTICE = "jobs composed and run by Hydra's public path"

SWEEPS = {
    # value sweeps of the default model (plain leaves, a key under a reference, a string with a space)
    "sequential": ["-m", *SMALL, "pynn_seed=1,2", "sheets.V1.cell.tau_m=20,25", "name='a b'"],
    # the same on the local parallel launcher, two workers
    "local_parallel": ["-m", *SMALL, "pynn_seed=3,4", "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"],
    # a failing job (an unknown simulator) beside a completed one: both recorded the same way
    "failure": ["-m", "sheets.V1.density=2", "experiment.spontaneous_duration=10", "simulator=nest,nosuchsim"],
}


def run(args: list[str], cwd: Path, fast: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", compat.FAST_PATHS_ENV: "1" if fast else "0"}
    return subprocess.run(
        # (no table nor figures: what is compared is each job's files and the manifest)
        [sys.executable, str(RUN_SIM), *args, "hydra.sweep.dir=sweep", "hydra.sweeper.collect=false"], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


def _same_except_run(value: Any, cwd: Path) -> Any:
    """A file's text or data with what differs between two runs of one sweep from two folders
    made equal: the folder's path."""
    return json.loads(json.dumps(value).replace(str(cwd), "<cwd>"))


def run_files(cwd: Path) -> dict[str, Any]:
    """What a sweep left that must not depend on the path it took: for each run directory its
    ``.hydra/`` files and ``results.json`` (but its timings, host facts and pids), and the
    manifest's jobs (but times and the sweeper's pid)."""
    sweep = cwd / "sweep"
    found: dict[str, Any] = {}
    for run_dir in sorted(p for p in sweep.iterdir() if p.is_dir()):
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            found[f"{run_dir.name}/.hydra/{name}"] = (run_dir / ".hydra" / name).read_text().replace(str(cwd), "<cwd>")
        record = json.loads((run_dir / "results.json").read_text())
        for varying in ("timings", "host", "slurm_job_id", "code", "pid"):
            record.pop(varying, None)
        if record.get("error"):
            record["error"] = record["error"].splitlines()[-1]  # the traceback's frames name the path taken
        found[f"{run_dir.name}/results.json"] = _same_except_run(record, cwd)
        found[f"{run_dir.name}/files"] = sorted(p.name for p in run_dir.iterdir())
    manifest = json.loads((sweep / "manifest.json").read_text())
    jobs = [{key: job.get(key) for key in ("number", "overrides", "run_dir", "state", "config_hash")} for job in manifest["jobs"]]
    found["manifest.jobs"] = _same_except_run(jobs, cwd)
    return found


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", list(SWEEPS))
def test_a_sweep_gives_the_same_outputs_with_the_fast_paths_off(tmp_path: Path, name: str) -> None:
    if not compat.verified():
        pytest.skip(f"the fast paths are off on this install: {compat.unverified()}")
    fast_dir, public_dir = tmp_path / "fast", tmp_path / "public"
    fast_dir.mkdir()
    public_dir.mkdir()
    fast, public = run(SWEEPS[name], fast_dir, fast=True), run(SWEEPS[name], public_dir, fast=False)
    expect_ok = name != "failure"
    assert (fast.returncode == 0) == expect_ok, fast.stderr
    assert (public.returncode == 0) == expect_ok, public.stderr
    assert NOTICE not in fast.stderr
    assert public.stderr.count(NOTICE) == 1, public.stderr  # said once, however many jobs
    found, expected = run_files(public_dir), run_files(fast_dir)
    assert found.keys() == expected.keys()
    different = [key for key in expected if not _equal(found[key], expected[key])]
    assert not different, {key: (expected[key], found[key]) for key in different[:3]}
    assert len([key for key in expected if key.endswith("results.json")]) >= 2
