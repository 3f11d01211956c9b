"""The task that runs a user's existing mozaik run script, one job per parameter combination.

A mozaik run script takes mozaik's command line::

    python run_script simulator_name num_threads root_parameter_file [key value ...] simulation_run_name

Each job writes its merged, resolved tree in mozaik's format into its run
directory and runs the script on it there, as a child process with an argument
list (no shell), so the script's own outputs land in the run directory too. The
script's exit code decides the job's state; its output and errors go to the
job's log. The run settings (script, simulator, threads, MPI processes) sit in
the tree under :data:`RUN_KEY`, which the script does not see.

Run as a Hydra application over a tree imported from mozaik
(:func:`launcher.mozaik_format.import_mozaik`); :mod:`launcher.parameter_search`
writes the root config and starts it::

    python -m launcher.external --config-path DIR --config-name search -m ...
"""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import hydra
from omegaconf import DictConfig

from launcher.app import job_location, recorded_job
from launcher.mozaik_format import from_hydra, write_parameters
from launcher.tree import resolved_tree

log = logging.getLogger(__name__)

#: Node of the tree holding how to run the script; left out of the tree the script reads.
RUN_KEY = "_run_"
#: The run name mozaik scripts get (mozaik's own backends pass this one).
SIMULATION_RUN_NAME = "ParameterSearch"
#: The script's standard output and error, in the run directory.
SCRIPT_LOG = "script.log"


@dataclass
class ScriptRun:
    """How each job runs the user's script (the tree's ``_run_`` node)."""

    script: str
    simulator: str
    threads: int = 1
    mpi: int = 1
    mpirun: str = "mpirun"
    python: str = sys.executable


def script_command(run: ScriptRun, parameters: Path) -> list[str]:
    """mozaik's command line for one job, as an argument list."""
    command = [run.python, run.script, run.simulator, str(run.threads), str(parameters), SIMULATION_RUN_NAME]
    if run.mpi > 1:
        command = [run.mpirun, "-n", str(run.mpi), *command]
    return command


def run_script(cfg: DictConfig, run_dir: Path | str | None = None, overrides: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Run the user's mozaik script on the job's tree; returns the job's record."""
    run_dir, overrides = job_location(run_dir, overrides)
    tree = resolved_tree(cfg)
    run = ScriptRun(**tree.pop(RUN_KEY))
    with recorded_job(cfg, run_dir, overrides, simulator=run.simulator, script=run.script) as record:
        parameters = run_dir / "parameters"
        write_parameters(from_hydra(tree), parameters)
        command = script_command(run, parameters)
        record["command"] = command
        log.info("Running %s in %s", command, run_dir)
        with open(run_dir / SCRIPT_LOG, "wb") as output:
            process = subprocess.run(command, cwd=run_dir, stdout=output, stderr=subprocess.STDOUT, check=False)
        record["exit_code"] = process.returncode
        tail = (run_dir / SCRIPT_LOG).read_text(errors="replace")[-4000:]
        log.info("Script output (end):\n%s", tail)
        if process.returncode != 0:
            last = tail.strip().splitlines()[-1] if tail.strip() else "no output"
            raise RuntimeError(f"{run.script} exited with code {process.returncode}: {last} (see {run_dir / SCRIPT_LOG})")
    return record


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg: DictConfig) -> dict[str, Any]:
    return run_script(cfg)


if __name__ == "__main__":
    main()
