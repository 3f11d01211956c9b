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
