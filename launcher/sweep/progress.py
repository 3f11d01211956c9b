"""The progress line of a sweep: jobs done, failed, and the time left, estimated from jobs alike.

A plain mean of the finished jobs' durations says "0:00:10 left" before a 45 s job when the short
jobs came first. The estimate here predicts each job left from the finished jobs like it
(:class:`Durations`), then scales the time elapsed by the work left over the work done
(:func:`time_left`): the launcher's parallelism, whatever it is, is in the time elapsed per second
of work done. The durations are those of completed jobs (a failed job may have stopped early).

Jobs are alike by their swept values, the model's seed keys left out (:mod:`launcher.sweep.declared`):
two jobs that differ only by seed are runs of one configuration. Each job left is predicted by:

1. the mean duration of the finished jobs of its configuration (its values, seeds aside);
2. else a least-squares line through the finished configurations' mean durations over the swept
   keys whose values are all numbers (density, duration...), where it explains at least half of
   their variation (adjusted R², so that a few noisy points give no line; it needs two
   configurations more than keys), never below 0;
3. else the mean duration of the finished jobs that share its value of the swept key whose values
   most change the duration (the largest spread of the per-value means), else of the next key;
4. else the mean of every finished job.

The predictions are made again at most every :data:`REFRESH_S` seconds (and at most a tenth of the
time), so a sweep of 100,000 jobs pays for them once in a while, not at every job's end.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import numpy as np

log = logging.getLogger(__name__)

#: The share of the variation of the configurations' durations a line must explain to be used.
MIN_EXPLAINED = 0.5
#: The predictions of the jobs left are made again at most this often (seconds).
REFRESH_S = 1.0
#: A job's configuration: its swept (key, value) pairs as written, sorted, the seed keys left out.
Config = Tuple[Tuple[str, str], ...]


def configuration(overrides: Sequence[str], seeds: Sequence[str] = ()) -> Config:
    """A job's override lines as its configuration (see :data:`Config`)."""
    return tuple(sorted(pair for pair in map(_pair, overrides) if pair[0] not in seeds))


@functools.lru_cache(maxsize=65536)  # a sweep's lines repeat across its jobs
def _pair(line: str) -> Tuple[str, str]:
    key, _, value = line.partition("=")
    return key.lstrip("+~"), value


def _number(value: Optional[str]) -> Optional[float]:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Durations:
    """What the finished jobs say of the duration of a job left (see the module doc for the rules)."""

    def __init__(self, finished: Sequence[Tuple[Config, float]], left: Sequence[Config] = ()) -> None:
        by_config: Dict[Config, List[float]] = defaultdict(list)
        by_value: Dict[str, Dict[str, List[float]]] = defaultdict(lambda: defaultdict(list))
        for config, duration in finished:
            by_config[config].append(duration)
            for key, value in config:
                by_value[key][value].append(duration)
        self.means = {config: float(np.mean(durations)) for config, durations in by_config.items()}
        self.overall = float(np.mean([duration for _, duration in finished])) if finished else math.nan
        # rule 3: each key's per-value means, the keys whose values spread the durations most first
        self.value_means = {key: {value: float(np.mean(d)) for value, d in values.items()} for key, values in by_value.items()}
        spread = {key: max(means.values()) - min(means.values()) for key, means in self.value_means.items()}
        self.keys_by_spread = sorted(spread, key=lambda key: -spread[key])
        self.line = self._line(left)

    def _line(self, left: Sequence[Config]) -> Optional[Tuple[List[str], np.ndarray]]:
        """Rule 2's line: over the keys that are numbers in every job and vary among the finished ones."""
        configs = [dict(config) for config in self.means]
        keys = sorted({key for config in configs for key in config})
        numeric = [
            key for key in keys
            if all(_number(config.get(key)) is not None for config in configs)
            and all(_number(dict(config).get(key)) is not None for config in left)
            and len({config[key] for config in configs}) > 1
        ]
        n, p = len(configs), len(numeric)
        if not numeric or n < p + 2:
            return None
        x = np.array([[1.0, *(_number(config[key]) for key in numeric)] for config in configs])
        y = np.array(list(self.means.values()))
        coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
        total = float(np.sum((y - y.mean()) ** 2))
        residual = float(np.sum((y - x @ coefficients) ** 2))
        if total <= 0 or 1 - residual / total * (n - 1) / (n - p - 1) < MIN_EXPLAINED:
            return None
        return numeric, coefficients

    def predict(self, config: Config) -> float:
        if config in self.means:
            return self.means[config]
        values = dict(config)
        if self.line is not None:
            keys, coefficients = self.line
            x = [_number(values.get(key)) for key in keys]
            if None not in x:
                return max(0.0, float(coefficients[0] + np.dot(coefficients[1:], x)))
        for key in self.keys_by_spread:
            if values.get(key) in self.value_means[key]:
                return self.value_means[key][values[key]]
        return self.overall


def predict_durations(finished: Sequence[Tuple[Mapping[str, str], float]], left: Sequence[Mapping[str, str]]) -> List[float]:
    """The duration of each job ``left`` (its swept values, seeds aside), from the ``finished`` jobs'
    values and durations; NaN for each when nothing finished."""
    configs = [tuple(sorted(values.items())) for values in left]
    durations = Durations([(tuple(sorted(values.items())), duration) for values, duration in finished], configs)
    return [durations.predict(config) for config in configs]


def time_left(elapsed: float, done: int, known: Tuple[float, int], work_left: float, jobs_left: int) -> float:
    """Seconds left: ``elapsed`` seconds per second of work done (``known``: the total and the number
    of the durations known, the other ``done`` jobs counted at their mean) times the ``work_left``
    predicted; where no duration is known, ``elapsed`` per job done times the ``jobs_left``."""
    total, count = known
    if not done:
        return math.nan
    if not count or total <= 0 or not math.isfinite(work_left):
        return elapsed / done * jobs_left
    work_done = total + total / count * (done - count)
    return elapsed / work_done * work_left


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
        self.config_of = {job.number: configuration(job.overrides, self.seeds) for job in jobs}
        self.left = Counter(self.config_of.values())  # jobs left per configuration
        self.finished: List[Tuple[Config, float]] = []
        self.known = (0.0, 0)  # the total and the number of the durations in self.finished
        self.started: Dict[int, float] = {}
        self.predicted: Dict[Config, float] = {}  # the last predictions made, per configuration left
        self.work_left = math.nan
        self.next_refresh = 0.0

    def job_started(self, number: int) -> None:
        self.started.setdefault(number, time.monotonic())

    def job_finished(self, job: JobLike, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        config = self.config_of.pop(job.number, None)
        began = self.started.pop(job.number, None)
        duration = time.monotonic() - began if began is not None else _seconds_between(job.started, job.finished)
        if config is not None:
            self.left[config] -= 1
            self.work_left -= self.predicted.get(config, 0.0)
            if not self.left[config]:
                del self.left[config]
            if not failed and duration is not None:
                self.finished.append((config, duration))
                self.known = (self.known[0] + duration, self.known[1] + 1)
        now = time.monotonic()
        if self.finished and now >= self.next_refresh:
            durations = Durations(self.finished, list(self.left))
            self.predicted = {c: durations.predict(c) for c in self.left}
            self.work_left = sum(self.predicted[c] * count for c, count in self.left.items())
            cost = time.monotonic() - now
            self.next_refresh = time.monotonic() + max(REFRESH_S, 10 * cost)
        seconds = time_left(now - self.start, self.done, self.known, max(self.work_left, 0.0), self.total - self.done)
        left = timedelta(seconds=round(seconds)) if math.isfinite(seconds) else "an unknown time"
        log.info("Progress: %d/%d jobs done (%d failed), about %s left", self.done, self.total, self.failed, left)
