"""A fit's figures, drawn from its table (summary.csv's columns) and the manifest's ``fit`` object.

- ``fit_history.png``: each objective's value at each trial on a log scale (symmetric
  log where a value is 0 or below), the best so far, failed trials marked at the top
  edge, for targets the trials consistent with them;
- ``fit_<objective>_<a>__<b>.png``: the objective at each trial's point over each pair
  of searched parameters (or against the one), log colours, failed trials as crosses,
  the consistent trials and the best ringed;
- for targets, ``fit_targets.png``: the trials in the space of the target metrics,
  with the target's tolerance region (a box for two metrics, a band for one), and
  ``fit_consistent.png``: each searched parameter's interval, every trial's value and
  the range the consistent trials span, those the targets leave wide named;
- for several objectives, ``fit_pareto.png``: each pair of objectives, every trial, the
  Pareto front (the trials no other beats in every objective) joined and numbered.

The consistent set and the ranges are :mod:`launcher.sweep.consistency`'s, the same the log gives.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from launcher.report.figures import _new_figure, _save, safe_name
from launcher.report.table import objective_columns, split_columns
from launcher.sweep.consistency import Consistency, consistency, percent

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

#: Colours of the marks every fit figure shares.
CONSISTENT_COLOUR = "tab:green"
BEST_COLOUR = "red"
FAILED_COLOUR = "tab:red"
TRIAL_COLOUR = "tab:blue"
#: Where a failed trial (no value) is marked on a value axis: this fraction of the axis' height.
FAILED_HEIGHT = 0.96
#: Characters per inch of a figure's title line (wrapped so that no text leaves the figure).
TITLE_CHARS_PER_INCH = 10
#: Width of a column of the legend below a figure's panels (labels run up to about 40 characters).
LEGEND_COLUMN_INCHES = 3.2
#: Pairs of target metrics (or objectives) drawn at most.
MAX_PAIRS = 6
#: Labels of the marks (tests find the artists by them).
FAILED_LABEL = "failed: no value"
BEST_SO_FAR_LABEL = "best so far"


def fit_figures(table: pd.DataFrame, out_dir: Path, fit: dict[str, Any]) -> list[Path]:
    """Write a fit's figures (the module's docstring lists them) into ``out_dir``; their paths."""
    names = [name for name in objective_columns(fit) if name in table and table[name].notna().any()]
    if not names:
        return []
    params = searched_parameters(table, fit)
    found = table_consistency(table, fit)
    paths = [_save(history_figure(table, names, fit, found), out_dir / "fit_history.png")]
    pairs = [(a, b) for i, a in enumerate(params) for b in params[i + 1 :]] or [(a, None) for a in params]
    for name in names:
        for x_key, y_key in pairs:
            suffix = f"{safe_name(x_key)}" + (f"__{safe_name(y_key)}" if y_key else "")
            figure = points_figure(table, name, x_key, y_key, fit, found)
            paths.append(_save(figure, out_dir / f"fit_{safe_name(name)}_{suffix}.png"))
    if found is not None:
        paths.append(_save(targets_figure(table, fit, found), out_dir / "fit_targets.png"))
        if params:
            paths.append(_save(consistent_figure(table, params, fit, found), out_dir / "fit_consistent.png"))
    if len(names) > 1:
        paths.append(_save(pareto_figure(table, names, fit), out_dir / "fit_pareto.png"))
    return paths


def searched_parameters(table: pd.DataFrame, fit: dict[str, Any]) -> list[str]:
    """The numeric parameters the fit searched: those of the recorded space, else those taking more than one value."""
    params = [key for key in split_columns(table)[0] if pd.api.types.is_numeric_dtype(table[key])]
    space = fit.get("space")
    if space:
        return [key for key in params if key in space and "low" in space[key]]
    return [key for key in params if table[key].nunique() > 1]


def table_consistency(table: pd.DataFrame, fit: dict[str, Any]) -> Optional[Consistency]:
    """The consistent set of the table's trials (completed ones have metrics), as the sweeper logs it."""
    if not fit.get("targets"):
        return None
    params = searched_parameters(table, fit)
    metrics = [name for name in fit["targets"] if name in table]
    trials = []
    for _, row in table.iterrows():
        values = {name: row[name] for name in metrics} if row["state"] == "completed" else {}
        trials.append((int(row["job"]), {key: row[key] for key in params}, values))
    return consistency(trials, fit)


def value_scale(ax: "Axes", values: np.ndarray, axis: str = "y") -> None:
    """A log scale for the values, symmetric log (linear around 0) where one is 0 or below."""
    finite = values[np.isfinite(values)]
    setter = ax.set_yscale if axis == "y" else ax.set_xscale
    if finite.size and (finite > 0).all():
        setter("log")
    elif finite.size:
        setter("symlog", linthresh=_linear_threshold(finite))


def value_norm(values: np.ndarray) -> "Normalize":
    """Log colours for the values (symmetric log where one is 0 or below)."""
    from matplotlib.colors import LogNorm, Normalize, SymLogNorm

    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if low == high:
        return Normalize(low - 1 if low == 0 else low * 0.9, high + 1 if high == 0 else high * 1.1)
    if low > 0:
        return LogNorm(low, high)
    return SymLogNorm(_linear_threshold(finite), vmin=low, vmax=high)


def _linear_threshold(values: np.ndarray) -> float:
    """Where a symmetric log scale turns linear (around 0): the decade of the smallest value other
    than 0, so that no decade's tick falls inside the linear part, next to 0's."""
    magnitudes = np.abs(values[values != 0])
    return float(10 ** math.floor(math.log10(magnitudes.min()))) if magnitudes.size else 1.0


def _parameter_scale(ax: "Axes", key: str, fit: dict[str, Any], axis: str = "x") -> None:
    """The scale the parameter was searched on: log for a ``tag(log, interval())``."""
    if ((fit.get("space") or {}).get(key) or {}).get("log"):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _title(figure: "Figure", text: str) -> None:
    """The figure's title, wrapped to its width (no text leaves the figure)."""
    width = int(TITLE_CHARS_PER_INCH * figure.get_figwidth())
    figure.suptitle(textwrap.fill(text, width), fontsize="medium")


def _legend(figure: "Figure", axes: Sequence["Axes"]) -> None:
    """One legend for the figure's panels, below them (outside the data, inside the figure)."""
    handles = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
    columns = max(1, min(3, len(handles), int(figure.get_figwidth() // LEGEND_COLUMN_INCHES)))
    figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=columns, fontsize="small")


def _failed_note(count: int, what: str) -> str:
    """The end of a title saying how many trials have nothing to draw on its axes."""
    return "" if not count else f"; 1 failed trial has no {what}" if count == 1 else f"; {count} failed trials have no {what}"


def _failed(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return table[table[name].isna()]


def _mark_failed_on_top(ax: "Axes", x: Sequence[float]) -> None:
    """Failed trials as crosses at the top edge of the value axis (they have no value)."""
    if len(x):
        ax.plot(x, [FAILED_HEIGHT] * len(x), "x", color=FAILED_COLOUR, markersize=8, clip_on=False,
                transform=ax.get_xaxis_transform(), label=f"{FAILED_LABEL} ({len(x)})")


def _consistent_rows(table: pd.DataFrame, found: Optional[Consistency]) -> pd.DataFrame:
    return table[table["job"].isin(found.trials)] if found is not None else table.iloc[:0]


def _consistent_label(found: Consistency) -> str:
    return f"within {percent(found.tolerance)} of every target ({len(found.trials)})"


def history_figure(table: pd.DataFrame, names: list[str], fit: dict[str, Any], found: Optional[Consistency]) -> "Figure":
    """Each objective's value at each trial (log scale), the best so far, failed trials at the top
    edge, and for targets the consistent trials and the loss of one metric off by the tolerance."""
    figure, axes = _new_figure(len(names), min(2, len(names)), (6.4, 4.2))
    directions = fit.get("directions") or ["minimize"] * len(names)
    for ax, name, direction in zip(axes, names, directions):
        done = table.dropna(subset=[name]).sort_values("job")
        values = done[name].to_numpy(dtype=float)
        running = np.minimum.accumulate(values) if direction == "minimize" else np.maximum.accumulate(values)
        ax.plot(done["job"], values, "o", color=TRIAL_COLOUR, alpha=0.6, label="trial")
        consistent = _consistent_rows(done, found)
        if found is not None and len(consistent):
            ax.plot(consistent["job"], consistent[name], "o", color=CONSISTENT_COLOUR, label=_consistent_label(found))
        ax.step(done["job"], running, where="post", color="black", label=f"{BEST_SO_FAR_LABEL} ({direction})")
        if found is not None:
            ax.axhline(found.tolerance**2, color=CONSISTENT_COLOUR, linestyle=":",
                       label=f"one metric {percent(found.tolerance)} off (loss {found.tolerance**2:g})")
        value_scale(ax, values)
        _mark_failed_on_top(ax, _failed(table, name)["job"].to_numpy())
        ax.set_xlim(-0.5, max(float(table["job"].max()), 1.0) + 0.5)
        ax.set(xlabel="trial", ylabel=name, title=f"{name} ({direction}, {ax.get_yscale()} scale)")
    _legend(figure, axes)
    targets = fit.get("targets")
    about = "loss of targets " + ", ".join(f"{k}={v:g}" for k, v in targets.items()) if targets else ", ".join(names)
    _title(figure, f"Optimisation history: {about}; {len(table)} trials")
    return figure


def points_figure(table: pd.DataFrame, name: str, x_key: str, y_key: Optional[str], fit: dict[str, Any],
                  found: Optional[Consistency]) -> "Figure":
    """The objective at each trial's point: against one parameter (log value axis), or in log colours
    over two; failed trials as crosses, consistent trials and the best ringed."""
    figure, (ax,) = _new_figure(1, 1, (6.4, 4.8))
    done = table.dropna(subset=[name])
    failed = _failed(table, name)
    best = done[done["best"]] if "best" in done else done.iloc[:0]
    best_label = "best" if len(fit.get("directions") or ["minimize"]) == 1 else "Pareto front"
    consistent = _consistent_rows(done, found)
    if y_key is None:
        ax.plot(done[x_key], done[name], "o", color=TRIAL_COLOUR, alpha=0.7, label="trial")
        if len(consistent):
            ax.plot(consistent[x_key], consistent[name], "o", color=CONSISTENT_COLOUR, label=_consistent_label(found))  # type: ignore[arg-type]
        ax.plot(best[x_key], best[name], "o", markersize=14, markerfacecolor="none", markeredgecolor=BEST_COLOUR, label=best_label)
        value_scale(ax, done[name].to_numpy(dtype=float))
        _mark_failed_on_top(ax, failed[x_key].to_numpy())
        ax.set(xlabel=x_key, ylabel=name)
    else:
        values = done[name].to_numpy(dtype=float)
        points = ax.scatter(done[x_key], done[y_key], c=values, cmap="viridis", norm=value_norm(values), label="trial")
        if len(consistent):
            ax.scatter(consistent[x_key], consistent[y_key], s=110, facecolors="none", edgecolors=CONSISTENT_COLOUR,
                       linewidths=2, label=_consistent_label(found))  # type: ignore[arg-type]
        ax.scatter(best[x_key], best[y_key], s=220, facecolors="none", edgecolors=BEST_COLOUR, linewidths=1.5, label=best_label)
        if len(failed):
            ax.scatter(failed[x_key], failed[y_key], marker="x", color=FAILED_COLOUR, label=f"{FAILED_LABEL} ({len(failed)})")
        figure.colorbar(points, ax=ax, label=f"{name} (log colours)")
        _parameter_scale(ax, y_key, fit, "y")
        ax.set(xlabel=x_key, ylabel=y_key)
    _parameter_scale(ax, x_key, fit, "x")
    _legend(figure, [ax])
    _title(figure, f"{name} at each trial's point")
    return figure


def targets_figure(table: pd.DataFrame, fit: dict[str, Any], found: Consistency) -> "Figure":
    """The completed trials in the space of the target metrics, the target's tolerance region (a box
    over each pair of metrics, a band for one metric against the trial), consistent trials in green."""
    from matplotlib.patches import Rectangle

    metrics = [name for name in found.targets if name in table]
    done = table[table["state"] == "completed"]
    consistent = _consistent_rows(done, found)
    best = done[done["best"]] if "best" in done else done.iloc[:0]
    pairs = [(a, b) for i, a in enumerate(metrics) for b in metrics[i + 1 :]][:MAX_PAIRS]
    panels: list[tuple[str, Optional[str]]] = [*pairs, *((name, None) for name in metrics)]
    figure, axes = _new_figure(len(panels), min(2, len(panels)), (6.0, 4.8))
    tolerance = found.tolerance
    for ax, (a, b) in zip(axes, panels):
        low_a, high_a = _tolerance_interval(found.targets[a], tolerance)
        if b is None:  # one target metric: against the trial, the band of the tolerance
            ax.axhspan(low_a, high_a, color=CONSISTENT_COLOUR, alpha=0.2, label=f"target {found.targets[a]:g} ± {percent(tolerance)}")
            ax.plot(done["job"], done[a], "o", color=TRIAL_COLOUR, alpha=0.7, label="trial")
            ax.plot(consistent["job"], consistent[a], "o", color=CONSISTENT_COLOUR, label=_consistent_label(found))
            ax.plot(best["job"], best[a], "o", markersize=14, markerfacecolor="none", markeredgecolor=BEST_COLOUR, label="best")
            value_scale(ax, np.append(done[a].to_numpy(dtype=float), [low_a, high_a]))
            _mark_failed_on_top(ax, table[table["state"] != "completed"]["job"].to_numpy())
            ax.set(xlabel="trial", ylabel=a, title=f"{a} at each trial")
        else:
            low_b, high_b = _tolerance_interval(found.targets[b], tolerance)
            ax.add_patch(Rectangle((low_a, low_b), high_a - low_a, high_b - low_b, color=CONSISTENT_COLOUR, alpha=0.2,
                                   label=f"targets ± {percent(tolerance)}"))
            ax.plot(done[a], done[b], "o", color=TRIAL_COLOUR, alpha=0.7, label="trial")
            ax.plot(consistent[a], consistent[b], "o", color=CONSISTENT_COLOUR, label=_consistent_label(found))
            ax.plot(best[a], best[b], "o", markersize=14, markerfacecolor="none", markeredgecolor=BEST_COLOUR, label="best")
            ax.plot([found.targets[a]], [found.targets[b]], "+", color="black", markersize=12, label="target")
            value_scale(ax, np.append(done[a].to_numpy(dtype=float), [low_a, high_a]), "x")
            value_scale(ax, np.append(done[b].to_numpy(dtype=float), [low_b, high_b]), "y")
            ax.set(xlabel=a, ylabel=b, title=f"{b} against {a}")
    _legend(figure, axes)
    failed = len(table) - len(done)
    _title(figure, f"The trials' metrics and the targets' region (± {percent(tolerance)}): {len(found.trials)} of "
                   f"{len(done)} completed trials within it" + _failed_note(failed, "metrics"))
    return figure


def _tolerance_interval(target: float, tolerance: float) -> tuple[float, float]:
    """The values within the tolerance of a target (relative; absolute for a target of 0)."""
    half = tolerance * (abs(target) if target else 1.0)
    return target - half, target + half


def consistent_figure(table: pd.DataFrame, params: list[str], fit: dict[str, Any], found: Consistency) -> "Figure":
    """One row per searched parameter: its searched interval, each trial's value, the consistent trials'
    values and the range they span, labelled with its share of the interval (wide ones in red)."""
    figure, axes = _new_figure(len(params), 1, (7.5, 1.6))
    figure.set_figheight(1.6 * len(params) + 1.6)  # room for the title and the legend with one parameter too
    ranges = {r.key: r for r in found.ranges}
    done = table[table["state"] == "completed"]
    consistent = _consistent_rows(done, found)
    for ax, key in zip(axes, params):
        found_range = ranges.get(key)
        interval = (fit.get("space") or {}).get(key) or {}
        recorded = "low" in interval and "high" in interval
        start, end = (interval["low"], interval["high"]) if recorded else (table[key].min(), table[key].max())
        ax.axvspan(start, end, color="0.92", zorder=0, label="searched interval" if recorded else "sampled range")
        ax.plot(done[key], np.zeros(len(done)), "|", color=TRIAL_COLOUR, markersize=14, label="trial")
        ax.plot(consistent[key], np.zeros(len(consistent)), "o", color=CONSISTENT_COLOUR, label=_consistent_label(found))
        if found_range is not None:
            ax.plot([found_range.low, found_range.high], [0, 0], "-", color=CONSISTENT_COLOUR, linewidth=4, alpha=0.6,
                    label="range of the consistent trials")
            verdict = "wide: the targets do not pin it down" if found_range.wide else f"narrow among {found_range.trials} trials"
            note = f"{found_range.low:.3g} to {found_range.high:.3g}: {percent(found_range.span)} of the interval ({verdict})"
            if found_range.trials < 2:
                note = f"{found_range.low:.3g}: one consistent trial, too few to give a range"
            ax.set_title(f"{key}: {note}", fontsize="small", color="red" if found_range.wide else "black")
        else:
            ax.set_title(f"{key}: no consistent trial", fontsize="small")
        failed = table[table["state"] != "completed"]
        if len(failed):
            ax.plot(failed[key], np.zeros(len(failed)), "x", color=FAILED_COLOUR, label=f"{FAILED_LABEL} ({len(failed)})")
        _parameter_scale(ax, key, fit, "x")
        if ax.get_xscale() == "log":
            ax.set_xlim(start / 1.03, end * 1.03)
        else:
            margin = 0.03 * (end - start)
            ax.set_xlim(start - margin, end + margin)
        ax.set_yticks([])
        ax.set_ylim(-1, 1)
    _legend(figure, axes)
    _title(figure, f"Trials within {percent(found.tolerance)} of every target: {len(found.trials)} of {len(found.errors)} "
                   "completed; the range each searched parameter spans among them")
    return figure


def pareto_figure(table: pd.DataFrame, names: list[str], fit: dict[str, Any]) -> "Figure":
    """Each pair of objectives: every completed trial, the Pareto front joined and numbered."""
    directions = fit.get("directions") or ["minimize"] * len(names)
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))][:MAX_PAIRS]
    figure, axes = _new_figure(len(pairs), min(2, len(pairs)), (6.4, 5.0))
    done = table.dropna(subset=names)
    front = done[done["best"]] if "best" in done else done.iloc[:0]
    for ax, (i, j) in zip(axes, pairs):
        a, b = names[i], names[j]
        ax.plot(done[a], done[b], "o", color=TRIAL_COLOUR, alpha=0.6, label="trial")
        ordered = front.sort_values(a)
        ax.plot(ordered[a], ordered[b], "o-", color=BEST_COLOUR, label=f"Pareto front ({len(front)})")
        for _, row in ordered.iterrows():
            ax.annotate(str(int(row["job"])), (row[a], row[b]), textcoords="offset points", xytext=(4, 4), fontsize="small")
        value_scale(ax, done[a].to_numpy(dtype=float), "x")
        value_scale(ax, done[b].to_numpy(dtype=float), "y")
        ax.set(xlabel=f"{a} ({directions[i]})", ylabel=f"{b} ({directions[j]})")
    _legend(figure, axes)
    failed = len(table) - len(done)
    _title(figure, f"Pareto front: {len(front)} of {len(done)} trials no other beats in every objective; "
                   "numbers are trials" + _failed_note(failed, "value"))
    return figure
