"""The read side of a sweep: its status, its table of single values, its figures.

Everything here reads a sweep directory (its ``manifest.json`` and the jobs'
``results.json``) and never touches a running job, so it works during a sweep
as well as after it:

- :func:`status` / :func:`format_status`: how many jobs completed, failed, run
  or wait, and for each failed job its overrides, error and log;
- :func:`summary_table`: one row per job, one column per swept parameter, its
  state, one column per metric (NaN where a job has no value);
- :func:`collect`: writes that table to ``summary.csv`` and draws the metrics
  against the swept parameters, as mozaik's single-value visualisation does:
  lines for one parameter, heatmaps for two, small multiples of heatmaps for
  three or more. ``pynn_seed`` is never an axis: jobs that differ only by seed
  are averaged, with the spread shown where the plot allows it.

A parameter is drawn only if it takes more than one value; a key that every
job sets to the same value is a column of the table but not an axis.

Damaged files never stop them (see :mod:`launcher.run.jsonfile`): a job whose
results.json cannot be read is ``damaged``, listed with the file and why; a
damaged manifest is reported, and the jobs are then those the run directories
tell of (:func:`launcher.sweep.manifest.jobs_on_disk`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd

from launcher.sweep.lock import is_swept
from launcher.sweep.manifest import (
    COMPLETED, DAMAGED, FAILED, INTERRUPTED, JOB_LOG, PENDING, RUNNING, JobEntry, Manifest, ManifestError
)  # fmt: skip
from launcher.run.jsonfile import write_atomically
from launcher.run.results import load_results

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SUMMARY_FILE = "summary.csv"
#: The parameter that repeats a configuration; averaged over, never an axis.
SEED_KEY = "pynn_seed"
#: The order in which the status counts the jobs: what is done first.
STATUS_ORDER = (COMPLETED, FAILED, RUNNING, PENDING, INTERRUPTED, DAMAGED)
#: Colour of cells without a value (failed or missing job, undefined metric).
MISSING_COLOUR = "lightgrey"
#: A numeric axis with at most this many values has one tick per value.
MAX_LABELLED_TICKS = 8
#: Heatmaps with at most this many cells have their values written in the cells.
MAX_ANNOTATED_CELLS = 144


# --- status ---------------------------------------------------------------------------------------


def read_sweep(sweep_dir: Path) -> tuple[Manifest, Optional[str]]:
    """The sweep's manifest; if it is damaged, the jobs its run directories tell of, with a
    message saying so (what can still be reported is); a :class:`ManifestError` for a missing
    manifest or another program's."""
    manifest = Manifest.read(sweep_dir)
    if not isinstance(manifest, ManifestError):
        return manifest, None
    if manifest.kind != ManifestError.DAMAGED:
        raise manifest
    problem = (
        f"{manifest}. Reported instead: the run directories that hold a results.json (job numbers, "
        "and jobs without one, are not known until the sweep runs again and rebuilds the manifest)"
    )
    return Manifest.rebuild(sweep_dir), problem


@dataclass
class StatusReport:
    """The state of every job of a sweep, as far as the files on disk tell."""

    sweep_dir: Path
    counts: dict[str, int]
    failed: list[JobEntry] = field(default_factory=list)
    #: The file name of each job's log in its run directory.
    job_log: str = JOB_LOG
    #: The jobs whose results.json cannot be read.
    damaged: list[JobEntry] = field(default_factory=list)
    #: Why the manifest could not be read, if it could not (the jobs are then the run directories').
    problem: Optional[str] = None
    #: The jobs left pending or running by a sweep that has ended.
    interrupted: list[JobEntry] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def status(sweep_dir: Path | str) -> StatusReport:
    """Count the jobs of a sweep by state and describe the failed and damaged ones."""
    sweep_dir = Path(sweep_dir)
    manifest, problem = read_sweep(sweep_dir)
    if not manifest.rebuilt:  # a rebuilt manifest was read from the results.json just now
        manifest.refresh()
    if any(job.slurm_job_id and job.state in (PENDING, RUNNING) for job in manifest.jobs):
        from launcher.launchers.slurm_queue import refresh_states  # jobs left to Slurm: ask the queue

        refresh_states(manifest.jobs)
    manifest.settle(swept=is_swept(sweep_dir))  # a job no process runs any more is interrupted
    jobs = _in_order(manifest.jobs)
    failed, damaged, interrupted = ([job for job in jobs if job.state == state] for state in (FAILED, DAMAGED, INTERRUPTED))
    return StatusReport(sweep_dir, manifest.counts(), failed, manifest.job_log, damaged, problem, interrupted)


def format_status(report: StatusReport) -> str:
    """The status as a user reads it: one line of counts, then each failed and each damaged job."""
    counts = ", ".join(f"{report.counts[state]} {state}" for state in STATUS_ORDER if state in report.counts)
    lines = [f"Sweep {report.sweep_dir}: {report.total} jobs: {counts}"]
    for title, jobs in (
        ("Failed jobs:", report.failed),
        ("Interrupted jobs (no process runs them any more: running the sweep again runs them):", report.interrupted),
        ("Jobs whose results.json is damaged (not done: running the sweep again reruns them):", report.damaged),
    ):
        if jobs:
            lines.append(title)
        lines += [job.describe_failure(report.sweep_dir, report.job_log) for job in jobs]
    return "\n".join(lines)


def _in_order(jobs: Iterable[JobEntry]) -> list[JobEntry]:
    return sorted(jobs, key=lambda job: job.number)


# --- the table ------------------------------------------------------------------------------------


def parse_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """``["a=1", "+b='x y'"]`` -> ``{"a": "1", "b": "x y"}``; deletions (``~a``) carry no value."""
    values = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if sep:
            values[key.lstrip("+~")] = _unquote(value)
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _numeric_if_possible(column: pd.Series) -> pd.Series:
    """The column as numbers (int where every value is an integer) if every value is one."""
    try:
        return pd.to_numeric(column)
    except (ValueError, TypeError):
        return column


def _job_results(job: JobEntry, sweep_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """The metrics of a completed job (nothing for any other), and the names of the metrics its
    results.json holds, whatever its state or config; folds results.json into the job's entry.

    A results.json written for another config (an earlier sweep into the same
    directory) is not this job's: its metrics are not the job's, but their names say
    which columns the model's table has when no job of this sweep has a value.
    """
    found = load_results(sweep_dir / job.run_dir)
    record = job.take_results(found)
    names = list(found["metrics"]) if isinstance(found, dict) else []
    if record is None or job.state != COMPLETED:
        return {}, names
    return dict(record["metrics"]), names


def _first_seen(dicts: Iterable[Iterable[str]]) -> list[str]:
    """The keys of all dicts (or names of all lists), each once, in the order they first appear."""
    return list(dict.fromkeys(key for d in dicts for key in d))


def summary_table(sweep_dir: Path | str, manifest: Optional[Manifest] = None) -> pd.DataFrame:
    """One row per job (in job order): ``job``, the swept parameters, ``state``, the metrics.

    A metric has its column if any job's results.json names it, even when no job has a
    value: a sweep whose every job failed keeps the columns of an earlier run of the
    same directories; with no metric named anywhere, there are no metric columns.
    ``manifest``: the sweep's, if already read (else read here, see :func:`read_sweep`).
    """
    sweep_dir = Path(sweep_dir)
    manifest = manifest or read_sweep(sweep_dir)[0]
    jobs = _in_order(manifest.jobs)
    read = [_job_results(job, sweep_dir) for job in jobs]  # also updates each job's state
    manifest.settle(swept=is_swept(sweep_dir))  # a job no process runs any more is interrupted
    metrics = [values for values, _ in read]
    params = [parse_overrides(job.overrides) for job in jobs]
    columns: dict[str, pd.Series] = {"job": pd.Series([job.number for job in jobs], dtype="int64")}
    for key in _first_seen(params):
        columns[key] = _numeric_if_possible(_column(params, key))
    columns["state"] = pd.Series([job.state for job in jobs], dtype=object)
    for key in _first_seen([*metrics, *(names for _, names in read)]):
        columns[key] = pd.to_numeric(_column(metrics, key), errors="coerce")  # anything but a number: NaN
    if manifest.fit:
        columns.update(fit_columns(jobs, manifest.fit))
    return pd.DataFrame(columns)


def objective_columns(fit: dict[str, Any]) -> list[str]:
    """The table's columns of a fit's objective: ``objective`` (one value: a metric, or the loss of
    targets), or ``objective:<metric>`` for each metric of a multi-objective fit."""
    directions = fit.get("directions") or ["minimize"]
    return ["objective"] if len(directions) == 1 else [f"objective:{name}" for name in fit.get("metrics", [])]


def fit_columns(jobs: Sequence[JobEntry], fit: dict[str, Any]) -> dict[str, pd.Series]:
    """A fit's columns: the value(s) told to the sampler for each trial (NaN: none, the trial
    failed), and ``best``: the best trial (of several objectives, every trial no other beats in all)."""
    names = objective_columns(fit)
    values = np.array([job.values if job.values and len(job.values) == len(names) else [np.nan] * len(names) for job in jobs], dtype=float)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in (fit.get("directions") or ["minimize"])])
    scores = values.reshape(len(jobs), len(names)) * signs  # lower is better in every column
    valid = ~np.isnan(scores).any(axis=1)
    best = np.zeros(len(jobs), dtype=bool)
    for i in np.flatnonzero(valid):  # not dominated: no trial at least as good in all, better in one
        others = scores[valid]
        best[i] = not np.any(np.all(others <= scores[i], axis=1) & np.any(others < scores[i], axis=1))
    columns = {name: pd.Series(values[:, k] if len(jobs) else [], dtype="float64") for k, name in enumerate(names)}
    columns["best"] = pd.Series(best, dtype=bool)
    return columns


def _column(rows: list[dict[str, Any]], key: str) -> pd.Series:
    """The values of ``key`` in each row, None where a row has none."""
    return pd.Series([row.get(key) for row in rows], dtype=object)


def split_columns(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The parameter columns (between ``job`` and ``state``) and the metric columns (after ``state``)."""
    columns = list(table.columns)
    state = columns.index("state")
    return columns[1:state], columns[state + 1 :]


# --- writing --------------------------------------------------------------------------------------


@dataclass
class CollectResult:
    """What :func:`collect` wrote, and what it found damaged."""

    csv: Path
    figures: list[Path] = field(default_factory=list)
    #: Why the manifest could not be read, if it could not (the table is then the run directories').
    problem: Optional[str] = None
    #: One line for each job whose results.json is damaged, naming the file.
    damaged: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [self.csv, *self.figures]

    def __str__(self) -> str:
        return ", ".join(str(path) for path in self.paths)


def safe_name(text: str) -> str:
    """A file-name part: everything but letters, digits and ``._-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def collect(sweep_dir: Path | str) -> CollectResult:
    """Write ``summary.csv`` and the figures of a sweep into its directory; return their paths
    and what was found damaged (a :class:`ManifestError` for a missing or foreign manifest)."""
    sweep_dir = Path(sweep_dir)
    manifest, problem = read_sweep(sweep_dir)
    table = summary_table(sweep_dir, manifest)
    csv = write_atomically(sweep_dir / SUMMARY_FILE, lambda tmp: table.to_csv(tmp, index=False))
    damaged = [
        f"job #{job.number} is not counted as completed: {job.damage} (running the sweep again reruns it)"
        for job in _in_order(manifest.jobs)
        if job.state == DAMAGED
    ]
    figures = fit_figures(table, sweep_dir, manifest.fit) if manifest.fit else write_figures(table, sweep_dir)
    return CollectResult(csv, figures, problem, damaged)


# --- figures --------------------------------------------------------------------------------------


def axis_parameters(table: pd.DataFrame) -> list[str]:
    """The parameters that become axes: those that take more than one value, except the seed."""
    params, _ = split_columns(table)
    return [key for key in params if key != SEED_KEY and table[key].nunique() > 1]


def write_figures(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Draw the table's metrics against its swept parameters as PNG files in ``out_dir``."""
    keys = axis_parameters(table)
    if not keys:
        return []
    _, metric_keys = split_columns(table)
    means, spread, seeds = _seed_means(table, keys, metric_keys)
    metrics = [m for m in metric_keys if means[m].notna().any()]  # all-NaN: nothing to draw
    if not metrics:
        return []
    if len(keys) == 1:
        figure = _line_figure(means, spread, keys[0], metrics, seeds)
        return [_save(figure, out_dir / f"summary_{safe_name(keys[0])}.png")]
    prefix = "heatmap" if len(keys) == 2 else "facets"
    return [
        _save(_heatmap_figure(means, metric, keys, seeds), out_dir / f"{prefix}_{safe_name(metric)}.png")
        for metric in metrics
    ]


def fit_figures(table: pd.DataFrame, out_dir: Path, fit: dict[str, Any]) -> list[Path]:
    """A fit's figures: the optimisation history (each trial's value and the best so far) and, for
    each pair of searched parameters (or the one), the value at every trial's point."""
    names = [name for name in objective_columns(fit) if name in table and table[name].notna().any()]
    if not names:
        return []
    params = [key for key in split_columns(table)[0] if table[key].nunique() > 1 and pd.api.types.is_numeric_dtype(table[key])]
    paths = [_save(_history_figure(table, names, fit), out_dir / "fit_history.png")]
    pairs = [(a, b) for i, a in enumerate(params) for b in params[i + 1 :]] or [(a, None) for a in params]
    for name in names:
        for x_key, y_key in pairs:
            suffix = f"{safe_name(x_key)}" + (f"__{safe_name(y_key)}" if y_key else "")
            paths.append(_save(_points_figure(table, name, x_key, y_key), out_dir / f"fit_{safe_name(name)}_{suffix}.png"))
    return paths


def _history_figure(table: pd.DataFrame, names: list[str], fit: dict[str, Any]) -> "Figure":
    """Each objective's value at each trial (failed trials left out) and the best so far."""
    figure, axes = _new_figure(len(names), min(3, len(names)), (5.0, 3.4))
    for ax, name, direction in zip(axes, names, fit.get("directions") or ["minimize"] * len(names)):
        done = table.dropna(subset=[name]).sort_values("job")
        values = done[name].to_numpy(dtype=float)
        running = np.minimum.accumulate(values) if direction == "minimize" else np.maximum.accumulate(values)
        ax.plot(done["job"], values, "o", alpha=0.6, label="trial")
        ax.step(done["job"], running, where="post", color="black", label=f"best so far ({direction})")
        ax.set(xlabel="trial", ylabel=name, title=name)
        ax.legend(fontsize="small")
    figure.suptitle("Optimisation history" + (f": targets {fit['targets']}" if fit.get("targets") else ""), fontsize="medium")
    return figure


def _points_figure(table: pd.DataFrame, name: str, x_key: str, y_key: Optional[str]) -> "Figure":
    """The objective at each trial's point: against one parameter, or coloured over two; the best ringed."""
    figure, (ax,) = _new_figure(1, 1, (5.5, 4.2))
    done = table.dropna(subset=[name])
    best = done[done["best"]] if "best" in done else done.iloc[:0]
    if y_key is None:
        ax.plot(done[x_key], done[name], "o", alpha=0.7)
        ax.plot(best[x_key], best[name], "o", markersize=12, markerfacecolor="none", markeredgecolor="red", label="best")
        ax.set(xlabel=x_key, ylabel=name)
    else:
        points = ax.scatter(done[x_key], done[y_key], c=done[name], cmap="viridis")
        ax.scatter(best[x_key], best[y_key], s=160, facecolors="none", edgecolors="red", label="best")
        figure.colorbar(points, ax=ax, label=name)
        ax.set(xlabel=x_key, ylabel=y_key)
    if len(best):
        ax.legend(fontsize="small")
    ax.set_title(f"{name} at each trial's point", fontsize="medium")
    return figure


def _seed_means(table: pd.DataFrame, keys: list[str], metrics: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Mean and standard deviation of each metric over the jobs that share ``keys`` (the seeds).

    Jobs without a value for an axis have no place on it and are left out; so are
    infinite metric values, which no axis or colour scale can show.
    """
    placed = table.dropna(subset=keys).replace([np.inf, -np.inf], np.nan)
    groups = placed.groupby(keys, sort=True)[metrics]
    seeds = int(table[SEED_KEY].nunique()) if SEED_KEY in table else 1
    return groups.mean().reset_index(), groups.std().reset_index(), seeds


def _seed_note(seeds: int, spread: bool) -> str:
    if seeds < 2:
        return ""
    return f"mean ± std over {seeds} pynn_seed values" if spread else f"mean over {seeds} pynn_seed values"


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return str(value)


def _new_figure(panels: int, ncols: int, panel_size: tuple[float, float]) -> tuple["Figure", list["Axes"]]:
    """A figure drawn by the Agg backend (no display, no pyplot state) with a grid of panels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    nrows = math.ceil(panels / ncols)
    figure = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    FigureCanvasAgg(figure)  # the Agg backend, set on this figure only
    axes = list(figure.subplots(nrows, ncols, squeeze=False).ravel())
    for unused in axes[panels:]:
        unused.set_visible(False)
    return figure, axes[:panels]


def _save(figure: "Figure", path: Path) -> Path:
    return write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))


def _line_figure(means: pd.DataFrame, spread: pd.DataFrame, key: str, metrics: list[str], seeds: int) -> "Figure":
    """One panel per metric: the metric against the one swept parameter, mean ± std over seeds."""
    figure, axes = _new_figure(len(metrics), min(3, len(metrics)), (4.2, 3.2))
    numeric = pd.api.types.is_numeric_dtype(means[key])
    x = means[key].to_numpy() if numeric else np.arange(len(means))
    note = _seed_note(seeds, spread=True)
    for ax, metric in zip(axes, metrics):
        y = means[metric].to_numpy(dtype=float)
        yerr = spread[metric].to_numpy(dtype=float) if seeds > 1 else None
        ax.errorbar(x, y, yerr=yerr, fmt="o-", capsize=3, label=note or None)
        for missing in x[np.isnan(y)]:
            ax.axvline(missing, color="grey", linestyle=":", label="no value (failed or undefined)")
        if not numeric or len(x) <= MAX_LABELLED_TICKS:  # the swept values themselves
            ax.set_xticks(x, labels=[_label(v) for v in means[key]], rotation=30 if len(x) > 4 else 0)
        ax.set(xlabel=key, ylabel=metric, title=metric)
        handles, labels = _unique_legend(ax)
        if handles:
            ax.legend(handles, labels, fontsize="small")
    figure.suptitle(f"Metrics against {key}" + (f" ({note})" if note else ""))
    return figure


def _unique_legend(ax: "Axes") -> tuple[list[Any], list[str]]:
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    return list(unique.values()), list(unique.keys())


def _heatmap_figure(means: pd.DataFrame, metric: str, keys: list[str], seeds: int) -> "Figure":
    """Heatmaps of one metric over the first two parameters, one panel per value of the others."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    x_key, y_key, facet_keys = keys[0], keys[1], keys[2:]
    xs, ys = sorted(means[x_key].unique()), sorted(means[y_key].unique())
    panels = list(means.groupby(facet_keys, sort=True)) if facet_keys else [((), means)]
    figure, axes = _new_figure(len(panels), min(4, len(panels)), (max(5.5, 0.7 * len(xs) + 3), max(4.0, 0.45 * len(ys) + 2.5)))
    values = means[metric].to_numpy(dtype=float)
    norm = Normalize(np.nanmin(values), np.nanmax(values))
    cmap = colormaps["viridis"].with_extremes(bad=MISSING_COLOUR)
    for ax, (facet, panel) in zip(axes, panels):
        grid = panel.set_index([y_key, x_key])[metric].unstack(x_key).reindex(index=ys, columns=xs)
        image = _draw_grid(ax, grid.to_numpy(dtype=float), cmap, norm)
        ax.set_xticks(range(len(xs)), labels=[_label(v) for v in xs], rotation=30 if len(xs) > 4 else 0)
        ax.set_yticks(range(len(ys)), labels=[_label(v) for v in ys])
        ax.set(xlabel=x_key, ylabel=y_key)
        if facet_keys:
            facet = facet if isinstance(facet, tuple) else (facet,)
            ax.set_title(", ".join(f"{k}={_label(v)}" for k, v in zip(facet_keys, facet)), fontsize="small")
    note = _seed_note(seeds, spread=False)
    figure.colorbar(image, ax=axes, label=metric + (f" ({note})" if note else ""))
    figure.suptitle(f"{metric}\n(grey: no value: failed, missing or undefined)", fontsize="medium")
    return figure


def _draw_grid(ax: "Axes", grid: np.ndarray, cmap: Any, norm: Any) -> Any:
    """One heatmap, NaN cells masked (drawn in the colour map's 'bad' colour), small grids annotated."""
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, origin="lower", aspect="auto")
    if grid.size <= MAX_ANNOTATED_CELLS:
        for (row, col), value in np.ndenumerate(grid):
            dark = not np.isnan(value) and norm(value) < 0.5  # viridis is dark at the low end
            text = "n/a" if np.isnan(value) else f"{value:.3g}"
            ax.text(col, row, text, ha="center", va="center", fontsize="small", color="white" if dark else "black")
    return image
