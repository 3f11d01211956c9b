"""The sweep directory is the project's: never the root or the home directory, never a folder of
someone else's files, and run directories stay inside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import run_cli, run_launcher_cli

QUICK = ["sheets.V1.density=2", "experiment.spontaneous_duration=10"]


@pytest.mark.parametrize("where", ["/", "~"])
def test_the_root_and_the_home_directory_are_refused(tmp_path: Path, where: str) -> None:
    before = sorted(p.name for p in Path(where).expanduser().iterdir())
    proc = run_cli(["-m", *QUICK, f"hydra.sweep.dir={Path(where).expanduser()}"], cwd=tmp_path)
    assert proc.returncode != 0 and "The sweep was refused; nothing was run or written" in proc.stderr
    assert "the root of the file system" in proc.stderr or "the home directory" in proc.stderr
    assert sorted(p.name for p in Path(where).expanduser().iterdir()) == before


def test_a_folder_of_other_files_is_refused_unless_allowed(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    own_run = mine / "experiment.spontaneous_duration=10,sheets.V1.density=2"
    own_run.mkdir(parents=True)
    (mine / "summary.csv").write_text("my table\n")
    (own_run / "results.json").write_text(json.dumps({"my": "results"}))
    proc = run_cli(["-m", *QUICK, f"hydra.sweep.dir={mine}"], cwd=tmp_path)
    assert proc.returncode != 0 and "holds files but no sweep of this program" in proc.stderr
    assert "hydra.sweeper.allow_non_empty=true" in proc.stderr and "Traceback" not in proc.stderr
    assert (mine / "summary.csv").read_text() == "my table\n"
    assert json.loads((own_run / "results.json").read_text()) == {"my": "results"}
    assert sorted(p.name for p in mine.iterdir()) == [own_run.name, "summary.csv"]

    allowed = run_cli(["-m", *QUICK, f"hydra.sweep.dir={mine}", "hydra.sweeper.allow_non_empty=true"], cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads((own_run / "results.json").read_text())["state"] == "completed"


def test_a_sweep_directory_whose_manifest_was_lost_is_still_a_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "D"
    assert run_cli(["-m", *QUICK, f"hydra.sweep.dir={sweep}"], cwd=tmp_path).returncode == 0
    (sweep / "manifest.json").unlink()
    again = run_cli(["-m", *QUICK, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Resuming: 1 of 1 jobs already completed, 0 to run" in again.stdout + again.stderr


def test_run_directories_stay_inside_the_sweep_directory(tmp_path: Path) -> None:
    sweep = tmp_path / "D"
    proc = run_cli(["-m", *QUICK, "pynn_seed=1,2", f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=../escaped_${hydra.job.num}"], cwd=tmp_path)
    assert proc.returncode != 0 and "is not inside the sweep directory" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 300 KB file system (tmpfs), mounted for the test: room for a sweep's files and two small recordings, not three."""
    import shutil
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True
    ).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root and a kernel that allows it here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=basic"]], ids=["default", "basic"])
def test_a_full_disk_fails_the_job_and_the_sweep_reports_it(small_disk: Path, tmp_path: Path, launcher: list) -> None:
    sweep = small_disk / "S"
    # The red team's reproduction (with 3 jobs rather than 6): 300 cells for 200 ms, run directories of
    # some 100 KB: the third does not fit. It ended in a segfault, exit 139 (HDF5 objects left half-closed
    # by an ENOSPC, released by the garbage collector); under the basic launcher, in a traceback.
    proc = run_cli(["-m", "pynn_seed=1,2,3", "sheets.V1.sx=300", "sheets.V1.sy=300", "experiment.spontaneous_duration=200",
                    *launcher, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Segmentation fault" not in proc.stderr and "--- Logging error ---" not in proc.stderr, proc.stderr[-3000:]
    assert "jobs failed (the other results are complete)" in proc.stderr
    assert "No space left on device" in proc.stderr.split("jobs failed (the other results are complete)")[1]
    json.loads((sweep / "manifest.json").read_text())  # still whole: its last version
    status = run_launcher_cli("status", sweep)  # no job left running or pending by the ended sweep
    assert status.returncode == 0 and "0 running, 0 pending" in status.stdout.splitlines()[0], status.stdout
