"""Every use of a private name of another package (Hydra, OmegaConf, Neo, the standard library), in
one place, each with its public fallback.

Hydra and OmegaConf have no public API for what the fast paths need (composing a
job by applying its overrides to one composed base, setting a leaf of a read-only
node, rendering ``.hydra/`` files from templates). Each private name below is used
here only; nothing else in the package imports a private Hydra or OmegaConf name
(``tests/test_layout.py`` scans for them).

=================================================  ==============================================  =====================================
private name                                       why                                             on another version (public path)
=================================================  ==============================================  =====================================
``hydra._internal...ConfigLoaderImpl``             the fast path runs only on Hydra's own loader    no fast composition (full, per job)
``ConfigLoaderImpl._apply_overrides_to_config``    a job's overrides applied as Hydra applies them  full composition (``load_sweep_config``)
``hydra._internal...get_overrides_dirname``        ``hydra.job.override_dirname`` as Hydra makes it full composition / Hydra's ``run_job``
``hydra.core.utils._flush_loggers``                a lean job flushes logs as ``run_job`` does      flush the root logger's handlers
``hydra._internal.utils.get_args_parser``          run_sim.py's command line read as Hydra reads it kept if it reads the attributes used, else the early key check is skipped
``Override._get_value_element_as_str``             a value written in Hydra's override syntax       a plain formatter (checked by parsing)
``Override(_value=...)``                           a simple ``key=value`` line without the parser   Hydra's override parser
``omegaconf._utils.get_omega_conf_dumper``         ``.hydra/`` YAML rendered as ``to_yaml`` does    Hydra's ``run_job`` (no lean runner)
``Node._get_node`` / ``_value`` / ``_set_value``   leaves read and set without resolving or lookup  full composition / Hydra's ``run_job``
``Node._get_node_flag`` / ``_set_flag``            one leaf of the read-only Hydra node set        Hydra's ``run_job``
``DictConfig.__dict__["_content"]``                one Hydra node shared by the jobs of a launch   Hydra's ``run_job``
node ``__dict__`` (``_flags_cache``) pickling      a copy of the base ten times faster than deepcopy OmegaConf's own pickling
``BaseContainer._resolvers``                       resolvers registered at run time sent to workers workers import the task's module only
``hydra._internal...BasicSweeper.split_arguments``  a grid expanded as Hydra's basic sweeper does it none: required (present 1.3.2-1.4.0.dev1)
``hydra._internal...BasicLauncher``                 one job per launch under Hydra's basic launcher  none: required (present 1.3.2-1.4.0.dev1)
=================================================  ==============================================  =====================================

Other packages' private names, each with its public fallback (taken on any version where the
private name is missing):

=================================================  ==============================================  =====================================
private name                                       why                                             public path
=================================================  ==============================================  =====================================
Neo ``SpikeTrainList._annotations``                a recording's per-cell annotations as arrays,   each train's own annotations (builds
                                                   without building a SpikeTrain per cell          every SpikeTrain: slower, same values)
Neo ``SpikeTrainList._items``                      whether the trains were given one by one        read through the public ``multiplexed``
``ProcessPoolExecutor._processes``                 a local worker's exit status and a forced stop  none known: a worker's death is
                                                                                                   reported without its signal
submitit ``AutoExecutor._executor``;               a batch script with no ``--time`` line when     the line written, with the limit
``SignalHandler._delayed._timeout_min`` (node)     the user gave no time limit (the limit the job  the job gets without it
                                                   got, for submitit's warning handler)
=================================================  ==============================================  =====================================

:data:`VERIFIED` holds the versions these were verified on (the fast paths' outputs
compared with the public paths', tests/test_fast_paths.py). On any other installed
version, or with ``MOZAIK_LAUNCHER_FAST_PATHS=0`` in the environment, every function
here takes its public path and the sweep says so once: slower, never different. The one
exception is Hydra's command-line parser, which has no public path and only lets the early
key check run: it is kept wherever it still gives what the check reads (:func:`hydra_args_parser`).
"""

from __future__ import annotations

import contextlib
import copyreg
import importlib.metadata
import inspect
import io
import logging
import os
import pickle
import signal
import sys
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence

from omegaconf import DictConfig, Node, OmegaConf

log = logging.getLogger(__name__)

#: The versions of hydra-core and omegaconf the private uses were verified on.
VERIFIED: Dict[str, frozenset[str]] = {"hydra-core": frozenset({"1.3.8"}), "omegaconf": frozenset({"2.3.1"})}
#: Set to 0 to run every job through Hydra's public path (for comparison and diagnosis).
FAST_PATHS_ENV = "MOZAIK_LAUNCHER_FAST_PATHS"


@lru_cache(maxsize=None)
def installed_versions() -> Dict[str, str]:
    return {name: importlib.metadata.version(name) for name in VERIFIED}


def unverified() -> List[str]:
    """The installed packages whose version the private uses were not verified on."""
    return [f"{name} {version}" for name, version in installed_versions().items() if version not in VERIFIED[name]]


def verified() -> bool:
    """Whether the installed Hydra and OmegaConf are versions the private uses were verified on."""
    return not unverified()


def _switched_off() -> bool:
    return os.environ.get(FAST_PATHS_ENV, "1").strip() == "0"


def fast_paths() -> bool:
    """Whether the fast paths run: verified versions, not switched off."""
    return verified() and not _switched_off()


def say_if_off() -> None:
    """One line on stderr if the fast paths are off, and why (the sweeper says it as it starts;
    launchers' workers read the same facts silently)."""
    if not fast_paths():
        reason = f"{FAST_PATHS_ENV}=0" if _switched_off() else f"not verified on {', '.join(unverified())}"
        print(f"mozaik-hydra: jobs composed and run by Hydra's public path ({reason}): slower, same results", file=sys.stderr)


# --- Hydra's basic plugins (required) ------------------------------------------------------------
# Imported when asked for, not with this module: Hydra's plugin scan executes its core plugins'
# modules again whenever a Plugins singleton is built (Singleton.set_state: Hydra's test fixtures,
# our launchers' workers), binding new classes under the same names; the one in force is the one
# the module holds now.


def split_sweep(overrides: Sequence[Any], max_batch_size: Optional[int]) -> List[List[List[str]]]:
    """A grid's jobs in batches, each job a list of override lines, as Hydra's basic sweeper makes them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper.split_arguments(list(overrides), max_batch_size)  # type: ignore[no-any-return]


def basic_launcher() -> type:
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    return BasicLauncher


# --- composing a job ---------------------------------------------------------------------------


def is_hydras_config_loader(loader: Any) -> bool:
    """Whether ``loader`` is Hydra's own config loader (the only one the fast path equals)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    return isinstance(loader, ConfigLoaderImpl)


def apply_overrides(overrides: Sequence[Any], cfg: DictConfig) -> None:
    """Apply parsed value overrides to ``cfg`` with Hydra's own code (fast paths only)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(list(overrides), cfg)


def overrides_dirname(overrides: Sequence[Any], exclude_keys: Sequence[str], item_sep: str, kv_sep: str) -> str:
    """``hydra.job.override_dirname`` as Hydra makes it (fast paths only)."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    return get_overrides_dirname(overrides=list(overrides), exclude_keys=list(exclude_keys), item_sep=item_sep, kv_sep=kv_sep)


def plain_override(key: str, value: Any, line: str) -> Optional[Any]:
    """The Override Hydra's parser gives ``key=value`` for a plain value; None off the fast paths
    (then the caller runs the parser)."""
    if not fast_paths():
        return None
    from hydra.core.override_parser.types import Override, OverrideType, ValueType

    return Override(type=OverrideType.CHANGE, key_or_group=key, value_type=ValueType.ELEMENT, _value=value, input_line=line)


# --- nodes -------------------------------------------------------------------------------------


def child_node(node: Any, key: Any) -> Optional[Node]:
    """The child node at ``key`` (not its value: interpolations stay unresolved), or None."""
    return node._get_node(key)  # type: ignore[no-any-return]


def node_value(node: Node) -> Any:
    """A leaf node's value as stored (an interpolation is its string)."""
    return node._value()


def set_node_value(node: Node, value: Any) -> None:
    """Set a leaf node's value, converted and checked by its type as OmegaConf does."""
    node._set_value(value)


def set_read_only_leaf(node: Node, value: Any) -> None:
    """Set a leaf of a read-only node. The flag is lifted on the leaf alone: ``read_write`` on a
    whole node would invalidate the flag cache of all its children."""
    flag = node._get_node_flag("readonly")
    node._set_flag("readonly", False)
    try:
        node._set_value(value)
    finally:
        node._set_flag("readonly", flag)


def share_child(cfg: DictConfig, key: str, node: Node) -> None:
    """Make ``node`` (whose parent stays as it is) ``cfg``'s child at ``key``, without copying it."""
    cfg.__dict__["_content"][key] = node


def _restore_node(node: Node, state: Dict[str, object]) -> None:
    node.__dict__.update(state)


class _SnapshotPickler(pickle.Pickler):
    """Pickles OmegaConf nodes as their attributes, restored as they are.

    OmegaConf's own ``__setstate__`` rebuilds typing annotations that old Pythons
    could not pickle, a third of the restore time; a snapshot read back by the
    process that wrote it needs none of that. The flags cache is left empty, as
    OmegaConf's pickling and a fresh node leave it.
    """

    def reducer_override(self, obj: object) -> object:
        if isinstance(obj, Node):
            state = dict(obj.__dict__, _flags_cache=None)
            return (copyreg.__newobj__, (type(obj),), state, None, None, _restore_node)  # type: ignore[attr-defined]
        return NotImplemented


def snapshot(cfg: DictConfig) -> bytes:
    """Bytes from which :func:`restore` builds an independent copy of ``cfg`` (~0.4 ms on the default
    tree on the fast path, ten times faster than ``copy.deepcopy``; OmegaConf's pickling off it)."""
    if not fast_paths():
        return pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL)
    buffer = io.BytesIO()
    _SnapshotPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(cfg)
    return buffer.getvalue()


def restore(data: bytes) -> DictConfig:
    cfg = pickle.loads(data)  # bytes this process wrote (snapshot), never a file
    assert isinstance(cfg, DictConfig)
    return cfg


# --- other packages' private names ----------------------------------------------------------------


def spike_train_annotations(trains: Any) -> Dict[str, Any]:
    """The annotations of a Neo ``SpikeTrainList`` as it holds them: one array per annotation that
    differs between trains (one value per train), the value itself for the others. Neo keeps them
    so for a list built from a spike-time array and lists them nowhere public; the public path
    reads each train's annotations (building every train)."""
    found = getattr(trains, "_annotations", None)
    if isinstance(found, dict):
        return dict(found)
    _say_once("SpikeTrainList._annotations", "each spike train's annotations read one by one (slower)")
    import numpy

    annotations: Dict[str, Any] = {}
    built = list(trains)
    for key in built[0].annotations if built else ():
        values = [train.annotations.get(key) for train in built]
        same = all(_equal(value, values[0]) for value in values)
        annotations[key] = values[0] if same and not isinstance(values[0], numpy.ndarray) else numpy.asarray(values)
    return annotations


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except ValueError:  # arrays
        return False


def spike_trains_given_one_by_one(trains: Any) -> bool:
    """Whether a Neo ``SpikeTrainList`` holds its trains as SpikeTrain objects (given one by one),
    rather than as one spike-time array. The public path answers no (the list is read through its
    public ``multiplexed`` form and :func:`spike_train_annotations`' public path)."""
    items = getattr(trains, "_items", _MISSING)
    if items is _MISSING:
        _say_once("SpikeTrainList._items", "spike trains read through their public multiplexed form")
        return False
    return items is not None


def pool_worker_process(executor: Any) -> Optional[Any]:
    """The one worker process of a ``ProcessPoolExecutor(max_workers=1)`` once it has started (for
    its exit status and a forced stop; the executor keeps it private: Python 3.14 adds
    ``terminate_workers()``, not the exit status), or None."""
    processes = getattr(executor, "_processes", _MISSING)
    if processes is _MISSING:
        _say_once("ProcessPoolExecutor._processes", "a dead worker's signal is not known and it is not stopped by force")
        return None
    return next(iter((processes or {}).values()), None)


def ask_no_time_limit(executor: Any) -> bool:
    """Leave ``--time`` out of the batch scripts of a submitit ``AutoExecutor`` for Slurm; whether it will.

    submitit writes ``--time`` always (5 minutes when none is set) unless its Slurm executor's ``time``
    is None, which ``AutoExecutor`` cannot pass on; ``SlurmExecutor.update_parameters`` is public. A task
    submitted so must give submitit's warning handler the limit it got (:func:`tell_submitit_the_time_limit`,
    on the node): the two private names are checked together here. The public path writes the limit."""
    import submitit
    from submitit.core.job_environment import SignalHandler

    inner = getattr(executor, "_executor", _MISSING)
    node_side = "delayed" in inspect.signature(SignalHandler.__init__).parameters and hasattr(
        submitit.helpers.DelayedSubmission(print), "_timeout_min"
    )
    if not isinstance(inner, submitit.SlurmExecutor) or not node_side:
        _say_once("AutoExecutor._executor, SignalHandler._delayed._timeout_min", "the batch scripts say --time (the limit the job gets without it)")
        return False
    inner.update_parameters(time=None)
    return True


def tell_submitit_the_time_limit(minutes: float) -> None:
    """In a Slurm task submitted with no ``--time`` (:func:`ask_no_time_limit`), on its node: give submitit's
    handler of the warning before the time limit the minutes the task got (it tells a time limit from a
    preemption by them, and fails on the None that no ``--time`` leaves)."""
    delayed = getattr(getattr(signal.getsignal(signal.SIGUSR2), "__self__", None), "_delayed", None)
    if delayed is not None and getattr(delayed, "_timeout_min", 0) is None:
        delayed._timeout_min = minutes


_MISSING = object()
_SAID: set = set()


def _say_once(private: str, public: str) -> None:
    fell_back(private, "not there on this version", public)


def fell_back(what: str, why: object, to: str) -> None:
    """Say, once per process and ``what``, at warning level, that ``what`` took its slower public or
    general path (``to``) and why; later fallbacks of the same ``what`` are logged at debug level."""
    level = logging.DEBUG if what in _SAID else logging.WARNING
    _SAID.add(what)
    log.log(level, "%s: %s; %s", what, why, to)


# --- the rest ----------------------------------------------------------------------------------


def flush_loggers() -> None:
    """Flush the logs as Hydra's ``run_job`` does at the end of a job."""
    if verified():
        from hydra.core.utils import _flush_loggers

        _flush_loggers()
        return
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()


def omegaconf_yaml_dumper() -> Any:
    """The YAML dumper ``OmegaConf.to_yaml`` uses (fast paths only)."""
    from omegaconf._utils import get_omega_conf_dumper

    return get_omega_conf_dumper()


#: What the early key check reads of the namespace Hydra's parser gives (``launcher/sweep/argv_checks.py``).
_ARGS_READ = ("overrides", "config_path", "config_name", "config_dir", "multirun", "shell_completion", "info", "help", "hydra_help")


def hydra_args_parser() -> Optional[Any]:
    """The argparse parser ``@hydra.main`` reads its command line with, or None (then the early key
    check is skipped and Hydra's own error names a misspelled key, without suggestions).

    On an unverified Hydra the parser is still Hydra's own (so it reads argv as Hydra will), kept
    only if it exists and parses an empty command line into every attribute the check reads: the
    check refuses a command line only when Hydra's public compose API fails on a missing key, so a
    parser that changed otherwise can only make it skip, never refuse what Hydra accepts."""
    try:
        from hydra._internal.utils import get_args_parser

        parser = get_args_parser()
        if not verified():
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                args = parser.parse_args([])
            if not all(hasattr(args, name) for name in _ARGS_READ):
                return None
    except (Exception, SystemExit):  # noqa: BLE001 - moved, renamed or changed: no early check
        return None
    return parser


def override_value_text(value: Any) -> str:
    """``value`` in Hydra's override syntax (the caller checks it parses back to ``value``)."""
    if verified():
        from hydra.core.override_parser.types import Override

        return Override._get_value_element_as_str(value)  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{override_value_text(item)}" for key, item in value.items()) + "}"
    return str(value)


def registered_resolvers() -> Dict[str, Callable[..., Any]]:
    """OmegaConf's resolvers registered in this process, by name (none off the verified versions:
    OmegaConf lists them nowhere public)."""
    if not verified():
        return {}
    from omegaconf.basecontainer import BaseContainer

    return dict(BaseContainer._resolvers)


def add_resolver(name: str, resolver: Callable[..., Any]) -> None:
    """Register a resolver as :func:`registered_resolvers` returned it (already wrapped by OmegaConf)."""
    from omegaconf.basecontainer import BaseContainer

    BaseContainer._resolvers[name] = resolver


def register_resolver(name: str, resolver: Callable[..., Any]) -> None:
    """Register (or replace) a resolver by OmegaConf's public API on every OmegaConf: its
    ``register_resolver`` from 2.4 on (2.4 deprecates ``register_new_resolver``), its
    ``register_new_resolver`` before (2.3's ``register_resolver`` is the legacy one, without
    ``replace`` and with other semantics)."""
    if "replace" in inspect.signature(OmegaConf.register_resolver).parameters:
        OmegaConf.register_resolver(name, resolver, replace=True)
    else:
        OmegaConf.register_new_resolver(name, resolver, replace=True)
