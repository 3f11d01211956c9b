"""Hydra loads launcher classes only from the ``hydra_plugins`` package: this shim
names the class there and registers its preset, ``hydra/launcher=sequential``
(the project's default); the behaviour is in :mod:`launcher.launchers.sequential`. No other
plugin registers that name, so registering at import (Hydra's plugin scan imports
this module) is enough.
"""

from hydra.core.config_store import ConfigStore

from launcher.launchers.sequential import SequentialConf, SequentialSweepLauncher


class SequentialLauncher(SequentialSweepLauncher):
    """The project's sequential launcher: see :class:`launcher.launchers.sequential.SequentialSweepLauncher`."""


ConfigStore.instance().store(group="hydra/launcher", name="sequential", node=SequentialConf, provider="launcher")
