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


def _in_window(trains: Sequence[np.ndarray], t_start: float, t_stop: float) -> list[np.ndarray]:
    return [t[(t >= t_start) & (t < t_stop)] for t in trains]


def mean_rate(trains: Sequence[np.ndarray], t_start: float, t_stop: float) -> float:
    """Mean firing rate (Hz) over the cells of a population; NaN for no cells."""
    if not trains:
        return NAN
    counts = [len(t) for t in _in_window(trains, t_start, t_stop)]
    return float(np.mean(counts) / ((t_stop - t_start) / 1000.0))


def mean_cv_isi(trains: Sequence[np.ndarray], t_start: float, t_stop: float) -> float:
    """Mean coefficient of variation of inter-spike intervals, over cells with >= 3 spikes."""
    cvs = []
    for t in _in_window(trains, t_start, t_stop):
        if len(t) >= 3:
            isi = np.diff(np.sort(t))
            if isi.mean() > 0:
                cvs.append(isi.std() / isi.mean())
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
    counts = np.array([np.histogram(t, bins=edges)[0] for t in trains], dtype=float)
    cell_var = counts.var(axis=1).mean()
    if cell_var == 0:
        return NAN
    return float(math.sqrt(counts.mean(axis=0).var() / cell_var))


def active_fraction(trains: Sequence[np.ndarray], t_start: float, t_stop: float) -> float:
    """Fraction of cells that fire at least once in the window; NaN for no cells."""
    if not trains:
        return NAN
    return float(np.mean([len(t) > 0 for t in _in_window(trains, t_start, t_stop)]))


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
