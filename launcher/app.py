"""What ``run_sim.py`` runs: the model its config names, on that model's tree, as one job.

A model is an option of the config group ``model`` (``conf/model/*.yaml``, or a
user's ``--config-dir``). Its file holds the model's parameter tree at the root of
the config (``# @package _global_``) and names the model's task in the root node
``task`` the way Hydra names callables::

    task:
      _target_: my_package.my_module.simulate    # called as simulate(tree, **other keys)
    net:
      n_cells: 100

The task receives the tree (the config without ``task`` and Hydra's node) and
returns its single values. :func:`run` validates the tree, writes it into the run
directory (``parameters.yaml``, and in mozaik's format ``parameters``), calls the
task and records the job (:mod:`launcher.run.job`). Keys of ``task`` written like
Hydra's own (``_tuples_``) are for this module, not arguments of the task.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from omegaconf import DictConfig, OmegaConf

from launcher.run import results
from launcher.run.job import RecordedTask, current_run_dir
from launcher.run.tree_hash import NOT_THE_MODELS, resolved_tree
from launcher.sweep.tree import ParameterError, validate_tree

log = logging.getLogger(__name__)

#: The root node of the config that names the model's task.
TASK_KEY = "task"
#: Root keys of the config that are not part of the model's tree.
RUN_CONFIG_KEYS = (*NOT_THE_MODELS, TASK_KEY)


#: The names on the card mapped onto the project's own presets, in the apps that ask
#: (:func:`use_card_names`): (group, name on the card, the project's own name).
CARD_NAMES = (("hydra/sweeper", "optuna", "mozaik_fit"), ("hydra/launcher", "submitit_slurm", "mozaik_slurm"))


def use_card_names() -> None:
    """Make ``hydra/sweeper=optuna`` the project's fit (``mozaik_fit``) and
    ``hydra/launcher=submitit_slurm`` its Slurm launcher (``mozaik_slurm``), in this process.

    run_sim.py calls it before Hydra starts; an app of one's own may too. Those names belong to
    hydra-optuna-sweeper and hydra-submitit-launcher: every other Hydra app in the environment
    gets their plugins under them. The plugins register at import, and Hydra's plugin scan
    executes every plugin module, so the scan runs first here and the project's presets are
    stored over theirs after it (a worker's own scan, as a launcher restores Hydra's state
    there, registers theirs again: jobs take the sweep's composed config, not the group's
    option). A config file of the same name could not do it: Hydra validates a file against the ConfigStore entry of its name, and
    hydra-optuna-sweeper's has a defaults list, which Hydra refuses there.
    """
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()
    store = ConfigStore.instance()
    for group, card_name, own_name in CARD_NAMES:
        own = store.load(f"{group}/{own_name}.yaml")
        store.store(group=group, name=card_name, node=own.node, package=own.package, provider="launcher")


#: Task functions that moved, by the name model configs imported before hold (``import-mozaik``
#: wrote ``launcher.external.run_script`` until the package was laid out by concern).
MOVED_TASKS = {"launcher.external.run_script": "launcher.mozaik.script_task.run_script"}


def model_tree(cfg: DictConfig) -> DictConfig:
    """The model's tree: the config without its run settings (Hydra's node, ``task``)."""
    return OmegaConf.masked_copy(cfg, [key for key in cfg if key not in RUN_CONFIG_KEYS])


def started_in_dir() -> str:
    """The working directory the run or sweep was started in (Hydra's ``hydra.runtime.cwd``)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.cwd)
    return os.getcwd()


def check_task(cfg: DictConfig) -> None:
    """Refuse a sweep whose config names a task whose module cannot be found (run_sim.py started
    from another directory than the model's), before any run directory exists. Only found, not
    imported: the sweeping process imports no simulator."""
    import importlib.util

    target = OmegaConf.select(cfg, f"{TASK_KEY}._target_", default=None, throw_on_resolution_failure=False)
    if not isinstance(target, str):
        return  # an app of one's own: Hydra calls its function
    target = MOVED_TASKS.get(target, target)
    started_in = started_in_dir()
    if started_in not in sys.path:
        sys.path.append(started_in)
    parts = target.split(".")
    for end in range(len(parts) - 1, 0, -1):  # the longest importable prefix: a module, or a package
        try:
            if importlib.util.find_spec(".".join(parts[:end])) is not None:
                return
        except (ImportError, ValueError):
            continue
    raise ParameterError(
        f"{TASK_KEY}._target_ = {target!r}: no module {'.'.join(parts[:-1])!r} on the Python path nor in {started_in}; "
        "start the sweep in the model's folder, or add that folder to PYTHONPATH; nothing was run"
    )


def task_of(cfg: DictConfig) -> tuple[Callable[..., Any], dict[str, Any], dict[str, Any]]:
    """The model's task function, its keyword arguments, and the settings for this module
    (``_name_`` keys but ``_target_``) of the config's ``task`` node."""
    from hydra.utils import get_method

    node = cfg.get(TASK_KEY)
    if not OmegaConf.is_dict(node) or not isinstance(node.get("_target_"), str):
        raise ParameterError(
            f"the config names no model task: it needs a root node '{TASK_KEY}' with '_target_', the function that "
            f"runs the model (e.g. {TASK_KEY}: {{_target_: my_module.simulate}}); choose a model with model=NAME"
        )
    spec = OmegaConf.to_container(node, resolve=True)
    assert isinstance(spec, dict)
    target = spec.pop("_target_")
    target = MOVED_TASKS.get(target, target)
    settings = {key: spec.pop(key) for key in list(spec) if key.startswith("_") and key.endswith("_")}
    # A model's module may sit in the user's own folder, where run_sim.py is started from: that
    # directory is searched too (last, so that it shadows no installed package), as `python -m`
    # would search it -- the one the sweep started in, also when hydra.job.chdir=true has made
    # the job's run directory the working directory.
    started_in = started_in_dir()
    if started_in not in sys.path:
        sys.path.append(started_in)
    try:
        function = get_method(target)
    except Exception as exc:  # Hydra's message names the path and why it could not be imported
        raise ParameterError(f"{TASK_KEY}._target_ = {target!r}: {exc}") from exc
    return function, spec, settings


def run_model(cfg: DictConfig) -> Any:
    """Write the model's tree into the job's run directory and run its task; the task's single values."""
    function, arguments, settings = task_of(cfg)
    tree = model_tree(cfg)
    write_tree(resolved_tree(tree), current_run_dir(), settings.get("_tuples_") or [])
    return function(tree, **arguments)


def write_tree(tree: dict[str, Any], run_dir: Path, tuples: Sequence[str] = ()) -> None:
    """The resolved tree as ``parameters.yaml`` and, where mozaik's format can hold it, as ``parameters``
    (the lists at the dotted paths ``tuples`` as tuples, as the model's own files had them)."""
    from launcher.mozaik.parameter_files import MozaikFormatError, from_hydra, write_parameters

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(dict(tree)), Path(run_dir) / results.PARAMETERS_FILE)
    try:
        write_parameters(from_hydra(dict(tree), tuples=tuples), Path(run_dir) / results.MOZAIK_PARAMETERS_FILE)
    except MozaikFormatError as exc:  # e.g. a NaN: the YAML file holds the tree
        log.warning("The tree cannot be written in mozaik's format (%s); %s holds it", exc, results.PARAMETERS_FILE)


def run(cfg: DictConfig, run_dir: Path | str | None = None, overrides: Sequence[str] | None = None) -> Any:
    """Run the model described by ``cfg`` as one job and write its outputs into ``run_dir``; the
    model's single values.

    ``run_dir`` and ``overrides`` default to those of the current Hydra job. The
    tree is validated first (nothing is written for a rejected tree). The job's
    ``results.json`` is written by the launcher that runs it, or here (a single run,
    a direct call); on failure it says ``failed`` with the error, and the exception
    propagates.
    """
    validate_tree(cfg)
    return RecordedTask(run_model)(cfg, run_dir, overrides)
