"""``launcher.load`` and ``launcher.recordings``: a sweep's table in one call, with typed
parameters, run directories and durations, on fake sweeps (damaged, failed, unfinished, without
a manifest) and on a real small sweep (the recordings, the README's example as written)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

import launcher
from launcher.report import load as report_load
from launcher.report.table import hydra_value, parse_overrides, summary_table
from launcher.sweep.manifest import COMPLETED, DAMAGED, FAILED, MANIFEST_FILE, Manifest, ManifestError
from support import SMALL, run_cli, run_command, write_example
from test_collect import METRICS, fake_metrics, fake_sweep

TYPED = {"i": ["1", "2"], "f": ["0.5", "1e-3"], "b": ["true", "false"], "s": ["lif", "'2000'"], "n": ["null", "3"]}


@pytest.fixture
def typed(tmp_path: Path) -> Path:
    return fake_sweep(tmp_path / "D", TYPED)


def test_parameters_keep_the_types_hydra_reads(typed):
    table = launcher.load(typed)
    assert list(table.columns) == ["job", *TYPED, "state", *METRICS, "run_dir", "duration_s"]
    assert len(table) == 32 and table["job"].tolist() == list(range(32))
    assert table["i"].dtype == "int64" and set(table["i"]) == {1, 2}
    assert table["f"].dtype == "float64" and set(table["f"]) == {0.5, 0.001}
    assert table["b"].dtype == bool and set(table["b"]) == {True, False}
    assert table["s"].dtype == object and set(table["s"]) == {"lif", "2000"}  # '2000' quoted: a string
    assert all(type(value) is str for value in table["s"])
    # integers with a job without one (null): nullable integers, never 3.0
    assert table["n"].dtype == "Int64" and table["n"].isna().sum() == 16 and set(table["n"].dropna()) == {3}
    # summary.csv's table is unchanged: numbers wherever every value reads as one
    assert summary_table(typed)["b"].tolist() == table["b"].map(str).str.lower().tolist()


def test_run_dir_and_duration_of_every_job(typed):
    table = launcher.load(typed)
    for row in table.itertuples():
        assert Path(row.run_dir).parent == typed and (Path(row.run_dir) / "results.json").is_file()
    assert table["duration_s"].tolist() == [60.0] * len(table)
    assert table.attrs == {"sweep_dir": str(typed), "problem": None}


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Job 1 failed, job 2's results.json damaged, job 3 failed before writing one, job 4 pending."""
    sweep = fake_sweep(
        tmp_path / "D",
        {"x": ["1", "2", "3", "4", "5"]},
        **{"1": {"state": FAILED, "error": "RuntimeError: boom"}, "3": {"state": FAILED, "results": False}},
    )
    manifest = Manifest.read(sweep)
    manifest.jobs[2].state = COMPLETED  # as the manifest last saw it: its damaged file is the truth now
    manifest.save()
    (sweep / "x=3" / "results.json").write_bytes(b"{not json")
    (sweep / "x=5" / "results.json").unlink()
    return sweep


def test_failed_damaged_and_unfinished_jobs_have_rows_without_values(mixed):
    table = launcher.load(mixed)
    assert table["state"].tolist() == [COMPLETED, FAILED, DAMAGED, FAILED, "interrupted"]
    assert table.loc[0, METRICS].tolist() == list(fake_metrics(["x=1"]).values())
    assert table.loc[1:, METRICS].isna().all().all()
    assert table["duration_s"].tolist()[:2] == [60.0, 60.0] and table["duration_s"][2:].isna().all()
    assert table["run_dir"].tolist() == [str(mixed / f"x={n}") for n in range(1, 6)]


def test_without_a_sound_manifest_the_rows_are_the_run_directories(mixed):
    (mixed / MANIFEST_FILE).write_text("{")  # damaged
    with pytest.warns(UserWarning, match="is damaged.*Reported instead"):
        damaged = launcher.load(mixed)
    (mixed / MANIFEST_FILE).unlink()
    with pytest.warns(UserWarning, match="has no manifest.json.*Reported instead"):
        missing = launcher.load(mixed)
    assert "is damaged" in damaged.attrs["problem"] and "has no manifest.json" in missing.attrs["problem"]
    for table in (damaged, missing):
        # x=4 (no results.json) and x=5 (removed) are unknown; x=3's overrides are lost with its file
        assert table["state"].tolist() == [COMPLETED, FAILED, DAMAGED]
        assert table["x"].tolist()[:2] == [1, 2] and table["run_dir"].tolist()[2] == str(mixed / "x=3")


def test_a_directory_of_no_sweep_or_another_programs_manifest_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="has no manifest.json"):
        launcher.load(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text('{"name": "other"}')
    with pytest.raises(ManifestError, match="not a sweep manifest"):
        launcher.load(tmp_path)


@pytest.mark.parametrize(
    "line",
    ["a=1", "a=-7", "a=0.5", "a=1e-3", "a=1.", "a=true", "a=False", "a=null", "a=lif", "a='2000'", "a='x y'",
     "a=[1,2]", "a={b: 1}", "+a=2", "a.b_c=0.25", "a=inf", "a=nan", "a=1_000", "a=${b}", "a=1.5e-05", "a=-2.5E+3",
     "a=.5", "a=007.5", "a=007", "a=+3", "a=1e5", "a=1.e2", "a=1_0.5", "a=1e",
     "a=1e05", "a=0.5", "a=00.5", "a=0e1", "a=-0.0"],
)  # fmt: skip
def test_a_value_is_what_hydras_parser_reads(line):
    expected = OverridesParser.create().parse_override(line).value()
    value = hydra_value(line)
    assert type(value) is type(expected)
    assert value == expected or (isinstance(value, float) and math.isnan(value) and math.isnan(expected))


def test_a_value_hydra_cannot_read_is_its_text_and_lists_are_each_rows_own():
    assert hydra_value("a=[1,") == "[1," and hydra_value("a='x") == "'x"  # a hand-edited manifest
    first, second = (parse_overrides(["a=[1,2]", "~b"], typed=True) for _ in range(2))
    assert first == {"a": [1, 2]} and first["a"] is not second["a"]


def test_a_value_given_through_the_search_api_is_shown_as_given_in_load_and_summary_csv(tmp_path):
    from launcher.sweep.overrides import hydra_override

    given = ["a,b", "${oc.env:HOME}", "x\\${y}", "it's, ${z}"]
    sweep = fake_sweep(tmp_path / "D", {"s": [hydra_override("s", value).partition("=")[2] for value in given]})
    assert launcher.load(sweep)["s"].tolist() == given
    summary_table(sweep).to_csv(tmp_path / "summary.csv", index=False)  # as collect writes summary.csv
    assert pd.read_csv(tmp_path / "summary.csv")["s"].tolist() == given


def test_importing_launcher_imports_no_pandas_and_load_is_found():
    code = "import sys, launcher; print(sorted(m for m in ('pandas', 'matplotlib', 'neo', 'nest') if m in sys.modules)); print(launcher.load.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", "launcher.report.load"]
    with pytest.raises(AttributeError):
        launcher.no_such_name  # noqa: B018


def test_recordings_skip_rows_without_one(mixed):
    assert list(launcher.recordings(launcher.load(mixed))) == []


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep of the small network: two seeds, in ``<folder>/D``."""
    folder = tmp_path_factory.mktemp("real")
    proc = run_cli(["-m", "pynn_seed=1,2", *SMALL, f"hydra.sweep.dir={folder / 'D'}"], cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder


def test_recordings_of_a_real_sweep_are_read_one_at_a_time(real, monkeypatch):
    table = launcher.load(real / "D")
    assert table["pynn_seed"].tolist() == [1, 2] and (table["state"] == COMPLETED).all()
    assert (table["duration_s"] > 0).all() and (table["rate_exc_hz"] >= 0).all()
    read = []
    monkeypatch.setattr(report_load, "read_recording", lambda run_dir: read.append(run_dir) or launcher.run.results.read_recording(run_dir))
    loop = launcher.recordings(table[table["pynn_seed"] == 2])
    assert read == []  # nothing read before the loop asks
    row, block = next(loop)
    assert read == [table["run_dir"][1]] and row["pynn_seed"] == 2
    assert len(block.segments[0].spiketrains) == 200  # every cell's spikes: 160 exc + 40 inh
    assert next(loop, None) is None


def test_the_readme_example_runs_as_written(real):
    [command] = write_example("In Python: `launcher.load`", real)
    proc = run_command(command, real)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = launcher.load(real / "D")
    for seed, run_dir in zip(table["pynn_seed"], table["run_dir"]):
        line = next(line for line in proc.stdout.splitlines() if line.endswith(f" in D/{Path(run_dir).name}"))
        assert line.startswith(f"job {seed - 1}, seed {seed}: ") and int(line.split(": ")[1].split()[0]) > 0


def test_the_benchmark_ends_with_its_json_line(tmp_path):
    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "load.py"
    proc = subprocess.run([sys.executable, str(bench), "--jobs", "200", "--repeats", "1", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.splitlines()[-1])
    assert figures["jobs"] == figures["load_rows"] == 200 and figures["stock_json_pandas_rows"] == 199  # 1 never wrote one
    assert 0 < figures["load_s"] < 60 and figures["load_over_stock"] > 0
