"""Damaged sweep files are reported, never fatal: results.json and manifest.json of any content
through their readers, ``python -m launcher status|collect`` and the sweep run again; sweeps that
add jobs to a directory; jobs that would run one tree twice."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from launcher.report import status as report_status
from launcher.report import table as report_table
from launcher.run.jsonfile import Damage
from launcher.sweep.manifest import COMPLETED, DAMAGED, FAILED, JobEntry, Manifest, ManifestError
from launcher.run.results import load_results
from support import run_cli, run_launcher_cli
from test_collect import METRICS, fake_job, fake_sweep

#: Real jobs that take well under a second each.
FAST = ["experiment.spontaneous_duration=10", "sheets.V1.density=2"]
SEEDS = ["pynn_seed=1,2,3"]


def sweep(sweep_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """``python run_sim.py -m ARGS`` of the fast model into ``sweep_dir``."""
    return run_cli(["-m", *args, *FAST, f"hydra.sweep.dir={sweep_dir}"], cwd=sweep_dir.parent)


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def no_traceback(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def mtimes(sweep_dir: Path) -> dict[str, int]:
    """When each run directory's results.json was written."""
    return {p.name: (p / "results.json").stat().st_mtime_ns for p in run_dirs(sweep_dir) if (p / "results.json").exists()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep of three jobs, all completed: copied by each test that damages it."""
    sweep_dir = tmp_path_factory.mktemp("finished") / "D"
    proc = sweep(sweep_dir, *SEEDS)
    assert proc.returncode == 0, proc.stderr
    return sweep_dir


@pytest.fixture
def copy(finished: Path, tmp_path: Path) -> Path:
    sweep_dir = tmp_path / "D"
    shutil.copytree(finished, sweep_dir)
    return sweep_dir


# --- what can be wrong with a file ----------------------------------------------------------------


def _record(original: bytes, **changes: object) -> bytes:
    return json.dumps({**json.loads(original), **changes}).encode()


def _without(original: bytes, field: str) -> bytes:
    record = json.loads(original)
    del record[field]
    return json.dumps(record).encode()


#: Damaged contents of a results.json, from the job's own: name -> (content, what the message says).
RESULTS_DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "not UTF-8": (lambda _: b"\xff", "not UTF-8"),
    "a list": (lambda _: b"[1,2]", "not a JSON object but a list"),
    "truncated": (lambda original: original[: len(original) // 2], "not valid JSON"),
    "empty object": (lambda _: b"{}", "'state' is missing"),
    "state a number": (lambda _: b'{"state": 5}', "'state' holds 5"),
    "state unknown": (lambda original: _record(original, state="done"), "'state' holds \"done\""),
    "metrics not numbers": (lambda original: _record(original, metrics={"rate_exc_hz": "fast"}), "mapping of names to numbers"),
    "metrics a list": (lambda original: _record(original, metrics=[1.0]), "mapping of names to numbers"),
    "config_hash a number": (lambda original: _record(original, config_hash=5), "'config_hash' holds 5"),
    "no config_hash": (lambda original: _without(original, "config_hash"), "'config_hash' is missing"),
    "timings a list": (lambda original: _record(original, timings=[]), "'timings' holds []"),
    "overrides with a lone surrogate": (lambda original: original.replace(b'"pynn_seed=', b'"\\ud800pynn_seed='), "'overrides'"),
    "nested too deeply": (lambda _: b"[" * 100_000, "nested too deeply"),
    "an integer too long": (lambda _: b'{"state": ' + b"1" * 5000 + b"}", "not valid JSON"),
}


def _manifest(original: bytes, change: Callable[[dict], object]) -> bytes:
    data = json.loads(original)
    change(data)
    return json.dumps(data).encode()


#: Damaged contents of a manifest.json: name -> (content from the sweep's own, what the message says).
MANIFEST_DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "truncated": (lambda original: original[: len(original) // 2], "not valid JSON"),
    "not UTF-8": (lambda _: b"\xff\xfe{}", "not UTF-8"),
    "a list": (lambda _: b"[]", "not a JSON object but a list"),
    "unknown field": (lambda original: _manifest(original, lambda d: d.update(mine=1)), 'unknown field "mine"'),
    "unknown job field": (lambda original: _manifest(original, lambda d: d["jobs"][1].update(mine=1)), "job 1 of the list: unknown field"),
    "no jobs": (lambda original: _manifest(original, lambda d: d.pop("jobs")), "'jobs' is missing"),
    "jobs not a list": (lambda original: _manifest(original, lambda d: d.update(jobs="x")), "'jobs' holds \"x\""),
    "a job not an object": (lambda original: _manifest(original, lambda d: d["jobs"].append(3)), "job 3 of the list: 3 is not an object"),
    "number a string": (lambda original: _manifest(original, lambda d: d["jobs"][0].update(number="0")), "'number' holds \"0\""),
    "state unknown": (lambda original: _manifest(original, lambda d: d["jobs"][2].update(state="done")), "'state' holds \"done\""),
    "run_dir outside": (lambda original: _manifest(original, lambda d: d["jobs"][0].update(run_dir="../x")), "inside the sweep directory"),
    "two jobs numbered alike": (lambda original: _manifest(original, lambda d: d["jobs"][1].update(number=0)), "same number"),
    "another version": (lambda original: _manifest(original, lambda d: d.update(version=3)), "'version' holds 3, not 1 or 2"),
    "a boolean version": (lambda original: _manifest(original, lambda d: d.update(version=True)), "'version' holds true"),
}


# --- the readers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RESULTS_DAMAGE)
def test_a_damaged_results_json_is_read_as_damage_saying_why(finished, tmp_path, name):
    content, why = RESULTS_DAMAGE[name]
    original = (run_dirs(finished)[0] / "results.json").read_bytes()
    (tmp_path / "results.json").write_bytes(content(original))
    found = load_results(tmp_path)
    assert isinstance(found, Damage) and found.path == tmp_path / "results.json"
    assert why in found.why and str(found).startswith(f"{tmp_path / 'results.json'}: ")


def test_a_sound_results_json_is_its_record_and_none_is_none(finished, tmp_path):
    run_dir = run_dirs(finished)[0]
    assert load_results(run_dir) == json.loads((run_dir / "results.json").read_text())
    assert load_results(tmp_path) is None
    (tmp_path / "results.json").mkdir()
    assert "a directory where a regular file (results.json) belongs" in load_results(tmp_path).why


@pytest.mark.parametrize("name", MANIFEST_DAMAGE)
def test_a_damaged_manifest_is_read_as_damage_saying_why(finished, tmp_path, name):
    content, why = MANIFEST_DAMAGE[name]
    (tmp_path / "manifest.json").write_bytes(content((finished / "manifest.json").read_bytes()))
    found = Manifest.read(tmp_path)
    assert isinstance(found, ManifestError) and found.kind == ManifestError.DAMAGED
    assert why in found.why and str(found).startswith(f"{tmp_path / 'manifest.json'} is damaged: ")


def test_a_foreign_or_missing_manifest_is_told_apart(tmp_path):
    assert Manifest.read(tmp_path).kind == ManifestError.MISSING
    (tmp_path / "manifest.json").write_text('{"mine": 1}')
    found = Manifest.read(tmp_path)
    assert found.kind == ManifestError.FOREIGN and f"{tmp_path / 'manifest.json'} is not a sweep manifest" in str(found)
    with pytest.raises(ManifestError, match="not a sweep manifest"):
        Manifest.load(tmp_path)


def test_a_manifest_of_an_earlier_version_without_job_log_and_log_is_read(tmp_path):
    job = {"number": 0, "overrides": ["a=1"], "run_dir": "a=1", "config_hash": "h", "state": "completed"}
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "jobs": [job]}))
    manifest = Manifest.load(tmp_path, refresh=False)  # (refreshed, a completed job without a results.json is missing)
    assert [j.run_dir for j in manifest.jobs] == ["a=1"] and manifest.counts()[COMPLETED] == 1


# --- status, collect and the sweep again: a damaged results.json -----------------------------------


@pytest.mark.parametrize("name", ["not UTF-8", "a list", "truncated", "empty object", "state a number", "metrics not numbers"])
def test_a_damaged_results_json_is_reported_and_its_job_alone_runs_again(copy, name):
    content, why = RESULTS_DAMAGE[name]
    damaged = run_dirs(copy)[1] / "results.json"
    damaged.write_bytes(content(damaged.read_bytes()))
    before = mtimes(copy)

    status = no_traceback(run_launcher_cli("status", copy))
    assert status.returncode == 0
    assert "3 jobs: 2 completed, 0 failed, 0 running, 0 pending, 1 damaged" in status.stdout
    assert f"damaged: {damaged}: " in status.stdout and why in status.stdout

    collected = no_traceback(run_launcher_cli("collect", copy))
    assert collected.returncode == 0 and str(damaged) in collected.stderr and why in collected.stderr
    table = pd.read_csv(copy / "summary.csv")
    assert table["state"].tolist() == [COMPLETED, DAMAGED, COMPLETED]
    assert table.loc[1, METRICS].isna().all() and list(table.columns[-len(METRICS):]) == METRICS

    again = no_traceback(sweep(copy, *SEEDS))
    assert again.returncode == 0, again.stderr
    assert f"1 jobs have a damaged results.json and run again:\n  #1 {damaged}" in output(again)
    assert "Resuming: 2 of 3 jobs already completed, 1 to run" in output(again)
    after = mtimes(copy)
    assert [name for name in before if after[name] != before[name]] == [damaged.parent.name]
    assert "3 jobs: 3 completed, 0 failed, 0 running, 0 pending\n" in run_launcher_cli("status", copy).stdout + "\n"


def test_a_damaged_results_json_is_not_done_whatever_the_manifest_says(tmp_path):
    sweep_dir = tmp_path / "D"
    jobs = [fake_job(sweep_dir, n, [f"a={n + 1}"]) for n in range(3)]
    for job in jobs:
        job.state = COMPLETED  # as the manifest says once the sweep has seen them end
    Manifest(sweep_dir, jobs).save()
    (sweep_dir / "a=2" / "results.json").write_text('{"state": "completed", "config_hash": "hash1", "metrics": {"x": "y"}}')
    manifest = Manifest.load(sweep_dir)
    assert [job.state for job in manifest.jobs] == [COMPLETED, DAMAGED, COMPLETED]
    assert manifest.jobs[1].damage.startswith(str(sweep_dir / "a=2" / "results.json"))
    report = report_status.status(sweep_dir)
    assert [job.number for job in report.damaged] == [1] and report.counts[DAMAGED] == 1 and report.problem is None
    assert "#1 a=2\n      damaged: " in report_status.format_status(report)


def test_a_job_on_its_way_keeps_its_state_over_a_damaged_results_json(tmp_path):
    """A job queued on Slurm or running replaces the file it left earlier: it is not damaged."""
    sweep_dir = tmp_path / "D"
    queued = fake_job(sweep_dir, 0, ["a=1"], results=False)
    queued.state, queued.slurm_job_id = "pending", "42_0"
    running = fake_job(sweep_dir, 1, ["a=2"], results=False)
    running.state = "running"
    for job in (queued, running):
        (sweep_dir / job.run_dir / "results.json").write_bytes(b"\xff")
    for job in (queued, running):
        job.apply_results(sweep_dir)
    assert (queued.state, running.state) == ("pending", "running") and queued.damage and running.damage


# --- status, collect and the sweep again: a damaged, missing or foreign manifest ------------------------


@pytest.mark.parametrize("name", ["truncated", "not UTF-8", "a list", "unknown field", "unknown job field", "jobs not a list"])
def test_a_damaged_manifest_is_reported_and_rebuilt_by_the_sweep(copy, name):
    content, why = MANIFEST_DAMAGE[name]
    path = copy / "manifest.json"
    path.write_bytes(content(path.read_bytes()))
    (copy / "summary.csv").unlink()
    before = mtimes(copy)

    status = no_traceback(run_launcher_cli("status", copy))
    assert status.returncode == 1
    assert f"{path} is damaged: " in status.stderr and why in status.stderr and "run directories" in status.stderr
    assert "3 jobs: 3 completed, 0 failed, 0 running, 0 pending" in status.stdout  # from the run directories

    collected = no_traceback(run_launcher_cli("collect", copy))
    assert collected.returncode == 1 and f"{path} is damaged: " in collected.stderr
    assert pd.read_csv(copy / "summary.csv")["state"].tolist() == [COMPLETED] * 3

    again = no_traceback(sweep(copy, *SEEDS))
    assert again.returncode == 0, again.stderr
    assert f"{path} is damaged: " in output(again) and "rebuilt" in output(again)
    assert "Resuming: 3 of 3 jobs already completed, 0 to run" in output(again)
    assert mtimes(copy) == before
    manifest = Manifest.load(copy)  # whole again
    assert [(job.number, job.overrides[0], job.state) for job in manifest.jobs] == [
        (n, f"pynn_seed={n + 1}", COMPLETED) for n in range(3)
    ]
    assert no_traceback(run_launcher_cli("status", copy)).returncode == 0


def test_a_damaged_manifest_and_results_json_rerun_exactly_the_damaged_job(copy):
    (copy / "manifest.json").write_bytes(b"[]")
    damaged = run_dirs(copy)[2] / "results.json"
    damaged.write_bytes(b"{")
    before = mtimes(copy)
    status = no_traceback(run_launcher_cli("status", copy))
    assert status.returncode == 1 and "2 completed, 0 failed, 0 running, 0 pending, 1 damaged" in status.stdout
    assert str(damaged) in status.stdout
    again = no_traceback(sweep(copy, *SEEDS))
    assert again.returncode == 0 and "Resuming: 2 of 3 jobs already completed, 1 to run" in output(again)
    after = mtimes(copy)
    assert [name for name in before if after[name] != before[name]] == [damaged.parent.name]


def test_a_foreign_manifest_is_refused_and_left_as_it_is(copy):
    path = copy / "manifest.json"
    path.write_text('{"mine": 1}')
    (copy / "summary.csv").unlink()
    before = mtimes(copy)
    for command in ("status", "collect"):
        proc = no_traceback(run_launcher_cli(command, copy))
        assert proc.returncode == 1 and f"{path} is not a sweep manifest" in proc.stderr
    again = no_traceback(sweep(copy, *SEEDS))
    assert again.returncode == 1
    assert f"{path} is not a sweep manifest" in again.stderr and "nothing was run or written" in again.stderr
    assert path.read_text() == '{"mine": 1}' and mtimes(copy) == before and not (copy / "summary.csv").exists()


def test_a_missing_manifest_is_rebuilt_keeping_the_jobs_of_the_run_directories(copy):
    (copy / "manifest.json").unlink()
    proc = no_traceback(sweep(copy, "pynn_seed=3,4"))
    assert proc.returncode == 0, proc.stderr
    assert "2 earlier jobs of" in output(proc) and "stay listed" in output(proc)
    jobs = Manifest.load(copy).jobs
    # this sweep's jobs first (the numbers of the earlier ones were lost with the manifest)
    assert [(job.number, job.overrides[0]) for job in jobs] == [
        (0, "pynn_seed=3"), (1, "pynn_seed=4"), (2, "pynn_seed=1"), (3, "pynn_seed=2")
    ]
    assert pd.read_csv(copy / "summary.csv")["pynn_seed"].tolist() == [3, 4, 1, 2]


# --- a sweep that adds jobs to a directory --------------------------------------------------------------


def test_a_sweep_adding_jobs_to_a_directory_keeps_the_earlier_ones(copy):
    before = mtimes(copy)
    proc = no_traceback(sweep(copy, "pynn_seed=7,8"))
    assert proc.returncode == 0, proc.stderr
    assert "Launching 2 jobs" in output(proc) and "3 earlier jobs" in output(proc)
    jobs = Manifest.load(copy).jobs
    assert [(job.number, job.overrides[0], job.state) for job in jobs] == [
        (0, "pynn_seed=1", COMPLETED), (1, "pynn_seed=2", COMPLETED), (2, "pynn_seed=3", COMPLETED),
        (3, "pynn_seed=7", COMPLETED), (4, "pynn_seed=8", COMPLETED),
    ]
    assert all(mtimes(copy)[name] == written for name, written in before.items())
    assert "5 jobs: 5 completed" in run_launcher_cli("status", copy).stdout
    table = pd.read_csv(copy / "summary.csv")
    assert table["job"].tolist() == [0, 1, 2, 3, 4] and table["pynn_seed"].tolist() == [1, 2, 3, 7, 8]

    # the first sweep again: its jobs keep their numbers, nothing runs, nothing is lost
    again = no_traceback(sweep(copy, "pynn_seed=1,2,3,4"))
    assert "Resuming: 3 of 4 jobs already completed, 1 to run" in output(again)
    assert [(job.number, job.overrides[0]) for job in Manifest.load(copy).jobs] == [
        (0, "pynn_seed=1"), (1, "pynn_seed=2"), (2, "pynn_seed=3"), (3, "pynn_seed=7"), (4, "pynn_seed=8"), (5, "pynn_seed=4")
    ]


def test_an_earlier_failed_job_that_a_sweep_does_not_list_is_kept_but_not_its_failure(tmp_path):
    sweep_dir = tmp_path / "D"
    first = no_traceback(sweep(sweep_dir, "simulator=nosuchsim"))
    assert first.returncode == 1 and "cannot import pyNN.nosuchsim" in first.stderr
    second = no_traceback(sweep(sweep_dir, "pynn_seed=5"))
    assert second.returncode == 0, second.stderr
    assert "1 earlier jobs of" in output(second) and "Launching 1 jobs" in output(second)
    status = run_launcher_cli("status", sweep_dir)
    assert "2 jobs: 1 completed, 1 failed" in status.stdout and "cannot import pyNN.nosuchsim" in status.stdout
    assert pd.read_csv(sweep_dir / "summary.csv")["state"].tolist() == [FAILED, COMPLETED]


def test_an_earlier_job_with_a_damaged_results_json_is_named_by_a_sweep_that_does_not_run_it(copy):
    damaged = run_dirs(copy)[1] / "results.json"
    damaged.write_bytes(b"\xff")
    proc = no_traceback(sweep(copy, "pynn_seed=7"))
    assert proc.returncode == 0, proc.stderr
    assert f"job #1 is not counted as completed: {damaged}: not UTF-8" in output(proc)
    assert damaged.read_bytes() == b"\xff"  # not this sweep's job: left for a sweep that lists it
    assert pd.read_csv(copy / "summary.csv")["state"].tolist() == [COMPLETED, DAMAGED, COMPLETED, COMPLETED]


#: A job's run directory and config hash in every form (overrides, run_dir, config_hash): a grid's
#: (its overrides joined; 16 lowercase hex digits), and the others, which JobEntry keeps as strings.
ENTRY_FORMS = [
    (["a=1", "b=2"], "a=1,b=2", "0123456789abcdef"),
    (["b=2", "a=2"], "a=2,b=2", "00000000000000ff"),  # overrides in another order (sorted in the name); leading zeros
    (["f=1", "g=2"], "g=1,f=2", "00000000000000fe"),  # of the same length, neither order
    ([], "defaults", ""),  # no overrides; a refused trial's hash
    (["a=3"], "a=3", "0123456789ABCDEF"),  # upper case: int() reads it, the string is not its hex
    (["a=4"], "a=4", "0x23456789abcdef"),
    (["a=5"], "a=5", " 123456789abcdef"),
    (["a=6"], "a=6", "1234_6789abcdef0"),
    (["a=7"], "a=7", "+123456789abcdef"),
    (["a=8"], "a=8", "0123456789abcde"),  # 15 digits
    (["a=9"], "a=9", "hash9"),  # an older manifest's
    (["name='a b/c'"], "name=_a_b_c_~2c5e3a1b0d", "ffffffffffffffff"),  # a name that needed the hash
    (["c=3"], "sub/c=3", "0000000000000000"),  # another hydra.sweep.subdir
    (["d=1", "e=2"], "d=1", "fedcba9876543210"),  # a key left out of the name
]


def test_a_job_reads_back_its_run_directory_and_config_hash_in_every_form(tmp_path: Path) -> None:
    """JobEntry keeps a grid's run directory (its overrides joined) and config hash in compact
    forms: every form reads back as it was given, through as_dict, manifest.json and its reader."""
    jobs = [JobEntry(number, list(overrides), run_dir, config_hash) for number, (overrides, run_dir, config_hash) in enumerate(ENTRY_FORMS)]
    given = [(overrides, run_dir, config_hash) for overrides, run_dir, config_hash in ENTRY_FORMS]
    assert [(job.overrides, job.run_dir, job.config_hash) for job in jobs] == given
    assert all(type(job.run_dir) is str and type(job.config_hash) is str for job in jobs)
    assert [(d["overrides"], d["run_dir"], d["config_hash"]) for d in (job.as_dict() for job in jobs)] == given
    Manifest(tmp_path, jobs).save()
    written = json.loads((tmp_path / "manifest.json").read_text())["jobs"]
    assert [(job["overrides"], job["run_dir"], job["config_hash"]) for job in written] == given
    read = Manifest.read(tmp_path)
    assert not isinstance(read, ManifestError) and read.jobs == jobs
    assert [(job.overrides, job.run_dir, job.config_hash) for job in read.jobs] == given

    # Set again, each field keeps what it was given; other overrides do not rename the run directory.
    job = jobs[0]
    job.overrides = ["a=1", "b=3"]
    assert (job.overrides, job.run_dir) == (["a=1", "b=3"], "a=1,b=2")
    job.run_dir, job.config_hash = "a=1,b=3", "another config"
    assert (job.run_dir, job.config_hash) == ("a=1,b=3", "another config")
    job.config_hash = "000000000000000a"
    assert job.config_hash == "000000000000000a" and job.as_dict()["config_hash"] == "000000000000000a"


def test_jobs_are_numbered_after_the_earlier_ones_and_keep_theirs():
    earlier = Manifest(Path("D"), [fake_entry(0, "a=1"), fake_entry(1, "a=2"), fake_entry(4, "a=5")])
    assert earlier.numbers_for([["a=2"], ["a=3"], ["a=1"], ["a=4"]]) == [1, 5, 0, 6]
    two_keys = Manifest(Path("D"), [JobEntry(3, ["b=1", "a=2"], "a=2,b=1", "h")])
    assert two_keys.numbers_for([["a=2", "b=1"], ["a=2", "b=2"]]) == [3, 4]  # the same overrides in another order
    assert list(Manifest(Path("D"), earlier.jobs, rebuilt=True).numbers_for([["a=2"], ["a=3"]])) == [0, 1]
    planned = Manifest(Path("D"), [fake_entry(1, "a=2"), fake_entry(5, "a=3")])
    kept = planned.keep(earlier)
    assert [job.number for job in kept] == [0, 4] and [job.number for job in planned.jobs] == [0, 1, 4, 5]
    rebuilt = Manifest(Path("D"), [fake_entry(0, "a=1"), fake_entry(1, "a=2")], rebuilt=True)
    planned = Manifest(Path("D"), [fake_entry(0, "a=2"), fake_entry(1, "a=3")])
    assert [(job.number, job.run_dir) for job in planned.keep(rebuilt)] == [(2, "a=1")]


def fake_entry(number: int, override: str) -> JobEntry:
    return JobEntry(number, [override], override, f"hash-{override}")


# --- the table when no job has metrics; one tree twice ------------------------------------------------


def test_every_job_failed_keeps_the_metric_columns_of_any_results_json(tmp_path):
    failed = {str(n): {"state": FAILED, "error": "RuntimeError: no"} for n in range(2)}
    sweep_dir = fake_sweep(tmp_path / "D", {"a": ["1", "2"]}, **failed)
    assert report_table.summary_table(sweep_dir).columns.tolist() == ["job", "a", "state"]  # no metric named anywhere
    # an earlier run of another config left its results.json in one run directory
    stale = fake_job(tmp_path / "old", 7, ["a=1"])  # its config hash is not job 0's
    shutil.copy(tmp_path / "old" / stale.run_dir / "results.json", sweep_dir / "a=1" / "results.json")
    table = report_table.summary_table(sweep_dir)
    assert table.columns.tolist() == ["job", "a", "state", *METRICS]
    # job 0 is "running" in the fake manifest, but no process sweeps the directory: interrupted
    assert table["state"].tolist() == ["interrupted", FAILED] and table[METRICS].isna().all().all()


def test_one_value_written_two_ways_is_refused_before_anything_runs(tmp_path):
    sweep_dir = tmp_path / "D"
    proc = no_traceback(run_cli(["-m", "sheets.V1.density=50,50.0,60", "experiment.spontaneous_duration=10",
                                 f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path))
    assert proc.returncode == 1
    assert "2 jobs would run the same parameter tree" in proc.stderr
    assert "sheets.V1.density=50 experiment.spontaneous_duration=10; sheets.V1.density=50.0" in proc.stderr
    assert not sweep_dir.exists()
