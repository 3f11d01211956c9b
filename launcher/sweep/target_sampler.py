"""The default sampler of a fit: a model of each target metric, solved for the point that hits the targets.

A fit to targets (``objective={rate_exc_hz: 5.0, rate_inh_hz: 10.0}``) is a small
least-squares problem: a few metrics, each a smooth-ish function of a few
parameters, to be brought to their targets. Generic samplers see only the loss
(one number per trial); :class:`TargetSampler` sees each trial's metrics (the
fit sweeper records them on the trial, :data:`METRICS_ATTR`, and the targets on
the study, :data:`TARGETS_ATTR`) and does what one would by hand:

1. a Latin hypercube of ``n_startup_trials`` points over the search space (in
   each parameter's own scale: log for ``tag(log, interval())``);
2. then, each trial: a linear model of every target metric's error (in log for
   a positive metric: :func:`model_errors`) in the parameters (normalised to
   [0, 1], log for ``tag(log, interval())``), fitted by least squares to the
   trials so far, weighted towards the best trial (least loss) with a Gaussian
   kernel as wide as the distance to its ``d + 2``-th nearest trial (``d``
   parameters), and at least a tenth of each interval; the next point solves the
   linearised targets (Gauss-Newton, slightly damped) inside a box around the
   best trial two kernels wide, narrowed by 0.9 for each trial run since the best
   one, and inside the search space (:func:`next_point`). A trial asked for while
   another of its batch still runs (``n_jobs`` > 1) that would land next to it takes
   the step of the same model centred on the second-best trial instead (a second
   descent, measured better than a random move: on the three-parameter problem of
   ``benchmarks/fit.py`` at 20 simulations, median best loss 0.0011 against 0.0039),
   and is moved by half a box in a random direction only if that lands next to a
   running trial too.

Why this is the default: measured by ``benchmarks/fit.py`` (three problems of the
default model with known answers, 20 and 40 simulations, 5 sampler seeds each,
through ``run_sim.py`` as a user runs it; figures in the README's "Performance").
TPE (Optuna's default, and this sweeper's before) is random search for its first
10 trials and then models only the loss, a single number that hides which metric
is off and in which direction; this sampler is guided from its fifth trial, and
each trial tells it as many numbers as there are targets. It adds no dependency
(NumPy and SciPy's ``lsq_linear``, both already required).

Where it does not apply it hands everything to Optuna's TPE (``fallback``): an
objective without targets (one metric, or several for a multi-objective search)
and every parameter that is not a continuous interval (``range()``, ``choice()``).
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from launcher.sweep.fit import METRICS_ATTR, TARGETS_ATTR, target_loss

#: The step's box, at most this many kernel widths wide: trials that gather round a point far away
#: move there in steps that grow.
REACH = 2.0
#: The step's box narrows by this factor for each trial run since the best one.
SHRINK = 0.9
#: The narrowest kernel, in the unit cube (a tenth of each interval): a spiking network's metrics
#: are rough at small scales (a 1% change of a weight can move a rate by 20%), and a model fitted to
#: trials a tenth of the space apart follows their trend rather than that roughness.
MIN_WIDTH = 0.1
#: The narrowest box the step is taken in.
MIN_BOX = 0.05



class TargetSampler(BaseSampler):
    """Latin hypercube start, then damped Gauss-Newton steps on local linear models of the metrics."""

    def __init__(self, seed: Optional[int] = None, n_startup_trials: int = 4, fallback: Optional[BaseSampler] = None) -> None:
        if not isinstance(n_startup_trials, int) or isinstance(n_startup_trials, bool) or n_startup_trials < 2:
            raise ValueError(f"n_startup_trials = {n_startup_trials!r}: a whole number, at least 2")
        # Without a seed, one drawn now: the start design of one study is one Latin hypercube.
        self._seed = int(seed) if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        self._rng = np.random.default_rng(self._seed)
        self.n_startup_trials = n_startup_trials
        self._fallback = fallback if fallback is not None else TPESampler(seed=seed)

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._fallback.reseed_rng()

    # --- Optuna's sampler interface --------------------------------------------------------------

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if _targets(study) is None:
            return self._fallback.infer_relative_search_space(study, trial)
        space = optuna.search_space.intersection_search_space(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        return {name: dist for name, dist in space.items() if _continuous(dist)}

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        targets = _targets(study)
        if targets is None:
            return self._fallback.sample_relative(study, trial, search_space)
        if not search_space or trial.number < self.n_startup_trials:
            return {}
        names = sorted(search_space)
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if _usable(t, names, targets)]
        if len(done) < len(names) + 1:  # too few to fit a linear model: sampled independently
            return {}
        to_unit = [_scale(search_space[name]) for name in names]
        points = np.array([[scale(t.params[name]) for scale, name in zip(to_unit, names)] for t in done])
        reached = [t.user_attrs[METRICS_ATTR] for t in done]
        losses = np.array([target_loss(metrics, targets) for metrics in reached])
        running = [
            [scale(t.params[name]) for scale, name in zip(to_unit, names)]
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.number != trial.number and all(name in t.params for name in names)
        ]
        unit = next_point(points, model_errors(reached, targets), losses, np.array(running).reshape(-1, len(names)), self._rng)
        return {name: _unscale(search_space[name], u) for name, u in zip(names, unit)}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        if _targets(study) is None or not _continuous(param_distribution):
            return self._fallback.sample_independent(study, trial, param_name, param_distribution)
        if trial.number < self.n_startup_trials:  # this parameter's stratum in the Latin hypercube
            order = np.random.default_rng([self._seed, zlib.crc32(param_name.encode())]).permutation(self.n_startup_trials)
            u = (order[trial.number] + self._rng.uniform()) / self.n_startup_trials
        else:
            u = self._rng.uniform()
        return _unscale(param_distribution, float(u))

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._fallback.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Optional[Sequence[float]]) -> None:
        self._fallback.after_trial(study, trial, state, values)


# --- the model and the step (plain functions on the unit cube) -------------------------------------


def model_errors(reached: Sequence[Mapping[str, float]], targets: Mapping[str, float]) -> np.ndarray:
    """The errors the linear model fits (trials x targets): ``log((metric + e) / (target + e))``, ``e`` a
    hundredth of the target, for a positive target of a metric never negative, else the relative error.

    Zero where a metric is on target, as the loss; in log, a rate that jumps tenfold (a network
    that starts to sustain its own activity) is one large error, not one that swamps the model."""
    columns = []
    for name, target in targets.items():
        values = np.array([float(metrics[name]) for metrics in reached])
        if target > 0 and np.all(values >= 0):
            columns.append(np.log((values + 0.01 * target) / (1.01 * target)))
        else:
            columns.append((values - target) / (target if target else 1.0))
    return np.array(columns).T


def next_point(points: np.ndarray, errors: np.ndarray, losses: np.ndarray, running: np.ndarray, rng: np.random.Generator, rank: int = 0) -> np.ndarray:
    """The next point in the unit cube, from the trials' points (n x d, in the order they were run),
    the errors of their metrics (n x k, :func:`model_errors`) and their losses (n).

    A linear model of the errors, weighted around the best trial (least loss) with a
    Gaussian kernel as wide as the distance to the ``d + 2``-th nearest trial; the
    damped Gauss-Newton step of that model, inside a box around the best trial
    :data:`REACH` kernels wide, narrowed by :data:`SHRINK` for each trial run since the best one
    (a model that has stopped improving is trusted less far), and inside the cube. A
    point next to one of ``running`` (points being simulated now) is replaced by the step of
    the model round the ``rank + 1``-th best trial (the second best), or, next to one too, moved by
    half a box in a random direction. ``rank``: which trial, by loss, the model is centred on.
    """
    n, d = points.shape
    best = int(np.argsort(losses, kind="stable")[min(rank, n - 1)])
    centre = points[best]
    distance = np.linalg.norm(points - centre, axis=1)
    width = max(float(np.sort(distance)[min(d + 1, n - 1)]), MIN_WIDTH)
    weights = np.sqrt(np.exp(-0.5 * (distance / width) ** 2))
    design = np.hstack([np.ones((n, 1)), points - centre]) * weights[:, None]
    coefficients, *_ = np.linalg.lstsq(design, errors * weights[:, None], rcond=None)
    intercept, jacobian = coefficients[0], coefficients[1:].T  # k, k x d
    box = max(REACH * width * SHRINK ** (n - 1 - best), MIN_BOX)
    low, high = np.maximum(-box, -centre), np.minimum(box, 1.0 - centre)
    step = damped_box_step(jacobian, intercept, low, high)
    point = np.clip(centre + step, 0.0, 1.0)
    if len(running) and np.min(np.linalg.norm(running - point, axis=1)) < box / 4:
        if rank == 0 and n > 1:  # the model round the best trial gave a running trial this point: the second best's
            return next_point(points, errors, losses, running, rng, rank=1)
        direction = rng.normal(size=d)
        point = np.clip(point + 0.5 * box * direction / np.linalg.norm(direction), 0.0, 1.0)
    return point


def damped_box_step(jacobian: np.ndarray, residual: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The step ``s`` within ``[low, high]`` minimising ``|residual + J s|^2 + damping |s|^2``, the damping a
    thousandth of J's mean squared column norm: directions the metrics do not tell apart stay put."""
    from scipy.optimize import lsq_linear

    d = jacobian.shape[1]
    damping = 1e-3 * float((jacobian**2).sum()) / d + 1e-12
    system = np.vstack([jacobian, math.sqrt(damping) * np.eye(d)])
    rhs = np.concatenate([-residual, np.zeros(d)])
    return np.asarray(lsq_linear(system, rhs, bounds=(low, high)).x)


def _targets(study: Study) -> Optional[dict[str, float]]:
    targets = study.user_attrs.get(TARGETS_ATTR)
    return {str(k): float(v) for k, v in targets.items()} if isinstance(targets, dict) and targets else None


def _usable(trial: FrozenTrial, names: Sequence[str], targets: Mapping[str, float]) -> bool:
    metrics = trial.user_attrs.get(METRICS_ATTR)
    return (
        isinstance(metrics, dict)
        and all(name in trial.params for name in names)
        and all(isinstance(metrics.get(m), (int, float)) and math.isfinite(metrics[m]) for m in targets)
    )


def _continuous(dist: BaseDistribution) -> bool:
    return isinstance(dist, FloatDistribution) and dist.step is None and dist.low < dist.high


def _scale(dist: BaseDistribution) -> Any:
    """The map of a continuous distribution's values onto [0, 1] (in log where the interval is log)."""
    assert isinstance(dist, FloatDistribution)
    if dist.log:
        low, span = math.log(dist.low), math.log(dist.high) - math.log(dist.low)
        return lambda value: (math.log(value) - low) / span
    return lambda value: (value - dist.low) / (dist.high - dist.low)


def _unscale(dist: BaseDistribution, u: float) -> float:
    assert isinstance(dist, FloatDistribution)
    u = min(max(float(u), 0.0), 1.0)
    value = math.exp(math.log(dist.low) + u * (math.log(dist.high) - math.log(dist.low))) if dist.log else dist.low + u * (dist.high - dist.low)
    return min(max(value, dist.low), dist.high)
