"""The default sampler of a fit (launcher.sweep.target_sampler), on synthetic metrics: real Optuna, no simulation.

The metrics are a caricature of the model's (rates rising with the excitatory
weight, falling with the inhibitory one), asked and told in batches of two as
the fit sweeper does.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from launcher.sweep.fit import METRICS_ATTR, TARGETS_ATTR, target_loss
from launcher.sweep.target_sampler import TargetSampler, damped_box_step, model_errors, next_point

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"e": FloatDistribution(0.002, 0.01), "i": FloatDistribution(0.02, 0.08)}
TRUTH = {"e": 0.0071, "i": 0.0433}


def rates(params: dict) -> dict[str, float]:
    exc = 20 * math.exp(8 * (params["e"] - 0.006) / 0.008 - 1.5 * (params["i"] - 0.05) / 0.06)
    return {"rate_exc_hz": exc, "rate_inh_hz": 1.8 * exc + 2 * params["e"] / 0.01}


def fit(sampler: optuna.samplers.BaseSampler, trials: int, metrics: Callable[[dict], dict[str, float]] = rates,
        space: Optional[dict] = None, targets: Optional[dict[str, float]] = None) -> optuna.study.Study:
    """Ask and tell in batches of two, recording targets and metrics as the fit sweeper does."""
    space = space or SPACE
    targets = targets or metrics(TRUTH)
    study = optuna.create_study(sampler=sampler)
    study.set_user_attr(TARGETS_ATTR, targets)
    while len(study.trials) < trials:
        batch = [study.ask(space) for _ in range(2)]
        for trial in batch:
            reached = metrics(trial.params)
            trial.set_user_attr(METRICS_ATTR, reached)
            study.tell(trial, target_loss(reached, targets))
    return study


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_finds_the_targets_where_random_search_does_not(seed: int) -> None:
    ours = fit(TargetSampler(seed=seed), 20).best_value
    random = fit(optuna.samplers.RandomSampler(seed=seed), 20).best_value
    assert ours < 1e-4 and ours < random / 100, (ours, random)


def test_a_seed_gives_the_same_trials_and_the_start_is_a_latin_hypercube() -> None:
    first, again = (fit(TargetSampler(seed=3, n_startup_trials=6), 12) for _ in range(2))
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    for name, dist in SPACE.items():
        strata = sorted(int((t.params[name] - dist.low) / (dist.high - dist.low) * 6) for t in first.trials[:6])
        assert strata == list(range(6)), (name, strata)


def test_log_intervals_are_searched_in_log_and_every_point_is_in_its_interval() -> None:
    space = {"e": FloatDistribution(0.002, 0.01, log=True), "i": FloatDistribution(0.02, 0.08, log=True)}
    study = fit(TargetSampler(seed=0), 20, space=space)
    assert all(space[k].low <= v <= space[k].high for t in study.trials for k, v in t.params.items())
    assert study.best_value < 1e-4
    starts = sorted(int(math.log(t.params["e"] / 0.002) / math.log(5) * 4) for t in study.trials[:4])
    assert starts == [0, 1, 2, 3]


def test_unreachable_targets_end_at_the_nearest_edge() -> None:
    study = fit(TargetSampler(seed=0), 20, targets={"rate_exc_hz": 1e4, "rate_inh_hz": 2e4})
    best = study.best_params
    assert best["e"] > 0.0099 and best["i"] < 0.0201, best


def test_without_targets_or_for_choices_it_is_tpe() -> None:
    space = {"e": FloatDistribution(0.002, 0.01), "k": CategoricalDistribution(["a", "b"])}
    ours, tpe = optuna.create_study(sampler=TargetSampler(seed=5)), optuna.create_study(sampler=optuna.samplers.TPESampler(seed=5))
    for study in (ours, tpe):
        for _ in range(14):
            trial = study.ask(space)
            study.tell(trial, (trial.params["e"] - 0.005) ** 2 + (trial.params["k"] == "b"))
    assert [t.params for t in ours.trials] == [t.params for t in tpe.trials]
    with_targets = fit(TargetSampler(seed=5), 12, metrics=lambda p: rates(p), space={**SPACE, "k": CategoricalDistribution(["a", "b"])})
    assert {t.params["k"] for t in with_targets.trials} == {"a", "b"} and with_targets.best_value < 0.05


def test_trials_without_metrics_are_left_out_of_the_model() -> None:
    study = optuna.create_study(sampler=TargetSampler(seed=0))
    targets = rates(TRUTH)
    study.set_user_attr(TARGETS_ATTR, targets)
    for number in range(20):
        trial = study.ask(SPACE)
        if number % 3 == 2:  # a failed trial: no metrics, no value
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        trial.set_user_attr(METRICS_ATTR, rates(trial.params))
        study.tell(trial, target_loss(rates(trial.params), targets))
    assert study.best_value < 1e-3


def test_the_step_solves_a_linear_model_inside_its_box() -> None:
    jacobian, residual = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([-0.1, 0.4])
    step = damped_box_step(jacobian, residual, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    assert step == pytest.approx([0.1, -0.2], abs=1e-3)
    boxed = damped_box_step(jacobian, residual, np.array([-0.05, -0.05]), np.array([0.05, 0.05]))
    assert boxed == pytest.approx([0.05, -0.05], abs=1e-9)


def test_the_next_point_hits_exact_linear_targets_and_avoids_a_running_one() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0.3, 0.7, size=(8, 2))
    best = points[-1]  # the best is the last trial run: the box is not narrowed
    box = max(np.sort(np.linalg.norm(points - best, axis=1))[3], 0.1)  # the kernel: the 4th nearest (d + 2 = 4, itself included)
    answer = best + 1.5 * box * np.array([1.0, -0.2])  # inside the box (two kernels), outside a box narrowed 0.9 ** 7 times
    errors = (points - answer) @ np.array([[1.0, 0.5], [-0.3, 2.0]])  # zero at the answer
    losses = (errors**2).sum(1)
    losses[-1] = 0.0
    found = next_point(points, errors, losses, np.empty((0, 2)), rng)
    assert found == pytest.approx(answer, abs=1e-3)
    moved = next_point(points, errors, losses, found[None, :], rng)
    assert np.linalg.norm(moved - found) > box / 4 - 1e-9
    # The same trials, the best one run first: the step stops at the edge of the narrowed box.
    first = [7, 0, 1, 2, 3, 4, 5, 6]
    short = next_point(points[first], errors[first], losses[first], np.empty((0, 2)), rng)
    assert np.max(np.abs(short - best)) == pytest.approx(2 * box * 0.9**7) and short[0] > best[0] and short[1] < best[1]


def test_a_point_next_to_a_running_one_is_the_step_from_the_second_best_trial() -> None:
    """The second trial of a batch: the model centred on the second-best trial (a second descent),
    not a random move, when that lands away from the running trial."""
    rng = np.random.default_rng(0)
    # Two ways to hit the targets (x = 0.3 or x = 0.7, y = 0.5): the best trial near one, the second best near the other.
    points = np.array([[0.1, 0.2], [0.5, 0.9], [0.9, 0.1], [0.33, 0.45], [0.65, 0.55], [0.2, 0.6], [0.8, 0.4], [0.5, 0.5]])
    errors = np.column_stack([4 * (points[:, 0] - 0.3) * (points[:, 0] - 0.7), points[:, 1] - 0.5])
    losses = (errors**2).sum(1)
    found = next_point(points, errors, losses, np.empty((0, 2)), rng)
    second = next_point(points, errors, losses, np.empty((0, 2)), rng, rank=1)
    assert np.linalg.norm(second - found) > 0.1  # the two models lead to different points here
    assert next_point(points, errors, losses, found[None, :], rng) == pytest.approx(second)


def test_the_model_fits_log_errors_of_positive_metrics_and_relative_errors_of_others() -> None:
    reached = [{"a": 5.5, "b": 1.0, "c": -0.2}, {"a": 0.0, "b": 0.0, "c": 0.4}]
    errors = model_errors(reached, {"a": 5.0, "b": 0.0, "c": 0.5})
    assert errors[:, 0] == pytest.approx([math.log(5.55 / 5.05), math.log(0.05 / 5.05)])
    assert errors[:, 1] == pytest.approx([1.0, 0.0]) and errors[:, 2] == pytest.approx([-1.4, -0.2])


def test_a_bad_start_count_is_refused() -> None:
    with pytest.raises(ValueError, match="n_startup_trials = 1"):
        TargetSampler(n_startup_trials=1)
