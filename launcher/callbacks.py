"""Hydra callbacks of the project (configured under ``hydra.callbacks`` in conf/config.yaml)."""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from launcher.tree import validate_tree


class ValidateBeforeRun(Callback):
    """Validate a single run's tree before Hydra creates its run directory.

    (Sweeps are validated job by job by the sweeper, before the sweep directory exists.)
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        validate_tree(config)
