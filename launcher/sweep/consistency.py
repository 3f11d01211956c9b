"""How sure a fit is: the trials consistent with its targets, and how far they pin each parameter down.

A fit to targets (``objective={rate_exc_hz: 5.0, ...}``) reports one best trial, but
equally good fits may lie along a ridge of the parameter space. This module holds the
plain computation both the sweeper's log and the report (``summary.csv``, the figures)
use:

- a trial is *consistent* when every target metric is within the tolerance of its
  target: ``|metric - target| <= tolerance * |target|`` (relative), or
  ``|metric| <= tolerance`` for a target of 0 (absolute). The tolerance is
  ``hydra.sweeper.tolerance`` (default :data:`DEFAULT_TOLERANCE`, 10%), recorded in the
  manifest's ``fit`` object; a fit without targets (one metric, or several objectives)
  has no consistent set: its report is the best trial, or the Pareto front;
- the *range* of a searched parameter is the lowest and highest value it takes among
  the consistent trials. Its *span* is that range as a fraction of the searched interval
  (in log terms for a ``tag(log, interval())``: ``log(high/low) / log(end/start)``);
  the interval is the one recorded in the manifest's ``fit.space``, else, in a manifest
  written before it was recorded, the range all trials sampled;
- a range is *wide* when at least two trials are consistent and their span exceeds
  :data:`WIDE_SPAN` (20% of the searched interval): the targets do not pin the parameter
  down, and the fit says so ("exc_weight from 0.003 to 0.007 fits equally well").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from launcher.run.jsonfile import is_number
from launcher.sweep.tree import ParameterError

#: A trial is consistent when each target metric is within this fraction of its target.
DEFAULT_TOLERANCE = 0.1
#: A parameter's range among the consistent trials is wide beyond this fraction of its searched interval.
WIDE_SPAN = 0.2


def percent(fraction: float) -> str:
    """A fraction as a percentage a person reads: ``34%``, ``5%``, ``0.3%`` (two digits below 10%)."""
    value = 100 * fraction
    return f"{value:.0f}%" if abs(value) >= 10 else f"{value:.2g}%"


def check_tolerance(value: Any, where: str = "hydra.sweeper.tolerance") -> float:
    """The tolerance as a float, or a :class:`ParameterError` saying what one must be."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{where} = {value!r}: a number above 0, the fraction of each target a metric may be off (0.1: 10%)")
    return float(value)


def fit_tolerance(fit: Mapping[str, Any]) -> float:
    """The tolerance a fit's manifest records (:data:`DEFAULT_TOLERANCE` in one written before it did)."""
    return check_tolerance(fit.get("tolerance", DEFAULT_TOLERANCE), "the manifest's fit.tolerance")


def target_error(metrics: Mapping[str, Any], targets: Mapping[str, float]) -> float:
    """The largest error of the metrics over the targets, relative (absolute for a target of 0);
    infinite when a target metric is missing or not finite."""
    errors = []
    for name, target in targets.items():
        value = metrics.get(name)
        if not is_number(value) or not math.isfinite(value):
            return math.inf
        errors.append(abs(value - target) / (abs(target) if target else 1.0))
    return max(errors, default=math.inf)


def is_consistent(metrics: Mapping[str, Any], targets: Mapping[str, float], tolerance: float) -> bool:
    """Every target metric within the tolerance of its target."""
    return target_error(metrics, targets) <= tolerance


def space_record(distributions: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The searched space as the manifest records it: ``{key: {low, high, log}}`` for a numeric
    distribution, ``{key: {choices}}`` for a categorical one (Optuna's distributions)."""
    record: dict[str, dict[str, Any]] = {}
    for key, dist in distributions.items():
        if hasattr(dist, "choices"):
            record[key] = {"choices": list(dist.choices)}
        else:
            record[key] = {"low": dist.low, "high": dist.high, "log": bool(getattr(dist, "log", False))}
    return record


@dataclass(frozen=True)
class ParameterRange:
    """One searched parameter among the consistent trials."""

    key: str
    #: Its lowest and highest value among the consistent trials.
    low: float
    high: float
    #: The searched interval (the sampled range where the manifest does not record it).
    start: float
    end: float
    log: bool
    #: Whether ``start, end`` is the recorded search space (False: the range the trials sampled).
    recorded: bool
    #: How many trials are consistent.
    trials: int

    @property
    def span(self) -> float:
        """The range as a fraction of the searched interval (in log terms for a log interval)."""
        if self.log and min(self.low, self.start) > 0 and self.end > self.start:
            return math.log(self.high / self.low) / math.log(self.end / self.start)
        return (self.high - self.low) / (self.end - self.start) if self.end > self.start else 0.0

    @property
    def wide(self) -> bool:
        return self.trials >= 2 and self.span > WIDE_SPAN

    def warning(self, tolerance: float) -> str:
        interval = "searched interval" if self.recorded else "range the trials sampled"
        return (
            f"{self.key} from {self.low:.3g} to {self.high:.3g} fits equally well: the {self.trials} trials within "
            f"{percent(tolerance)} of every target span {percent(self.span)} of the {interval} [{self.start:.3g}, {self.end:.3g}]"
            f"{' (log scale)' if self.log else ''}; the targets do not pin {self.key} down"
        )


@dataclass(frozen=True)
class Consistency:
    """A fit's trials against its targets: which are consistent, and the range of each parameter among them."""

    targets: Mapping[str, float]
    tolerance: float
    #: The trials with a value (number, largest relative error over the targets), in trial order.
    errors: Sequence[tuple[int, float]]
    #: The consistent trials' numbers.
    trials: Sequence[int]
    ranges: Sequence[ParameterRange]

    @property
    def wide(self) -> list[ParameterRange]:
        return [r for r in self.ranges if r.wide]

    def lines(self) -> list[str]:
        """What the log says (the wide ranges' warnings apart: :meth:`warnings`)."""
        about = f"within {percent(self.tolerance)} of every target ({', '.join(f'{k}={v:g}' for k, v in self.targets.items())})"
        if not self.trials:
            closest = min(self.errors, key=lambda pair: pair[1], default=None)
            tail = f"; the closest, trial {closest[0]}, is {percent(closest[1])} off one" if closest and math.isfinite(closest[1]) else ""
            return [f"No trial is {about}{tail}: no parameter range can be given"]
        lines = [f"{len(self.trials)} of {len(self.errors)} trials are {about}: {', '.join(map(str, self.trials))}"]
        for r in self.ranges:
            lines.append(f"  among them {r.key} spans {r.low:.4g} to {r.high:.4g} ({percent(r.span)} of the "
                         f"{'searched interval' if r.recorded else 'sampled range'} [{r.start:.4g}, {r.end:.4g}])")
        if len(self.trials) == 1:
            lines.append("  one consistent trial: too few to say how far the targets pin each parameter down")
        elif self.ranges:  # the trials sample what fits: what they span, it spans at least
            lines.append("  what fits spans at least these ranges: more trials near the targets may widen them")
        return lines

    def warnings(self) -> list[str]:
        return [r.warning(self.tolerance) for r in self.wide]


def consistency(
    trials: Sequence[tuple[int, Mapping[str, Any], Mapping[str, Any]]], fit: Mapping[str, Any]
) -> Optional[Consistency]:
    """The consistent set of a fit's ``trials`` (each: number, its searched parameters' values, its
    metrics; failed trials with no metrics) against the targets of the manifest's ``fit`` object;
    None for a fit without targets."""
    targets = fit.get("targets")
    if not targets:
        return None
    tolerance = fit_tolerance(fit)
    errors = [(number, target_error(metrics, targets)) for number, _, metrics in trials if metrics]
    consistent = [number for number, error in errors if error <= tolerance]
    chosen_numbers = set(consistent)
    chosen = [params for number, params, _ in trials if number in chosen_numbers]
    space = fit.get("space") or {}
    ranges = []
    keys = dict.fromkeys(key for _, params, _ in trials for key in params)
    for key in keys:
        values = [params.get(key) for params in chosen]
        sampled = [params.get(key) for _, params, _ in trials]
        if not values or not all(is_number(v) for v in values + sampled):
            continue  # a categorical parameter, or one no consistent trial sets: no numeric range
        interval = space.get(key) or {}
        recorded = is_number(interval.get("low")) and is_number(interval.get("high"))
        start, end = (interval["low"], interval["high"]) if recorded else (min(sampled), max(sampled))
        ranges.append(ParameterRange(key, float(min(values)), float(max(values)), float(start), float(end),
                                     bool(interval.get("log", False)), recorded, len(consistent)))
    return Consistency(dict(targets), tolerance, errors, consistent, ranges)
