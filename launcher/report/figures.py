"""A sweep's figures: its metrics against its swept parameters, as mozaik's single-value
visualisation draws them (lines for one parameter, heatmaps for two, small multiples of heatmaps
for three or more). A fit's figures are in :mod:`launcher.report.fit_figures`.

``pynn_seed`` is never an axis: jobs that differ only by seed are averaged, with the spread
shown where the plot allows it. A parameter is drawn only if it takes more than one value; a
key that every job sets to the same value is a column of the table but not an axis.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from launcher.report.table import split_columns
from launcher.run.jsonfile import write_atomically

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The parameter that repeats a configuration; averaged over, never an axis.
SEED_KEY = "pynn_seed"
#: Colour of cells without a value (failed or missing job, undefined metric).
MISSING_COLOUR = "lightgrey"
#: A numeric axis with at most this many values has one tick per value.
MAX_LABELLED_TICKS = 8
#: Heatmaps with at most this many cells have their values written in the cells.
MAX_ANNOTATED_CELLS = 144


def safe_name(text: str) -> str:
    """A file-name part: everything but letters, digits and ``._-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)



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
