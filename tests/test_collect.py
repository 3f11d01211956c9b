"""The read side of a sweep: status, summary.csv, figures and ``python -m launcher``, on fake sweep dirs."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd
import pytest
from matplotlib.image import imread

from launcher.report import collect
from launcher.report import figures as report_figures
from launcher.report import status as report_status
from launcher.report import table as report_table
from launcher.sweep.lock import SweepLock
from launcher.sweep.manifest import COMPLETED, FAILED, PENDING, RUNNING, JobEntry, Manifest
from launcher.sweep.naming import run_dirname
from launcher.run.jsonfile import write_json_atomic
from support import run_launcher_cli

METRICS = ["rate_exc_hz", "rate_inh_hz", "cv_isi", "synchrony_chi", "active_fraction"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DENSITY = "sheets.V1.density"
WEIGHT = "sheets.V1.connectivity.exc_weight"


def fake_metrics(overrides: Sequence[str]) -> dict[str, float]:
    """Metrics that depend on the overrides, so a test can tell the rows apart."""
    seed = sum(ord(c) for c in "".join(overrides)) % 7
    return {name: float(i + seed / 10) for i, name in enumerate(METRICS)}


def fake_job(
    sweep: Path,
    number: int,
    overrides: Sequence[str],
    state: str = COMPLETED,
    error: Optional[str] = None,
    results: bool = True,
    log: Optional[str] = None,
    metrics: Optional[dict[str, float]] = None,
) -> JobEntry:
    """A manifest entry and, with ``results``, the results.json a real job would have written.

    ``metrics`` replaces some of the fake metrics of a completed job.
    """
    job = JobEntry(number, list(overrides), run_dirname(overrides), f"hash{number}", state, error=error, log=log)
    run_dir = sweep / job.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if results:
        record = {
            "state": state,
            "metrics": {**fake_metrics(overrides), **(metrics or {})} if state == COMPLETED else {},
            "overrides": list(overrides),
            "config_hash": job.config_hash,
            "timings": {"started": "2024-01-01T00:00:00+00:00", "total_s": 60.0, "finished": "2024-01-01T00:01:00+00:00"},
        }
        if state == FAILED:
            record["error"] = error
        write_json_atomic(run_dir / "results.json", record)
        job.state, job.error = RUNNING, None  # the manifest lags: results.json is the truth
    return job


def fake_sweep(sweep: Path, grid: dict[str, Sequence[str]], **special: dict) -> Path:
    """A sweep over the product of ``grid``; ``special[job number]`` overrides fake_job's arguments."""
    combos = itertools.product(*([f"{k}={v}" for v in values] for k, values in grid.items()))
    jobs = [fake_job(sweep, n, list(c), **special.get(str(n), {})) for n, c in enumerate(combos)]
    Manifest(sweep, jobs).save()
    return sweep


def assert_png(path: Path) -> tuple[int, ...]:
    assert path.is_file() and path.stat().st_size > 0, path
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    return imread(path).shape


def read_csv(sweep: Path) -> pd.DataFrame:
    return pd.read_csv(sweep / "summary.csv")


def pngs(sweep: Path) -> list[str]:
    return sorted(p.name for p in sweep.glob("*.png"))


@pytest.fixture
def two_d(tmp_path: Path) -> Path:
    """3 weights x 2 cell types; job 1 failed with a results.json, job 4 was cancelled before writing one."""
    return fake_sweep(
        tmp_path / "D",
        {WEIGHT: ["0.002", "0.004", "0.008"], "cell": ["lif", "adex"]},
        **{
            "1": {"state": FAILED, "error": "RuntimeError: NEST exploded"},
            "4": {"state": FAILED, "error": "CANCELLED", "results": False, "log": "/slurm/logs/42_4.err"},
        },
    )


# --- the table ------------------------------------------------------------------------------------


def test_one_parameter_table_has_numeric_parameter_and_metrics(tmp_path):
    sweep = fake_sweep(tmp_path / "D", {DENSITY: ["1000", "2000", "4000"]})
    table = report_table.summary_table(sweep)
    assert list(table.columns) == ["job", DENSITY, "state", *METRICS]
    assert table["job"].tolist() == [0, 1, 2]
    assert table[DENSITY].tolist() == [1000, 2000, 4000] and pd.api.types.is_integer_dtype(table[DENSITY])
    assert table["state"].tolist() == [COMPLETED] * 3
    assert table.loc[1, METRICS].tolist() == list(fake_metrics([f"{DENSITY}=2000"]).values())


def test_values_stay_strings_unless_every_value_is_a_number(tmp_path):
    sweep = fake_sweep(tmp_path / "D", {"a": ["1", "x"], "b": ["0.5", "1e-3"], "c": ["'quoted'"]})
    table = report_table.summary_table(sweep)
    assert table["a"].tolist() == ["1", "1", "x", "x"]
    assert table["b"].tolist() == [0.5, 0.001, 0.5, 0.001]
    assert table["c"].tolist() == ["quoted"] * 4


def test_failed_and_cancelled_jobs_keep_their_rows_with_empty_metrics(two_d):
    result = collect.collect(two_d)
    assert result.csv == two_d / "summary.csv"
    table = read_csv(two_d)
    assert list(table.columns) == ["job", WEIGHT, "cell", "state", *METRICS]
    assert table["job"].tolist() == list(range(6))
    assert table["state"].tolist() == [COMPLETED, FAILED, COMPLETED, COMPLETED, FAILED, COMPLETED]
    assert table[WEIGHT].tolist() == [0.002, 0.002, 0.004, 0.004, 0.008, 0.008]
    assert table.loc[[1, 4], METRICS].isna().all().all()
    assert table.drop(index=[1, 4])[METRICS].notna().all().all()
    assert table.loc[5, "cv_isi"] == fake_metrics([f"{WEIGHT}=0.008", "cell=adex"])["cv_isi"]
    assert not list(two_d.glob(".*.tmp"))  # written through a temporary file, nothing left behind


def test_a_stale_results_json_is_not_read_as_this_jobs_result(tmp_path):
    sweep = tmp_path / "D"
    job = fake_job(sweep, 0, ["a=1"])
    job.config_hash = "another config"  # results.json was written by an earlier sweep with other values
    job.state = PENDING
    Manifest(sweep, [job, fake_job(sweep, 1, ["a=2"])]).save()
    table = report_table.summary_table(sweep)
    assert table["state"].tolist() == ["interrupted", COMPLETED]  # pending, but no process sweeps D
    assert table.loc[0, METRICS].isna().all()


# --- figures --------------------------------------------------------------------------------------


def test_one_parameter_gives_one_line_figure(tmp_path):
    sweep = fake_sweep(tmp_path / "D", {DENSITY: ["4000", "1000", "2000"]})
    result = collect.collect(sweep)
    figure = sweep / f"summary_{DENSITY}.png"
    assert result.figures == [figure] and pngs(sweep) == [figure.name]
    height, width, channels = assert_png(figure)
    assert width > height > 100 and channels in (3, 4)


def test_one_parameter_with_seeds_averages_them_and_keeps_all_nan_metrics_in_the_csv(tmp_path):
    no_cv = {str(n): {"metrics": {"cv_isi": math.nan}} for n in range(6)}  # too few spikes everywhere
    sweep = fake_sweep(tmp_path / "D", {DENSITY: ["1000", "2000"], "pynn_seed": ["1", "2", "3"]}, **no_cv)
    result = collect.collect(sweep)
    assert pngs(sweep) == [f"summary_{DENSITY}.png"] and result.figures == [sweep / f"summary_{DENSITY}.png"]
    assert_png(result.figures[0])
    table = read_csv(sweep)
    assert list(table.columns) == ["job", DENSITY, "pynn_seed", "state", *METRICS]
    assert table["pynn_seed"].tolist() == [1, 2, 3, 1, 2, 3] and table["cv_isi"].isna().all()


def test_two_parameters_give_one_heatmap_per_metric(two_d):
    result = collect.collect(two_d)
    assert pngs(two_d) == sorted(f"heatmap_{m}.png" for m in METRICS)
    assert [p.name for p in result.figures] == [f"heatmap_{m}.png" for m in METRICS]
    for path in result.figures:
        assert_png(path)
    assert str(result) == ", ".join(str(p) for p in result.paths)


def test_three_parameters_give_small_multiples_per_metric(tmp_path):
    sweep = fake_sweep(
        tmp_path / "D", {"a": ["1", "2"], "b": ["x", "y"], "c": ["0.1", "0.2"], "pynn_seed": ["1", "2"]},
        **{"5": {"state": FAILED, "error": "RuntimeError: boom"}},
    )
    result = collect.collect(sweep)
    assert pngs(sweep) == sorted(f"facets_{m}.png" for m in METRICS)
    height, width, _ = assert_png(sweep / "facets_rate_exc_hz.png")
    assert width > height  # two panels side by side, one per value of c
    assert len(read_csv(sweep)) == 16 and result.csv.is_file()


def test_no_swept_parameter_or_all_failed_gives_only_the_csv(tmp_path):
    single = fake_sweep(tmp_path / "single", {})
    assert collect.collect(single).figures == [] and pngs(single) == []
    assert read_csv(single).columns.tolist() == ["job", "state", *METRICS]
    failed = {str(n): {"state": FAILED, "error": "RuntimeError: no"} for n in range(4)}
    all_failed = fake_sweep(tmp_path / "failed", {"a": ["1", "2"], "b": ["1", "2"]}, **failed)
    assert collect.collect(all_failed).figures == [] and pngs(all_failed) == []
    assert read_csv(all_failed).columns.tolist() == ["job", "a", "b", "state"]


def test_degenerate_values_never_raise(tmp_path):
    sweep = tmp_path / "D"
    odd = {"rate_exc_hz": math.inf, "rate_inh_hz": 3.0, "cv_isi": math.nan}  # infinite, constant, undefined
    jobs = [
        fake_job(sweep, 0, ["a=1", "b=x"], metrics=odd),
        fake_job(sweep, 1, ["a=2", "b=x", "+c=1"], metrics=odd),  # a key only some jobs set
        fake_job(sweep, 2, ["a=2", "b=y"], metrics={**odd, "rate_exc_hz": -math.inf}),
    ]
    Manifest(sweep, jobs).save()
    result = collect.collect(sweep)
    assert [p.name for p in result.figures] == [f"heatmap_{m}.png" for m in METRICS if m not in ("rate_exc_hz", "cv_isi")]
    table = read_csv(sweep)
    assert table["c"].isna().tolist() == [True, False, True] and table["rate_exc_hz"].tolist() == [math.inf, math.inf, -math.inf]


def test_only_parameters_that_vary_are_axes_and_file_names_are_safe(tmp_path):
    sweep = fake_sweep(tmp_path / "D", {"model/sheet": ["a b", "c"], "experiment.kick.rate": ["10"]})
    assert report_figures.axis_parameters(report_table.summary_table(sweep)) == ["model/sheet"]
    assert [p.name for p in collect.collect(sweep).figures] == ["summary_model_sheet.png"]


# --- status ---------------------------------------------------------------------------------------


def test_status_counts_and_describes_failed_jobs(two_d):
    report = report_status.status(two_d)
    assert report.counts == {COMPLETED: 4, FAILED: 2, RUNNING: 0, PENDING: 0} and report.total == 6
    assert [job.number for job in report.failed] == [1, 4]
    text = report_status.format_status(report)
    assert "6 jobs: 4 completed, 2 failed, 0 running, 0 pending" in text
    failed_dir = run_dirname([f"{WEIGHT}=0.002", "cell=adex"])
    assert f"{WEIGHT}=0.002 cell=adex" in text and "RuntimeError: NEST exploded" in text
    assert str(two_d / failed_dir / "run_sim.log") in text
    assert f"{WEIGHT}=0.008 cell=lif" in text and "CANCELLED" in text and "/slurm/logs/42_4.err" in text


def test_status_of_a_running_sweep_keeps_the_manifest_states(tmp_path):
    sweep = fake_sweep(
        tmp_path / "D", {"a": ["1", "2", "3"]},
        **{"1": {"state": RUNNING, "results": False}, "2": {"state": PENDING, "results": False}},
    )
    with SweepLock(sweep):  # as the sweeping process holds it
        report = report_status.status(sweep)
        assert report.counts == {COMPLETED: 1, FAILED: 0, RUNNING: 1, PENDING: 1} and report.failed == []
        assert "Failed" not in report_status.format_status(report)
        assert report_table.summary_table(sweep)["state"].tolist() == [COMPLETED, RUNNING, PENDING]


def test_jobs_of_a_sweep_that_ended_without_them_are_interrupted(tmp_path):
    sweep = fake_sweep(
        tmp_path / "D", {"a": ["1", "2", "3"]},
        **{"1": {"state": RUNNING, "results": False}, "2": {"state": PENDING, "results": False}},
    )
    report = report_status.status(sweep)  # no process holds the sweep's lock: nobody runs jobs 1 and 2
    assert report.counts == {COMPLETED: 1, FAILED: 0, RUNNING: 0, PENDING: 0, "interrupted": 2}
    text = report_status.format_status(report)
    assert "1 completed, 0 failed, 0 running, 0 pending, 2 interrupted" in text
    assert "Interrupted jobs" in text and "running the sweep again runs it" in text
    assert report_table.summary_table(sweep)["state"].tolist() == [COMPLETED, "interrupted", "interrupted"]


# --- the command line -----------------------------------------------------------------------------


def test_cli_status_and_collect(two_d):
    proc = run_launcher_cli("status", two_d)
    assert proc.returncode == 0, proc.stderr
    assert "4 completed, 2 failed" in proc.stdout and "RuntimeError: NEST exploded" in proc.stdout
    proc = run_launcher_cli("collect", two_d)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.split()
    assert printed[0] == str(two_d / "summary.csv") and len(printed) == 1 + len(METRICS)
    assert all(Path(p).is_file() for p in printed)


def test_cli_names_a_directory_without_manifest(tmp_path):
    for command in ("status", "collect"):
        proc = run_launcher_cli(command, tmp_path)
        assert proc.returncode == 1
        assert f"{tmp_path} has no manifest.json" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
