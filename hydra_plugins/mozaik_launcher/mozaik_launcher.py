"""Hydra loads launcher classes only from the ``hydra_plugins`` package: this shim
names the class there and registers its preset; the behaviour is in
:mod:`launcher.launchers.slurm`.

The preset takes the name users already type, ``hydra/launcher=submitit_slurm``,
which hydra-submitit-launcher registers too. Hydra's plugin scan executes every
plugin module again, in ``sys.path`` order, so a registration made at import
would lose to the stock one whenever the stock module runs later. Search-path
plugins are called after the scan and before any composition: registering the
preset there makes ours the one in force, always.
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf

from launcher.launchers.slurm import MozaikSlurmConf, SlurmSweepLauncher


class MozaikSlurmLauncher(SlurmSweepLauncher):
    """The project's Slurm launcher: see :class:`launcher.launchers.slurm.SlurmSweepLauncher`."""


class MozaikSlurmPreset(SearchPathPlugin):
    """Registers ``hydra/launcher=submitit_slurm`` (leaves the search path as it is), and
    keeps the stock preset reachable as ``hydra/launcher=stock_submitit_slurm`` for
    side-by-side measurements (benchmarks/)."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        store = ConfigStore.instance()
        store.store(group="hydra/launcher", name="stock_submitit_slurm", node=SlurmQueueConf(), provider="submitit_launcher")
        store.store(group="hydra/launcher", name="submitit_slurm", node=MozaikSlurmConf, provider="launcher")
