"""Any model gets every guarantee of a sweep: the README's three ways in, run as written.

1. a user's own Hydra app choosing ``hydra/sweeper=mozaik`` and a launcher;
2. a model option of ``run_sim.py`` defined only in the user's ``--config-dir``;
3. a mozaik model directory imported with ``python -m launcher import-mozaik``
   (tests/test_mozaik_models.py).

Each runs a small real PyNN network on NEST. The Slurm runs are in tests/slurm/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support import REPO, check_completed_sweep, run_command, run_dirs, sweep_dir_of, write_example

OWN_APP = "1. Your own Hydra app"
MODEL_OPTION = "2. A model option of run_sim.py"
#: The run directories of the examples' 2x2 sweep.
GRID = {"net.rate=100,net.weight=0.01", "net.rate=100,net.weight=0.02", "net.rate=50,net.weight=0.01", "net.rate=50,net.weight=0.02"}


@pytest.fixture
def own_app(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "my_app"
    folder.mkdir()
    [command] = write_example(OWN_APP, folder)
    return folder, command


@pytest.mark.parametrize("launcher", ["local_parallel", "sequential"])
def test_own_hydra_app_gets_every_guarantee(own_app: tuple[Path, str], launcher: str) -> None:
    folder, command = own_app
    command = command.replace("hydra/launcher=local_parallel", f"hydra/launcher={launcher}")
    assert f"hydra/launcher={launcher}" in command
    proc = run_command(command, folder)
    assert proc.returncode == 0, proc.stderr
    sweep = sweep_dir_of(folder)
    check_completed_sweep(sweep, GRID, "my_app.log")
    rates = {name: json.loads((sweep / name / "results.json").read_text())["metrics"]["rate_hz"] for name in GRID}
    assert rates["net.rate=100,net.weight=0.02"] > rates["net.rate=50,net.weight=0.01"]  # a real network

    # Run again into the same sweep directory: nothing runs again.
    stamps = {name: (sweep / name / "results.json").stat().st_mtime_ns for name in GRID}
    again = run_command(command, folder, f"hydra.sweep.dir={sweep}")
    assert again.returncode == 0, again.stderr
    assert "Resuming: 4 of 4 jobs already completed, 0 to run" in again.stdout + again.stderr
    assert stamps == {name: (sweep / name / "results.json").stat().st_mtime_ns for name in GRID}


def test_own_hydra_app_misspelled_key_and_wrong_kind_are_refused_before_anything(own_app: tuple[Path, str]) -> None:
    folder, command = own_app
    misspelled = run_command(command.replace("net.weight=", "net.wieght="), folder)
    assert misspelled.returncode != 0
    assert "Unknown parameter 'net.wieght'. Did you mean: net.weight?" in misspelled.stderr, misspelled.stderr
    wrong_kind = run_command(command.replace("net.weight=0.01", "net.weight=abc"), folder)
    assert wrong_kind.returncode != 0
    assert "net.weight = 'abc' is a string, but the config's net.weight is a number (0.01)" in wrong_kind.stderr
    assert not (folder / "multirun").exists()


def test_own_hydra_app_a_failing_task_is_reported_and_the_others_complete(own_app: tuple[Path, str]) -> None:
    folder, command = own_app
    # PyNN refuses a population of no cells: those two jobs fail in the task, the other two complete.
    proc = run_command(command.replace("net.rate=50,100", "net.n_cells=20,0"), folder)
    assert proc.returncode != 0
    assert "2 of 4 jobs failed (the other results are complete)" in proc.stderr, proc.stderr
    sweep = sweep_dir_of(folder)
    states = {name: json.loads((sweep / name / "results.json").read_text()) for name in run_dirs(sweep)}
    for name, record in states.items():
        failed = "net.n_cells=0" in name
        assert record["state"] == ("failed" if failed else "completed"), name
        if failed:
            assert record["error"] and f"log: {(sweep / name / 'my_app.log').relative_to(folder)}" in proc.stderr
    summary = (sweep / "summary.csv").read_text().splitlines()
    assert sum(",failed," in row for row in summary) == 2 and sum(",completed," in row for row in summary) == 2


def test_model_option_defined_only_in_the_users_config_dir(tmp_path: Path) -> None:
    (tmp_path / "mozaik-hydra").symlink_to(REPO)
    folder = tmp_path / "my_project"
    folder.mkdir()
    [command] = write_example(MODEL_OPTION, folder)
    proc = run_command(command, folder)
    assert proc.returncode == 0, proc.stderr
    sweep = sweep_dir_of(folder)
    check_completed_sweep(sweep, {f"model=my_net,{name}" for name in GRID}, "run_sim.log")
    tree = (sweep / "model=my_net,net.rate=100,net.weight=0.02" / "parameters.yaml").read_text()
    assert re.search(r"weight: 0\.02", tree) and "task" not in tree
