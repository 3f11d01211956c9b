"""The names on the card, ``hydra/sweeper=optuna`` and ``hydra/launcher=submitit_slurm``, are the
project's in run_sim.py (and in an app that calls :func:`launcher.app.use_card_names`) and the
installed plugins' in every other Hydra app of the same environment; the fit says at start when
a plugin's pins leave it an Optuna it cannot use.

The stock apps run in fresh processes: the mapping is made in a process's ConfigStore, which a
test process would keep.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from launcher.sweep import fit
from launcher.sweep.tree import ParameterError
from support import REPO, RUN_SIM

STOCK_APP = """
import hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg) -> float:
    return (float(cfg.x) - 0.25) ** 2

if __name__ == "__main__":
    main()
"""

#: A stand-in for hydra-optuna-sweeper where it is not installed: a plugin registering
#: ``hydra/sweeper=optuna`` at import, with a defaults list, as that plugin does.
STAND_IN_PLUGIN = """
from dataclasses import dataclass, field
from typing import Any, List

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper


class StandInSweeper(Sweeper):
    def __init__(self, **kwargs): ...
    def setup(self, *, hydra_context, task_function, config): ...
    def sweep(self, arguments): ...


@dataclass
class StandInConf:
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "stand_in"}])
    _target_: str = "hydra_plugins.stand_in_sweeper.StandInSweeper"
    sampler: Any = None


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=StandInConf, provider="stand_in")
ConfigStore.instance().store(group="hydra/sweeper/sampler", name="stand_in", node={"seed": 1}, provider="stand_in")
"""

OUR_FIT = "hydra_plugins.mozaik_sweeper.mozaik_sweeper.MozaikFitSweeper"
OUR_SLURM = "hydra_plugins.mozaik_launcher.mozaik_launcher.MozaikSlurmLauncher"
STOCK_SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
CARD = ["hydra/sweeper=optuna", "hydra/launcher=submitit_slurm"]


def run(command: list[str], cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath)), "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def targets(hydra_cfg: str) -> list[str]:
    """The ``_target_`` lines of ``--cfg hydra``'s launcher and sweeper nodes, in order."""
    return [line.split(":", 1)[1].strip() for line in hydra_cfg.splitlines() if line.startswith("    _target_:")]


def test_the_card_names_are_the_projects_in_run_sim_and_the_installed_plugins_in_a_stock_app(tmp_path: Path) -> None:
    """With a plugin registering hydra/sweeper=optuna installed (a stand-in for hydra-optuna-sweeper)
    and hydra-submitit-launcher, a stock app gets theirs; run_sim.py, in the same environment, ours."""
    plugins = tmp_path / "site" / "hydra_plugins" / "stand_in_sweeper"
    plugins.mkdir(parents=True)
    (plugins / "__init__.py").write_text(STAND_IN_PLUGIN)
    (tmp_path / "app.py").write_text(STOCK_APP)
    path = [REPO, tmp_path / "site"]

    stock = run(["app.py", *CARD, "--cfg", "hydra"], tmp_path, path)
    assert stock.returncode == 0, stock.stderr
    # (where hydra-optuna-sweeper is installed too, the plugin scan may let either register last)
    plugins = {"hydra_plugins.stand_in_sweeper.StandInSweeper", "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"}
    launcher, sweeper = targets(stock.stdout)
    assert launcher == STOCK_SLURM and sweeper in plugins, stock.stdout

    ours = run([str(RUN_SIM), *CARD, "objective=rate_exc_hz", "--cfg", "hydra"], tmp_path, path)
    assert ours.returncode == 0, ours.stderr
    assert targets(ours.stdout) == [OUR_SLURM, OUR_FIT]
    assert "hydra/sweeper: optuna" in ours.stdout and "hydra/launcher: submitit_slurm" in ours.stdout  # as typed


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
                    reason="hydra-optuna-sweeper is not installed (.ci/run installs it)")
def test_beside_hydra_optuna_sweeper_a_stock_app_runs_its_fit_and_an_app_asking_runs_ours(tmp_path: Path) -> None:
    """hydra-optuna-sweeper installed: a stock app's hydra/sweeper=optuna runs its study (its
    optimization_results.yaml); an app calling use_card_names runs the project's fit (a manifest)."""
    (tmp_path / "app.py").write_text(STOCK_APP)
    (tmp_path / "ours.py").write_text(textwrap.dedent("""
        import hydra
        from launcher.app import use_card_names

        @hydra.main(version_base="1.3", config_path=None, config_name=None)
        def main(cfg):
            return {"loss": (float(cfg.x) - 0.25) ** 2}

        if __name__ == "__main__":
            use_card_names()
            main()
    """))
    common = ["-m", "hydra/sweeper=optuna", "+x=interval(0,1)", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1"]
    stock = run(["app.py", *common, f"hydra.sweep.dir={tmp_path / 'stock'}"], tmp_path, [REPO])
    assert stock.returncode == 0, stock.stderr
    assert (tmp_path / "stock" / "optimization_results.yaml").is_file() and not (tmp_path / "stock" / "manifest.json").exists()

    ours = run(["ours.py", *common, "+objective=loss", "hydra.sweeper.collect=false", f"hydra.sweep.dir={tmp_path / 'ours'}"],
               tmp_path, [REPO])
    assert ours.returncode == 0, ours.stderr
    assert (tmp_path / "ours" / "manifest.json").is_file() and not (tmp_path / "ours" / "optimization_results.yaml").exists()


class FakeDistribution:
    def __init__(self, name: str, version: str, requires: list[str]) -> None:
        self.metadata, self.version, self.requires = {"Name": name}, version, requires


def test_an_optuna_a_plugin_pinned_too_old_is_named_with_the_pin_and_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = [FakeDistribution("hydra-optuna-sweeper", "1.3.0", ["hydra-core>=1.1.0.dev7", "optuna<3.0.0,>=2.10.0"]),
                 FakeDistribution("other", "1.0", ["optuna>=2", "alembic (>=1.5) ; extra == 'db'"])]
    monkeypatch.setattr(metadata, "distributions", lambda: installed)
    monkeypatch.setattr(metadata, "version", lambda name: {"optuna": "2.10.1"}[name])
    with pytest.raises(ParameterError) as told:
        fit.check_optuna()
    assert str(told.value).startswith(
        "optuna 2.10.1 is installed, the fit needs optuna>=4 -- hydra-optuna-sweeper 1.3.0 requires optuna<3.0.0,>=2.10.0; "
        "nothing was run. Install versions that work together: pip install 'optuna>=4' 'alembic>=1.7'"
    )


def test_an_optuna_that_fails_to_import_is_named_with_the_pin_behind_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """hydra-optuna-sweeper 1.1.2's alembic<1.7 beside SQLAlchemy 2: optuna's import fails."""
    installed = [FakeDistribution("hydra-optuna-sweeper", "1.1.2", ["optuna (>=2.5.0)", "alembic (<1.7.0)"])]
    monkeypatch.setattr(metadata, "distributions", lambda: installed)
    monkeypatch.setattr(metadata, "version", lambda name: {"optuna": "4.5.0"}[name])
    monkeypatch.setitem(sys.modules, "optuna.storages", None)  # import optuna.storages raises ImportError
    with pytest.raises(ParameterError, match=r"^optuna 4\.5\.0 cannot be imported \(.*\) -- hydra-optuna-sweeper 1\.1\.2 "
                                             r"requires alembic<1\.7\.0; nothing was run\. Install"):
        fit.check_optuna()


def test_the_installed_optuna_passes() -> None:
    fit.check_optuna()
