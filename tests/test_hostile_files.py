"""A sweep directory whose files were replaced by links, FIFOs, devices, directories or bombs, and
full or read-only disks: every case ends in one line naming the file and what to do, nothing is
written outside the sweep directory, nothing waits forever (launcher.run.files). Each case is in
the table of tests/README.md ("Hostile files"); each that could hang runs under a time bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from launcher.__main__ import main as launcher_main
from launcher.report import collect, status
from launcher.run import results
from launcher.run.files import FileProblem, make_directory, read_bounded
from launcher.run.jsonfile import write_json_atomic
from launcher.sweep.lock import SweepLock, is_swept
from launcher.sweep.manifest import COMPLETED, JOURNAL_FILE, MANIFEST_FILE, Manifest, ManifestError
from launcher.sweep.sweep_dir import refuse_linked_run_dirs
from support import REPO
from test_collect import fake_sweep

#: Every read here is of a few bytes: a case that takes longer is waiting on something.
BOUND_S = 20.0


def within(call: Callable[[], Any], seconds: float = BOUND_S) -> Any:
    """``call()``'s value (or exception), asserting that it came within ``seconds``: a thread
    waiting forever on a FIFO would otherwise hang the suite (it is left behind, a daemon)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{call} still running after {seconds} s: it waits on something"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A finished sweep of two completed jobs (with its lock file, as a sweep leaves it)."""
    directory = fake_sweep(tmp_path / "D", {"pynn_seed": ["1", "2"]})
    with SweepLock(directory):
        Manifest.load(directory).save()  # the jobs' ends in the manifest, as the sweep's last save writes them
    return directory


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text("precious\n")
    return path


def one_line(text: str) -> str:
    assert "\n" not in text.strip() and "Traceback" not in text, text
    return text


def run_dir_of(sweep: Path) -> Path:
    return next(p for p in sorted(sweep.iterdir()) if p.is_dir() and not p.name.startswith("."))


# --- links ----------------------------------------------------------------------------------------


def test_a_lock_file_linked_to_another_file_is_refused_and_the_file_untouched(sweep: Path, victim: Path) -> None:
    lock = sweep / ".sweep.lock"
    lock.unlink()
    lock.symlink_to(victim)
    with pytest.raises(FileProblem) as refused:
        SweepLock(sweep).acquire()
    assert "symbolic link" in one_line(str(refused.value)) and str(lock) in str(refused.value)
    assert not is_swept(sweep)
    assert victim.read_text() == "precious\n"


def test_atomic_writes_replace_a_link_rather_than_write_through_it(sweep: Path, victim: Path) -> None:
    path = run_dir_of(sweep) / results.RESULTS_FILE
    path.unlink()
    path.symlink_to(victim)
    write_json_atomic(path, {"state": "completed"})
    assert victim.read_text() == "precious\n" and not path.is_symlink()


def test_a_run_directory_that_is_a_link_is_read_as_damaged_and_refused_by_name(sweep: Path, tmp_path: Path) -> None:
    run_dir = run_dir_of(sweep)
    outside = tmp_path / "outside"
    run_dir.rename(outside)
    run_dir.symlink_to(outside)
    found = results.load_results(run_dir)
    assert "symbolic link" in found.why
    report = within(lambda: status.status(sweep))
    assert report.counts == {"completed": 1, "failed": 0, "running": 0, "pending": 0, "damaged": 1}
    jobs = Manifest.load(sweep).jobs
    with pytest.raises(FileProblem) as refused:
        refuse_linked_run_dirs(sweep, jobs)
    assert str(run_dir) in one_line(str(refused.value)) and "move it aside" in str(refused.value)


def test_a_link_in_a_run_directory_is_refused_by_name(sweep: Path, tmp_path: Path) -> None:
    # .hydra linked to an outside directory, or one of its files to an outside file: a job would
    # write through it (Hydra's basic launcher saves .hydra/*.yaml following links)
    run_dir, outside = run_dir_of(sweep), tmp_path / "outside"
    outside.mkdir()
    (outside / "config.yaml").write_text("precious\n")
    (run_dir / ".hydra").symlink_to(outside)
    jobs = Manifest.load(sweep).jobs
    with pytest.raises(FileProblem) as refused:
        refuse_linked_run_dirs(sweep, jobs)
    message = one_line(str(refused.value))
    assert message.startswith(f"{run_dir / '.hydra'}: a symbolic link in the run directory of job #") and "move it aside" in message
    (run_dir / ".hydra").unlink()
    (run_dir / ".hydra").mkdir()  # a link one level down
    (run_dir / ".hydra" / "config.yaml").symlink_to(outside / "config.yaml")
    with pytest.raises(FileProblem, match=r"\.hydra/config\.yaml: a symbolic link in the run directory"):
        refuse_linked_run_dirs(sweep, jobs)


@pytest.mark.usefixtures("hydra_restore_singletons")
@pytest.mark.parametrize("launcher", ["basic", "sequential"])
def test_a_sweep_run_again_over_a_linked_hydra_directory_writes_nothing_outside(hydra_sweep_runner: Any, tmp_path: Path, launcher: str) -> None:
    # The red team's case: <run>/.hydra a link to an outside directory, then the sweep again with
    # force=true, under Hydra's basic launcher (whose _save_config writes through links) and ours.
    def sweep_again(*overrides: str) -> None:
        hydra_sweep_runner(
            calling_file=None, calling_module="hydra.test_utils.a_module", task_function=None, config_path="configs",
            config_name="compose", overrides=["hydra/sweeper=mozaik", f"hydra/launcher={launcher}", "bar=1", *overrides],
            temp_dir=tmp_path / "D",
        ).__enter__()  # (its __exit__ removes the sweep directory)

    sweep_again()
    run_dir = next(path.parent for path in (tmp_path / "D").glob("*/.hydra"))
    outside = tmp_path / "outside"
    (run_dir / ".hydra").rename(outside)
    (run_dir / ".hydra").symlink_to(outside)
    before = {path.name: path.read_bytes() for path in outside.iterdir()}
    with pytest.raises(FileProblem, match=r"\.hydra: a symbolic link in the run directory of job #0"):
        sweep_again("hydra.sweeper.force=true")
    assert {path.name: path.read_bytes() for path in outside.iterdir()} == before


@pytest.mark.parametrize("name", [MANIFEST_FILE, "results.json"])
def test_a_link_to_dev_zero_is_refused_at_once(sweep: Path, name: str) -> None:
    path = sweep / name if name == MANIFEST_FILE else run_dir_of(sweep) / name
    path.unlink()
    path.symlink_to("/dev/zero")
    if name == MANIFEST_FILE:
        found = within(lambda: Manifest.read(sweep))
        assert isinstance(found, ManifestError) and "symbolic link" in str(found)
    else:
        assert "symbolic link" in within(lambda: results.load_results(path.parent)).why


# --- FIFOs, devices, directories -------------------------------------------------------------------


def fifo_in_place_of(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


def test_a_fifo_manifest_is_named_damaged_without_waiting(sweep: Path) -> None:
    fifo_in_place_of(sweep / MANIFEST_FILE)
    found = within(lambda: Manifest.read(sweep))
    assert isinstance(found, ManifestError) and "FIFO" in one_line(str(found)) and "move it aside" in str(found)
    report = within(lambda: status.status(sweep))  # the jobs of the run directories, the problem named
    assert "FIFO" in report.problem and report.counts["completed"] == 2


def test_a_fifo_results_json_is_damaged_without_waiting(sweep: Path) -> None:
    fifo_in_place_of(run_dir_of(sweep) / results.RESULTS_FILE)
    assert "FIFO" in within(lambda: results.load_results(run_dir_of(sweep))).why
    assert within(lambda: status.status(sweep)).counts["damaged"] == 1


def test_a_fifo_journal_leaves_the_manifest_s_states_without_waiting(sweep: Path) -> None:
    manifest = Manifest.load(sweep)
    manifest.save(at_most_every_s=1e-9)  # a manifest naming its journal
    fifo_in_place_of(sweep / JOURNAL_FILE)
    found = within(lambda: Manifest.read(sweep))
    assert not isinstance(found, ManifestError) and "FIFO" in found.journal_problem


@pytest.mark.parametrize("kind", ["FIFO", "directory"])
def test_a_lock_file_that_is_a_fifo_or_a_directory_is_one_line(sweep: Path, kind: str) -> None:
    lock = sweep / ".sweep.lock"
    if kind == "FIFO":
        fifo_in_place_of(lock)
    else:
        lock.unlink()
        lock.mkdir()
    with pytest.raises(FileProblem) as refused:
        within(lambda: SweepLock(sweep).acquire())
    assert str(lock) in one_line(str(refused.value)) and "move it aside" in str(refused.value)
    assert not within(lambda: is_swept(sweep))


def test_a_device_in_place_of_the_manifest_is_named(sweep: Path) -> None:
    path = sweep / MANIFEST_FILE
    path.unlink()
    try:
        os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero's numbers
    except PermissionError:
        pytest.skip("making a device node needs root")
    found = within(lambda: Manifest.read(sweep))
    assert isinstance(found, ManifestError) and "character device" in str(found)


def test_a_file_larger_than_its_kind_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / ".sweep.lock"
    with open(path, "wb") as f:
        f.truncate(10 << 20)  # sparse: 10 MB that take no room
    with pytest.raises(FileProblem, match="larger than a sweep lock file can be"):
        read_bounded(path, "sweep lock file")


# --- the sweep directory and the files collect writes ----------------------------------------------


def test_a_sweep_directory_that_is_a_file_or_under_one_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for path, words in ((tmp_path / "file", "choose another path"), (tmp_path / "file" / "D", "a part of its path is a file")):
        with pytest.raises(FileProblem) as refused:
            SweepLock(path).acquire()
        assert words in one_line(str(refused.value)) and str(path) in str(refused.value)


def test_a_read_only_sweep_directory_is_one_line(tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    try:
        with pytest.raises(FileProblem, match="read-only: choose a writable directory"):
            make_directory(mount / "D")
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_summary_csv_that_is_a_directory_is_one_line_and_exit_1(sweep: Path, capsys) -> None:
    (sweep / "summary.csv").mkdir()
    assert launcher_main(["collect", str(sweep)]) == 1
    err = capsys.readouterr().err
    assert "summary.csv" in one_line(err) and "summary.csv: a directory; a file belongs there" in err and "move it aside" in err


def test_status_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    # 3,000 failed jobs: some 400 KB of report, more than a pipe holds, so the writer meets the closed pipe.
    from launcher.sweep.manifest import FAILED, JobEntry

    sweep = tmp_path / "D"
    sweep.mkdir()
    Manifest(sweep, [JobEntry(n, [f"x={n}"], f"x={n}", "h", FAILED, error="boom " * 10) for n in range(3000)]).save()
    proc = subprocess.Popen(
        [sys.executable, "-m", "launcher", "status", str(sweep)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout.readline().startswith(b"Sweep ")
    proc.stdout.close()  # as `head -1` does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"BrokenPipe" not in err and b"Traceback" not in err, err


# --- bombs and full disks --------------------------------------------------------------------------


def test_a_task_returning_200000_metrics_records_none_with_a_message() -> None:
    from launcher.run.job import TaskResultError, single_values

    with pytest.raises(TaskResultError, match="at most 1,000 single values"):
        single_values({f"m{i}": 1.0 for i in range(200_000)})


def test_a_results_json_of_200000_metrics_is_damaged_and_collect_stays_quick(sweep: Path) -> None:
    import time

    path = run_dir_of(sweep) / results.RESULTS_FILE
    record = json.loads(path.read_text())
    record["metrics"] = {f"m{i}": 1.0 for i in range(200_000)}
    path.write_text(json.dumps(record))
    assert "200,000 metrics" in results.load_results(path.parent).why
    cpu = time.process_time()
    written = within(lambda: collect.collect(sweep), 120)
    assert time.process_time() - cpu < 30  # (it took minutes before the bound)
    assert any("200,000 metrics" in line for line in written.damaged)


def test_a_300_character_metric_name_gives_a_figure_name_within_limits(tmp_path: Path) -> None:
    name = "m" * 300
    sweep = fake_sweep(tmp_path / "D", {"sheets.V1.density": ["1", "2"]}, **{str(n): {"metrics": {name: float(n)}} for n in range(2)})
    written = collect.collect(sweep)
    long = [path for path in written.figures if path.name.startswith("summary_")]
    assert long and all(len(path.name) <= 200 for path in written.figures)
    assert name in (sweep / "summary.csv").read_text()


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 256 KB tmpfs (as tests/test_sweep_dir.py's small_disk), for what does not fit."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_recording_that_does_not_fit_is_an_enospc_naming_it_and_leaves_nothing(full_disk: Path) -> None:
    import neo
    import quantities as pq

    block = neo.Block()
    block.segments.append(neo.Segment())
    noise = np.random.default_rng(0).random((100_000, 1))  # 800 KB that do not compress
    block.segments[0].analogsignals.append(neo.AnalogSignal(noise * pq.mV, sampling_rate=10 * pq.kHz))
    with pytest.raises(FileProblem) as refused:
        results.write_recording(block, full_disk)
    assert "No space left on device" in one_line(str(refused.value)) and "recording.h5" in str(refused.value)
    assert list(full_disk.iterdir()) == []  # no temporary file, no partial recording


# --- true states ----------------------------------------------------------------------------------


def test_a_completed_job_whose_results_or_run_directory_vanished_is_missing(sweep: Path) -> None:
    import shutil

    first, second = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    (first / results.RESULTS_FILE).unlink()
    shutil.rmtree(second)
    report = status.status(sweep)
    assert report.counts.get("missing") == 2 and report.counts["completed"] == 0
    assert "missing:" in status.format_status(report)


def test_a_forged_journal_line_of_a_completed_job_without_a_run_directory_is_missing(sweep: Path) -> None:
    manifest = Manifest.load(sweep)
    manifest.save(at_most_every_s=1e-9)
    forged = {**manifest.jobs[0].as_dict(), "number": 15, "run_dir": "forged", "state": COMPLETED}
    with open(sweep / JOURNAL_FILE, "a") as journal:
        journal.write(json.dumps(forged) + "\n")
    report = status.status(sweep)
    assert report.counts["completed"] == 2 and report.counts.get("missing") == 1


@pytest.mark.parametrize("kind", ["FIFO", "directory", "garbage", "truncated"])
def test_a_study_file_that_is_not_a_study_is_one_line(tmp_path: Path, kind: str) -> None:
    from types import SimpleNamespace

    from launcher.sweep.optuna_sweeper import STUDY_FILE, FitSweeper
    from launcher.sweep.tree import ParameterError

    path = tmp_path / STUDY_FILE
    if kind == "FIFO":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(b"not a database at all\n" * 100)
    else:  # an SQLite file cut short, as a full disk would leave it
        import sqlite3

        with sqlite3.connect(path) as db:
            db.execute("create table t (x)")
            db.executemany("insert into t values (?)", [("x" * 100,)] * 200)
        path.write_bytes(path.read_bytes()[:3000])
    # The sweeper's study(), on a stand-in for its configured self: storage in the sweep directory.
    sweeper = SimpleNamespace(storage=None, study_name="s", sampler_spec=lambda: None, make_sampler=lambda spec, n: None)
    objective = SimpleNamespace(directions=["minimize"], targets=None)
    with pytest.raises((FileProblem, ParameterError)) as refused:
        within(lambda: FitSweeper.study(sweeper, tmp_path, objective))
    assert str(path) in one_line(str(refused.value)) and f"mv '{path}' '{path}.damaged'" in str(refused.value)


@pytest.mark.parametrize("target", ["/proc/kmsg", "/dev/zero", "fifo"])
def test_a_url_to_a_kernel_file_a_device_or_a_fifo_is_refused_without_waiting(tmp_path: Path, target: str) -> None:
    from launcher.mozaik.parameter_files import MozaikFormatError, read_parameters

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(target if target.startswith("/") else tmp_path / target)
    (tmp_path / "root.param").write_text("{'a': url('link')}\n")
    with pytest.raises(MozaikFormatError) as refused:
        within(lambda: read_parameters(tmp_path / "root.param", base_dir=tmp_path))
    assert "link" in one_line(str(refused.value))


def test_import_mozaik_into_a_path_under_a_file_is_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "root.param").write_text("{'a': 1}\n")
    (tmp_path / "file").write_text("")
    assert launcher_main(["import-mozaik", str(tmp_path / "root.param"), str(tmp_path / "file" / "out")]) == 1
    err = capsys.readouterr().err
    assert "a part of its path is a file" in one_line(err) and str(tmp_path / "file") in err


def test_a_job_s_log_holds_its_metrics_before_its_record_says_completed(tmp_path: Path, monkeypatch) -> None:
    import logging

    from omegaconf import OmegaConf

    import launcher.run.job as job_module

    log_file = tmp_path / "run_sim.log"
    handler = logging.FileHandler(log_file, delay=True)
    logging.getLogger().addHandler(handler)
    logged_when_recorded: list[str] = []
    write = job_module.write_json_atomic

    def record(path: Path, data: dict) -> None:  # what a kill -9 right before the record's rename would leave
        logged_when_recorded.append(log_file.read_text() if log_file.exists() else "")
        write(path, data)

    monkeypatch.setattr(job_module, "write_json_atomic", record)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    try:
        job_module.RecordedTask(lambda cfg: {"rate": 1.5})(OmegaConf.create({"a": 1}), tmp_path / "run", ["a=1"])
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(previous)
        handler.close()
    assert json.loads((tmp_path / "run" / "results.json").read_text())["state"] == "completed"
    assert len(logged_when_recorded) == 1 and "Metrics: {'rate': 1.5}" in logged_when_recorded[0]


def test_a_fit_s_trial_left_running_by_a_killed_fit_is_not_said_to_run_again(tmp_path: Path) -> None:
    from launcher.sweep.manifest import RUNNING, JobEntry

    manifest = Manifest(tmp_path, [JobEntry(0, ["x=1"], "x=1", "h", RUNNING)], fit={"metrics": ["m"], "directions": ["minimize"]})
    manifest.settle(swept=False)  # as status after a kill -9: no process holds the directory
    job = manifest.jobs[0]
    assert job.state == "interrupted" and "samples new trials" in job.error and "runs it" not in job.error
    report = status.StatusReport(tmp_path, manifest.counts(), [], "run_sim.log", interrupted=[job], fit=True)
    assert "Interrupted trials (not counted" in status.format_status(report)


def test_multirun_yaml_linked_to_another_file_is_replaced_not_written_through(sweep: Path, victim: Path) -> None:
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from launcher.sweep.sweeper import ValidatingSweeper

    (sweep / "multirun.yaml").symlink_to(victim)
    ValidatingSweeper.save_config(SimpleNamespace(config=OmegaConf.create({"a": 1})), sweep)
    assert victim.read_text() == "precious\n" and OmegaConf.load(sweep / "multirun.yaml") == {"a": 1}


LOSS_APP = """
import hydra
import launcher  # noqa: F401  (the run_dirname resolver; Hydra finds the sweeper)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    return {"loss": float(cfg.x)}


if __name__ == "__main__":
    main()
"""


def test_a_fit_trial_whose_run_directory_holds_a_link_fails_alone_and_writes_nothing_outside(tmp_path: Path) -> None:
    # A grid swept into the directory first (a fit takes its results), then a trial's .hydra linked outside.
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("x: 0\n")
    (tmp_path / "app.py").write_text(LOSS_APP)
    sweep, env = tmp_path / "S", {**os.environ, "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "0"}
    grid = subprocess.run([sys.executable, "app.py", "-m", "hydra/sweeper=mozaik", "x=1,2", f"hydra.sweep.dir={sweep}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert grid.returncode == 0, grid.stderr
    outside = tmp_path / "outside"
    (sweep / "x=1" / ".hydra").rename(outside)
    (sweep / "x=1" / ".hydra").symlink_to(outside)
    before = {path.name: path.read_bytes() for path in outside.iterdir()}
    fit = subprocess.run([sys.executable, "app.py", "-m", "hydra/sweeper=mozaik_fit", "objective=loss", "hydra.sweeper.n_trials=3",
                          "hydra.sweeper.n_jobs=3", "hydra.sweeper.collect=false", "hydra.sweeper.sampler.seed=1", "x=choice(1,2,3)",
                          f"hydra.sweep.dir={sweep}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert fit.returncode == 0, fit.stderr  # a fit goes on past its failed trials
    assert ".hydra: a symbolic link in the run directory of job #" in fit.stdout + fit.stderr, fit.stdout + fit.stderr
    jobs = json.loads((sweep / "manifest.json").read_text())["jobs"]
    refused = [job for job in jobs if job["state"] == "failed"]
    assert [job["overrides"] for job in refused] == [["x=1"]] and "symbolic link" in refused[0]["error"], [(j["number"], j["overrides"], j["state"], j["error"]) for j in jobs]
    assert {path.name: path.read_bytes() for path in outside.iterdir()} == before
