"""Quiet, named runs: a run script's output in its job's log (on the console for a failed job only), and
run directories named after what the jobs vary, as mozaik names a run after the parameters it varies.

Settings every job of a sweep shares outside the model's tree (``model=NAME``, ``task.env=...``) are left out
of the names, unless ``hydra.sweeper.name_shared_settings=true``; a sweep directory whose run directories
carry them (named before) keeps its names and resumes; a job of another value of such a setting than an
earlier sweep's in the directory gets a directory of its own.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.mozaik.script_task import import_model, log_script_output
from launcher.sweep.naming import kept_in_names, shared_settings
from support import REPO, RUN_SIM


# --- the script's output -------------------------------------------------------------------------


@pytest.fixture
def job_log(tmp_path):
    """The root logger as a job's: a console handler and the job's log file (Hydra's job_logging)."""
    root = logging.getLogger()
    console_text = io.StringIO()
    console, file = logging.StreamHandler(console_text), logging.FileHandler(tmp_path / "job.log")
    level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(console)
    root.addHandler(file)
    yield console_text, tmp_path / "job.log"
    root.removeHandler(console)
    root.removeHandler(file)
    file.close()
    root.setLevel(level)


def test_a_successful_scripts_output_goes_to_the_job_log_only(job_log):
    console, log_file = job_log
    log_script_output("-- N E S T --\nPyNN: compiler notes", failed=False)
    assert console.getvalue() == ""
    assert "Script output (end):\n-- N E S T --\nPyNN: compiler notes" in log_file.read_text()


def test_a_failed_scripts_output_reaches_the_console_too(job_log):
    console, log_file = job_log
    log_script_output("Traceback ...\nValueError: bad", failed=True)
    assert "ValueError: bad" in console.getvalue() and "ValueError: bad" in log_file.read_text()


# --- names ---------------------------------------------------------------------------------------


def test_shared_settings_are_the_single_valued_overrides_outside_the_models_tree():
    overrides = ["model=mz", "task.env=$HOME/v", "+task.timeout_s=5", "a.b=1,2", "c=3", "task.mpi=1,2", "objective=x"]
    assert shared_settings(overrides, ["model", "hydra/launcher"]) == {
        "model": "model=mz", "task.env": "task.env=$HOME/v", "task.timeout_s": "+task.timeout_s=5",
    }  # fmt: skip
    assert shared_settings(["model=a,b", "task.env=x"], ["model"], listed_keys=["task.env"]) == {}


def test_a_setting_stays_in_names_where_the_sweep_directory_has_it_or_ran_another_value(tmp_path):
    settings = {"model": "model=mz", "task.env": "task.env=x"}
    assert kept_in_names(tmp_path / "none", settings) == set()
    (tmp_path / "a.n=1,model=mz").mkdir()  # named before settings were left out
    assert kept_in_names(tmp_path, settings) == {"model"}
    (tmp_path / "a.n=1,model=mz").rmdir()
    jobs = [{"overrides": ["model=mz", "a.n=1"]}]  # ran without task.env: a job with it is another configuration
    (tmp_path / "manifest.json").write_text(json.dumps({"jobs": jobs}))
    assert kept_in_names(tmp_path, settings) == {"task.env"}
    (tmp_path / "manifest.json").write_text("{damaged")
    assert kept_in_names(tmp_path, settings) == {"model", "task.env"}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A mozaik model whose run script prints a banner and fails for x=3."""
    folder = tmp_path_factory.mktemp("model")
    (folder / "param").mkdir()
    (folder / "param" / "defaults").write_text("{'x': 1}")
    (folder / "run.py").write_text(
        "import sys\nfrom launcher.mozaik.parameter_files import read_parameters\n"
        "print('-- N E S T -- banner')\nsys.exit(1 if read_parameters(sys.argv[3])['x'] == 3 else 0)\n"
    )
    import_model(folder / "param" / "defaults", folder / "conf", folder / "run.py", "mz")
    return folder


def sweep(model: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RUN_SIM), "--config-dir", "conf", "model=mz", "-m", *overrides, "hydra.sweep.dir=D"],
        cwd=model, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def run_dirs(model: Path) -> set[str]:
    return {path.name for path in (model / "D").iterdir() if path.is_dir()}


def test_a_sweep_is_quiet_and_resumes_a_directory_named_before(model):
    named_before = sweep(model, "x=1,2", "task.timeout_s=100", "hydra.sweeper.name_shared_settings=true")
    assert named_before.returncode == 0, named_before.stderr
    assert run_dirs(model) == {"model=mz,task.timeout_s=100,x=1", "model=mz,task.timeout_s=100,x=2"}
    assert "banner" not in named_before.stdout + named_before.stderr  # in script.log and the job's log only
    assert "banner" in (model / "D" / "model=mz,task.timeout_s=100,x=1" / "run_sim.log").read_text()
    resumed = sweep(model, "x=1,2,3", "task.timeout_s=100")  # the settings stay in its names: it resumes
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode != 0 and "Resuming: 2 of 3 jobs already completed, 1 to run" in output
    assert "1 of 3 jobs failed" in output and output.count("Script output (end):\n-- N E S T -- banner") == 1  # the failed job's
    assert run_dirs(model) == {f"model=mz,task.timeout_s=100,x={x}" for x in (1, 2, 3)}

