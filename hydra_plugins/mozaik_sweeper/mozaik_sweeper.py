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

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.plugins.search_path_plugin import SearchPathPlugin

from launcher.sweep.optuna_sweeper import FitSweeper, FitSweeperConf
from launcher.sweep.sweeper import MozaikSweeperConf, ValidatingSweeper


class MozaikSweeper(ValidatingSweeper):
    """The project's sweeper: see :class:`launcher.sweep.sweeper.ValidatingSweeper`."""


class MozaikFitSweeper(FitSweeper):
    """The project's fitting sweeper: see :class:`launcher.sweep.optuna_sweeper.FitSweeper`."""


ConfigStore.instance().store(group="hydra/sweeper", name="mozaik", node=MozaikSweeperConf, provider="launcher")


class MozaikFitPreset(SearchPathPlugin):
    """Registers ``hydra/sweeper=optuna`` (leaves the search path as it is)."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=FitSweeperConf, provider="launcher")
