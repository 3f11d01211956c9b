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
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import REPO, check_completed_sweep, readme_example, run_command, run_dirs, sweep_dir_of, write_example

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
    proc = run_command(command, folder, own_process=True)  # NEST prints from C, past a Python redirect
    assert proc.returncode == 0, proc.stderr
    # NEST's banner and PyNN's output of its failed compilation of NEST extensions (where no compiler is) stay off the console
    console = proc.stdout + proc.stderr
    assert "N E S T" not in console and "cmake" not in console.lower() and "Warning" not in console, console
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
    check_completed_sweep(sweep, GRID, "run_sim.log", shared=["model=my_net"])  # shared by every job: not in the names
    tree = (sweep / "net.rate=100,net.weight=0.02" / "parameters.yaml").read_text()
    assert re.search(r"weight: 0\.02", tree) and "task" not in tree


# --- 3. a mozaik model directory ------------------------------------------------------------

MOZAIK_MODEL = "3. A mozaik model directory"
#: The README's mozaik sweep, as the values mozaik's load_parameters would be given.
MOZAIK_GRID = [{"sheets.exc.weight": w, "input.rate": r} for w in (0.01, 0.02) for r in (50, 100)]


def mozaik_run_dir(values: dict) -> str:
    return ",".join(sorted(f"{key}={value}" for key, value in values.items()))  # model=, shared, left out


def run_mozaik_example(tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    """The README's mozaik example, run as written (``extra`` at the end of the sweep's command):
    the model directory and the sweep directory."""
    (tmp_path / "mozaik-hydra").symlink_to(REPO)
    model = tmp_path / "my_mozaik_model"
    model.mkdir()
    import_command, sweep_command = write_example(MOZAIK_MODEL, model)
    imported = run_command(import_command, model)
    assert imported.returncode == 0, imported.stderr
    assert (tmp_path / "mozaik_conf" / "model" / "my_model.yaml").is_file()
    assert not (tmp_path / "mozaik_conf" / "config.yaml").exists()  # run_sim.py's own primary config stays in force
    swept = run_command(sweep_command, model, *extra)
    assert swept.returncode == 0, swept.stderr
    return model, sweep_dir_of(model)


def check_mozaik_sweep(model: Path, sweep: Path) -> None:
    """Every job completed with the run script's metrics; each job's parameters file read by mozaik's own
    reader (NeuralEnsemble's parameters) is the tree mozaik builds with the job's values."""
    from test_mozaik_reference import MozaikParameterSet, assert_same_leaves, mozaik_load

    check_completed_sweep(sweep, {mozaik_run_dir(values) for values in MOZAIK_GRID}, "run_sim.log", shared=["model=my_model"])
    for values in MOZAIK_GRID:
        run_dir = sweep / mozaik_run_dir(values)
        assert (run_dir / "script.log").is_file() and (run_dir / "metrics.json").is_file()
        written = MozaikParameterSet(str(run_dir / "parameters"))
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(model)  # url() paths are from the model directory, as when mozaik runs it
            expected = mozaik_load("param/defaults", values)
        assert_same_leaves(written, expected)
        assert written["sheets"]["exc"]["strong_weight"] == 2 * values["sheets.exc.weight"]  # followed the sweep


def test_mozaik_model_directory_imported_and_swept_through_run_sim(tmp_path: Path) -> None:
    model, sweep = run_mozaik_example(tmp_path)
    check_mozaik_sweep(model, sweep)
    summary = (sweep / "summary.csv").read_text().splitlines()
    assert summary[0].split(",")[-1] == "rate_hz" and len(summary) == 5


def test_a_mozaik_model_imported_before_the_package_was_laid_out_still_runs(tmp_path: Path) -> None:
    """import-mozaik wrote ``launcher.external.run_script`` as the task until the package moved it to
    launcher.mozaik.script_task: configs imported then still sweep: the sweep's check of the task and
    each job's task (``launcher.app.check_task``, ``task_of``, what a job calls) find the run script's
    runner under the old name. (The sweep of the same model under today's name: the test above.)"""
    from hydra import compose, initialize_config_dir

    from launcher.app import check_task, task_of
    from launcher.mozaik.script_task import run_script

    (tmp_path / "mozaik-hydra").symlink_to(REPO)
    model = tmp_path / "my_mozaik_model"
    model.mkdir()
    import_command, _ = write_example(MOZAIK_MODEL, model)
    assert run_command(import_command, model).returncode == 0
    config = tmp_path / "mozaik_conf" / "model" / "my_model.yaml"
    text = config.read_text()
    assert "_target_: launcher.mozaik.script_task.run_script" in text
    config.write_text(text.replace("launcher.mozaik.script_task.run_script", "launcher.external.run_script"))
    with initialize_config_dir(version_base="1.3", config_dir=str(tmp_path / "mozaik_conf")):
        cfg = compose("model/my_model")  # the imported model option, with its task
    assert cfg.task._target_ == "launcher.external.run_script"
    check_task(cfg)  # no "no module 'launcher.external'"
    function, _, _ = task_of(cfg)
    assert function is run_script


#: A stand-in for an LSV1M run script: mozaik's command line, its single values from the tree it was given.
LSV1M_SCRIPT = '''
import json, sys
from launcher.mozaik.parameter_files import read_parameters
simulator, threads, parameter_file, run_name = sys.argv[1:]
tree = read_parameters(parameter_file)
json.dump({"tau_syn_exc": tree["sheets"]["l4_cortex_exc"]["params"]["cell"]["params"]["tau_syn_exc"]}, open("metrics.json", "w"))
'''


def test_lsv1m_style_model_parameters_files_are_what_mozaik_builds(tmp_path: Path) -> None:
    """A model in the style of the published LSV1M ones (ref chains, arithmetic on refs, ParameterTable,
    tuples...): each job's parameters file, read by mozaik's own reader, is the tree mozaik builds with the
    job's values; tuples stay tuples, values computed from a swept leaf follow it."""
    from test_mozaik_reference import MODEL, MozaikParameterSet, assert_same_leaves, mozaik_load

    model = tmp_path / "lsv1m"
    shutil.copytree(MODEL, model)
    (model / "run.py").write_text(LSV1M_SCRIPT)
    imported = run_command("python -m launcher import-mozaik param/defaults ../conf --run-script run.py --name lsv1m", model)
    assert imported.returncode == 0, imported.stderr
    (tmp_path / "mozaik-hydra").symlink_to(REPO)
    swept = run_command(
        "python ../mozaik-hydra/run_sim.py --config-dir ../conf model=lsv1m -m "
        "sheets.l4_cortex_exc.syn_tau_scaler=1,2 sheets.l4_cortex_exc.K=1500 hydra.sweep.dir=S",
        model,
    )
    assert swept.returncode == 0, swept.stderr
    for scaler in (1, 2):
        values = {"sheets.l4_cortex_exc.K": 1500, "sheets.l4_cortex_exc.syn_tau_scaler": scaler}
        run_dir = model / "S" / mozaik_run_dir(values)
        written = MozaikParameterSet(str(run_dir / "parameters"))
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(model)
            expected = mozaik_load("param/defaults", values)
        assert_same_leaves(written, expected)
        assert isinstance(written["visual_field"]["size"], tuple)
        metrics = json.loads((run_dir / "results.json").read_text())["metrics"]
        assert metrics["tau_syn_exc"] == expected["sheets"]["l4_cortex_exc"]["params"]["cell"]["params"]["tau_syn_exc"] == 1.5 * scaler


#: A user's Hydra app with a schema of its own (no import from this package): ranges in the fields'
#: metadata, a rule between keys in __post_init__.
SCHEMA_APP = '''
from dataclasses import dataclass, field

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class Net:
    n_cells: int = field(default=20, metadata={"ge": 1, "unit": "cells"})
    weight: float = field(default=0.01, metadata={"ge": 0, "unit": "uS"})
    low: float = -70.0
    high: float = -60.0

    def __post_init__(self):
        if self.low > self.high:
            raise ValueError(f"net.low = {self.low} must be <= net.high = {self.high} (mV)")


@dataclass
class Config:
    net: Net = field(default_factory=Net)


ConfigStore.instance().store(name="config", node=Config)


@hydra.main(version_base="1.3", config_path=None, config_name="config")
def main(cfg):
    return {"weight_per_cell": cfg.net.weight / cfg.net.n_cells}


if __name__ == "__main__":
    main()
'''


def test_own_app_schema_ranges_and_rules_are_checked_before_anything(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SCHEMA_APP)
    sweep = "python app.py -m hydra/sweeper=mozaik"
    refused = run_command(f"{sweep} net.weight=0.01,-1 net.n_cells=0 net.low=-50", tmp_path)
    assert refused.returncode != 0
    assert "net.weight = -1.0 is out of range; allowed: >= 0 (uS)" in refused.stderr, refused.stderr
    assert "net.n_cells = 0 is out of range; allowed: >= 1 (cells)" in refused.stderr
    assert "net.low = -50.0 must be <= net.high = -60.0 (mV)" in refused.stderr
    assert not (tmp_path / "multirun").exists()
    accepted = run_command(f"{sweep} net.weight=0.01,0.02", tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "multirun").glob("*/*/*/results.json")]
    assert sorted(r["metrics"]["weight_per_cell"] for r in records) == [0.0005, 0.001]


def test_with_chdir_a_model_module_is_found_in_the_directory_the_run_started_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hydra.job.chdir=true makes the run directory the working directory: the model's module is
    still found where the user started, Hydra's ``hydra.runtime.cwd``."""
    import sys

    from hydra.conf import HydraConf
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.singleton import Singleton
    from omegaconf import OmegaConf

    from launcher.app import task_of

    (tmp_path / "toy_chdir_model.py").write_text("def simulate(tree):\n    return {'m': 1.0}\n")
    run_dir = tmp_path / "multirun" / "0"
    run_dir.mkdir(parents=True)
    monkeypatch.chdir(run_dir)
    monkeypatch.setattr(sys, "path", list(sys.path))
    state = Singleton.get_state()
    try:
        hydra_node = OmegaConf.structured(HydraConf)
        hydra_node.runtime.cwd = str(tmp_path)
        HydraConfig.instance().set_config(OmegaConf.create({"hydra": hydra_node}))
        function, _, _ = task_of(OmegaConf.create({"task": {"_target_": "toy_chdir_model.simulate"}}))
    finally:
        Singleton.set_state(state)
    assert function({}) == {"m": 1.0}


TOY_MODEL = {
    "toy_model.py": "def simulate(cfg):\n    return {'rate_hz': float(cfg.net.rate) * float(cfg.net.weight)}\n",
    "my_conf/model/toy.yaml": "# @package _global_\ntask:\n  _target_: toy_model.simulate\nnet:\n  rate: 50.0\n  weight: 0.01\n",
}


@pytest.fixture
def toy_model(tmp_path: Path) -> Path:
    """A model option of run_sim.py (way 2) without a simulator: its folder."""
    folder = tmp_path / "toy"
    for name, text in TOY_MODEL.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_a_typo_in_a_fits_interval_of_an_own_model_gets_did_you_mean(toy_model: Path) -> None:
    from support import run_cli

    proc = run_cli(["--config-dir", "my_conf", "model=toy", "-m", "hydra/sweeper=optuna", "objective=rate_hz",
                    "net.wieght=interval(0.01,0.02)", f"hydra.sweep.dir={toy_model / 'F'}"], cwd=toy_model)
    assert proc.returncode != 0
    assert "Unknown parameter 'net.wieght'. Did you mean: net.weight?" in proc.stderr, proc.stderr
    assert not (toy_model / "F").exists()


def test_a_task_whose_module_is_not_found_is_refused_before_any_run_directory(toy_model: Path, tmp_path: Path) -> None:
    """Started from another folder than the model's: its module is not on the path."""
    from support import run_cli

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_cli(["--config-dir", str(toy_model / "my_conf"), "model=toy", "-m", "net.weight=1,2",
                    f"hydra.sweep.dir={elsewhere / 'G'}"], cwd=elsewhere)
    assert proc.returncode != 0
    assert "task._target_ = 'toy_model.simulate': no module 'toy_model' on the Python path nor in" in proc.stderr, proc.stderr
    assert not (elsewhere / "G").exists()


@dataclass
class _TypedNet:
    weight: float = 0.01


@dataclass
class _TypedRoot:
    net: _TypedNet = field(default_factory=_TypedNet)


def test_an_own_apps_fit_takes_objective_without_a_plus(tmp_path: Path) -> None:
    """hydra/sweeper=mozaik_fit adds the root key objective (null): the plain override, as in
    run_sim.py, sets it; '+' still does; a typed root config does not count it an unknown parameter."""
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore

    from launcher.sweep.fit import Objective
    from launcher.sweep.tree import TreeSchema

    (tmp_path / "config.yaml").write_text("net:\n  weight: 0.01\n")
    ConfigStore.instance().store(name="typed_root_of_test_own_models", node=_TypedRoot)
    with initialize_config_dir(version_base="1.3", config_dir=str(tmp_path)):
        forms = [("config", form) for form in ("objective=rate_hz", "+objective=rate_hz", "objective={rate_hz: 5.0}")]
        for name, objective in [*forms, ("typed_root_of_test_own_models", "objective=rate_hz")]:
            cfg = compose(name, overrides=["hydra/sweeper=mozaik_fit", objective], return_hydra_config=True)
            assert Objective.of(cfg.objective).metrics == ("rate_hz",)
            assert cfg.hydra.sweeper._target_.endswith("MozaikFitSweeper") and cfg.net.weight == 0.01
            assert TreeSchema.of(cfg).unknown == (), (name, objective)
        # the grid sweeper adds no objective: Hydra refuses the key there, naming it
        with pytest.raises(Exception, match="objective"):
            compose("config", overrides=["hydra/sweeper=mozaik", "objective=rate_hz"])
        # an objective the app's config names is kept
        (tmp_path / "named.yaml").write_text("net:\n  weight: 0.01\nobjective: rate_hz\n")
        assert compose("named", overrides=["hydra/sweeper=mozaik_fit"]).objective == "rate_hz"


def test_the_readmes_defaults_line_makes_the_tool_the_apps_default_sweeper(tmp_path: Path) -> None:
    """The README's one-line defaults list, put on top of the example's conf/config.yaml: the app's
    config composes with the mozaik sweeper and no sweeper on the command line; without it, Hydra's basic one."""
    from hydra import compose, initialize_config_dir

    from support import doc_blocks

    [line] = [body for path, language, body in doc_blocks(OWN_APP) if language == "yaml" and not path]
    assert line == "defaults:\n  - override hydra/sweeper: mozaik\n"
    write_example(OWN_APP, tmp_path)
    config = tmp_path / "conf" / "config.yaml"
    with initialize_config_dir(version_base="1.3", config_dir=str(config.parent)):
        assert compose("config", return_hydra_config=True).hydra.sweeper._target_ == "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
        config.write_text(line + config.read_text())
        cfg = compose("config", return_hydra_config=True)
    assert cfg.hydra.sweeper._target_ == "hydra_plugins.mozaik_sweeper.mozaik_sweeper.MozaikSweeper"
    assert cfg.net.n_cells == 20  # the app's own tree, whole


def test_a_fit_refuses_to_search_the_seed_key_a_model_declares(toy_model: Path) -> None:
    """A model option declaring task._seed_keys_: [net.seed]: a fit over net.seed is refused before
    anything is created, naming the declaration."""
    from support import run_cli

    (toy_model / "my_conf" / "model" / "toy.yaml").write_text(TOY_MODEL["my_conf/model/toy.yaml"].replace(
        "  _target_: toy_model.simulate\n", "  _target_: toy_model.simulate\n  _seed_keys_: [net.seed]\n") + "  seed: 1\n")
    proc = run_cli(["--config-dir", "my_conf", "model=toy", "-m", "hydra/sweeper=optuna", "objective=rate_hz",
                    "net.weight=interval(0.01,0.02)", "net.seed=choice(1,2)", f"hydra.sweep.dir={toy_model / 'F'}"], cwd=toy_model)
    assert proc.returncode != 0
    assert "net.seed is the model's seed (task._seed_keys_: net.seed): a fit does not search it" in proc.stderr, proc.stderr
    assert not (toy_model / "F").exists()
