"""What a model declares of itself in its config, for the sweep and the report alike.

A model's config names its task in the root node ``task`` (a model option of run_sim.py; an own
Hydra app may hold the node too), and beside it, in keys written like Hydra's own:

- ``task._metrics_``: the metrics its task returns (a fit's objective is checked against them);
- ``task._seed_keys_``: its seed keys, the dotted keys whose values only repeat a configuration
  (``[net.seed]``; default ``pynn_seed``, the embedded model's and mozaik's). Jobs that differ
  only by them are runs of one configuration: the figures average them, the time-left estimate
  takes them as alike (:mod:`launcher.sweep.progress`), a fit refuses to search them.

Being part of the config, the declarations count in the jobs' config hash.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from launcher.sweep.tree import ParameterError

#: Where a model lists the metrics its task produces.
METRICS_KEY = "task._metrics_"
#: Where a model lists its seed keys, and the keys taken when it lists none.
SEED_KEYS_KEY = "task._seed_keys_"
DEFAULT_SEED_KEYS = ("pynn_seed",)


class SeedKeysError(ParameterError, ValueError):
    """A model's ``task._seed_keys_`` that is not a list of dotted keys."""


def _declared(config: Optional[DictConfig], key: str) -> Any:
    """``key``'s value in ``config`` as plain data; None where it has none or it cannot be resolved."""
    if config is None:
        return None
    try:
        value = OmegaConf.select(config, key, default=None, throw_on_missing=False)
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    except (OmegaConfBaseException, ValueError, KeyError, TypeError):
        return None


def produced_metrics(config: Optional[DictConfig]) -> Optional[Sequence[str]]:
    """The metrics the model says its task produces (``task._metrics_``), or None if it does not say."""
    produced = _declared(config, METRICS_KEY)
    return [str(name) for name in produced] if isinstance(produced, list) else None


def seed_keys(config: Optional[DictConfig]) -> tuple[str, ...]:
    """The model's seed keys (``task._seed_keys_``: a list of dotted keys, or one), ``pynn_seed``
    when it declares none; :class:`SeedKeysError` when the declaration is of another kind."""
    declared = _declared(config, SEED_KEYS_KEY)
    if declared is None:
        return DEFAULT_SEED_KEYS
    keys = [declared] if isinstance(declared, str) else declared
    if not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
        raise SeedKeysError(f"{SEED_KEYS_KEY} = {declared!r}: expected a list of dotted keys, e.g. [pynn_seed] or [net.seed]")
    return tuple(keys)
