"""Hydra loads launcher classes only from the ``hydra_plugins`` package: this shim
names the class there and registers its preset, ``hydra/launcher=local_parallel``;
the behaviour is in :mod:`launcher.launchers.local_parallel`. No other plugin registers that name, so
registering at import (Hydra's plugin scan imports this module) is enough.
"""

from hydra.core.config_store import ConfigStore

from launcher.launchers.local_parallel import LocalParallelConf, LocalParallelSweepLauncher


class LocalParallelLauncher(LocalParallelSweepLauncher):
    """The project's local parallel launcher: see :class:`launcher.launchers.local_parallel.LocalParallelSweepLauncher`."""


ConfigStore.instance().store(group="hydra/launcher", name="local_parallel", node=LocalParallelConf, provider="launcher")
