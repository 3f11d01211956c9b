"""What the tests share: paths, a small fast network, running the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

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


def run_cli(args: Sequence[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python run_sim.py ARGS`` in a fresh process, as a user would."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(RUN_SIM), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def run_launcher_cli(*args: object, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run ``python -m launcher ARGS`` (status, collect...) in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "launcher", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )
