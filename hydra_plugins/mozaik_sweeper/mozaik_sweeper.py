"""Hydra loads sweeper classes only from the ``hydra_plugins`` package: this shim
names the classes there and registers their configs; the behaviour is in
:mod:`launcher.sweep.sweeper` (``hydra/sweeper=mozaik``, grids) and
:mod:`launcher.sweep.optuna_sweeper` (``hydra/sweeper=mozaik_fit``, fits; Optuna is imported
only when a fit runs).

``hydra/sweeper=optuna``, the name on the card, belongs to hydra-optuna-sweeper: any
Hydra app in the environment gets that plugin's sweeper under it. run_sim.py (and an app
that calls :func:`launcher.app.use_card_names`) maps it onto ``mozaik_fit``, as
``hydra/launcher=submitit_slurm`` onto ``mozaik_slurm``.
"""

from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

from launcher.sweep.fit import OBJECTIVE_KEY
from launcher.sweep.optuna_sweeper import FitSweeper, FitSweeperConf
from launcher.sweep.sweeper import MozaikSweeperConf, ValidatingSweeper


def collect(sweep_dir: Path) -> Any:
    """The sweeps' collector (summary.csv, figures): :func:`launcher.report.collect.collect`,
    imported when a sweep ends (pandas and matplotlib are not for Hydra's plugin scan)."""
    from launcher.report.collect import collect as collect_sweep

    return collect_sweep(sweep_dir)


def check_task(config: Any) -> None:
    """The check of the model's task before a sweep: :func:`launcher.app.check_task`."""
    from launcher.app import check_task as check

    check(config)


class MozaikSweeper(ValidatingSweeper):
    """The project's sweeper: see :class:`launcher.sweep.sweeper.ValidatingSweeper`."""

    collector = staticmethod(collect)
    task_check = staticmethod(check_task)


class MozaikFitSweeper(FitSweeper):
    """The project's fitting sweeper: see :class:`launcher.sweep.optuna_sweeper.FitSweeper`."""

    collector = staticmethod(collect)
    task_check = staticmethod(check_task)


store = ConfigStore.instance()
store.store(group="hydra/sweeper", name="mozaik", node=MozaikSweeperConf, provider="launcher")
# The fit's preset is global: besides its node hydra.sweeper it adds the root key `objective: null`
# (what the fit optimises, :data:`launcher.sweep.fit.OBJECTIVE_KEY`), so that any app's fit takes
# `objective=METRIC` as run_sim.py's does, without Hydra's `+`. The app's own config, merged after
# Hydra's, keeps an objective it names.
store.store(
    group="hydra/sweeper", name="mozaik_fit", package="_global_", provider="launcher",
    node={"hydra": {"sweeper": FitSweeperConf}, OBJECTIVE_KEY: None},
)
