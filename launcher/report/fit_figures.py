"""A fit's figures: the optimisation history (each trial's value and the best so far) and the
objective at each trial's point in the searched space."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd

from launcher.report.figures import _new_figure, _save, safe_name
from launcher.report.table import objective_columns, split_columns

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
