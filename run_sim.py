"""Run a model once, or sweep it with -m: the default model, or the one ``model=`` names.

    python run_sim.py                                   # one run
    python run_sim.py -m sheets.V1.density=1,2,3        # a sweep, one job per value
    python run_sim.py -m ... hydra/launcher=submitit_slurm
    python run_sim.py --config-dir my_conf model=my_net -m net.w=1,2   # your own model

The composed config goes to :func:`launcher.app.run`, which runs the model's task;
everything else is configuration (conf/) or the launcher package.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from launcher.app import run, use_card_names
from launcher.model.config import RootConfig
from launcher.mozaik.script_task import reject_missing_environments
from launcher.sweep.argv_checks import multirun_first, reject_oversized_sweep, reject_unknown_parameters


CONFIG_PATH, CONFIG_NAME = "conf", "config"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=CONFIG_NAME)
def main(cfg: DictConfig) -> dict:
    return run(cfg)


if __name__ == "__main__":
    sys.argv[1:] = multirun_first(sys.argv[1:])  # `model=my_net -m net.w=1,2`, as users write it
    reject_oversized_sweep(sys.argv[1:], CONFIG_PATH, CONFIG_NAME, RootConfig)  # a 10**10-job typo: before Hydra's plugin scan
    use_card_names()  # hydra/sweeper=optuna, hydra/launcher=submitit_slurm: the project's, in this app only
    reject_unknown_parameters(sys.argv[1:], Path(__file__).parent, CONFIG_PATH, CONFIG_NAME, RootConfig)
    reject_missing_environments(sys.argv[1:], CONFIG_PATH, CONFIG_NAME)  # task.env=..., before anything is queued
    main()
