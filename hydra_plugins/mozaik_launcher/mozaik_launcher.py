"""Hydra loads launcher classes only from the ``hydra_plugins`` package: this shim
names the class there and registers its preset under a name of its own,
``hydra/launcher=mozaik_slurm``; the behaviour is in :mod:`launcher.launchers.slurm`.

The name users type on the card, ``hydra/launcher=submitit_slurm``, belongs to
hydra-submitit-launcher: every Hydra app in the environment keeps getting that plugin's
launcher under it. Only an app that asks for it -- run_sim.py, or one that calls
:func:`launcher.app.use_card_names` -- gets ``submitit_slurm`` mapped onto ours.
"""

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf

from launcher.launchers.slurm import MozaikSlurmConf, SlurmSweepLauncher


class MozaikSlurmLauncher(SlurmSweepLauncher):
    """The project's Slurm launcher: see :class:`launcher.launchers.slurm.SlurmSweepLauncher`."""


ConfigStore.instance().store(group="hydra/launcher", name="mozaik_slurm", node=MozaikSlurmConf, provider="launcher")
# The stock preset under a second name, for side-by-side measurements in run_sim.py, where
# submitit_slurm is ours (benchmarks/slurm_queue.py).
ConfigStore.instance().store(group="hydra/launcher", name="stock_submitit_slurm", node=SlurmQueueConf(),
                             provider="submitit_launcher")
