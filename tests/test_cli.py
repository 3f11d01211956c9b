"""run_sim.py's command-line check: it refuses a misspelled key before Hydra starts, with
suggestions, and never refuses what Hydra accepts (config groups of --config-dir, +group=option,
shell completion, --info, sweeps, plugin launchers, another primary config)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import REPO, RUN_SIM, run_cli

PRESET = """\
# @package _global_
sheets:
  V1:
    density: 123.0
experiment:
  spontaneous_duration: 77.0
"""


def run_hydra_alone(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python run_sim.py ARGS`` without the check: what Hydra alone does with this command line."""
    code = (
        f"import sys, runpy; sys.path.insert(0, {str(REPO)!r}); import launcher.sweep.argv_checks; "
        "launcher.sweep.argv_checks.reject_unknown_parameters = lambda *args: None; "
        f"sys.argv = [{str(RUN_SIM)!r}, *{args!r}]; runpy.run_path({str(RUN_SIM)!r}, run_name='__main__')"
    )
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def assert_as_hydra_alone(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the command line with and without the check; both must end the same."""
    proc, alone = run_cli(args, cwd=cwd), run_hydra_alone(args, cwd)
    assert (proc.returncode, proc.stdout, _error(proc.stderr)) == (alone.returncode, alone.stdout, _error(alone.stderr))
    assert "Unknown parameter" not in proc.stderr
    return proc


def _error(stderr: str) -> str:
    """What a command printed on stderr; of a traceback, the exception only (the frames differ)."""
    return stderr.strip().splitlines()[-1] if "Traceback" in stderr else stderr


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """A user's extra config directory: a group ``preset`` and a group ``extra`` the primary config does not use."""
    user = tmp_path / "user_conf"
    for group, option in (("preset", "short"), ("extra", "one")):
        (user / group).mkdir(parents=True)
        (user / group / f"{option}.yaml").write_text(PRESET)
    return user


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """An empty working directory, to see that a refused command writes nothing."""
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_shell_completion_prints_hydras_script(cwd):
    proc = run_cli(["-sc", "install=bash"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "hydra_bash_completion" in proc.stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--info"], "Installed Hydra Plugins"),
        (["--help"], "run_sim is powered by Hydra"),
        (["--hydra-help"], "Hydra ("),
        (["--cfg", "job", "--resolve"], "density: 4000.0"),
        (["hydra/launcher=local_parallel", "sheets.V1.density=1", "--cfg", "hydra"], "LocalParallelLauncher"),
    ],
)
def test_hydras_own_commands_run(cwd, args, expected):
    proc = run_cli(args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout


@pytest.mark.parametrize("searchpath", [False, True])
def test_a_preset_from_the_users_config_dir_is_composed(cwd, user_dir, searchpath):
    where = [f"hydra.searchpath=[file://{user_dir}]"] if searchpath else ["--config-dir", str(user_dir)]
    proc = run_cli([*where, "+preset=short", "--cfg", "job"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "density: 123.0" in proc.stdout and "spontaneous_duration: 77.0" in proc.stdout


def test_a_misspelled_key_beside_a_preset_is_still_caught(cwd, user_dir):
    proc = run_cli(["--config-dir", str(user_dir), "+preset=short", "sheets.V1.desnity=5"], cwd=cwd)
    assert proc.returncode == 1 and "Did you mean: sheets.V1.density" in proc.stderr
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--config-dir", "{user}", "extra=one", "--cfg", "job"],  # a group the defaults list does not have
        ["sheets.V1.density=[1"],  # malformed override
        ["sheets.V1.density=1,2"],  # a sweep without -m
        ["-m", "hydra/launcher=local_parallel", "sheets.V1.density=1", "--cfg", "hydra"],  # two commands
        ["--config-dir", "{user}/missing", "--cfg", "job"],
        ["--config-name", "missing", "--cfg", "job"],
        ["--config-path", "pkg://no_such_module", "--cfg", "job"],
    ],
)
def test_what_hydra_refuses_is_refused_by_hydra(cwd, user_dir, args):
    proc = assert_as_hydra_alone([a.format(user=user_dir) for a in args], cwd)
    assert proc.returncode != 0


def test_an_added_key_is_left_to_hydra(cwd):
    # Without --config-dir, preset is no group: Hydra adds a key 'preset' (which the job then refuses).
    proc = assert_as_hydra_alone(["+preset=short", "--cfg", "job"], cwd)
    assert proc.returncode == 0 and "preset: short" in proc.stdout


@pytest.mark.parametrize(
    "args, key, expected",
    [
        (["desnity=5"], "desnity", "sheets.V1.density"),
        (["sheets.V1.desnity=5"], "sheets.V1.desnity", "sheets.V1.density"),
        (["-m", "sheets.V1.desnity=1,2"], "sheets.V1.desnity", "sheets.V1.density"),
        (["-m", "sheets.V1.density=range(1,3)", "cell.tau_mm=3"], "cell.tau_mm", "sheets.V1.cell.tau_m"),
        (["hydra.job.chdri=true"], "hydra.job.chdri", "hydra.job.chdir"),
    ],
)
def test_a_misspelled_key_fails_fast_with_its_full_path_suggested(cwd, args, key, expected):
    proc = run_cli(args, cwd=cwd)
    assert proc.returncode == 1
    assert f"Unknown parameter '{key}'" in proc.stderr and f"Did you mean: {expected}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(cwd.iterdir()) == []


def test_every_misspelled_key_is_named_at_once(cwd):
    proc = run_cli(["desnity=5", "sheets.V1.density=2", "pynn_sed=3"], cwd=cwd)
    assert proc.returncode == 1
    assert "'desnity'" in proc.stderr and "'pynn_sed'" in proc.stderr and "Did you mean: pynn_seed" in proc.stderr


@pytest.mark.parametrize("launcher", ["local_parallel", "submitit_slurm"])
def test_a_sweep_with_a_plugin_launcher_runs(cwd, launcher):
    sweep = cwd / "sweep"
    args = ["-m", f"hydra/launcher={launcher}", "sheets.V1.density=1,2", f"hydra.sweep.dir={sweep}", "hydra.sweeper.plan=true"]
    proc = run_cli(args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "2 of 2 jobs would run" in proc.stdout


def test_a_glob_over_the_users_group_is_checked_with_one_of_its_options(cwd, user_dir):
    args = ["--config-dir", str(user_dir), "-m", "+preset=glob(*)", f"hydra.sweep.dir={cwd / 'sweep'}", "hydra.sweeper.plan=true"]
    proc = run_cli([*args, "sheets.V1.density=1"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "+preset=short" in proc.stdout
    proc = run_cli([*args, "sheets.V1.desnity=1"], cwd=cwd)
    assert proc.returncode == 1 and "Did you mean: sheets.V1.density" in proc.stderr


def test_another_primary_config_is_checked_against_its_own_tree(cwd, tmp_path):
    model = tmp_path / "my_model"
    model.mkdir()
    (model / "my_net.yaml").write_text(textwrap.dedent("""\
        net:
          size: 3
          rate: 5.0
        """))
    base = ["--config-path", str(model), "--config-name", "my_net"]
    proc = run_cli([*base, "net.size=4", "--cfg", "job"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "size: 4" in proc.stdout
    proc = run_cli([*base, "sise=4", "--cfg", "job"], cwd=cwd)
    assert proc.returncode == 1 and "Did you mean: net.size" in proc.stderr


def test_config_dir_keeps_the_search_path_of_the_primary_config(cwd, tmp_path, user_dir):
    """--config-dir adds to the primary config's hydra.searchpath: a key from a group found there is known."""
    shared = tmp_path / "shared"
    (shared / "extra").mkdir(parents=True)
    (shared / "extra" / "fast.yaml").write_text("# @package _global_\nextra_net:\n  rate: 5.0\n")
    model = tmp_path / "my_model"
    model.mkdir()
    (model / "my_net.yaml").write_text(textwrap.dedent(f"""\
        defaults:
          - extra: fast
          - _self_
        hydra:
          searchpath:
            - file://{shared}
        net:
          size: 3
        """))
    base = ["--config-path", str(model), "--config-name", "my_net", "--config-dir", str(user_dir)]
    proc = run_cli([*base, "extra_net.rate=7", "--cfg", "job"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "rate: 7\n" in proc.stdout
    proc = run_cli([*base, "extra_net.rat=7", "--cfg", "job"], cwd=cwd)
    assert proc.returncode == 1 and "Did you mean: extra_net.rate" in proc.stderr


def test_hydras_settings_and_the_sweepers_are_known_without_composing(monkeypatch):
    """``hydra.sweep.dir=...`` (almost every command sets it), ``hydra.sweeper.collect=...``: keys the
    app's own config always has, known without the composition (half a second); a misspelled one
    is still composed and named, with the key meant."""
    from launcher.model.config import RootConfig
    from launcher.sweep import argv_checks

    def check(*args: str) -> list[str]:
        line = argv_checks.read_command_line(list(args), "conf", "config")
        return argv_checks.unknown_keys(line, RUN_SIM.parent, RootConfig)

    composed = []
    real_initialize = argv_checks._initialize
    monkeypatch.setattr(argv_checks, "_initialize", lambda *a: composed.append(a) or real_initialize(*a))
    assert check("-m", "sheets.V1.density=1,2", "hydra.sweep.dir=D", "hydra.run.dir=R", "hydra.sweeper.collect=false") == []
    assert composed == []
    [message] = check("-m", "sheets.V1.density=1,2", "hydra.sweep.dirr=D")
    assert "Unknown parameter 'hydra.sweep.dirr'" in message and "hydra.sweep.dir" in message.split("Did you mean:")[1]
    assert len(composed) == 1
