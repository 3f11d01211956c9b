"""The progress line of a sweep: jobs done, failed, and the time left, estimated from jobs alike.

A plain mean of the finished jobs' durations says "0:00:10 left" before a 45 s job when the short
jobs came first. The estimate here predicts each job left from the finished jobs like it
(:func:`predict_durations`), then scales the time elapsed by the work left over the work done
(:func:`time_left`): the launcher's parallelism, whatever it is, is in the time elapsed per second
of work done. A job's durations are its completed jobs' (a failed job may have stopped early).

Jobs are alike by their swept values, the model's seed keys left out (:mod:`launcher.sweep.declared`):
two jobs that differ only by seed are runs of one configuration. Each job left is predicted, in turn:

1. by the mean duration of the finished jobs of its configuration (its values, seeds aside);
2. else by a least-squares line through the finished configurations' mean durations over the
   swept keys whose values are all numbers (density, duration...), when it explains at least half
   of their variation (adjusted R², so that a line through few noisy points is not taken; it needs
   two configurations more than keys), never below 0;
3. else by the mean of the finished jobs sharing the most of its values (at least one);
4. else by the mean of every finished job.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import numpy as np

log = logging.getLogger(__name__)

#: The share of the variation of the configurations' durations a line must explain to be used.
MIN_EXPLAINED = 0.5
#: A job's swept values: key -> value as written in its override.
Values = Mapping[str, str]


def swept_values(overrides: Sequence[str], seeds: Sequence[str] = ()) -> Dict[str, str]:
    """A job's override lines as key -> value, the seed keys left out."""
    values = {}
    for line in overrides:
        key, _, value = line.partition("=")
        key = key.lstrip("+~")
        if key not in seeds:
            values[key] = value
    return values


def _number(value: str) -> Optional[float]:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def predict_durations(finished: Sequence[Tuple[Values, float]], left: Sequence[Values]) -> List[float]:
    """The duration of each job ``left``, from the ``finished`` jobs' values and durations (see the
    module doc for the order of the rules); [] of no use when nothing finished."""
    if not finished:
        return [math.nan] * len(left)
    by_config: Dict[Tuple[Tuple[str, str], ...], List[float]] = defaultdict(list)
    for values, duration in finished:
        by_config[tuple(sorted(values.items()))].append(duration)
    means = {config: float(np.mean(durations)) for config, durations in by_config.items()}
    overall = float(np.mean([duration for _, duration in finished]))
    line = _line(means, left)
    predicted = []
    for values in left:
        config = tuple(sorted(values.items()))
        if config in means:
            predicted.append(means[config])
        elif line is not None:
            keys, coefficients = line
            x = [_number(values.get(key, "")) for key in keys]
            predicted.append(max(0.0, float(coefficients[0] + np.dot(coefficients[1:], x))) if None not in x else _nearest(values, finished, overall))
        else:
            predicted.append(_nearest(values, finished, overall))
    return predicted


def _line(means: Mapping[Tuple[Tuple[str, str], ...], float], left: Sequence[Values]) -> Optional[Tuple[List[str], np.ndarray]]:
    """The least-squares line of the configurations' mean durations over the swept keys that are
    numbers in every job and vary among the finished ones; None where it explains less than
    :data:`MIN_EXPLAINED` of their variation (adjusted R²) or there are too few configurations."""
    configs = [dict(config) for config in means]
    keys = sorted({key for config in configs for key in config})
    numeric = [
        key for key in keys
        if all(_number(config.get(key, "")) is not None for config in [*configs, *left])
        and len({config[key] for config in configs}) > 1
    ]
    n, p = len(configs), len(numeric)
    if not numeric or n < p + 2:
        return None
    x = np.array([[1.0, *(_number(config[key]) for key in numeric)] for config in configs])
    y = np.array(list(means.values()))
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - x @ coefficients) ** 2))
    if total <= 0 or 1 - residual / total * (n - 1) / (n - p - 1) < MIN_EXPLAINED:
        return None
    return numeric, coefficients


def _nearest(values: Values, finished: Sequence[Tuple[Values, float]], overall: float) -> float:
    """The mean duration of the finished jobs sharing the most of ``values`` (at least one), else ``overall``."""
    shared = [(sum(done.get(key) == value for key, value in values.items()), duration) for done, duration in finished]
    most = max(count for count, _ in shared)
    return float(np.mean([duration for count, duration in shared if count == most])) if most else overall


def time_left(elapsed: float, done: int, finished: Sequence[Tuple[Values, float]], left: Sequence[Values]) -> float:
    """Seconds left: ``elapsed`` seconds per second of work done (the ``finished`` jobs whose duration
    is known, the other ``done`` jobs counted at their mean), times the work ``left`` as predicted;
    ``elapsed`` per job done times the jobs left where no duration is known."""
    if not done:
        return math.nan
    known = sum(duration for _, duration in finished)
    if not finished or known <= 0:
        return elapsed / done * len(left)
    work_done = known + known / len(finished) * (done - len(finished))
    return elapsed / work_done * sum(predict_durations(finished, left))


def _seconds_between(started: Optional[str], finished: Optional[str]) -> Optional[float]:
    """The seconds between two of the manifest's times (ISO 8601); None if either is missing."""
    try:
        return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds() if started and finished else None  # type: ignore[arg-type]
    except ValueError:
        return None


class JobLike(Protocol):
    """What the progress line reads of a job (:class:`launcher.sweep.job_entry.JobEntry` has it)."""

    number: int
    overrides: List[str]
    started: Optional[str]
    finished: Optional[str]


class Progress:
    """Done, failed and total jobs, and an estimate of the time left, in the log."""

    def __init__(self, jobs: Sequence[JobLike], seeds: Sequence[str] = ()) -> None:
        self.total, self.done, self.failed = len(jobs), 0, 0
        self.start = time.monotonic()
        self.seeds = tuple(seeds)
        self.left = {job.number: swept_values(job.overrides, self.seeds) for job in jobs}
        self.finished: List[Tuple[Values, float]] = []
        self.started: Dict[int, float] = {}

    def job_started(self, number: int) -> None:
        self.started.setdefault(number, time.monotonic())

    def job_finished(self, job: JobLike, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        values = self.left.pop(job.number, None)
        began = self.started.pop(job.number, None)
        duration = time.monotonic() - began if began is not None else _seconds_between(job.started, job.finished)
        if not failed and values is not None and duration is not None:
            self.finished.append((values, duration))
        elapsed = time.monotonic() - self.start
        seconds = time_left(elapsed, self.done, self.finished, list(self.left.values()))
        left = timedelta(seconds=round(seconds)) if math.isfinite(seconds) else "an unknown time"
        log.info("Progress: %d/%d jobs done (%d failed), about %s left", self.done, self.total, self.failed, left)
