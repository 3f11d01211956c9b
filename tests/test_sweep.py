"""Sweep lifecycle with the basic launcher: manifest, resume, force, plan mode, progress."""

import json
from pathlib import Path

from launcher.sweep.manifest import Manifest
from support import run_cli, run_launcher_cli

FAST = ["experiment.spontaneous_duration=20"]


def snapshot(run_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")}


def sweep(tmp_path, *args):
    return run_cli(["-m", *args, *FAST, f"hydra.sweep.dir={tmp_path / 'D'}"], cwd=tmp_path)


def test_manifest_lists_every_job_with_its_state(tmp_path):
    proc = sweep(tmp_path, "sheets.V1.density=1,2,3")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "D" / "manifest.json").read_text())
    jobs = manifest["jobs"]
    assert [j["number"] for j in jobs] == [0, 1, 2]
    for job in jobs:
        assert job["state"] == "completed" and job["started"] and job["finished"]
        record = json.loads((tmp_path / "D" / job["run_dir"] / "results.json").read_text())
        assert record["config_hash"] == job["config_hash"] and record["overrides"] == job["overrides"]
    assert "Progress: 3/3 jobs done (0 failed)" in proc.stdout + proc.stderr


def test_resume_runs_only_what_is_missing_and_leaves_the_rest_untouched(tmp_path):
    assert sweep(tmp_path, "sheets.V1.density=1,2,3").returncode == 0
    d = tmp_path / "D"
    missing = next(p for p in d.iterdir() if p.name.endswith("density=2"))
    (missing / "results.json").unlink()
    others = {p.name: snapshot(p) for p in d.iterdir() if p.is_dir() and p != missing and not p.name.startswith(".")}

    proc = sweep(tmp_path, "sheets.V1.density=1,2,3")
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert "Resuming: 2 of 3 jobs already completed, 1 to run" in output
    assert "Launching 1 jobs locally" in output and output.count("Launching") == 1
    assert (missing / "results.json").exists()
    for name, before in others.items():
        assert snapshot(d / name) == before, name
    assert Manifest.load(d).counts()["completed"] == 3


def test_force_reruns_everything(tmp_path):
    assert sweep(tmp_path, "sheets.V1.density=1,2").returncode == 0
    results = sorted((tmp_path / "D").glob("*/results.json"))
    before = [p.stat().st_mtime_ns for p in results]
    proc = sweep(tmp_path, "sheets.V1.density=1,2", "hydra.sweeper.force=true")
    assert proc.returncode == 0, proc.stderr
    assert all(a != p.stat().st_mtime_ns for a, p in zip(before, results))


def test_a_changed_config_is_not_taken_as_done(tmp_path):
    assert sweep(tmp_path, "sheets.V1.density=1,2").returncode == 0
    record_path = next((tmp_path / "D").glob("*density=1/results.json"))
    record = json.loads(record_path.read_text())
    record["config_hash"] = "another-config"
    record_path.write_text(json.dumps(record))
    proc = sweep(tmp_path, "sheets.V1.density=1,2")
    assert "Resuming: 1 of 2 jobs already completed, 1 to run" in proc.stdout + proc.stderr


def test_failed_jobs_run_again_on_resume(tmp_path):
    first = sweep(tmp_path, "simulator=nest,nosuchsim", "sheets.V1.density=2")
    assert first.returncode != 0
    manifest = Manifest.load(tmp_path / "D")
    assert manifest.counts() == {"pending": 0, "running": 0, "completed": 1, "failed": 1}
    failed = next(j for j in manifest.jobs if j.state == "failed")
    assert "cannot import pyNN.nosuchsim" in failed.error
    second = sweep(tmp_path, "simulator=nest,nosuchsim", "sheets.V1.density=2")
    assert "Resuming: 1 of 2 jobs already completed, 1 to run" in second.stdout + second.stderr


def test_plan_mode_lists_jobs_and_runs_nothing(tmp_path):
    assert sweep(tmp_path, "sheets.V1.density=1,2").returncode == 0
    proc = sweep(tmp_path, "sheets.V1.density=1,2,3", "hydra.sweeper.plan=true")
    assert proc.returncode == 0, proc.stderr
    assert "1 of 3 jobs would run" in proc.stdout
    assert "completed  skip" in proc.stdout and "pending    run" in proc.stdout
    assert not any("density=3" in p.name for p in (tmp_path / "D").iterdir())
    fresh = run_cli(["-m", "sheets.V1.density=1", "hydra.sweeper.plan=true", f"hydra.sweep.dir={tmp_path / 'new'}"], cwd=tmp_path)
    assert fresh.returncode == 0 and not (tmp_path / "new").exists()


def test_sweeps_are_collected_into_a_table_and_figures(tmp_path):
    d = tmp_path / "D"
    assert sweep(tmp_path, "sheets.V1.density=1,2,3").returncode == 0
    table = (d / "summary.csv").read_text().splitlines()
    assert len(table) == 4 and "sheets.V1.density" in table[0] and "rate_exc_hz" in table[0]
    assert (d / "summary_sheets.V1.density.png").read_bytes().startswith(b"\x89PNG")

    grid = ["sheets.V1.density=1,2", "experiment.kick.rate=50,100"]
    assert run_cli(["-m", *grid, *FAST, f"hydra.sweep.dir={tmp_path / 'E'}"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "E" / "heatmap_rate_exc_hz.png").exists()
    cube = [*grid, "sheets.V1.exc_fraction=0.5,0.8"]
    assert run_cli(["-m", *cube, *FAST, f"hydra.sweep.dir={tmp_path / 'F'}"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "F" / "facets_rate_exc_hz.png").exists()
    assert len((tmp_path / "F" / "summary.csv").read_text().splitlines()) == 9


def test_status_and_collect_keep_a_failed_job(tmp_path):
    assert sweep(tmp_path, "simulator=nest,nosuchsim", "sheets.V1.density=2").returncode != 0
    status = run_launcher_cli("status", tmp_path / "D", cwd=tmp_path)
    assert "1 completed, 1 failed" in status.stdout
    assert "simulator=nosuchsim" in status.stdout and "cannot import pyNN.nosuchsim" in status.stdout
    assert "run_sim.log" in status.stdout
    rows = (tmp_path / "D" / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and any(",failed," in row for row in rows)
