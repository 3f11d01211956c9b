"""Shared fixtures: compose the project's config as Hydra would, run the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import launcher  # noqa: F401  (registers the schema and the run_dirname resolver)

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"
RUN_SIM = REPO / "run_sim.py"

#: A small, fast network: 200 cells (160 exc, 40 inh) for 200 ms of spontaneous activity,
#: denser connectivity so that it stays active at this size.
SMALL = [
    "sheets.V1.density=200",
    "sheets.V1.connectivity.probability=0.2",
    "sheets.V1.connectivity.exc_weight=0.006",
    "sheets.V1.connectivity.inh_weight=0.04",
    "experiment.kick.probability=0.5",
    "experiment.spontaneous_duration=200",
]


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    """compose_cfg(*overrides): the composed tree, with Hydra's node, as a job would get it."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose("config", overrides=list(overrides), return_hydra_config=False)

    return _compose


def run_cli(args: Sequence[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python run_sim.py ARGS`` in a fresh process, as a user would."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(RUN_SIM), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
