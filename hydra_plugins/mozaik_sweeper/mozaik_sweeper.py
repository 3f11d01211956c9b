"""Hydra loads sweeper classes only from the ``hydra_plugins`` package: this shim
names the class there and registers its config; the behaviour is in
:mod:`launcher.sweep`."""

from hydra.core.config_store import ConfigStore

from launcher.sweep import MozaikSweeperConf, ValidatingSweeper


class MozaikSweeper(ValidatingSweeper):
    """The project's sweeper: see :class:`launcher.sweep.ValidatingSweeper`."""


ConfigStore.instance().store(group="hydra/sweeper", name="mozaik", node=MozaikSweeperConf, provider="launcher")
