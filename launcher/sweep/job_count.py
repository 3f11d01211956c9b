"""How many jobs a sweep has, from its overrides' descriptions (never by listing them), and the
limit on it: what the sweeper checks before planning, and ``run_sim.py`` before Hydra starts
(:func:`launcher.sweep.argv_checks.reject_oversized_sweep`), with the same message. It imports
only Hydra's override types, so that a refusal costs no more than Python's and Hydra's imports."""

from __future__ import annotations

import decimal
from typing import Any, Dict, Optional, Sequence

from hydra.core.override_parser.types import ChoiceSweep, RangeSweep

#: The most jobs a sweep may have by default (``hydra.sweeper.max_jobs``): a larger one is refused
#: before anything is planned (a million jobs: some 20 s and 310 MB, see benchmarks/planning.py).
MAX_JOBS = 100_000


def size_problem(count: int, max_jobs: int) -> Optional[str]:
    """Why a sweep of ``count`` jobs is refused (none, or more than ``max_jobs``), or None."""
    if count == 0:
        return "The sweep has no job (an empty range or choice, or an empty jobs_file); nothing was run"
    if count > max_jobs:
        return (
            f"The sweep has {count:,} jobs, more than hydra.sweeper.max_jobs = {max_jobs:,}; nothing was run "
            f"or created. To run them, raise the limit: hydra.sweeper.max_jobs={count}"
        )
    return None


def count_jobs(overrides: Sequence[Any], limit: int) -> int:
    """How many jobs Hydra's basic sweeper makes of parsed overrides (the product of the sizes of
    the sweeps, a later override of a key replacing an earlier one), without making them: each
    sweep's size from its description (:func:`sweep_size`), so that a typo of 10**10 jobs is
    counted at once. ``limit``: see :func:`sweep_size`."""
    sizes: Dict[str, int] = {}
    for override in overrides:
        discrete = override.is_sweep_override() and override.is_discrete_sweep()
        sizes[override.get_key_element()] = sweep_size(override, limit) if discrete else 1
    count = 1
    for size in sizes.values():
        count *= size
    return count


def sweep_size(override: Any, limit: int) -> int:
    """The number of values of a discrete sweep override, from its description: a list's length,
    an integer ``range()``'s by arithmetic (``len(range(...))``), shuffled or not. Hydra steps a
    float ``range()`` in Decimal arithmetic, rounding at each step, so its size is computed and,
    up to ``2 * limit + 2`` values (a size that may decide a refusal at ``limit``), checked by
    stepping Hydra's own range; a glob lists its group's options."""
    value = override.value()
    if isinstance(value, RangeSweep):
        steps = value.range()
        if isinstance(steps, range):
            return len(steps)
        with decimal.localcontext() as exact:
            exact.prec = 200  # the Decimals of floats have at most some 770 digits; 200 place the count within one
            start, stop, step = (decimal.Decimal(x) for x in (steps.start, steps.stop, steps.step))
            if step == 0:
                return sum(1 for _ in steps)  # Hydra's own error for a zero step
            size = max(0, int(((stop - start) / step).to_integral_value(rounding=decimal.ROUND_CEILING)))
        if size <= 2 * limit + 2:
            size = sum(1 for _ in steps)
        return size
    if isinstance(value, ChoiceSweep):
        return len(value.list)
    if isinstance(value, list):
        return len(value)
    return sum(1 for _ in override.sweep_string_iterator())  # a glob: the options of a config group
