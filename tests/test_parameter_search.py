"""mozaik's meta_workflow.parameter_search API on top of the Hydra machinery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from launcher.parameter_search import (
    CombinationParameterSearch,
    LocalSequentialBackend,
    SlurmSequentialBackend,
    hydra_override,
    parameter_combinations,
    slurm_option_overrides,
)
from launcher.sweep.tree import ParameterError
from support import CONF_DIR, REPO, RUN_SIM, make_mozaik_model, run_search, search_script

@pytest.fixture
def mozaik_model(tmp_path: Path) -> Path:
    return make_mozaik_model(tmp_path)


def test_parameter_combinations_is_mozaiks():
    assert parameter_combinations([[1, 2], [3, 4]]) == [[1, 3], [1, 4], [2, 3], [2, 4]]
    assert parameter_combinations([]) == [[]]


def test_combination_search_generates_every_combination():
    search = CombinationParameterSearch(LocalSequentialBackend(), {"a": [1, 2], "b": ["x", "y"]})
    assert search.generate_parameter_combinations() == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"},
    ]  # fmt: skip
    assert "/" not in search.master_directory_name()


@pytest.mark.parametrize("value", [1, -2.5, 1e-3, "plain", "1e-3", "true", "a b,c=d", "it's", "back\\slash", None, True, [1, "x"], (1, 2)])
def test_hydra_override_reads_back_exactly(value):
    line = hydra_override("key", value)
    parsed = OverridesParser.create().parse_override(line).value()
    expected = list(value) if isinstance(value, tuple) else value
    assert parsed == expected and type(parsed) is type(expected)


@pytest.mark.parametrize("value", ["${oc.env:HOME}", "a,b", "x\\${y}", "\\\\${y}", "${a} and ${b}", ["${oc.env:HOME}", 1]])
def test_a_value_reaches_the_job_as_given_not_interpolated(compose_cfg, value):
    """Hydra reads the override, then OmegaConf the job's config: a '${' given is a '${' in the job."""
    from omegaconf import OmegaConf

    cfg = compose_cfg(hydra_override("name", value) if isinstance(value, str) else hydra_override("+given", value))
    assert OmegaConf.to_container(cfg, resolve=True)["name" if isinstance(value, str) else "given"] == value


def test_slurm_options_map_to_the_launcher():
    overrides = slurm_option_overrides(["-p debug", "--account=lab", "--time=1-02:30:00", "--mem=8G", "--hint=nomultithread"])
    assert "hydra.launcher.partition=debug" in overrides and "hydra.launcher.account=lab" in overrides
    assert f"hydra.launcher.timeout_min={24 * 60 + 150}" in overrides
    assert "+hydra.launcher.additional_parameters.mem=8G" in overrides and "hydra.launcher.mem_gb=null" in overrides
    assert "+hydra.launcher.additional_parameters.hint=nomultithread" in overrides


@pytest.mark.parametrize(
    "option, message",
    [
        ("--output=/tmp/x", "cannot be passed on"),
        ("--array=0-3", "cannot be passed on"),
        ("--wrap=rm", "cannot be passed on"),
        ("--partiton=x", "did you mean: partition"),
        ("--time=soon", "is not a Slurm time"),
        ("--comment=a\nb", "control character"),
        ("debug", "is not an sbatch option"),
    ],
)
def test_unsafe_or_unknown_slurm_options_are_refused(option, message):
    with pytest.raises(ParameterError, match=message):
        SlurmSequentialBackend(1, 1, [option])


def test_slurm_backend_checks_its_numbers():
    with pytest.raises(ParameterError, match="num_threads = 0"):
        SlurmSequentialBackend(0, 1)
    with pytest.raises(ParameterError, match="num_mpi = 2"):
        SlurmSequentialBackend(1, 2).run_overrides(external=False)
    assert SlurmSequentialBackend(2, 3).run_overrides(external=True) == ["task.threads=2", "task.mpi=3"]
    # mozaik's job: -n num_mpi -c num_threads
    assert SlurmSequentialBackend(2, 3).launcher_overrides()[1:] == ["hydra.launcher.cpus_per_task=2", "hydra.launcher.ntasks=3"]


def test_search_of_the_embedded_model_runs_every_combination_and_resumes(tmp_path):
    values = {"sheets.V1.density": [1, 2], "pynn_seed": [1, 2]}
    proc = run_search(tmp_path, search_script("LocalSequentialBackend()", values), str(RUN_SIM), "nest", str(CONF_DIR / "config.yaml"))
    assert proc.returncode == 0, proc.stderr
    (master,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    runs = sorted(p.name for p in master.iterdir() if (p / "results.json").exists())
    assert runs == [f"pynn_seed={s},sheets.V1.density={d}" for s in (1, 2) for d in (1, 2)]
    for run in runs:
        assert json.loads((master / run / "results.json").read_text())["state"] == "completed"
    again = run_search(tmp_path, search_script("LocalSequentialBackend()", values), str(RUN_SIM), "nest", str(CONF_DIR / "config.yaml"))
    assert again.returncode == 0 and "Resuming: 4 of 4 jobs already completed, 0 to run" in again.stdout + again.stderr


def test_search_refuses_an_unknown_key_of_the_embedded_model(tmp_path):
    proc = run_search(tmp_path, search_script("LocalSequentialBackend()", {"sheets.V1.desnity": [1]}), str(RUN_SIM), "nest", str(CONF_DIR / "config.yaml"))
    assert proc.returncode != 0 and "Did you mean: sheets.V1.density" in proc.stderr and "Traceback" not in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["search.py"]


def test_search_refuses_a_master_directory_holding_other_files(tmp_path):
    values = {"sheets.V1.density": [1]}
    master = tmp_path / "CombinationParamSearch_sheets.V1.density=1"
    master.mkdir()
    (master / "notes.txt").write_text("mine")
    proc = run_search(tmp_path, search_script("LocalSequentialBackend()", values), str(RUN_SIM), "nest", str(CONF_DIR / "config.yaml"))
    assert proc.returncode == 1 and "holds files but no sweep of this program" in proc.stderr and "Traceback" not in proc.stderr
    assert [p.name for p in master.iterdir()] == ["notes.txt"]  # nothing written


def test_search_over_a_mozaik_tree_runs_the_users_script(mozaik_model):
    values = {"sheets.inh_layer.params.density": [100, 13], "sheets.exc_layer.ExcExcConnection.base_delay": [0.5]}
    proc = run_search(mozaik_model, search_script("LocalSequentialBackend()", values), "run.py", "nest", "param/defaults")
    assert proc.returncode != 0  # the job with density 13 fails
    (master,) = [p for p in mozaik_model.iterdir() if p.name.startswith("CombinationParamSearch")]
    ok = master / "sheets.exc_layer.ExcExcConnection.base_delay=0.5,sheets.inh_layer.params.density=100"
    bad = master / "sheets.exc_layer.ExcExcConnection.base_delay=0.5,sheets.inh_layer.params.density=13"
    output = json.loads((ok / "run_output.json").read_text())  # written by the script, in its run directory
    assert output == {"density": 100, "simulator": "nest", "threads": "1", "run_name": "ParameterSearch", "base_delay": 0.5}
    assert json.loads((ok / "results.json").read_text())["state"] == "completed"
    failed = json.loads((bad / "results.json").read_text())
    assert failed["state"] == "failed" and failed["exit_code"] == 3 and "density 13 is unlucky" in failed["error"]
    assert "density 13 is unlucky" in (bad / "script.log").read_text()
    assert "1 of 2 jobs failed" in proc.stderr
    # the merged tree the script read, in mozaik's format
    assert "'density': 100" in (ok / "parameters").read_text().replace('"', "'")


@pytest.mark.parametrize(
    "hostile",
    ["__import__('os').system('touch pwned')", "open('pwned', 'w')", "[x for x in (1, 2)]", "os.path"],
)
def test_a_parameter_file_with_code_is_refused_and_nothing_runs(mozaik_model, hostile):
    defaults = mozaik_model / "param" / "defaults"
    lines = defaults.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "'pynn_seed'" in line)
    lines.insert(at, f"    'evil': {hostile},")
    defaults.write_text("\n".join(lines) + "\n")
    proc = run_search(mozaik_model, search_script("LocalSequentialBackend()", {"pynn_seed": [1]}), "run.py", "nest", "param/defaults")
    assert proc.returncode != 0
    assert f"line {at + 1}" in proc.stderr and "defaults" in proc.stderr and "Traceback" not in proc.stderr
    assert not (mozaik_model / "pwned").exists()
    assert not [p for p in mozaik_model.iterdir() if p.name.startswith("CombinationParamSearch")]


def test_an_unknown_key_of_a_mozaik_tree_is_refused_with_a_suggestion(mozaik_model):
    proc = run_search(mozaik_model, search_script("LocalSequentialBackend()", {"sheets.inh_layer.params.densty": [1]}), "run.py", "nest", "param/defaults")
    assert proc.returncode != 0 and "Did you mean: sheets.inh_layer.params.density" in proc.stderr


def test_import_mozaik_command(mozaik_model, tmp_path):
    out = tmp_path / "hydra_tree"
    proc = subprocess.run(
        [sys.executable, "-m", "launcher", "import-mozaik", "param/defaults", str(out)],
        cwd=mozaik_model, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "config.yaml").exists() and (out / "param" / "sheets.yaml").exists()


def test_usage_is_explained():
    proc = subprocess.run(
        [sys.executable, "-c", search_script("LocalSequentialBackend()", {"a": [1]})], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode != 0 and "Usage: python parameter_search_script simulation_run_script" in proc.stderr


def test_both_of_mozaiks_slurm_backend_signatures():
    seed_api = SlurmSequentialBackend(2, 3, ["-p debug"])
    assert seed_api.path_to_mozaik_env is None and seed_api.slurm_options == ["-p debug"]
    todays = SlurmSequentialBackend(1, 16, "/home/me/venv/bin/activate")
    assert todays.path_to_mozaik_env == "/home/me/venv/bin/activate" and todays.slurm_options == []
    env = f"{sys.prefix}/bin/activate"  # an environment on this host (its bin/python): checked before anything runs
    keywords = SlurmSequentialBackend(num_threads=1, num_mpi=2, path_to_mozaik_env=env, slurm_options=["-p a"])
    assert keywords.run_overrides(external=True) == ["task.threads=1", "task.mpi=2", f"task.env={env}"]
    assert "hydra.launcher.partition=a" in keywords.launcher_overrides()
    for bad in [(1, 1, 123), (1, 1, "/env", "-p a"), (1, 1, ["-p a", 3])]:
        with pytest.raises(ParameterError, match="slurm_options"):
            SlurmSequentialBackend(*bad)


def test_slurm_options_as_todays_mozaik_scripts_write_them():
    # Each item is one argument of sbatch, as mozaik passes them: a space after a short option is dropped.
    overrides = slurm_option_overrides(["-J natural_image", "--job-name=run", "-N 1-1", "-x w[4-12, 16-17]", "-w w15"])
    assert overrides == [
        "hydra.launcher.name=natural_image", "hydra.launcher.name=run", "hydra.launcher.nodes=1",
        hydra_override("hydra.launcher.exclude", "w[4-12, 16-17]"), "+hydra.launcher.additional_parameters.nodelist=w15",
    ]  # fmt: skip
    assert slurm_option_overrides(["--partition", "cpu"]) == ["hydra.launcher.partition=cpu"]  # the value as the next item
    with pytest.raises(ParameterError, match="one number of nodes"):
        slurm_option_overrides(["-N 1-4"])


def test_numpy_values_are_passed_as_python_values():
    np = pytest.importorskip("numpy")
    assert hydra_override("a", np.float64(0.5)) == "a=0.5"
    assert hydra_override("a", np.int64(3)) == "a=3"
    assert hydra_override("a", np.linspace(0.0, 1.0, 3)) == "a=[0.0,0.5,1.0]"
    assert hydra_override("a", (1, np.float32(2.5))) == "a=[1,2.5]"
