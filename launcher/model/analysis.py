"""Single values of a run (mozaik's "single value" analysis): rates, irregularity, synchrony.

All measures cover one time window (the spontaneous period) and return NaN
where they are undefined (an empty population, too few spikes), never raise.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

NAN = float("nan")
#: Bin width (ms) of the spike counts used for the synchrony measure.
SYNCHRONY_BIN_MS = 5.0


def _flat(trains: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All spike times in one array, cell after cell, and the cell of each spike."""
    lengths = np.fromiter((len(t) for t in trains), dtype=np.intp, count=len(trains))
    times = np.concatenate([np.asarray(t, dtype=float) for t in trains]) if len(trains) else np.empty(0)
    return times, np.repeat(np.arange(len(trains)), lengths)


def _in_window(trains: Sequence[np.ndarray], t_start: float, t_stop: float) -> tuple[np.ndarray, np.ndarray]:
    """The spike times within [t_start, t_stop), cell after cell (each cell's in its order), and the count of each cell."""
    times, cells = _flat(trains)
    inside = (times >= t_start) & (times < t_stop)
    return times[inside], np.bincount(cells[inside], minlength=len(trains))


def mean_rate(trains: Sequence[np.ndarray], t_start: float, t_stop: float) -> float:
    """Mean firing rate (Hz) over the cells of a population; NaN for no cells."""
    if not len(trains):
        return NAN
    _, counts = _in_window(trains, t_start, t_stop)
    return float(np.mean(counts) / ((t_stop - t_start) / 1000.0))


def mean_cv_isi(trains: Sequence[np.ndarray], t_start: float, t_stop: float) -> float:
    """Mean coefficient of variation of inter-spike intervals, over cells with >= 3 spikes."""
    times, counts = _in_window(trains, t_start, t_stop)
    ends = np.cumsum(counts)
    steps = np.diff(times)  # a cell's intervals, when its spikes are in order: steps[start : end - 1]
    in_order = np.ones(len(times), dtype=bool)
    in_order[:-1] = steps >= 0
    in_order[ends[counts > 0] - 1] = True  # across two cells
    cvs = []
    for end, count in zip(ends[counts >= 3], counts[counts >= 3]):
        start = end - count
        isi = steps[start : end - 1] if in_order[start : end].all() else np.diff(np.sort(times[start:end]))
        mean = isi.mean()
        if mean > 0:
            cvs.append(isi.std() / mean)
    return float(np.mean(cvs)) if cvs else NAN


def synchrony_chi(
    trains: Sequence[np.ndarray], t_start: float, t_stop: float, bin_ms: float = SYNCHRONY_BIN_MS
) -> float:
    """Golomb's chi on binned spike counts: 0 for asynchronous firing, 1 for full synchrony.

    chi^2 = Var(population-mean count) / mean over cells of Var(cell count).
    """
    if len(trains) < 2:
        return NAN
    n_bins = max(1, int(math.floor((t_stop - t_start) / bin_ms)))
    edges = t_start + bin_ms * np.arange(n_bins + 1)
    times, cells = _flat(trains)
    # the bins of np.histogram(t, bins=edges): [edge, next edge), the last one closed
    bins = np.searchsorted(edges, times, side="right") - 1
    bins[times == edges[-1]] = n_bins - 1
    inside = (bins >= 0) & (bins < n_bins)
    counts = np.bincount(cells[inside] * n_bins + bins[inside], minlength=len(trains) * n_bins)
    counts = counts.reshape(len(trains), n_bins).astype(float)
    cell_var = counts.var(axis=1).mean()
    if cell_var == 0:
        return NAN
    return float(math.sqrt(counts.mean(axis=0).var() / cell_var))


def active_fraction(trains: Sequence[np.ndarray], t_start: float, t_stop: float) -> float:
    """Fraction of cells that fire at least once in the window; NaN for no cells."""
    if not len(trains):
        return NAN
    _, counts = _in_window(trains, t_start, t_stop)
    return float(np.mean(counts > 0))


def single_values(exc: Sequence[np.ndarray], inh: Sequence[np.ndarray], t_start: float, t_stop: float) -> dict[str, float]:
    """The metrics of one run, from the spike times of each population."""
    cells = list(exc) + list(inh)
    return {
        "rate_exc_hz": mean_rate(exc, t_start, t_stop),
        "rate_inh_hz": mean_rate(inh, t_start, t_stop),
        "cv_isi": mean_cv_isi(cells, t_start, t_stop),
        "synchrony_chi": synchrony_chi(cells, t_start, t_stop),
        "active_fraction": active_fraction(cells, t_start, t_stop),
    }
