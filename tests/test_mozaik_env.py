"""The environment a mozaik run script runs in: paths as a shell reads them, refused before anything is queued.

``path_to_mozaik_env`` (mozaik's ``SlurmSequentialBackend``) and ``task.env`` may hold ``~``, ``$HOME`` and
``${NAME}``, as mozaik-models' scripts write them; the job expands them where it runs. An environment that
is not on this host is refused before anything is written or queued, with the expanded path named; a path
naming a variable this host does not set is left to the host the job runs on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from launcher.mozaik.script_task import environment, environment_problem, import_model, reject_missing_environments
from launcher.parameter_search import SlurmSequentialBackend
from launcher.sweep.tree import ParameterError
from support import REPO, RUN_SIM


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home directory holding a virtual environment's layout (``bin/python``, ``bin/activate``)."""
    home = tmp_path / "home"
    (home / "virt_env" / "mozaik" / "bin").mkdir(parents=True)
    (home / "virt_env" / "mozaik" / "bin" / "python").symlink_to(sys.executable)
    (home / "virt_env" / "mozaik" / "bin" / "activate").write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ENVS", str(home / "virt_env"))
    return home


@pytest.mark.parametrize("written", ["$HOME/virt_env/mozaik/bin/activate", "${ENVS}/mozaik", "~/virt_env/mozaik/bin/activate"])
def test_a_path_is_expanded_as_a_shell_expands_it_where_the_job_runs(home, written):
    python, variables = environment(written)
    assert python == str(home / "virt_env" / "mozaik" / "bin" / "python")
    assert variables["VIRTUAL_ENV"] == str(home / "virt_env" / "mozaik")
    assert environment_problem(written) is None


def test_a_missing_environment_is_named_expanded(home):
    problem = environment_problem("$HOME/virt_env/other/bin/activate", "path_to_mozaik_env")
    assert problem == (
        f"path_to_mozaik_env = '$HOME/virt_env/other/bin/activate': there is no {home}/virt_env/other/bin/python on this "
        "host: give a virtual environment's directory or its bin/activate (~, $HOME and ${NAME} are read as a shell reads them)"
    )
    with pytest.raises(FileNotFoundError, match=f"there is no {home}/virt_env/other/bin/python on "):
        environment("$HOME/virt_env/other/bin/activate")


def test_a_variable_this_host_does_not_set_is_left_to_the_jobs_host_which_says_so(home, monkeypatch):
    monkeypatch.delenv("NODE_SCRATCH", raising=False)
    assert environment_problem("$NODE_SCRATCH/env") is None
    with pytest.raises(FileNotFoundError, match=r"\$NODE_SCRATCH is not set on "):
        environment("$NODE_SCRATCH/env")


def test_the_slurm_backend_refuses_a_missing_environment_before_anything_and_passes_the_path_unexpanded(home):
    with pytest.raises(ParameterError, match=f"SlurmSequentialBackend: path_to_mozaik_env = '~/nowhere': there is no {home}/nowhere/bin/python"):
        SlurmSequentialBackend(1, 2, "~/nowhere", []).run_overrides(external=True)
    # expanded where the job runs: passed as written, ${...} escaped from Hydra's interpolation
    overrides = SlurmSequentialBackend(1, 2, "${HOME}/virt_env/mozaik/bin/activate", []).run_overrides(external=True)
    assert overrides[-1] == r"task.env=\\$\{HOME\}/virt_env/mozaik/bin/activate"


def test_run_sim_refuses_a_missing_task_env_before_hydra_starts(home, capsys):
    with pytest.raises(SystemExit):
        reject_missing_environments(["-m", "model=x", "task.env=$HOME/a,$HOME/virt_env/mozaik", "x=1,2"], "conf", "config")
    assert capsys.readouterr().err == (
        f"Error: task.env = '$HOME/a': there is no {home}/a/bin/python on this host: give a virtual environment's "
        "directory or its bin/activate (~, $HOME and ${NAME} are read as a shell reads them)\n"
    )
    with pytest.raises(SystemExit):
        reject_missing_environments(["task.env=${HOME}/virt_env/mozaik"], "conf", "config")
    assert "Hydra reads ${...} as a reference to a key of the config; write $NAME" in capsys.readouterr().err
    reject_missing_environments(["task.env=$HOME/virt_env/mozaik", r"+x=\${HOME}"], "conf", "config")  # no exit
    reject_missing_environments([r"task.env=\${HOME}/virt_env/mozaik"], "conf", "config")


def test_run_sim_says_it_in_one_line_and_creates_nothing(tmp_path):
    (tmp_path / "param").mkdir()
    (tmp_path / "param" / "defaults").write_text("{'x': 1}")
    (tmp_path / "run.py").write_text("")
    import_model(tmp_path / "param" / "defaults", tmp_path / "conf", tmp_path / "run.py", "mz")
    done = subprocess.run(
        [sys.executable, str(RUN_SIM), "--config-dir", "conf", "model=mz", "-m", "x=1,2", "task.env='~/no_such_env'", "hydra.sweep.dir=sweep"],
        cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"Error: task.env = '~/no_such_env': there is no {tmp_path}/no_such_env/bin/python on this host: give a virtual "
        "environment's directory or its bin/activate (~, $HOME and ${NAME} are read as a shell reads them)"
    )
    assert not (tmp_path / "sweep").exists()
