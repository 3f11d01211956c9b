"""Sweeps run one job after the other in this process, as Hydra's basic launcher runs them,
at a fraction of its cost per job (``hydra/launcher=sequential``, the project's default).

Hydra's basic launcher spends a few hundred milliseconds on each job before the task starts:
it composes the job's config in full, deep-copies it three times, copies its
Hydra node twice (``HydraConfig.set_config``), dumps three YAML files and
configures logging from scratch. For a no-op job that is all the cost; for a
10,000-job sweep of short simulations it is a large part of it. This launcher
gives each job the same things — the same task config, the same
``HydraConfig`` during the task, the same run directory, ``.hydra/`` files
(byte for byte) and job log, the same ``JobReturn`` but for its ``hydra_cfg``,
which it leaves None (a per-job copy of Hydra's node, read by nobody here) —
with per-sweep work done once:

- the job's task config is a copy of the composed base without Hydra's node,
  with the job's overrides applied by Hydra's own code (as in
  :mod:`launcher.sweep.compose`);
- one config with Hydra's node, shared by the jobs, is brought to each job's
  values (its overrides and the fields Hydra sets per job); ``HydraConfig``
  holds its masked copy, brought up to date the same way;
- ``.hydra/*.yaml`` are rendered from templates (:mod:`launcher.run.hydra_files`);
- logging switches between the sweep's handlers and the job's, the job's file
  handler opened on the job's log file.

A job whose overrides are not plain changes of the model's leaves (a config
group, ``+``, ``~``, a Hydra key), or a sweep with Hydra callbacks, ``chdir``,
``env_copy`` or a logging config that does more than name the job's log file, is
run by Hydra's own ``run_job``, exactly as the basic launcher runs it.
"""

from __future__ import annotations

import copy
import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra import version
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    configure_log,
    env_override,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from launcher.launchers.protocol import StateChange, StateReporting, TakesJobNumbers, ended_state
from launcher.run.files import open_regular, quiet_log_file, quiet_log_files
from launcher.run.job import planned_config_hash, recorded
from launcher import compat
from launcher.compat import restore, snapshot
from launcher.sweep.compose import ComposingConfigLoader, JobComposer, leaf_node, set_leaf
from launcher.run.hydra_files import TemplateCache, overrides_yaml
from launcher.sweep.naming import names_run_dirs, run_dirname
from launcher.sweep.planner import ValuePlanner
from launcher.sweep.tree import flatten

log = logging.getLogger(__name__)


@dataclass
class SequentialConf:
    """The ``hydra/launcher=sequential`` preset (no settings)."""

    _target_: str = "hydra_plugins.mozaik_sequential_launcher.mozaik_sequential_launcher.SequentialLauncher"


class _LogSwitch:
    """Root logger handlers of the sweep and of a job, switched without reconfiguring logging.

    Built from Hydra's own ``configure_log`` of the job's and the sweep's logging
    configs; afterwards a job gets the job's handlers with its file handlers opened
    on its own log files. Only for logging configs whose sole per-job part is the
    file name of their ``logging.FileHandler``s (Hydra's default).
    """

    def __init__(self, job_logging: DictConfig, file_handlers: Dict[str, str]) -> None:
        self.job_logging = job_logging
        self.file_handlers = file_handlers  # handler name -> its filename's key in the config
        raw = OmegaConf.to_container(job_logging, resolve=False)
        self.raw_filenames = {name: flatten(raw)[key] for name, key in file_handlers.items()}  # type: ignore[arg-type]
        self.job: Optional[Tuple[int, List[logging.Handler]]] = None
        self.sweep: Optional[Tuple[int, List[logging.Handler]]] = None
        self.open_files: List[logging.Handler] = []

    @staticmethod
    def usable(job_logging: Any) -> Optional[Dict[str, str]]:
        """The file handlers to reopen per job, or None if switching would not equal Hydra's."""
        raw = OmegaConf.to_container(job_logging, resolve=False) if job_logging is not None else None
        if not isinstance(raw, dict) or raw.get("disable_existing_loggers") is not False:
            return None
        if raw.get("loggers") or raw.get("incremental") or set(raw) - {"version", "formatters", "filters", "handlers", "root", "disable_existing_loggers"}:
            return None
        files = {}
        for key, value in flatten(raw).items():
            if isinstance(value, str) and "${" in value:
                parts = key.split(".")
                if not (len(parts) == 3 and parts[0] == "handlers" and parts[2] == "filename"):
                    return None
                files[parts[1]] = key
        for name in files:
            if raw["handlers"][name].get("class") != "logging.FileHandler":
                return None
        return files

    def to_job(self, verbose: Any, known: Dict[str, str]) -> List[str]:
        """Switch to the job's handlers; returns the log files the caller must create (as
        Hydra's configuration creates them): each handler opens its file on its first record.
        ``known``: values of Hydra's keys for this job, by interpolation (``${hydra.job.name}``)."""
        root = logging.getLogger()
        if self.job is None:  # the first job: Hydra's configuration, remembered
            configure_log(self.job_logging, verbose)
            for i, handler in enumerate(root.handlers):  # Hydra's file handlers: ours, which open no link
                if isinstance(handler, logging.FileHandler) and not isinstance(handler, JobLogHandler):
                    handler.close()
                    root.handlers[i] = JobLogHandler.like(handler, handler.baseFilename)
                    if not handler.delay:  # type: ignore[attr-defined]  # created at once, as Hydra's was
                        os.close(open_regular(handler.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, "job log"))
                        root.handlers[i].delay = False  # type: ignore[attr-defined]  # (later jobs' logs created at once too)
            self.job = (root.level, list(root.handlers))
            self.open_files = [h for h in root.handlers if h.get_name() in self.file_handlers]
            return []
        level, handlers = self.job
        fresh, to_create = [], []
        for handler in handlers:
            if handler.get_name() in self.file_handlers:
                reopened = self._reopened(handler, known)
                self.open_files.append(reopened)
                if not handler.delay:  # type: ignore[attr-defined]  # Hydra's opens it at once
                    to_create.append(reopened.baseFilename)
                handler = reopened
            fresh.append(handler)
        root.handlers = fresh
        root.setLevel(level)
        return to_create

    def _reopened(self, prototype: logging.Handler, known: Dict[str, str]) -> logging.Handler:
        assert isinstance(prototype, logging.FileHandler)
        filename = self.raw_filenames[prototype.get_name()]
        if "\\" not in filename:  # no escaped "\${": Hydra's default "${hydra.runtime.output_dir}/${hydra.job.name}.log"
            for interpolation, value in known.items():
                filename = filename.replace(interpolation, value)
        if "${" in filename or "\\" in filename:  # anything else is resolved by OmegaConf
            filename = OmegaConf.select(self.job_logging, self.file_handlers[prototype.get_name()])
        # Opened on its first record: creating the (often empty) file is left to the
        # caller's file writer, off the job's path (an open costs ~0.5 ms on some disks).
        return JobLogHandler.like(prototype, filename)

    def to_sweep(self, hydra_logging: DictConfig, verbose: Any) -> None:
        root = logging.getLogger()
        unwritten = []
        for handler in self.open_files:
            try:
                handler.close()
            except OSError as exc:  # its last lines could not be written (a full disk): the job is over anyway
                unwritten.append((getattr(handler, "baseFilename", handler), exc))
            else:
                if getattr(handler, "error", None) is not None:  # a line it could not write
                    unwritten.append((handler.baseFilename, handler.error))  # type: ignore[attr-defined]
        self.open_files = []
        if self.sweep is None:
            configure_log(hydra_logging, verbose)
            quiet_log_files()  # the sweep's log on a full disk: said once by the sweeper
            self.sweep = (root.level, list(root.handlers))
        else:
            level, handlers = self.sweep
            root.handlers = list(handlers)
            root.setLevel(level)
        for filename, exc in unwritten:  # said in the sweep's log, not the job's that failed
            log.error("Could not finish writing the job's log %s: %s", filename, exc)


class JobLogHandler(logging.FileHandler):
    """A job's log file, opened as every file of a sweep directory is (never through a link, never
    a FIFO: :func:`launcher.run.files.open_regular`). A line it cannot write (a full disk) is kept
    in its ``error`` (:func:`launcher.run.files.quiet_log_file`), said once in the sweep's log when
    the job ends, rather than a traceback on stderr for each line."""

    def flush(self) -> None:
        self.__dict__.setdefault("stream", None)  # see close()
        super().flush()

    def close(self) -> None:
        # A stop (Ctrl-C) that lands inside __init__ leaves a handler without its stream, which
        # logging still flushes and closes at exit: closed as one never opened (not an AttributeError).
        self.__dict__.setdefault("stream", None)
        super().close()

    @classmethod
    def like(cls, prototype: logging.FileHandler, filename: str) -> "JobLogHandler":
        """A handler of ``filename`` as ``prototype`` is configured, opened on its first record:
        creating the (often empty) file is left to the caller's file writer, off the job's path
        (an open costs ~0.5 ms on some disks)."""
        handler = cls(filename, mode=prototype.mode, encoding=prototype.encoding, delay=True, errors=prototype.errors)
        quiet_log_file(handler)
        handler.set_name(prototype.get_name())
        handler.setLevel(prototype.level)
        handler.setFormatter(prototype.formatter)
        for log_filter in prototype.filters:
            handler.addFilter(log_filter)
        return handler

    def _open(self) -> Any:
        append = os.O_APPEND if "a" in self.mode else os.O_TRUNC
        fd = open_regular(self.baseFilename, os.O_WRONLY | os.O_CREAT | append, "job log")
        return open(fd, "a" if "a" in self.mode else "w", encoding=self.encoding, errors=self.errors)


def write_new_or_over(path: Path | str, text: str) -> None:
    """Write ``text`` to the file ``path`` of a run directory, never through a link nor into a FIFO."""
    with open(open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "job file"), "w", encoding="utf-8") as file:
        file.write(text)


class _FileWriter:
    """Writes the jobs' ``.hydra/`` files and creates their log files in a thread, while the
    job runs and the next ones start.

    Nothing reads them during the sweep (the task gets its config, HydraConfig
    holds Hydra's, a log handler opens its file in append mode on its first
    record); :meth:`close` waits for every file at the end of each launch and
    logs the first error, if one happened.

    Waits are for a marker put after the files (an Event the thread sets), never
    ``Queue.join()``: a Ctrl-C or SIGTERM raised in this process while it is inside
    ``Queue.put`` can leave the queue's count of unfinished items off by one, and the
    join would then wait forever (seen: a sequential sweep stopped between two jobs hung).
    """

    def __init__(self) -> None:
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._work, name="hydra-files", daemon=True)
        self._thread.start()

    def write(self, directory: Optional[Path], files: List[Tuple[str, str]], create: List[str]) -> None:
        """Write ``files`` (name, text) into ``directory`` and create the files ``create`` if missing."""
        self._queue.put((directory, files, create))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, threading.Event):  # flush(): every file asked for before it is written
                item.set()
                continue
            directory, files, create = item
            try:
                for path in create:
                    os.close(open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, "job log"))
                if directory is not None:
                    directory.mkdir(parents=True, exist_ok=True)
                for name, text in files:
                    write_new_or_over(directory / name, text)  # type: ignore[operator]
            except BaseException as exc:  # kept for flush(); the other jobs' files are still written
                self._error = self._error or exc

    def flush(self) -> None:
        """Wait for every file asked for so far; log the first error writing one (Hydra's record of
        a job that could not be written, e.g. on a full disk, ends neither the job nor the sweep:
        the job's results.json says how it ended)."""
        written = threading.Event()
        self._queue.put(written)
        while not written.wait(0.5) and self._thread.is_alive():
            pass
        self._say_error()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()  # it ends after every item put before the None
        self._say_error()

    def _say_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            log.error("Could not write a job's .hydra files or log: %s", error)


class _LeanRunner:
    """Runs the jobs of one launch whose overrides are plain leaf changes (see module doc)."""

    def __init__(self, composer: JobComposer, master: DictConfig) -> None:
        self.composer = composer
        self.master = master
        self.shared = composer.base()  # the config with Hydra's node, brought to each job's values
        OmegaConf.copy_cache(from_config=master, to_config=self.shared)
        self.task_snapshot, self.task_raw, self.master_cache = self._task_base()
        hydra = self.shared.hydra
        dirname = hydra.job.config.override_dirname
        self.dirname_settings = (list(dirname.exclude_keys), str(dirname.item_sep), str(dirname.kv_sep))
        # The project's subdir is run_dirname() of the overrides: computed, not resolved.
        self.standard_subdir = names_run_dirs(self.shared)
        self.output_subdir = hydra.output_subdir
        self.env_set = dict(hydra.job.env_set)
        self.verbose = hydra.verbose
        self.job_name = str(hydra.job.name)
        self.hydra_logging = hydra.hydra_logging
        # HydraConfig's masked copy, made once as HydraConfig.set_config makes it (its Hydra
        # node's parent is the shared config). The shared config then holds that same node,
        # so one node is brought to each job's values and resolves in the shared config.
        orig_hydra_cfg = HydraConfig.instance().cfg
        HydraConfig.instance().set_config(self.shared)
        self.masked: DictConfig = HydraConfig.instance().cfg  # type: ignore[assignment]
        HydraConfig.instance().cfg = orig_hydra_cfg
        compat.share_child(self.shared, "hydra", leaf_node(self.masked, "hydra"))
        files = _LogSwitch.usable(self.shared.hydra.job_logging)
        self.logs = _LogSwitch(self.shared.hydra.job_logging, files) if files is not None else None
        self.changed: Dict[str, Any] = {}  # keys of the shared config set by the last job -> base values
        self._hydra_leaves: Dict[str, Any] = {}  # the per-job fields' nodes (they stay the same nodes)
        self.templates = TemplateCache()
        self.writer = _FileWriter()
        self.planner = ValuePlanner(composer)

    def _task_base(self) -> Tuple[bytes, Dict[str, Any], Any]:
        """The task config without overrides (a snapshot), its leaves as written, and the
        master's resolver cache it holds a copy of (``${now:}`` values: what Hydra copies
        to each job's config)."""
        task = self.composer.base()
        with read_write(task), open_dict(task):
            del task["hydra"]
        OmegaConf.copy_cache(from_config=self.master, to_config=task)
        raw = flatten(OmegaConf.to_container(task, resolve=False))
        return snapshot(task), raw, copy.deepcopy(OmegaConf.get_cache(self.master))

    @staticmethod
    def applicable(hydra_context: HydraContext, config: DictConfig) -> bool:
        """Whether the sweep's settings let jobs run here (else Hydra's run_job runs them all)."""
        job = config.hydra.job
        chdir = job.get("chdir")
        return (
            compat.fast_paths()
            and isinstance(hydra_context.config_loader, ComposingConfigLoader)
            and not getattr(hydra_context.callbacks, "callbacks", [None])
            and chdir is not True
            and not (chdir is None and not version.base_at_least("1.2"))  # Hydra's old default: chdir
            and len(job.env_copy) == 0
        )

    def plain(self, overrides: Sequence[str]) -> Optional[List[Override]]:
        parsed = self.composer.plain(overrides)
        if parsed is None:
            return None
        for override in parsed:
            if override.type != OverrideType.CHANGE or override.is_hydra_override() or override.key_or_group not in self.task_raw:
                return None
        return parsed

    def run(self, parsed: List[Override], idx: int, task_function: TaskFunction) -> JobReturn:
        keys = [override.key_or_group for override in parsed]
        lines = [str(override.input_line) for override in parsed]
        if OmegaConf.get_cache(self.master) != self.master_cache:  # the master resolved something new
            self.task_snapshot, self.task_raw, self.master_cache = self._task_base()
        task_cfg = restore(self.task_snapshot)  # with its copy of the master's cache
        for override in parsed:
            set_leaf(task_cfg, override.key_or_group, override.value())

        # The shared config: the job's values (the last job's set back), then the fields
        # Hydra sets per job, in Hydra's order (the subdir may read the others).
        shared = self.shared
        for key, value in self.changed.items():
            if key not in keys:
                set_leaf(shared, key, value)
        for override in parsed:
            set_leaf(shared, override.key_or_group, override.value())
        self.changed = {key: self.task_raw[key] for key in keys}
        exclude_keys, item_sep, kv_sep = self.dirname_settings
        fields = {
            "overrides.task": lines,
            "job.override_dirname": compat.overrides_dirname(parsed, exclude_keys, item_sep, kv_sep),
            "job.id": idx,
            "job.num": idx,
        }
        if self.standard_subdir:
            subdir = run_dirname(lines, exclude_keys)
        else:  # resolved as Hydra does, after the fields it may read
            self._set_hydra(fields)
            subdir = str(shared.hydra.sweep.subdir)
        output_dir = os.path.abspath(os.path.join(str(shared.hydra.sweep.dir), subdir))
        self._set_hydra({**fields, "runtime.output_dir": output_dir} if self.standard_subdir else {"runtime.output_dir": output_dir})

        ret = JobReturn()
        ret.cfg = task_cfg
        ret.overrides = lines
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        ret.working_dir = os.getcwd()
        orig_hydra_cfg = HydraConfig.instance().cfg
        HydraConfig.instance().cfg = self.masked
        try:
            log_files: List[str] = []
            if self.logs is not None:
                known = {"${hydra.runtime.output_dir}": output_dir, "${hydra.job.name}": self.job_name}
                log_files = self.logs.to_job(self.verbose, known)
            else:
                configure_log(shared.hydra.job_logging, self.verbose)
            if self.output_subdir is not None:
                files = self._hydra_files(task_cfg, keys, lines, fields, output_dir)
                self.writer.write(Path(output_dir) / str(self.output_subdir), files, log_files)
            elif log_files:
                self.writer.write(None, [], log_files)
            with env_override(self.env_set), planned_config_hash(self._planned_hash(lines)):
                try:
                    ret.return_value = task_function(task_cfg)
                    ret.status = JobStatus.COMPLETED
                except Exception as e:
                    ret.return_value = e
                    ret.status = JobStatus.FAILED
            ret.task_name = JobRuntime.instance().get("name")
            compat.flush_loggers()
        finally:
            HydraConfig.instance().cfg = orig_hydra_cfg
            if self.logs is not None:
                self.logs.to_sweep(self.hydra_logging, self.verbose)
            else:
                configure_log(self.hydra_logging, self.verbose)
        return ret

    def close(self) -> None:
        """Wait for the jobs' files (logs the first error writing them)."""
        self.writer.close()

    def _planned_hash(self, lines: List[str]) -> Optional[str]:
        """The job's config hash as the sweeper plans it (from the base, without resolving the job's
        tree), or None where the planner leaves the job to the full path."""
        planned = self.planner.plan(lines)
        return planned[1] if planned is not None and not planned[0] else None

    def _set_hydra(self, fields: Dict[str, Any]) -> None:
        """Set fields of the (read-only) Hydra node, each leaf's flag lifted alone (its ~300 nodes'
        flag cache stays valid)."""
        for key, value in fields.items():
            child = self._hydra_leaves.get(key)
            if child is None:
                child = self._hydra_leaves[key] = leaf_node(self.shared.hydra, key)
            compat.set_read_only_leaf(child, value)

    def _hydra_files(
        self, task_cfg: DictConfig, keys: List[str], lines: List[str], fields: Dict[str, Any], output_dir: str
    ) -> List[Tuple[str, str]]:
        """``.hydra/``'s files of the job: name and text."""
        values = [compat.node_value(leaf_node(task_cfg, key)) for key in keys]
        config_yaml = self.templates.render(("config", tuple(keys)), task_cfg, [tuple(k.split(".")) for k in keys], values)
        hydra_paths = [("hydra", "overrides", "task", i) for i in range(len(lines))]
        hydra_paths += [("hydra", "job", "override_dirname"), ("hydra", "job", "id"), ("hydra", "job", "num")]
        hydra_paths += [("hydra", "runtime", "output_dir")]
        hydra_values = [*lines, fields["job.override_dirname"], str(fields["job.id"]), fields["job.num"], output_dir]
        hydra_yaml = self.templates.render(("hydra", len(lines)), self.masked, hydra_paths, hydra_values)
        overrides = overrides_yaml(lines)
        if overrides is None:
            overrides = OmegaConf.to_yaml(self.masked.hydra.overrides.task)
        return [("config.yaml", config_yaml), ("hydra.yaml", hydra_yaml), ("overrides.yaml", overrides)]


class JobRunner:
    """Runs the jobs of a sweep one at a time in this process, each as Hydra's basic launcher
    runs it: on the lean path where it applies (see the module doc), else through Hydra's
    ``run_job``. Used by the sequential launcher and by the local parallel launcher's workers.
    :meth:`close` (or :meth:`flush`) waits for the jobs' files."""

    def __init__(self, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config
        self.lean: Optional[_LeanRunner] = None
        if _LeanRunner.applicable(hydra_context, config):
            loader = hydra_context.config_loader
            assert isinstance(loader, ComposingConfigLoader)
            self.lean = _LeanRunner(loader.composer(config), config)

    def run(self, overrides: Sequence[str], idx: int) -> JobReturn:
        parsed = self.lean.plain(overrides) if self.lean is not None else None
        if self.lean is not None and parsed is not None:
            return self.lean.run(parsed, idx, self.task_function)
        ret = self._run_with_hydra(list(overrides), idx)
        if self.lean is not None:  # Hydra reconfigured logging: start afresh
            self.lean.close()
            self.lean = _LeanRunner(self.lean.composer, self.config)
        return ret

    def _run_with_hydra(self, overrides: List[str], idx: int) -> JobReturn:
        """One job exactly as Hydra's basic launcher runs it."""
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = str(idx)  # declared a str: OmegaConf 2.4 warns on an int
            sweep_config.hydra.job.num = idx
        ret = run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        quiet_log_files()  # the sweep's log on a full disk: said once by the sweeper
        return ret

    def flush(self) -> None:
        """Wait until the files of every job run so far are written."""
        if self.lean is not None:
            self.lean.writer.flush()

    def close(self) -> None:
        if self.lean is not None:
            self.lean.close()

    def restart_writer(self) -> None:
        """Start a new file writer after :meth:`close`: in a child forked from this process (a packed
        Slurm task's job), which has none of its parent's threads."""
        if self.lean is not None:
            self.lean.writer = _FileWriter()


class SequentialSweepLauncher(StateReporting, TakesJobNumbers, Launcher):
    """Behaviour of the ``sequential`` launcher (Hydra loads the class from ``hydra_plugins``)."""

    def __init__(self) -> None:
        super().__init__()
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None
        # on_state and job_numbers (launcher.launchers.protocol): told as jobs start and end; the
        # job numbers of the next launch (a resumed sweep's are not consecutive).

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = recorded(task_function)  # every job writes its results.json

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        quiet_log_files()  # the sweep's log on a full disk: said once by the sweeper
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        numbers = self.take_job_numbers(len(job_overrides), initial_job_idx)
        runner = JobRunner(self.hydra_context, self.task_function, self.config)
        runs: List[JobReturn] = []
        try:
            for i, (overrides, idx) in enumerate(zip(job_overrides, numbers)):
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                self.notify([StateChange(i, "running")])
                ret = runner.run(overrides, idx)
                runs.append(ret)
                self.notify([StateChange(i, ended_state(ret))])
        finally:
            runner.close()
        return runs
