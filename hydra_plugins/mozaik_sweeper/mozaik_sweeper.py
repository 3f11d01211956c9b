"""Hydra loads sweeper classes only from the ``hydra_plugins`` package: this shim
names the classes there and registers their configs; the behaviour is in
:mod:`launcher.sweep.sweeper` (``hydra/sweeper=mozaik``, grids) and
:mod:`launcher.sweep.optuna_sweeper` (``hydra/sweeper=optuna``, fits; Optuna is imported
only when a fit runs).

``hydra/sweeper=optuna`` is also the name hydra-optuna-sweeper registers. Hydra's
plugin scan executes every plugin module again, in ``sys.path`` order, so a
registration made at import could lose to that plugin's; search-path plugins run
after the scan and before any composition, so the registration made there is the
one in force (as for ``hydra/launcher=submitit_slurm``).
"""

from pathlib import Path
from typing import Any

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.plugins.search_path_plugin import SearchPathPlugin

from launcher.sweep.optuna_sweeper import FitSweeper, FitSweeperConf
from launcher.sweep.sweeper import MozaikSweeperConf, ValidatingSweeper


def collect(sweep_dir: Path) -> Any:
    """The sweeps' collector (summary.csv, figures): :func:`launcher.report.collect.collect`,
    imported when a sweep ends (pandas and matplotlib are not for Hydra's plugin scan)."""
    from launcher.report.collect import collect as collect_sweep

    return collect_sweep(sweep_dir)


class MozaikSweeper(ValidatingSweeper):
    """The project's sweeper: see :class:`launcher.sweep.sweeper.ValidatingSweeper`."""

    collector = staticmethod(collect)


class MozaikFitSweeper(FitSweeper):
    """The project's fitting sweeper: see :class:`launcher.sweep.optuna_sweeper.FitSweeper`."""

    collector = staticmethod(collect)


ConfigStore.instance().store(group="hydra/sweeper", name="mozaik", node=MozaikSweeperConf, provider="launcher")


class MozaikFitPreset(SearchPathPlugin):
    """Registers ``hydra/sweeper=optuna`` (leaves the search path as it is)."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=FitSweeperConf, provider="launcher")
