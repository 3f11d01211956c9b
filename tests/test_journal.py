"""The manifest's journal: while jobs run, their changes are appended to ``manifest.journal``
instead of rewriting ``manifest.json``; readers fold the journal in; compaction, a sweep's end,
a journal left over, cut short or damaged, and a failed append."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.sweep import manifest as manifest_module
from launcher.sweep.manifest import (
    COMPLETED, DAMAGED, FAILED, INTERRUPTED, JOURNAL_FILE, MANIFEST_FILE, PENDING, RUNNING, JobEntry, Manifest, ManifestError
)  # fmt: skip
from launcher.sweep.sweep_dir import manifest_stamp
from support import REPO

#: A throttle that lets every save through (the sweep's is a second).
EVERY_TIME = 1e-9


def planned(sweep_dir: Path, count: int = 4) -> Manifest:
    """A manifest of ``count`` pending jobs, written whole as a sweep does after planning."""
    jobs = [JobEntry(i, [f"pynn_seed={i}"], f"pynn_seed={i}", f"hash{i}") for i in range(count)]
    manifest = Manifest(sweep_dir, jobs)
    manifest.save()
    return manifest


def change(manifest: Manifest, index: int, **fields: object) -> None:
    """Set fields of one job and save as the sweep does while jobs run (to the journal)."""
    job = manifest.jobs[index]
    for name, value in fields.items():
        setattr(job, name, value)
    manifest.changed(job)
    manifest.save(at_most_every_s=EVERY_TIME)


def on_disk(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / MANIFEST_FILE).read_text())


def journal_lines(sweep_dir: Path) -> list[bytes]:
    return (sweep_dir / JOURNAL_FILE).read_bytes().split(b"\n")


def states(sweep_dir: Path) -> list[str]:
    found = Manifest.read(sweep_dir)
    assert not isinstance(found, ManifestError), found
    return [job.state for job in found.jobs]


def test_changes_are_appended_to_the_journal_and_read_back_without_rewriting_the_manifest(tmp_path: Path) -> None:
    manifest = planned(tmp_path)
    assert on_disk(tmp_path)["journal"] is None and not (tmp_path / JOURNAL_FILE).exists()
    manifest.save(at_most_every_s=EVERY_TIME)  # the first save while jobs run starts a journal
    token = on_disk(tmp_path)["journal"]
    assert token and journal_lines(tmp_path) == [json.dumps({"journal": token, "of": MANIFEST_FILE}).encode(), b""]
    written = (tmp_path / MANIFEST_FILE).stat()

    manifest.jobs[1].state, manifest.jobs[1].started = RUNNING, "2026-11-30T08:00:00+00:00"
    manifest.changed(manifest.jobs[1])
    manifest.save(at_most_every_s=EVERY_TIME)
    manifest.jobs[1].state, manifest.jobs[2].state, manifest.jobs[2].error = COMPLETED, FAILED, "boom"
    manifest.changed(manifest.jobs[1], manifest.jobs[2])
    manifest.save(at_most_every_s=EVERY_TIME)
    manifest.save(at_most_every_s=EVERY_TIME)  # nothing changed: nothing written

    after = (tmp_path / MANIFEST_FILE).stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (written.st_ino, written.st_mtime_ns, written.st_size)
    assert len(journal_lines(tmp_path)) == 1 + 3 + 1  # header, three changed entries, the last newline
    found = Manifest.read(tmp_path)
    assert not isinstance(found, ManifestError)
    assert [job.state for job in found.jobs] == ["pending", COMPLETED, FAILED, "pending"]
    assert found.jobs[1].started == "2026-11-30T08:00:00+00:00" and found.jobs[2].error == "boom"
    assert found.journal_problem is None


def test_a_throttled_save_writes_nothing_until_its_interval_has_passed(tmp_path: Path) -> None:
    manifest = planned(tmp_path)
    manifest.save(at_most_every_s=EVERY_TIME)
    manifest.jobs[0].state = COMPLETED
    manifest.changed(manifest.jobs[0])
    manifest.save(at_most_every_s=3600)
    assert states(tmp_path)[0] == "pending"
    manifest.save()  # the sweep's end: written whole, with what waited
    assert states(tmp_path)[0] == COMPLETED


def test_the_journal_is_compacted_into_the_manifest_when_it_grows_as_long_as_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest_module, "COMPACT_AFTER_LINES", 2)
    manifest = planned(tmp_path, count=3)
    manifest.save(at_most_every_s=EVERY_TIME)
    first = on_disk(tmp_path)["journal"]
    for job in manifest.jobs:  # three lines: as many as the sweep has jobs
        job.state = RUNNING
        manifest.changed(job)
        manifest.save(at_most_every_s=EVERY_TIME)
    assert on_disk(tmp_path)["journal"] == first and len(journal_lines(tmp_path)) == 5
    manifest.jobs[0].state = COMPLETED
    manifest.changed(manifest.jobs[0])
    manifest.save(at_most_every_s=EVERY_TIME)  # a fourth would be more lines than jobs: written whole
    data = on_disk(tmp_path)
    assert data["journal"] not in (None, first)
    assert [job["state"] for job in data["jobs"]] == [COMPLETED, RUNNING, RUNNING]
    assert journal_lines(tmp_path) == [json.dumps({"journal": data["journal"], "of": MANIFEST_FILE}).encode(), b""]
    assert states(tmp_path) == [COMPLETED, RUNNING, RUNNING]


def test_the_sweeps_end_writes_the_manifest_whole_and_removes_the_journal(tmp_path: Path) -> None:
    manifest = planned(tmp_path)
    manifest.save(at_most_every_s=EVERY_TIME)
    change(manifest, 3, state=COMPLETED)
    manifest.save()
    assert on_disk(tmp_path)["journal"] is None and not (tmp_path / JOURNAL_FILE).exists()
    assert on_disk(tmp_path)["jobs"][3]["state"] == COMPLETED


def test_a_journal_the_manifest_does_not_name_is_left_out(tmp_path: Path) -> None:
    """A compaction cut short between its two files: the manifest holds every change already."""
    manifest = planned(tmp_path)
    manifest.save(at_most_every_s=EVERY_TIME)
    change(manifest, 0, state=FAILED)
    old_journal = (tmp_path / JOURNAL_FILE).read_bytes()
    manifest.jobs[0].state = COMPLETED
    manifest.save(at_most_every_s=0)
    manifest.save(at_most_every_s=EVERY_TIME)  # a new journal, named by the manifest
    (tmp_path / JOURNAL_FILE).write_bytes(old_journal)  # as if the new one had never been written
    assert states(tmp_path)[0] == COMPLETED
    (tmp_path / JOURNAL_FILE).unlink()  # or the sweep stopped before writing it
    assert states(tmp_path)[0] == COMPLETED


def test_a_last_line_cut_short_is_left_out_without_a_word(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manifest = planned(tmp_path)
    manifest.save(at_most_every_s=EVERY_TIME)
    change(manifest, 0, state=COMPLETED)
    with open(tmp_path / JOURNAL_FILE, "ab") as f:  # a sweep killed while it appended
        f.write(json.dumps(dict(manifest.jobs[1].as_dict(), state=FAILED)).encode()[:40])
    with caplog.at_level(logging.WARNING):
        found = Manifest.read(tmp_path)
    assert not isinstance(found, ManifestError)
    assert [job.state for job in found.jobs][:2] == [COMPLETED, "pending"]
    assert found.journal_problem is None and not caplog.records


@pytest.mark.parametrize(
    "bad_line, why",
    [
        (b"{not json", "not a JSON line"),
        (b"\xff\xfe", "not a JSON line"),
        (b"[1, 2]", "[1, 2] is not an object"),
        (json.dumps({"number": 1, "overrides": [], "run_dir": "../x", "config_hash": "h"}).encode(), "'run_dir'"),
        (json.dumps({"number": 1, "overrides": [], "run_dir": "a", "config_hash": "h", "colour": 1}).encode(), "unknown field"),
    ],
)
def test_a_damaged_line_stops_the_folding_there_and_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad_line: bytes, why: str
) -> None:
    manifest = planned(tmp_path)
    manifest.save(at_most_every_s=EVERY_TIME)
    change(manifest, 0, state=COMPLETED)
    with open(tmp_path / JOURNAL_FILE, "ab") as f:
        f.write(bad_line + b"\n" + json.dumps(dict(manifest.jobs[2].as_dict(), state=FAILED)).encode() + b"\n")
    with caplog.at_level(logging.WARNING):
        found = Manifest.read(tmp_path)
    assert not isinstance(found, ManifestError)
    assert [job.state for job in found.jobs] == [COMPLETED, "pending", "pending", "pending"]  # line 4 left out
    assert found.journal_problem and f"{JOURNAL_FILE}, line 3: " in found.journal_problem and why in found.journal_problem
    assert "left out" in found.journal_problem and found.journal_problem in caplog.text


def test_a_journal_giving_two_jobs_one_run_directory_makes_the_manifest_damaged(tmp_path: Path) -> None:
    manifest = planned(tmp_path)
    manifest.save(at_most_every_s=EVERY_TIME)
    with open(tmp_path / JOURNAL_FILE, "ab") as f:
        f.write(json.dumps(dict(manifest.jobs[1].as_dict(), run_dir=manifest.jobs[0].run_dir)).encode() + b"\n")
    found = Manifest.read(tmp_path)
    assert isinstance(found, ManifestError) and found.kind == ManifestError.DAMAGED
    assert JOURNAL_FILE in str(found) and "two jobs have the same run_dir" in str(found)


def test_a_failed_append_makes_the_next_save_write_the_manifest_whole(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manifest = planned(tmp_path)
    manifest.save(at_most_every_s=EVERY_TIME)
    (tmp_path / JOURNAL_FILE).unlink()
    (tmp_path / JOURNAL_FILE).mkdir()  # appending to it fails
    manifest.jobs[0].state = COMPLETED
    manifest.changed(manifest.jobs[0])
    with caplog.at_level(logging.WARNING):
        manifest.save(at_most_every_s=EVERY_TIME)
    assert "Could not append to" in caplog.text and "written whole at the next save" in caplog.text
    (tmp_path / JOURNAL_FILE).rmdir()
    manifest.save(at_most_every_s=EVERY_TIME)
    assert on_disk(tmp_path)["jobs"][0]["state"] == COMPLETED and len(journal_lines(tmp_path)) == 2


def test_a_manifest_written_before_the_journal_still_reads(tmp_path: Path) -> None:
    manifest = planned(tmp_path)
    data = on_disk(tmp_path)
    data["version"] = 1
    del data["journal"]
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(data))
    assert [job.number for job in Manifest.load(tmp_path).jobs] == [job.number for job in manifest.jobs]


def test_the_stamp_that_tells_another_sweeps_writes_covers_the_journal(tmp_path: Path) -> None:
    manifest = planned(tmp_path)
    manifest.save(at_most_every_s=EVERY_TIME)
    before = manifest_stamp(tmp_path)
    change(manifest, 0, state=COMPLETED)
    assert manifest_stamp(tmp_path) != before
    assert manifest_stamp(tmp_path / "none") == (None, None)


def test_a_sweep_killed_while_jobs_run_leaves_a_journal_that_status_reads(tmp_path: Path) -> None:
    """A real sweep: its jobs write their states to the journal as they end; killed, the
    manifest on disk is the one written when the jobs started, the journal says the rest."""
    sweep_dir = tmp_path / "D"
    app = tmp_path / "app.py"
    app.write_text(
        "import os, signal, time\n"
        "import hydra\n"
        "import launcher  # the project's sweeper and launchers\n"
        f"@hydra.main(version_base='1.3', config_path={str(REPO / 'conf')!r}, config_name='config')\n"
        "def main(cfg):\n"
        # Longer than the second between the sweep's writes: the end of job 2 is written (the
        # manifest, whole, as its journal starts), then that of job 4 (to the journal).
        "    if cfg.pynn_seed in (2, 4):\n"
        "        time.sleep(1.2)\n"
        "    if cfg.pynn_seed == 5:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)  # the sequential launcher runs jobs in the sweep's process\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    proc = subprocess.run(
        [sys.executable, str(app), "-m", "pynn_seed=1,2,3,4,5,6", f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.returncode == -9, proc.stderr
    data = on_disk(sweep_dir)
    assert data["journal"] and [job["state"] for job in data["jobs"]][1:4] == [COMPLETED, "pending", "pending"]
    assert (sweep_dir / JOURNAL_FILE).exists()
    found = Manifest.read(sweep_dir)
    assert not isinstance(found, ManifestError)
    assert [job.state for job in found.jobs] == [COMPLETED] * 4 + ["pending"] * 2
    report = subprocess.run(
        [sys.executable, "-m", "launcher", "status", str(sweep_dir)], cwd=REPO, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    # Job 5 was killed in its run directory; job 6 never started (no run directory, no log to point to).
    assert "6 jobs: 4 completed, 0 failed, 0 running, 0 pending, 1 interrupted, 1 unstarted" in report.stdout, report.stdout + report.stderr
    assert "Jobs that never started (running the sweep again runs them):\n  #5 pynn_seed=6" in report.stdout, report.stdout


# --- a manifest rebuilt from the run directories (Manifest.rebuild, jobs_on_disk) ----------------


def test_a_rebuilt_manifest_holds_the_jobs_of_the_run_directories_in_name_order(tmp_path: Path) -> None:
    def run_dir(name: str, text: str | None) -> None:
        (tmp_path / name).mkdir()
        if text is not None:
            (tmp_path / name / "results.json").write_text(text)

    def record(state: str, overrides: list[str], **more: object) -> str:
        return json.dumps({"state": state, "metrics": {}, "overrides": overrides, "config_hash": "hash_" + overrides[0], **more})

    run_dir("b=2", record(COMPLETED, ["b=2"], timings={"started": "s", "finished": "f"}))
    run_dir("a=1", record(FAILED, ["a=1"], error="ValueError: boom"))
    run_dir("c=3", "{not json")
    run_dir("d=4", None)  # a job that never wrote its results.json: not known
    run_dir(".e=5", record(COMPLETED, [".e=5"]))  # a hidden directory: not a run directory
    (tmp_path / "summary.csv").write_text(record(COMPLETED, ["f=6"]))  # a file, not a run directory
    rebuilt = Manifest.rebuild(tmp_path, job_log="app.log")
    assert rebuilt.rebuilt and rebuilt.job_log == "app.log"
    found = [(j.number, j.run_dir, j.overrides, j.config_hash, j.state, j.error) for j in rebuilt.jobs]
    assert found == [
        (0, "a=1", ["a=1"], "hash_a=1", FAILED, "ValueError: boom"),
        (1, "b=2", ["b=2"], "hash_b=2", COMPLETED, None),
        (2, "c=3", [], "", DAMAGED, None),
    ]
    assert (rebuilt.jobs[1].started, rebuilt.jobs[1].finished) == ("s", "f")
    assert "results.json" in rebuilt.jobs[2].damage
    assert Manifest.rebuild(tmp_path / "nowhere").jobs == []


def test_jobs_an_ended_sweep_left_pending_or_running_are_interrupted_unless_slurm_holds_them(tmp_path: Path) -> None:
    def left(swept: bool) -> list[str]:
        jobs = [JobEntry(i, [f"a={i}"], f"a={i}", f"hash{i}", state) for i, state in enumerate((PENDING, RUNNING, COMPLETED, FAILED))]
        jobs.append(JobEntry(4, ["a=4"], "a=4", "hash4", RUNNING, slurm_job_id="7_4"))  # still Slurm's
        manifest = Manifest(tmp_path, jobs, sweeper={"pid": 12, "host": "h", "started": "t"})
        manifest.settle(swept=swept)
        assert all(job.error is None for job in manifest.jobs if job.state != INTERRUPTED)
        assert all("interrupted: its sweep (pid 12 on h, started t) ended" in job.error for job in manifest.jobs if job.state == INTERRUPTED)
        return [job.state for job in manifest.jobs]

    assert left(swept=False) == [INTERRUPTED, INTERRUPTED, COMPLETED, FAILED, RUNNING]
    assert left(swept=True) == [PENDING, RUNNING, COMPLETED, FAILED, RUNNING]  # another process sweeps: they are its
