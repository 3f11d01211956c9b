"""What the tests share: paths, a small fast network, running the CLI as a user would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
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


def with_ctrl_c() -> None:
    """``preexec_fn`` of a child that a test stops with SIGINT, as Ctrl-C in a terminal would:
    tests run in the background by a shell (or under nohup) ignore SIGINT, and so would
    their children, which then rightly let SIGINT pass."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


# --- mozaik search scripts and models -----------------------------------------------------

MOZAIK_MODEL = Path(__file__).parent / "data" / "mozaik"

#: A stand-in for a user's mozaik run script: mozaik's command line, reads its tree, writes into its cwd.
FAKE_RUN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from launcher.mozaik_format import read_parameters
    simulator, threads, parameter_file, run_name = sys.argv[1:]
    tree = read_parameters(parameter_file)
    density = tree["sheets"]["inh_layer"]["params"]["density"]
    if density == 13:
        print("density 13 is unlucky", file=sys.stderr)
        sys.exit(3)
    output = {"density": density, "simulator": simulator, "threads": threads, "run_name": run_name,
              "base_delay": tree["sheets"]["inh_layer"]["InhExcConnection"]["base_delay"]}
    json.dump(output, open("run_output.json", "w"))
    """
)


def search_script(backend: str, values: dict) -> str:
    return (
        "from launcher.parameter_search import *\n"
        f"CombinationParameterSearch({backend}, {values!r}).run_parameter_search()\n"
    )


def run_search(cwd: Path, script: str, *argv: str) -> subprocess.CompletedProcess:
    (cwd / "search.py").write_text(script)
    return subprocess.run([sys.executable, "search.py", *argv], cwd=cwd, capture_output=True, text=True, timeout=600)


def make_mozaik_model(tmp_path: Path) -> Path:
    """A mozaik model directory: its parameter files and a run script."""
    model = tmp_path / "model"
    shutil.copytree(MOZAIK_MODEL, model)
    (model / "run.py").write_text(FAKE_RUN_SCRIPT)
    return model
