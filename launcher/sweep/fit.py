"""What fitting a model needs besides a sweep: the objective, the search space, their checks.

A fit is a sweep whose jobs (trials) an Optuna sampler chooses one batch at a
time (:mod:`launcher.sweep.optuna_sweeper`). This module holds the plain parts:

- :class:`Objective`, what to optimise, from the root key ``objective`` of the
  run config (not part of the model's tree): one metric (``objective=rate_exc_hz``,
  in Hydra's ``hydra.sweeper.direction``); targets for several metrics
  (``objective: {rate_exc_hz: 5.0, rate_inh_hz: 10.0}``), combined into one loss
  to minimise, the sum of squared relative errors (:func:`target_loss`); or a
  list of metrics for Optuna's multi-objective search (one direction each). A
  trial without a finite value (a failed job, a NaN metric) has no value: it is
  told to Optuna as failed, never as a number;
- :func:`search_space`, the distributions of the swept keys, from Hydra's sweep
  syntax on the command line and in ``hydra.sweeper.params`` (``interval(a,b)``,
  ``tag(log, interval(a,b))``, ``range(a,b[,step])``, ``choice(...)``, ``a,b,c``),
  as hydra-optuna-sweeper reads them;
- :func:`probe_values`, the values of a distribution the sweeper validates before
  the first trial (its ends, every choice), so that a search space outside a
  key's allowed range is refused before anything runs;
- :func:`space_size` and :func:`point_index`, the points of a discrete search space
  (choices, ranges, stepped intervals), to tell when a fit has run every one;
- :func:`continued_seed`, the seed of a seeded sampler continuing a study, so that
  it draws new points rather than replaying the ones it drew before;
- :func:`check_optuna`, the installed Optuna checked as a fit starts: a plugin's pins
  (hydra-optuna-sweeper's on optuna or alembic) named, with what to do, not an ImportError mid-fit.
"""

from __future__ import annotations

import math
import re
from importlib import metadata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import numpy

from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep, Transformer

from launcher.sweep.tree import ParameterError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

#: The root key of the run config that says what a fit optimises.
OBJECTIVE_KEY = "objective"
DIRECTIONS = ("minimize", "maximize")
#: The study's user attribute holding a fit's targets ({metric: target}), for a sampler that models them.
TARGETS_ATTR = "fit_targets"
#: Each completed trial's user attribute holding the target metrics it reached ({metric: value}).
METRICS_ATTR = "fit_metrics"


def target_loss(metrics: Mapping[str, float], targets: Mapping[str, float]) -> float:
    """The sum over the targets of ``((metric - target) / target) ** 2``, the squared relative error
    (the squared error where a target is 0): 0 on target, 0.01 for a metric 10% off one target."""
    return sum(((metrics[name] - target) / (target if target else 1.0)) ** 2 for name, target in targets.items())


@dataclass(frozen=True)
class Objective:
    """What a fit optimises: the metrics it reads and how they become the value(s) told to Optuna."""

    #: The metrics the objective reads, in order.
    metrics: tuple[str, ...]
    #: One direction per value told to Optuna.
    directions: tuple[str, ...]
    #: The target of each metric, for a loss of targets (None: the metrics are the values).
    targets: Optional[Mapping[str, float]] = None

    @classmethod
    def of(cls, config: Any, direction: Any = "minimize") -> "Objective":
        """The objective written in the run config (``config``: the value of its key ``objective``) and
        Hydra's ``hydra.sweeper.direction``; refuses what cannot be one, saying why."""
        where = f"{OBJECTIVE_KEY} = {config!r}"
        if config is None:
            raise ParameterError(
                f"a fit needs an objective: add {OBJECTIVE_KEY}=METRIC (one of the model's metrics), or targets "
                f"such as '{OBJECTIVE_KEY}={{rate_exc_hz: 5.0, rate_inh_hz: 10.0}}'"
            )
        directions = [direction] if isinstance(direction, str) else list(direction or ["minimize"])
        if any(d not in DIRECTIONS for d in directions):
            raise ParameterError(f"hydra.sweeper.direction = {direction!r}: each direction is one of {', '.join(DIRECTIONS)}")
        if isinstance(config, str):
            if len(directions) != 1:
                raise ParameterError(f"{where} is one metric: give one direction, not {direction!r}")
            return cls((config,), tuple(directions))
        if isinstance(config, Mapping):
            targets = {str(name): target for name, target in config.items()}
            for name, target in targets.items():
                if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target):
                    raise ParameterError(f"{where}: the target of {name} must be a finite number, not {target!r}")
            if not targets:
                raise ParameterError(f"{where}: name at least one metric and its target")
            return cls(tuple(targets), ("minimize",), {name: float(t) for name, t in targets.items()})
        if isinstance(config, Sequence) and config and all(isinstance(name, str) for name in config):
            if len(directions) == 1:
                directions = directions * len(config)
            if len(directions) != len(config):
                raise ParameterError(f"{where}: give one direction per metric, not {direction!r}")
            return cls(tuple(config), tuple(directions))
        raise ParameterError(f"{where}: give a metric's name, a mapping of metrics to targets, or a list of metrics")

    def values(self, metrics: Mapping[str, Any]) -> Optional[list[float]]:
        """The value(s) to tell Optuna for a trial's metrics; None when one is missing or not finite, or
        when the loss of targets is not (a metric some 1e154 times its target)."""
        found = [metrics.get(name) for name in self.metrics]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in found):
            return None
        numbers = dict(zip(self.metrics, (float(v) for v in found)))  # type: ignore[arg-type]
        if self.targets is not None:
            try:
                loss = target_loss(numbers, self.targets)
            except OverflowError:  # a metric so far off its target that its square is out of range
                return None
            return [loss] if math.isfinite(loss) else None
        return [numbers[name] for name in self.metrics]

    def check_metrics(self, produced: Optional[Sequence[str]]) -> None:
        """Refuse an objective naming a metric the model does not produce (when the model says which)."""
        if produced is None:
            return
        unknown = [name for name in self.metrics if name not in produced]
        if unknown:
            raise ParameterError(
                f"{OBJECTIVE_KEY}: the model produces no metric {', '.join(map(repr, unknown))}; "
                f"its metrics: {', '.join(produced)}"
            )


def distribution(override: Override) -> "BaseDistribution":
    """The Optuna distribution of one swept key, as hydra-optuna-sweeper reads Hydra's sweep syntax."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    key = override.get_key_element()
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)  # type: ignore[arg-type]
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if all(isinstance(x, int) for x in (start, stop, step)):
            return IntDistribution(start, stop - step, step=step)  # type: ignore[operator]
        return FloatDistribution(float(start), float(stop) - float(step), step=float(step))  # type: ignore[arg-type]
    if override.is_choice_sweep() or isinstance(value, ChoiceSweep):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        return CategoricalDistribution(choices)
    raise ParameterError(f"{key}: {override.input_line!r} is not a search space (interval(), range(), choice() or a,b,c)")


def search_space(overrides: Sequence[Override]) -> tuple[list[str], dict[str, "BaseDistribution"]]:
    """The fixed overrides (as written) and the distribution of each swept key, in order."""
    fixed: list[str] = []
    space: dict[str, BaseDistribution] = {}
    for override in overrides:
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(override.input_line or f"{override.get_key_element()}={override.get_value_element_as_str()}")
    return fixed, space


def refuse_searched_seeds(space: Mapping[str, Any], seeds: Sequence[str]) -> None:
    """Refuse a search space holding one of the model's seed keys (``task._seed_keys_``): a seed
    only repeats a configuration, and a fit searching it fits the noise of one draw."""
    searched = [key for key in space if key in seeds]
    if searched:
        key = searched[0]
        raise ParameterError(
            f"{key} is the model's seed (task._seed_keys_: {', '.join(seeds)}): a fit does not search it nor repeat "
            f"its trials over seeds; give it one value ({key}=1), and sweep seeds in a grid of the best trial's values"
        )


def probe_values(dist: "BaseDistribution") -> list[Any]:
    """The values of a distribution checked before the first trial: its ends, or every choice."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, (FloatDistribution, IntDistribution)):
        return [dist.low, dist.high] if dist.low != dist.high else [dist.low]
    return []


def _steps(dist: "BaseDistribution") -> Optional[tuple[Any, Any, int]]:
    """A discrete numeric distribution's lowest value, step and number of values; None otherwise."""
    from optuna.distributions import FloatDistribution, IntDistribution

    if isinstance(dist, IntDistribution):
        return dist.low, dist.step, (dist.high - dist.low) // dist.step + 1
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        return dist.low, dist.step, round((dist.high - dist.low) / dist.step) + 1
    return None


def space_size(space: Mapping[str, "BaseDistribution"]) -> Optional[int]:
    """How many points a search space has; None when one of its keys is continuous (an interval of floats)."""
    from optuna.distributions import CategoricalDistribution

    size = 1
    for dist in space.values():
        steps = _steps(dist)
        if isinstance(dist, CategoricalDistribution):
            size *= len(dist.choices)
        elif steps is not None:
            size *= steps[2]
        else:
            return None
    return size


def point_index(space: Mapping[str, "BaseDistribution"], params: Mapping[str, Any]) -> Optional[tuple[int, ...]]:
    """Which point of a discrete search space ``params`` are (the index of each key's value among
    its values), or None when they are not one of its points (another space, a continuous key)."""
    from optuna.distributions import CategoricalDistribution

    index = []
    for key, dist in space.items():
        if key not in params:
            return None
        value, steps = params[key], _steps(dist)
        if isinstance(dist, CategoricalDistribution):
            if value not in dist.choices:
                return None
            index.append(dist.choices.index(value))
        elif steps is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, step, count = steps
            i = round((value - low) / step)
            if not (0 <= i < count and abs(low + i * step - value) <= 1e-6 * step):  # a float step's rounding
                return None
            index.append(i)
        else:
            return None
    return tuple(index)


def continued_seed(seed: int, trials: int) -> int:
    """The seed of a sampler given ``seed`` for a study that holds ``trials`` trials already: ``seed``
    itself for a new study (the same draws as Optuna's with that seed), else the first 32-bit word
    of ``numpy.random.SeedSequence([seed, trials])``. A seeded sampler made again with the same seed
    replays its draws; this one draws new points, and the same ones for the same study."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"hydra.sweeper.sampler.seed = {seed!r}: a whole number, at least 0")
    if trials == 0:
        return seed
    return int(numpy.random.SeedSequence([seed, trials]).generate_state(1)[0])


#: The Optuna the fit is written for (pyproject.toml asks for the same), and the packages whose
#: versions decide whether it imports (its storage needs alembic and SQLAlchemy).
OPTUNA_NEEDED, OPTUNA_DEPENDENCIES = 4, ("optuna", "alembic", "sqlalchemy")
INSTALL_HINT = "pip install 'optuna>=4' 'alembic>=1.7'"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_on(names: Sequence[str]) -> list[str]:
    """Installed packages' requirements that bound ``names`` from above (``<``, ``==``, ``~=``), as
    'hydra-optuna-sweeper 1.1.2 requires alembic<1.7.0': the usual reason an Optuna is too old."""
    wanted, found = {_normal(name) for name in names}, []
    for dist in metadata.distributions():
        for line in dist.requires or ():
            requirement = line.split(";")[0].strip()  # extras' and markers' requirements alike
            match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^]]*\])?\s*\(?([^)]*)\)?", requirement)
            if match and _normal(match[1]) in wanted and re.search(r"<|==|~=", match[2]):
                found.append(f"{dist.metadata['Name']} {dist.version} requires {match[1]}{match[2].replace(' ', '')}")
    return sorted(set(found))


def check_optuna() -> None:
    """Raise one :class:`ParameterError` if the installed Optuna cannot run a fit: missing, older
    than the fit's, or failing to import (an alembic too old for the SQLAlchemy installed, as
    hydra-optuna-sweeper 1.1.2 pins it) -- naming the packages that pin it and what to do."""
    try:
        version = metadata.version("optuna")
    except metadata.PackageNotFoundError:
        raise ParameterError(f"a fit needs Optuna, which is not installed: {INSTALL_HINT}") from None
    problem = None
    if int(re.match(r"\d*", version)[0] or 0) < OPTUNA_NEEDED:
        problem = f"optuna {version} is installed, the fit needs optuna>={OPTUNA_NEEDED}"
    else:
        try:
            import optuna.storages  # noqa: F401  (imports alembic and SQLAlchemy)
        except ImportError as exc:
            problem = f"optuna {version} cannot be imported ({exc})"
    if problem is not None:
        pins = pins_on(OPTUNA_DEPENDENCIES)
        raise ParameterError(
            f"{problem}{' -- ' + '; '.join(pins) if pins else ''}; nothing was run. Install versions that work "
            f"together: {INSTALL_HINT} (hydra/sweeper=optuna in run_sim.py is the project's fit, which does not "
            "need hydra-optuna-sweeper)"
        )
