"""Single values on spike trains whose answer is known."""

import math

import numpy as np
import pytest

from launcher.model.analysis import active_fraction, mean_cv_isi, mean_rate, single_values, synchrony_chi


def test_rate_counts_spikes_in_the_window_only():
    trains = [np.array([5.0, 150.0, 250.0, 1200.0]), np.array([])]
    # window 100..1100 ms (1 s): cell 0 has 2 spikes, cell 1 none -> mean 1 Hz
    assert mean_rate(trains, 100.0, 1100.0) == pytest.approx(1.0)


def test_regular_firing_has_zero_cv_and_poisson_about_one():
    regular = [np.arange(0.0, 1000.0, 10.0)]
    assert mean_cv_isi(regular, 0, 1000) == pytest.approx(0.0)
    rng = np.random.default_rng(1)
    poisson = [np.cumsum(rng.exponential(10.0, 5000))]
    assert mean_cv_isi(poisson, 0, 50000) == pytest.approx(1.0, abs=0.05)


def test_identical_trains_are_fully_synchronous_and_independent_ones_are_not():
    rng = np.random.default_rng(2)
    train = np.sort(rng.uniform(0, 1000, 200))
    assert synchrony_chi([train] * 10, 0, 1000) == pytest.approx(1.0)
    independent = [np.sort(rng.uniform(0, 1000, 200)) for _ in range(200)]
    assert synchrony_chi(independent, 0, 1000) < 0.2


def test_active_fraction():
    assert active_fraction([np.array([1.0]), np.array([]), np.array([2000.0])], 0, 1000) == pytest.approx(1 / 3)


def test_undefined_values_are_nan_not_errors():
    values = single_values([], [], 0.0, 1000.0)
    assert all(math.isnan(v) for v in values.values())
    one_silent = single_values([np.array([])], [], 0.0, 1000.0)
    assert one_silent["rate_exc_hz"] == 0.0 and one_silent["active_fraction"] == 0.0
    assert math.isnan(one_silent["rate_inh_hz"]) and math.isnan(one_silent["cv_isi"])
    assert math.isnan(one_silent["synchrony_chi"])


def reference_values(exc, inh, t_start, t_stop, bin_ms=5.0):
    """The measures computed cell by cell, plainly: the vectorised ones must give exactly these numbers."""
    def window(trains):
        return [t[(t >= t_start) & (t < t_stop)] for t in trains]

    def rate(trains):
        return float(np.mean([len(t) for t in window(trains)]) / ((t_stop - t_start) / 1000.0)) if trains else math.nan

    cells = list(exc) + list(inh)
    cvs = [np.diff(np.sort(t)) for t in window(cells) if len(t) >= 3]
    cvs = [isi.std() / isi.mean() for isi in cvs if isi.mean() > 0]
    chi = math.nan
    if len(cells) >= 2:
        n_bins = max(1, int(math.floor((t_stop - t_start) / bin_ms)))
        edges = t_start + bin_ms * np.arange(n_bins + 1)
        counts = np.array([np.histogram(t, bins=edges)[0] for t in cells], dtype=float)
        cell_var = counts.var(axis=1).mean()
        chi = math.nan if cell_var == 0 else float(math.sqrt(counts.mean(axis=0).var() / cell_var))
    return {
        "rate_exc_hz": rate(exc),
        "rate_inh_hz": rate(inh),
        "cv_isi": float(np.mean(cvs)) if cvs else math.nan,
        "synchrony_chi": chi,
        "active_fraction": float(np.mean([len(t) > 0 for t in window(cells)])) if cells else math.nan,
    }


@pytest.mark.parametrize("seed", range(5))
def test_values_are_exactly_those_computed_cell_by_cell(seed):
    rng = np.random.default_rng(seed)
    t_start, t_stop = 50.0, 1050.0
    edges = t_start + 5.0 * np.arange(201)

    def train():
        n = rng.integers(0, 40)
        times = rng.uniform(0, 1100, n)
        # spikes on the window's and the bins' edges, some out of order, repeated times
        times = np.concatenate([times, rng.choice([t_start, t_stop, edges[-1], *edges[:5]], rng.integers(0, 3))])
        if rng.random() < 0.1:
            times = np.full(4, 300.0)
        return times if rng.random() < 0.5 else np.sort(times)

    exc, inh = [train() for _ in range(300)], [train() for _ in range(80)]
    ours, expected = single_values(exc, inh, t_start, t_stop), reference_values(exc, inh, t_start, t_stop)
    assert ours.keys() == expected.keys()
    for key in ours:
        assert ours[key] == expected[key] or (math.isnan(ours[key]) and math.isnan(expected[key])), key
