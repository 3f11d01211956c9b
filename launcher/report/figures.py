"""A sweep's figures: its metrics against its swept parameters, as mozaik's single-value
visualisation draws them (lines for one parameter, heatmaps for two, small multiples of heatmaps
for three or more). A fit's figures are in :mod:`launcher.report.fit_figures`.

A figure's axes are the parameters that take more than one value among the jobs it draws (each
job's value is the one it ran with: :func:`launcher.report.table.summary_table`); a key only some
jobs have is an axis too, its other jobs drawn at ``unset``. The seed keys (``pynn_seed``, or the
model's ``task._seed_keys_``) are never axes: jobs that differ only by seed are averaged, the
number of runs averaged said on the figure. Every job with a value is drawn; a job without one is
a grey cell, unless its parameters are not known (it never started), when it has no place. Axis
labels carry units (the schema's, the metric name's); values spanning decades get a log scale,
said on the figure.

:func:`grid_figures` gives the figures (matplotlib objects, for tests to read back what they
draw); :func:`write_figures` saves them as PNG files.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from launcher.report.table import split_columns
from launcher.report.trees import metric_unit, with_unit
from launcher.sweep.declared import DEFAULT_SEED_KEYS
from launcher.run.jsonfile import write_atomically

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The most metrics drawn (the first ones of the table): a figure each, or a panel each.
MAX_DRAWN_METRICS = 50
#: Colour of cells without a value (failed or missing job, undefined metric).
MISSING_COLOUR = "lightgrey"
#: A numeric axis with at most this many values has one tick per value.
MAX_LABELLED_TICKS = 8
#: Heatmaps with at most this many cells have their values written in the cells.
MAX_ANNOTATED_CELLS = 144
#: The label of an axis value for the jobs that do not have the key.
UNSET = "unset"
#: Positive values whose largest is at least this many times their smallest get a log scale.
LOG_SPAN = 100.0
#: Colour limits are the 5th and 95th percentiles when the full range is this many times wider.
ROBUST_SPAN = 10.0
#: What a colour bar says of its scale when it is not linear over all values.
LOG_COLOURS = "log colour scale"
CLIPPED_COLOURS = "colours clipped to the 5th-95th percentiles (arrows: beyond)"


def safe_name(text: str) -> str:
    """A file-name part: everything but letters, digits and ``._-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def drawn_rows(table: pd.DataFrame, seed_keys: Sequence[str] = DEFAULT_SEED_KEYS) -> pd.DataFrame:
    """The jobs the figures draw: those with a value of some metric, and those without one whose
    every parameter is known (a failed job: a grey cell). A job that never started and lacks a
    value of a key it did not set has no known place, and nothing to show."""
    params, metrics = split_columns(table)
    known = table[[key for key in params if key not in seed_keys]].notna().all(axis=1)
    valued = np.isfinite(table[metrics].astype(float)).any(axis=1) if metrics else pd.Series(False, index=table.index)
    return table[known | valued]


def axis_parameters(table: pd.DataFrame, seed_keys: Sequence[str] = DEFAULT_SEED_KEYS) -> list[str]:
    """The parameters that become axes: those that take more than one value (being unset counts
    as one), except the seed keys."""
    params, _ = split_columns(table)
    return [key for key in params if key not in seed_keys and _hashable(table[key]).nunique(dropna=False) > 1]


def _hashable(column: pd.Series) -> pd.Series:
    """The column with lists and dicts (a key swept over lists) as their text, so that it groups."""
    if column.dtype != object:
        return column
    return column.map(lambda value: str(value) if isinstance(value, (list, dict)) else value)


def write_figures(
    table: pd.DataFrame, out_dir: Path, seed_keys: Sequence[str] = DEFAULT_SEED_KEYS, units: Optional[Mapping[str, str]] = None
) -> list[Path]:
    """Draw the table's metrics against its swept parameters as PNG files in ``out_dir``."""
    return [_save(figure, out_dir / name) for name, figure in grid_figures(table, seed_keys, units)]


def grid_figures(
    table: pd.DataFrame, seed_keys: Sequence[str] = DEFAULT_SEED_KEYS, units: Optional[Mapping[str, str]] = None
) -> list[tuple[str, "Figure"]]:
    """The figures of the metrics against the swept parameters, each with its file name.
    ``units``: the unit of each parameter that has one."""
    rows = drawn_rows(table, seed_keys)
    keys = axis_parameters(rows, seed_keys)
    if not keys:
        return []
    _, metric_keys = split_columns(table)
    stats = seed_stats(rows, keys, metric_keys)
    metrics = [m for m in metric_keys if stats.mean[m].notna().any()]  # all-NaN: nothing to draw
    if not metrics:
        return []
    if len(metrics) > MAX_DRAWN_METRICS:  # a figure a metric (or a panel): collect stays quick
        log.warning("The sweep has %d metrics: the figures draw the first %d (summary.csv holds them all)", len(metrics), MAX_DRAWN_METRICS)
        metrics = metrics[:MAX_DRAWN_METRICS]
    seeds = [key for key in seed_keys if key in table]
    labels = {key: with_unit(key, (units or {}).get(key, "")) for key in keys}
    if len(keys) == 1:
        return [(f"summary_{safe_name(keys[0])}.png", line_figure(stats, keys[0], metrics, seeds, labels))]
    prefix = "heatmap" if len(keys) == 2 else "facets"
    return [(f"{prefix}_{safe_name(m)}.png", heatmap_figure(stats, m, keys, seeds, labels)) for m in metrics]




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


#: The longest figure file name written (bytes): file systems allow 255, and the atomic writer's
#: temporary name adds some 25 to it.
MAX_FILE_NAME = 200


def short_file_name(name: str, limit: int = MAX_FILE_NAME) -> str:
    """``name`` if it is at most ``limit`` bytes long, else its start, a hash of the whole (two long
    names that start alike stay two files) and its suffix."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    keep = limit - len(digest) - len(suffix) - 3
    return f"{stem.encode('utf-8')[:keep].decode('utf-8', 'ignore')}__{digest}{dot}{suffix}"


def _save(figure: "Figure", path: Path) -> Path:
    """Write a figure as PNG to ``path`` (its name shortened to :data:`MAX_FILE_NAME` bytes if longer)."""
    path = path.with_name(short_file_name(path.name))
    return write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100), what="figure")


def _unique_legend(ax: "Axes") -> tuple[list[Any], list[str]]:
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    return list(unique.values()), list(unique.keys())


@dataclass
class SeedStats:
    """Each metric's mean, standard deviation and number of runs (finite values) over the jobs that
    share the values of ``keys``: one row per combination that jobs ran, ``unset`` ones included
    (NaN in the key's column)."""

    mean: pd.DataFrame
    std: pd.DataFrame
    count: pd.DataFrame


def seed_stats(rows: pd.DataFrame, keys: list[str], metrics: list[str]) -> SeedStats:
    """The mean, spread and count of each metric over the seeds of each combination of ``keys``.
    Infinite values, which no axis or colour scale can show, are left out, as NaN values are."""
    values = rows[metrics].astype(float).replace([np.inf, -np.inf], np.nan)
    grouped = pd.concat([rows[keys].apply(_hashable), values], axis=1).groupby(keys, sort=True, dropna=False)[metrics]
    return SeedStats(*(frame.reset_index() for frame in (grouped.mean(), grouped.std(), grouped.count())))


def seed_note(counts: np.ndarray, seeds: Sequence[str], spread: bool) -> str:
    """What each point (``spread``: of a line, with its standard deviation) or cell is: "" for
    single runs; the mean (± std) over N runs, N said once when every one has the same, else the
    range, n being written at each."""
    counts = counts[counts > 0]
    if not counts.size or counts.max() < 2:
        return ""
    what = "mean ± std" if spread else "mean"
    over = f"differing in {', '.join(seeds)}" if seeds else "of the same values"
    if not varying_counts(counts):
        return f"{what} over {int(counts.max())} runs {over}"
    if spread:  # points crowd a line: n is written only where it is not the most common one
        return f"{what} over {int(counts.min())} to {int(counts.max())} runs {over}: {usual_count(counts)} unless n is written at a point"
    return f"{what} over {int(counts.min())} to {int(counts.max())} runs {over}: n in each cell"


def usual_count(counts: np.ndarray) -> int:
    """The most common number of runs behind a point (the smallest of equally common ones)."""
    values, times = np.unique(counts[counts > 0], return_counts=True)
    return int(values[np.argmax(times)]) if values.size else 0


def varying_counts(counts: np.ndarray) -> bool:
    """Points average different numbers of runs (a point of no value aside): n is said at each."""
    counts = counts[counts > 0]
    return bool(counts.size and counts.max() > 1 and counts.min() != counts.max())


def _is_unset(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _label(value: Any) -> str:
    if _is_unset(value):
        return UNSET
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return str(value)


def _is_log_span(values: np.ndarray) -> bool:
    """Positive values spanning decades: read on a log scale."""
    values = values[np.isfinite(values)]
    return bool(values.size > 1 and values.min() > 0 and values.max() / values.min() >= LOG_SPAN)


def _numeric_axis(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def line_figure(stats: SeedStats, key: str, metrics: list[str], seeds: Sequence[str], labels: Mapping[str, str]) -> "Figure":
    """One panel per metric: the metric against the one swept parameter, mean ± std over seeds.
    The jobs that do not have the key (``unset``) are a horizontal line; points without a value a
    grey dotted line at their x."""
    figure, axes = _new_figure(len(metrics), min(3, len(metrics)), (4.4, 3.4))
    column = stats.mean[key]
    unset = column.isna().to_numpy()
    numeric = _numeric_axis(column)
    set_values = column[~unset]
    x = set_values.to_numpy(dtype=float) if numeric else np.arange(len(set_values), dtype=float)
    log_x = numeric and _is_log_span(x)
    counts_all = stats.count[metrics].to_numpy()
    note = seed_note(counts_all, seeds, spread=True)
    varying_n = varying_counts(counts_all)
    for ax, metric in zip(axes, metrics):
        mean, std, count = (frame[metric].to_numpy(dtype=float) for frame in (stats.mean, stats.std, stats.count))
        y, yerr, n = mean[~unset], std[~unset], count[~unset]
        ax.errorbar(x, y, yerr=yerr if note else None, fmt="o-", capsize=3)  # NaN (one run): no bar
        for missing in x[np.isnan(y)]:
            ax.axvline(missing, color="grey", linestyle=":", label="no value (failed or undefined)")
        if varying_n:
            usual = usual_count(counts_all)
            for xi, yi, ni in zip(x, y, n):
                if not np.isnan(yi) and ni != usual:
                    ax.annotate(f"n={int(ni)}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
        for value, std_value, n_value in zip(mean[unset], std[unset], count[unset]):
            if not np.isnan(value):  # the jobs without the key: no x, one level
                ax.axhline(value, color="tab:orange", linestyle="--", label=f"{key} {UNSET}" + (f" (n={int(n_value)})" if varying_n else ""))
                if note and not np.isnan(std_value):
                    ax.axhspan(value - std_value, value + std_value, color="tab:orange", alpha=0.15)
        if log_x:
            ax.set_xscale("log")
        ax.margins(x=0.12)  # room for the n written beside the last point
        if not numeric or len(x) <= MAX_LABELLED_TICKS:  # the swept values themselves
            ax.set_xticks(x, labels=[_label(v) for v in set_values], rotation=30 if len(x) > 4 else 0)
            ax.minorticks_off()
        log_y = _is_log_span(mean)
        if log_y:
            ax.set_yscale("log")
        ylabel = with_unit(metric, metric_unit(metric))
        ax.set(xlabel=labels[key] + (", log scale" if log_x else ""), ylabel=ylabel + (", log scale" if log_y else ""), title=metric)
        handles, legend_labels = _unique_legend(ax)
        if handles:
            ax.legend(handles, legend_labels, fontsize="x-small")
    figure.suptitle(f"Metrics against {key}" + (f"\n({note})" if note else ""), fontsize="medium")
    return figure


def _levels(column: pd.Series) -> list[Any]:
    """An axis's values in order, ``unset`` (NaN) last."""
    present = column.dropna().unique().tolist()
    return sorted(present, key=lambda v: (str(type(v)), v)) + ([None] if column.isna().any() else [])


def _position(levels: list[Any], value: Any) -> int:
    if _is_unset(value):
        return len(levels) - 1
    return levels.index(value)


def colour_norm(values: np.ndarray) -> tuple[Any, str]:
    """A colour scale readable for these values, and what the figure says of it: log when
    positive values span decades, the 5th to 95th percentiles when a few values lie far out."""
    from matplotlib.colors import LogNorm, Normalize

    finite = values[np.isfinite(values)]
    if _is_log_span(finite):
        return LogNorm(finite.min(), finite.max()), LOG_COLOURS
    low, high = np.percentile(finite, [5, 95])
    if high > low and finite.max() - finite.min() > ROBUST_SPAN * (high - low):
        return Normalize(low, high), CLIPPED_COLOURS
    return Normalize(finite.min(), finite.max()), ""


def heatmap_figure(stats: SeedStats, metric: str, keys: list[str], seeds: Sequence[str], labels: Mapping[str, str]) -> "Figure":
    """Heatmaps of one metric over the first two parameters, one panel per value of the others."""
    from matplotlib import colormaps

    means, counts = stats.mean, stats.count
    x_key, y_key, facet_keys = keys[0], keys[1], keys[2:]
    xs, ys = _levels(means[x_key]), _levels(means[y_key])
    combos = means[facet_keys].drop_duplicates().itertuples(index=False, name=None) if facet_keys else [()]
    panels = sorted(combos, key=lambda combo: tuple((_is_unset(v), str(type(v)), v if not _is_unset(v) else 0) for v in combo))
    figure, axes = _new_figure(len(panels), min(4, len(panels)), (max(5.5, 0.7 * len(xs) + 3), max(4.0, 0.45 * len(ys) + 2.5)))
    values = means[metric].to_numpy(dtype=float)
    norm, scale_note = colour_norm(values)
    cmap = colormaps["viridis"].with_extremes(bad=MISSING_COLOUR)
    note = seed_note(counts[metric].to_numpy(), seeds, spread=False)
    varying_n = varying_counts(counts[metric].to_numpy())
    grey = False
    for ax, facet in zip(axes, panels):
        grid, n = np.full((len(ys), len(xs)), np.nan), np.zeros((len(ys), len(xs)), dtype=int)
        in_panel = np.ones(len(means), dtype=bool)
        for facet_key, value in zip(facet_keys, facet):
            column = means[facet_key]
            in_panel &= (column.isna() if _is_unset(value) else column == value).to_numpy(dtype=bool, na_value=False)
        for row in np.flatnonzero(in_panel):
            cell = _position(ys, means[y_key].iloc[row]), _position(xs, means[x_key].iloc[row])
            grid[cell], n[cell] = values[row], counts[metric].iloc[row]
        grey |= bool(np.isnan(grid).any())
        image = draw_grid(ax, grid, cmap, norm, n if varying_n else None)
        ax.set_xticks(range(len(xs)), labels=[_label(v) for v in xs], rotation=30 if len(xs) > 4 else 0)
        ax.set_yticks(range(len(ys)), labels=[_label(v) for v in ys])
        ax.set(xlabel=labels[x_key], ylabel=labels[y_key])
        if facet_keys:
            ax.set_title(", ".join(f"{k}={_label(v)}" for k, v in zip(facet_keys, facet)), fontsize="small")
    extend = "both" if scale_note == CLIPPED_COLOURS else "neither"
    label = with_unit(metric, metric_unit(metric)) + (f"\n{scale_note}" if scale_note else "")
    figure.colorbar(image, ax=axes, label=label, extend=extend)
    lines = [metric] + ([f"({note})"] if note else []) + (["(grey: no value: failed, missing or undefined)"] if grey else [])
    figure.suptitle("\n".join(lines), fontsize="medium")
    return figure


def draw_grid(ax: "Axes", grid: np.ndarray, cmap: Any, norm: Any, counts: Optional[np.ndarray] = None) -> Any:
    """One heatmap, NaN cells masked (drawn in the colour map's 'bad' colour), small grids annotated
    with each cell's value (and ``counts``, the runs averaged, when given)."""
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, origin="lower", aspect="auto")
    if grid.size <= MAX_ANNOTATED_CELLS:
        for (row, col), value in np.ndenumerate(grid):
            dark = not np.isnan(value) and float(np.clip(norm(value), 0, 1)) < 0.5  # viridis is dark at the low end
            text = "n/a" if np.isnan(value) else f"{value:.3g}" + (f"\nn={counts[row, col]}" if counts is not None else "")
            ax.text(col, row, text, ha="center", va="center", fontsize="small", color="white" if dark else "black")
    return image
