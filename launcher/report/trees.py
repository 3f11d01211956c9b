"""What the report reads of a sweep's configuration, from its files only: the value a job ran with
for a key it did not override (its resolved tree), the keys that only repeat a configuration
(its seeds: :func:`launcher.sweep.declared.seed_keys`), and the units of parameters and metrics.

A job's tree is its run directory's ``parameters.yaml`` (the resolved tree of a model run by
``run_sim.py``) or else Hydra's ``.hydra/config.yaml`` (any Hydra app: written unresolved, so
only the keys asked for are resolved; one whose interpolation cannot be resolved there, such as
``${hydra:...}``, is unknown). The sweep's own configuration is Hydra's ``multirun.yaml`` in the
sweep directory (the last sweep's), else a run's ``.hydra/config.yaml``.
"""

from __future__ import annotations

import io
import os
from typing import Any, Iterable, Optional

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from launcher.run.files import read_bounded
from launcher.run.results import PARAMETERS_FILE
from launcher.model.config import RootConfig
from launcher.sweep.tree import schema_units

#: Hydra's copy of a job's config in its run directory, and of a sweep's in its sweep directory.
HYDRA_CONFIG = os.path.join(".hydra", "config.yaml")
MULTIRUN_CONFIG = "multirun.yaml"
#: The default model's task: its tree is the one ``launcher.model.config`` types (units from there).
DEFAULT_MODEL_TASK = "launcher.model.task.run"
#: A metric's unit from its name's last part (``rate_exc_hz``: Hz); any other name has none.
METRIC_UNITS = {"hz": "Hz", "khz": "kHz", "ms": "ms", "s": "s", "mv": "mV", "na": "nA", "pa": "pA"}

#: A key that a tree does not hold, or holds a value that cannot be resolved from its files.
UNKNOWN = object()


def _load(path: str) -> Optional[DictConfig]:
    """A YAML file as a config; None if it is missing or cannot be read as one."""
    try:
        config = OmegaConf.load(io.BytesIO(read_bounded(path, "YAML config")))  # no link, no FIFO, bounded
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException):  # a damaged file tells nothing
        return None
    return config if isinstance(config, DictConfig) else None


def _select(config: Optional[DictConfig], key: str) -> Any:
    """``key``'s value in ``config``, resolved (containers as plain lists and dicts); UNKNOWN if it has
    none or its value cannot be resolved here."""
    if config is None:
        return UNKNOWN
    try:
        value = OmegaConf.select(config, key, default=UNKNOWN, throw_on_resolution_failure=True, throw_on_missing=True)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
    except (OmegaConfBaseException, ValueError, KeyError, TypeError):
        return UNKNOWN
    return value


class RunTrees:
    """The resolved trees of a sweep's run directories: each file read once, and only when asked for
    (Hydra's copy only for a key ``parameters.yaml`` does not hold)."""

    def __init__(self, sweep_dir: str) -> None:
        self.sweep_dir = sweep_dir
        self._files: dict[tuple[str, str], Optional[DictConfig]] = {}

    def _file(self, run_dir: str, name: str) -> Optional[DictConfig]:
        if (run_dir, name) not in self._files:
            self._files[run_dir, name] = _load(os.path.join(self.sweep_dir, run_dir, name))
        return self._files[run_dir, name]

    def value(self, run_dir: str, key: str) -> Any:
        """The value of ``key`` the job of ``run_dir`` ran with; UNKNOWN if its files do not say
        (no run directory: a job that never started; a key its tree does not have)."""
        for name in (PARAMETERS_FILE, HYDRA_CONFIG):
            value = _select(self._file(run_dir, name), key)
            if value is not UNKNOWN:
                return value
        return UNKNOWN


def sweep_config(sweep_dir: str, run_dirs: Iterable[str] = ()) -> Optional[DictConfig]:
    """The sweep's configuration: its ``multirun.yaml``, else the first run's ``.hydra/config.yaml``."""
    config = _load(os.path.join(sweep_dir, MULTIRUN_CONFIG))
    for run_dir in run_dirs:
        if config is not None:
            break
        config = _load(os.path.join(sweep_dir, run_dir, HYDRA_CONFIG))
    return config


def parameter_units(config: Optional[DictConfig]) -> dict[str, str]:
    """The unit of each key of the sweep's tree that has one: the default model's schema
    (``unit`` metadata of :mod:`launcher.model.config`) when the sweep ran the default model;
    none otherwise (a model's own schema is not in the sweep's files)."""
    if _select(config, "task._target_") != DEFAULT_MODEL_TASK:
        return {}
    return {key: unit for key, unit in schema_units(RootConfig).items() if unit}


def metric_unit(name: str) -> str:
    """A metric's unit from its name (``rate_exc_hz``: Hz, ``delay_ms``: ms); "" when the name says none."""
    head, sep, suffix = name.rpartition("_")
    return METRIC_UNITS.get(suffix.lower(), "") if sep and head else ""


def with_unit(label: str, unit: str) -> str:
    """An axis label: ``name (unit)``, or the name alone."""
    return f"{label} ({unit})" if unit else label

