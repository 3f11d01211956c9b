"""The read side of a sweep: status, summary.csv, figures and ``python -m launcher``, on fake sweep dirs."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.image import imread
from omegaconf import OmegaConf

from launcher.report import collect
from launcher.report import figures as report_figures
from launcher.report import status as report_status
from launcher.report import table as report_table
from launcher.report import trees
from launcher.sweep import declared
from launcher.sweep.lock import SweepLock
from launcher.sweep.manifest import COMPLETED, FAILED, PENDING, RUNNING, JobEntry, Manifest
from launcher.sweep.naming import run_dirname
from launcher.run.jsonfile import write_json_atomic
from support import SMALL, run_cli, run_launcher_cli

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
    tree: Optional[dict] = None,
    hydra_config: Optional[str] = None,
) -> JobEntry:
    """A manifest entry and, with ``results``, the results.json a real job would have written.

    ``metrics`` replaces some of the fake metrics of a completed job. ``tree``: the resolved tree
    run_sim.py writes (parameters.yaml); ``hydra_config``: the text of Hydra's .hydra/config.yaml.
    """
    job = JobEntry(number, list(overrides), run_dirname(overrides), f"hash{number}", state, error=error, log=log)
    run_dir = sweep / job.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if tree is not None:
        OmegaConf.save(OmegaConf.create(tree), run_dir / "parameters.yaml")
    if hydra_config is not None:
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "config.yaml").write_text(hydra_config)
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


def grid_of(ax) -> np.ndarray:
    """The values a heatmap panel draws, rows bottom up, None for its grey cells."""
    image = ax.images[0].get_array()
    return np.where(image.mask, None, np.round(image.data, 9)).astype(object) if np.ma.is_masked(image) else np.round(image.data, 9)


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
    # c is set by one job only: an axis (1 or unset), so that job 1 is drawn apart from jobs 0 and 2
    assert [p.name for p in result.figures] == [f"facets_{m}.png" for m in METRICS if m not in ("rate_exc_hz", "cv_isi")]
    table = read_csv(sweep)
    assert table["c"].isna().tolist() == [True, False, True] and table["rate_exc_hz"].tolist() == [math.inf, math.inf, -math.inf]
    [(name, figure)] = [(n, f) for n, f in report_figures.grid_figures(report_table.summary_table(sweep)) if "synchrony" in n]
    set_panel, unset_panel = figure.axes[:2]
    assert set_panel.get_title() == "c=1" and unset_panel.get_title() == "c=unset"
    # rows b = x, y; columns a = 1, 2; each job in its own cell, every other cell grey
    assert grid_of(set_panel).tolist() == [[None, 3.4], [None, None]]
    assert grid_of(unset_panel).tolist() == [[3.3, None], [None, 3.5]]
    assert "grey: no value" in figure.get_suptitle()


def test_only_parameters_that_vary_are_axes_and_file_names_are_safe(tmp_path):
    sweep = fake_sweep(tmp_path / "D", {"model/sheet": ["a b", "c"], "experiment.kick.rate": ["10"]})
    assert report_figures.axis_parameters(report_table.summary_table(sweep)) == ["model/sheet"]
    assert [p.name for p in collect.collect(sweep).figures] == ["summary_model_sheet.png"]


# --- every job in the table and in a figure, with the values it ran with ----------------------------


def default_tree(density: float, seed: int) -> dict:
    """The part of the default model's resolved tree these tests read (parameters.yaml)."""
    return {"pynn_seed": seed, "sheets": {"V1": {"density": density, "exc_fraction": 0.8}}}


@pytest.fixture
def readme_sequence(tmp_path: Path) -> Path:
    """The README's two sweeps into one directory: density 1, 2, 3 (the default seed), then
    pynn_seed 7, 8 (the default density, 4000), as run_sim.py leaves them: each run's tree in its
    parameters.yaml; job 5 (pynn_seed=9) was planned and never started (no run directory)."""
    sweep = tmp_path / "D"
    rates = {0: 1.5, 1: 2.0, 2: 3.5, 3: 13.0, 4: 14.0}
    jobs = [
        fake_job(sweep, n, [f"{DENSITY}={d}"], metrics={"rate_exc_hz": rates[n]}, tree=default_tree(float(d), 936395))
        for n, d in enumerate([1, 2, 3])
    ]
    jobs += [
        fake_job(sweep, n, [f"pynn_seed={seed}"], metrics={"rate_exc_hz": rates[n]}, tree=default_tree(4000.0, seed))
        for n, seed in ((3, 7), (4, 8))
    ]
    never_ran = JobEntry(5, ["pynn_seed=9"], run_dirname(["pynn_seed=9"]), "hash5", PENDING)
    Manifest(sweep, [*jobs, never_ran]).save()
    return sweep


def test_every_row_holds_the_value_each_job_ran_with_integers_as_integers(readme_sequence):
    collect.collect(readme_sequence)
    text = (readme_sequence / "summary.csv").read_text().splitlines()
    assert text[0].split(",")[:4] == ["job", DENSITY, "pynn_seed", "state"]
    assert [line.split(",")[1:3] for line in text[1:]] == [
        ["1", "936395"], ["2", "936395"], ["3", "936395"], ["4000", "7"], ["4000", "8"], ["", "9"]
    ]  # fmt: skip
    for table in (report_table.summary_table(readme_sequence), launcher_load(readme_sequence)):
        assert table[DENSITY].dtype == "Int64" and table[DENSITY].tolist()[:5] == [1, 2, 3, 4000, 4000]
        assert table[DENSITY].isna().tolist() == [False] * 5 + [True]  # job 5 never ran: no tree to tell
        assert table["pynn_seed"].dtype == "int64" and table["pynn_seed"].tolist() == [936395] * 3 + [7, 8, 9]


def test_a_tree_is_read_only_for_the_jobs_that_lack_a_key(tmp_path, monkeypatch):
    sweep = tmp_path / "D"
    jobs = [fake_job(sweep, n, [f"a={n}"], tree={"a": n, "b": 0.5}) for n in range(3)]
    jobs.append(fake_job(sweep, 3, ["a=3", "b=0.25"], tree={"a": 3, "b": 0.25}))
    Manifest(sweep, jobs).save()
    read = []
    monkeypatch.setattr(trees, "_load", lambda path: read.append(str(Path(path).relative_to(sweep))) or trees_load(path))
    assert report_table.summary_table(sweep)["b"].tolist() == [0.5, 0.5, 0.5, 0.25]
    assert read == [f"a={n}/parameters.yaml" for n in range(3)]  # once each; job 3 sets both keys: not read
    read.clear()
    Manifest(sweep, jobs[3:]).save()
    assert report_table.summary_table(sweep)["b"].tolist() == [0.25] and read == []


trees_load = trees._load


def launcher_load(sweep: Path) -> pd.DataFrame:
    import launcher

    return launcher.load(sweep)


def errorbar_data(ax) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points (x, y) of a panel's error bar plot and each bar's half length (NaN: no bar)."""
    [container] = ax.containers
    x, y = container.lines[0].get_xdata(), container.lines[0].get_ydata()
    half = np.full(len(x), np.nan)
    if container.has_yerr:
        for i, segment in enumerate(container.lines[2][0].get_segments()):  # one a point; empty: NaN, no bar
            if len(segment):
                (bx, low), (_, high) = segment
                assert bx == x[i]
                half[i] = (high - low) / 2
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float), half


def test_the_readme_sequence_draws_every_job_averaging_only_the_seeds(readme_sequence):
    table = report_table.summary_table(readme_sequence)
    units = {DENSITY: "neurons per mm2"}
    [(name, figure)] = report_figures.grid_figures(table, units=units)
    assert name == f"summary_{DENSITY}.png"
    ax = figure.axes[METRICS.index("rate_exc_hz")]
    x, y, half = errorbar_data(ax)
    # the independent computation: each density's rates, their mean and sample standard deviation
    done = table[table["state"] == COMPLETED]
    by_density = {d: done.loc[done[DENSITY] == d, "rate_exc_hz"].tolist() for d in sorted(set(done[DENSITY]))}
    assert x.tolist() == [1, 2, 3, 4000] and by_density[4000] == [13.0, 14.0]
    assert y.tolist() == [sum(v) / len(v) for v in by_density.values()]
    assert np.isnan(half[:3]).all() and half[3] == pytest.approx(statistics.stdev([13.0, 14.0]))
    assert ax.get_xscale() == "log" and ax.get_xlabel() == f"{DENSITY} (neurons per mm2), log scale"
    assert ax.get_ylabel() == "rate_exc_hz (Hz)" and figure.axes[METRICS.index("cv_isi")].get_ylabel() == "cv_isi"
    assert "mean ± std over 1 to 2 runs differing in pynn_seed: 1 unless n is written at a point" in figure.get_suptitle()
    assert [t.get_text() for t in ax.texts] == ["n=2"]  # the usual n (1) is said once, in the title
    assert not ax.get_legend()  # no point without a value: no grey note


def test_a_line_figure_greys_only_points_without_a_value(tmp_path):
    sweep = fake_sweep(tmp_path / "D", {"x": ["1", "2", "3"], "pynn_seed": ["1", "2"]},
                       **{str(n): {"state": FAILED, "error": "boom"} for n in (2, 3)})  # fmt: skip
    [(_, figure)] = report_figures.grid_figures(report_table.summary_table(sweep))
    ax = figure.axes[0]
    x, y, half = errorbar_data(ax)
    assert x.tolist() == [1, 2, 3] and np.isnan(y[1]) and not np.isnan(y[[0, 2]]).any()
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [2]
    assert ax.get_legend().get_texts()[0].get_text() == "no value (failed or undefined)"
    assert "mean ± std over 2 runs differing in pynn_seed" in figure.get_suptitle() and len(ax.texts) == 0
    assert ax.get_xscale() == "linear"


def test_a_models_own_seed_key_is_averaged_over_when_declared(tmp_path):
    """A user's app (no parameters.yaml: its .hydra/config.yaml is the tree) declaring net.seed."""
    config = "net:\n  w: {w}\n  seed: {seed}\n  w2: ${{net.w}}\n  cwd: ${{hydra:runtime.cwd}}\ntask:\n  _seed_keys_: [net.seed]\n"
    sweep = tmp_path / "D"
    jobs = [fake_job(sweep, n, [f"net.w={w}", f"net.seed={seed}"], hydra_config=config.format(w=w, seed=seed))
            for n, (w, seed) in enumerate(itertools.product([0.5, 1.0], [1, 2]))]  # fmt: skip
    jobs.append(fake_job(sweep, 4, ["net.w2=3.0", "net.cwd=here"], hydra_config=config.format(w=0.5, seed=5).replace("${net.w}", "3.0")))
    Manifest(sweep, jobs).save()
    table = report_table.summary_table(sweep)
    # net.w2 from the interpolation, net.cwd unknown there (Hydra's node is not in the file), net.w of job 4 read
    assert table["net.w2"].tolist() == [0.5, 0.5, 1.0, 1.0, 3.0] and table["net.cwd"].isna().tolist() == [True] * 4 + [False]
    assert table["net.w"].tolist() == [0.5, 0.5, 1.0, 1.0, 0.5] and table["net.seed"].tolist() == [1, 2, 1, 2, 5]
    config_read = trees.sweep_config(str(sweep), [job.run_dir for job in jobs])
    assert declared.seed_keys(config_read) == ("net.seed",) and trees.parameter_units(config_read) == {}
    result = collect.collect(sweep)
    assert result.figures[0].name.startswith("facets_")  # net.w, net.w2, net.cwd: net.seed is no axis
    [(_, figure)] = [(n, f) for n, f in report_figures.grid_figures(table, ("net.seed",)) if n == "facets_rate_exc_hz.png"]
    assert "runs differing in net.seed" in figure.get_suptitle()
    values = [v for ax in figure.axes[:-1] for v in grid_of(ax).ravel() if v is not None]  # the colour bar aside
    expected = [statistics.mean(fake_metrics([f"net.w={w}", f"net.seed={s}"])["rate_exc_hz"] for s in (1, 2)) for w in (0.5, 1.0)]
    assert sorted(values) == sorted([*map(lambda v: round(v, 9), expected), fake_metrics(["net.w2=3.0", "net.cwd=here"])["rate_exc_hz"]])
    # undeclared, net.seed is a parameter as any other: an axis
    assert "net.seed" in report_figures.axis_parameters(table, declared.DEFAULT_SEED_KEYS)


def test_a_seed_keys_setting_of_another_kind_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"task._seed_keys_ = 3: expected a list of dotted keys"):
        declared.seed_keys(OmegaConf.create({"task": {"_seed_keys_": 3}}))
    sweep = fake_sweep(tmp_path / "D", {"a": ["1", "2"]})
    (sweep / "multirun.yaml").write_text("task:\n  _seed_keys_: {seed: 1}\n")
    proc = run_launcher_cli("collect", sweep)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "error: task._seed_keys_ = {'seed': 1}: expected a list of dotted keys" in proc.stderr
    assert declared.seed_keys(None) == ("pynn_seed",) and declared.seed_keys(OmegaConf.create({"task": {"_seed_keys_": "s"}})) == ("s",)


def test_units_come_from_the_schema_and_the_metric_names():
    assert [trees.metric_unit(m) for m in METRICS] == ["Hz", "Hz", "", "", ""]
    assert trees.metric_unit("delay_ms") == "ms" and trees.metric_unit("hz") == "" and trees.metric_unit("x_furlong") == ""
    default = trees.parameter_units(OmegaConf.create({"task": {"_target_": trees.DEFAULT_MODEL_TASK}}))
    assert default[DENSITY] == "neurons per mm2" and default[WEIGHT] == "uS" and "pynn_seed" not in default
    assert trees.parameter_units(OmegaConf.create({"task": {"_target_": "my_net.simulate"}})) == {}


def test_heatmap_cells_are_the_tables_means_and_colours_span_decades_on_a_log_scale(tmp_path):
    rates = {"0.001": 0.01, "0.01": 0.5, "0.1": 40.0}  # rates spanning four decades
    grid = {WEIGHT: list(rates), "cell": ["lif", "adex"], "pynn_seed": ["1", "2", "3"]}
    special = {str(n): {"metrics": {"rate_exc_hz": rates[w] * (1 + 0.1 * k) * (2 if c == "adex" else 1)}}
               for n, (w, c, k) in enumerate(itertools.product(rates, ["lif", "adex"], range(3)))}  # fmt: skip
    special["17"] = {"state": FAILED, "error": "boom"}  # one seed of (0.1, adex) failed: 2 runs there
    sweep = fake_sweep(tmp_path / "D", grid, **special)
    table = report_table.summary_table(sweep)
    figures = dict(report_figures.grid_figures(table, units={WEIGHT: "uS"}))
    figure = figures["heatmap_rate_exc_hz.png"]
    ax, colour_bar = figure.axes
    done = table[table["state"] == COMPLETED]
    expected = [[round(statistics.mean(done[(done[WEIGHT] == float(w)) & (done["cell"] == c)]["rate_exc_hz"]), 9)
                 for w in rates] for c in ("adex", "lif")]  # fmt: skip
    assert grid_of(ax).tolist() == expected
    assert [t.get_text() for t in ax.get_xticklabels()] == list(rates) and [t.get_text() for t in ax.get_yticklabels()] == ["adex", "lif"]
    assert ax.get_xlabel() == f"{WEIGHT} (uS)" and ax.get_ylabel() == "cell"
    assert type(ax.images[0].norm).__name__ == "LogNorm" and colour_bar.get_ylabel() == "rate_exc_hz (Hz)\nlog colour scale"
    assert "grey" not in figure.get_suptitle() and "n/a" not in [t.get_text() for t in ax.texts]
    assert "mean over 2 to 3 runs differing in pynn_seed: n in each cell" in figure.get_suptitle()
    assert sorted(t.get_text().split("\n")[1] for t in ax.texts) == ["n=2"] + ["n=3"] * 5
    cv = figures["heatmap_cv_isi.png"]
    assert type(cv.axes[0].images[0].norm).__name__ == "Normalize" and cv.axes[1].get_ylabel() == "cv_isi"


def test_a_few_far_values_clip_the_colour_scale_and_the_figure_says_so():
    values = np.array([-500.0, *np.linspace(1.0, 2.0, 20), 900.0])
    norm, note = report_figures.colour_norm(values)
    assert (norm.vmin, norm.vmax) == tuple(np.percentile(values, [5, 95])) and "5th-95th percentiles" in note
    assert report_figures.colour_norm(np.linspace(-1.0, 1.0, 9))[1] == ""
    assert report_figures.colour_norm(np.array([0.1, 1.0, 10.0, 100.0]))[1] == "log colour scale"


def test_two_real_sweeps_into_one_directory_fill_every_row_and_draw_every_job(tmp_path):
    """The README's sequence with the small network: a sweep of a key, then of seeds into the same
    directory (the second leaves the key at the model's default, which only its trees hold)."""
    base = [line for line in SMALL if not line.startswith(WEIGHT + "=")]
    for sweep in ([f"{WEIGHT}=0.005,0.007"], ["pynn_seed=7,8"]):
        proc = run_cli(["-m", *sweep, *base, "hydra.sweep.dir=D"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    sweep_dir = tmp_path / "D"
    table = read_csv(sweep_dir)
    trees_read = [yaml.safe_load((sweep_dir / run_dirname(o) / "parameters.yaml").read_text())
                  for o in ([f"{WEIGHT}=0.005", *base], [f"{WEIGHT}=0.007", *base], ["pynn_seed=7", *base], ["pynn_seed=8", *base])]  # fmt: skip
    assert table[WEIGHT].tolist() == [t["sheets"]["V1"]["connectivity"]["exc_weight"] for t in trees_read] == [0.005, 0.007, 0.004, 0.004]
    assert table["pynn_seed"].tolist() == [t["pynn_seed"] for t in trees_read] == [936395, 936395, 7, 8]
    assert "7.0" not in (sweep_dir / "summary.csv").read_text() and (table["state"] == COMPLETED).all()
    assert pngs(sweep_dir) == [f"summary_{WEIGHT}.png"]
    config = trees.sweep_config(str(sweep_dir))
    figures = report_figures.grid_figures(report_table.summary_table(sweep_dir), declared.seed_keys(config), trees.parameter_units(config))
    [(name, figure)] = figures
    ax = figure.axes[METRICS.index("rate_exc_hz")]
    x, y, half = errorbar_data(ax)
    rates = table["rate_exc_hz"].tolist()
    assert x.tolist() == [0.004, 0.005, 0.007] and y.tolist() == pytest.approx([(rates[2] + rates[3]) / 2, rates[0], rates[1]])
    assert half[0] == pytest.approx(statistics.stdev(rates[2:])) and np.isnan(half[1:]).all()
    assert ax.get_xlabel() == f"{WEIGHT} (uS)" and ax.get_ylabel() == "rate_exc_hz (Hz)"


def test_a_model_options_own_seed_key_is_averaged_through_run_sim(tmp_path):
    """A model option of the user's (no simulator: its value is a function of its tree) declaring net.seed."""
    (tmp_path / "my_seeded.py").write_text("def simulate(cfg):\n    return {'rate_hz': 10 * cfg.net.w + cfg.net.seed / 10}\n")
    (tmp_path / "my_conf" / "model").mkdir(parents=True)
    (tmp_path / "my_conf" / "model" / "seeded.yaml").write_text(
        "# @package _global_\ntask:\n  _target_: my_seeded.simulate\n  _seed_keys_: [net.seed]\nnet:\n  w: 1.0\n  seed: 1\n"
    )
    proc = run_cli(["--config-dir", "my_conf", "model=seeded", "-m", "net.w=1,2", "net.seed=1,2,4", "hydra.sweep.dir=D"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert pngs(tmp_path / "D") == ["summary_net.w.png"]  # net.seed averaged, not an axis
    config = trees.sweep_config(str(tmp_path / "D"))
    [(_, figure)] = report_figures.grid_figures(report_table.summary_table(tmp_path / "D"), declared.seed_keys(config))
    x, y, half = errorbar_data(figure.axes[0])
    assert x.tolist() == [1, 2] and y.tolist() == pytest.approx([10 + 0.7 / 3, 20 + 0.7 / 3])
    assert half.tolist() == pytest.approx([statistics.stdev([0.1, 0.2, 0.4])] * 2)
    assert "mean ± std over 3 runs differing in net.seed" in figure.get_suptitle()
    assert figure.axes[0].get_xlabel() == "net.w" and figure.axes[0].get_ylabel() == "rate_hz (Hz)"  # no schema: no unit


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
