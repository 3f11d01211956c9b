"""mozaik's ``meta_workflow.parameter_search`` API, run through this project's Hydra machinery.

Search scripts written for mozaik run unchanged::

    search = CombinationParameterSearch(LocalSequentialBackend(), {"sheets.V1.density": [1000, 2000]})
    search.run_parameter_search()   # python search.py run_script simulator_name root_parameter_file

but every combination goes through the same path as ``run_sim.py -m``: the
project's sweeper (validation, run directories named after the combination,
manifest, resume, failure report, collection) and a Hydra launcher (the
project's sequential one, or the Slurm one for :class:`SlurmSequentialBackend`). Where mozaik built
shell command lines, nothing here passes through a shell.

The root parameter file decides what runs each job:

- a Hydra root config (``conf/config.yaml``): ``run_script`` is a Hydra
  application such as ``run_sim.py``, run with ``-m`` over the combinations;
- a mozaik root parameter file: the tree is read safely
  (:mod:`launcher.mozaik.parameter_files`), imported into the search's directory as a
  model option of ``run_sim.py`` (:func:`launcher.mozaik.script_task.import_model`), and
  each job runs the user's mozaik ``run_script`` on its merged tree through
  ``run_sim.py``, as ``run_sim.py --config-dir OUT model=NAME -m`` would.

``run_sim.py -m`` runs as a process group that ends with the search script
(:func:`launcher.launchers.process_group.run_group`): the search script killed, even with
``kill -9``, or interrupted, the sweep gets SIGTERM (it stops its running job and
records it failed, the job's run script included), then SIGKILL after
:data:`SWEEP_STOP_GRACE_S`.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

from launcher.sweep.naming import run_dirname
from launcher.sweep.overrides import hydra_override, plain_value
from launcher.launchers.process_group import GRACE_S, run_group
from launcher.launchers.slurm_queue import slurm_minutes
from launcher.sweep.tree import ParameterError, config_keys, suggest, unknown_key_message

#: Files the search writes into its master directory.
JOBS_FILE = "jobs.json"
IMPORTED_DIR = "config"
#: The model option a mozaik model is imported as, in the search's own config directory.
IMPORTED_MODEL = "mozaik_model"

USAGE = "python parameter_search_script simulation_run_script simulator_name root_parameter_file"
#: Seconds a stopped sweep has to stop its running job (its run script's own grace included) and
#: record it, before it is killed.
SWEEP_STOP_GRACE_S = 5 * GRACE_S


def parameter_combinations(arrays: Iterable[Iterable[Any]]) -> list[list[Any]]:
    """Every combination of one value from each array: ``[[1, 2], [3, 4]]`` -> ``[[1, 3], [1, 4], [2, 3], [2, 4]]``."""
    return [list(combination) for combination in itertools.product(*arrays)]


# --- backends ---------------------------------------------------------------------------------


class ParameterSearchBackend:
    """How the jobs of a search run: a set of Hydra launcher overrides (the interface of mozaik's backends)."""

    def launcher_overrides(self) -> list[str]:
        """Hydra overrides that select and configure the launcher."""
        raise NotImplementedError

    def run_overrides(self, external: bool) -> list[str]:
        """Overrides of the run settings (threads, MPI processes) for an embedded or an external model."""
        return []

    def execute_job(
        self,
        run_script: str,
        simulator_name: str,
        parameters_url: str,
        parameters: Mapping[str, Any],
        simulation_run_name: str,
    ) -> int:
        """Run one combination of modified parameters; its results go to ``simulation_run_name``/.

        Returns the exit code (0: the job completed).
        """
        return run_search(self, run_script, simulator_name, parameters_url, [dict(parameters)], Path(simulation_run_name))


class LocalSequentialBackend(ParameterSearchBackend):
    """Jobs run one after the other on this machine (the project's sequential launcher)."""

    def launcher_overrides(self) -> list[str]:
        return []


#: sbatch options and the Slurm launcher key each one sets.
_SLURM_KEYS = {
    "partition": "partition", "p": "partition",
    "account": "account", "A": "account",
    "qos": "qos", "q": "qos",
    "constraint": "constraint", "C": "constraint",
    "exclude": "exclude", "x": "exclude",
    "gres": "gres",
    "comment": "comment",
    "job-name": "name", "J": "name",
}  # fmt: skip
#: sbatch options passed on as they are (sbatch lines written by submitit, values quoted).
_SLURM_PASSED = {"mem", "mem-per-cpu", "hint", "nodelist", "w", "mail-type", "mail-user", "reservation", "licenses", "exclusive", "nice"}
#: sbatch options that take no value.
_SLURM_FLAGS = {"exclusive"}
#: sbatch options the launcher sets itself or that would break the job's bookkeeping.
_SLURM_REFUSED = {
    "output", "o", "error", "e", "array", "a", "dependency", "d", "chdir", "D", "wrap", "export",
    "cpus-per-task", "c", "ntasks", "n", "ntasks-per-node", "open-mode", "signal", "requeue", "parsable",
}  # fmt: skip


def _sbatch_options(options: Sequence[str]) -> Iterator[tuple[str, Optional[str], str]]:
    """(name, value, as written) of each option, read as ``sbatch`` reads the argument list mozaik
    gave it (``['sbatch', *slurm_options]``): each item is one argument, ``--name=value``,
    ``--name value`` or ``-Xvalue`` (a space after ``-X`` is dropped: ``"-J run"`` names the job
    ``run``), or an option alone whose value is the next item."""
    items = [str(option) for option in options]
    i = 0
    while i < len(items):
        item = items[i].strip()
        i += 1
        if not item.startswith("-") or item in ("-", "--"):
            raise ParameterError(f"slurm_options: {item!r} is not an sbatch option")
        if item.startswith("--"):
            name, separator, value = item[2:].partition("=")
            if not separator and " " in name:
                name, value = name.split(None, 1)
                separator = " "
        else:
            name, value = item[1:2], item[2:].strip()
            separator = "-" if value else ""
        if name in _SLURM_FLAGS:
            yield name, None, item
            continue
        if not separator:
            if i >= len(items):
                raise ParameterError(f"slurm_options: {item} needs a value")
            value, i = items[i].strip(), i + 1
        yield name, value, item


def slurm_option_overrides(options: Sequence[str]) -> list[str]:
    """Hydra overrides of the Slurm launcher for mozaik's ``slurm_options`` (``["-p cpu", "--mem=4G"]``).

    Raises :class:`ParameterError` for an option that cannot be passed on safely.
    """
    for option in options:
        if any(ord(c) < 32 for c in str(option)):
            raise ParameterError(f"slurm_options: {option!r} holds a control character")
    overrides: list[str] = []
    for name, value, written in _sbatch_options(options):
        if name in _SLURM_REFUSED:
            raise ParameterError(
                f"slurm_options: {written} cannot be passed on: the launcher sets it itself "
                "(use num_threads and num_mpi for CPUs and processes)"
            )
        if name in ("time", "t"):
            try:
                overrides.append(f"hydra.launcher.timeout_min={slurm_minutes(str(value))}")
            except ValueError:
                raise ParameterError(f"slurm_options: {written}: {value!r} is not a Slurm time") from None
        elif name in ("nodes", "N"):
            overrides.append(f"hydra.launcher.nodes={_node_count(str(value), written)}")
        elif name in _SLURM_KEYS:
            overrides.append(hydra_override(f"hydra.launcher.{_SLURM_KEYS[name]}", value))
        elif name in _SLURM_PASSED:
            key = "nodelist" if name == "w" else name
            if key == "mem":
                overrides.append("hydra.launcher.mem_gb=null")  # the option decides the job's memory
            overrides.append(hydra_override(f"+hydra.launcher.additional_parameters.{key.replace('-', '_')}", value if value is not None else True))
        else:
            known = sorted(set(_SLURM_KEYS) | _SLURM_PASSED | {"time", "t", "nodes", "N"})
            hint = suggest(name, known)
            raise ParameterError(
                f"slurm_options: unknown or unsupported sbatch option {written}"
                + (f"; did you mean: {', '.join(hint)}?" if hint else "")
            )
    return overrides


def _node_count(value: str, written: str) -> int:
    """``-N k`` or ``-N k-k`` (mozaik's scripts ask for ``1-1``): k nodes per job."""
    low, _, high = value.partition("-")
    if low.isdigit() and (not high or high == low) and int(low) > 0:
        return int(low)
    raise ParameterError(f"slurm_options: {written}: give one number of nodes per job (e.g. -N 1 or -N 1-1)")


class SlurmSequentialBackend(ParameterSearchBackend):
    """Each job is a task of a Slurm job array (the ``submitit_slurm`` launcher), of ``num_mpi`` Slurm
    tasks (``--ntasks``) of ``num_threads`` CPUs each (``--cpus-per-task``), as mozaik's backend submits it.

    ``num_threads`` threads per MPI process, ``num_mpi`` MPI processes per job (the run script started
    once per task under ``srun``),
    ``path_to_mozaik_env`` the virtual environment the run script runs in on the
    node (its ``bin/activate``, as in today's mozaik; optional, as in mozaik's
    first API), ``slurm_options`` extra sbatch options (``["-p cpu", "--mem=8G"]``).
    Both of mozaik's signatures are accepted, by position or keyword:
    ``(num_threads, num_mpi, slurm_options=None)`` and
    ``(num_threads, num_mpi, path_to_mozaik_env, slurm_options=None)``.
    """

    def __init__(
        self,
        num_threads: int,
        num_mpi: int,
        path_to_mozaik_env: Optional[str | Sequence[str]] = None,
        slurm_options: Optional[Sequence[str]] = None,
    ) -> None:
        for name, value in (("num_threads", num_threads), ("num_mpi", num_mpi)):
            value = plain_value(value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"SlurmSequentialBackend: {name} = {value!r} must be a positive integer")
        if not isinstance(path_to_mozaik_env, (str, type(None))):  # the first API: (num_threads, num_mpi, slurm_options)
            if slurm_options is not None:
                raise ParameterError(
                    f"SlurmSequentialBackend: path_to_mozaik_env = {path_to_mozaik_env!r} must be a path (a string)"
                )
            path_to_mozaik_env, slurm_options = None, path_to_mozaik_env
        if slurm_options is not None and not (
            isinstance(slurm_options, (list, tuple)) and all(isinstance(option, str) for option in slurm_options)
        ):
            raise ParameterError(f"SlurmSequentialBackend: slurm_options = {slurm_options!r} must be a list of strings")
        self.num_threads, self.num_mpi = plain_value(num_threads), plain_value(num_mpi)
        self.path_to_mozaik_env = path_to_mozaik_env
        self.slurm_options = list(slurm_options or [])
        self._option_overrides = slurm_option_overrides(self.slurm_options)  # refuse bad options now

    def launcher_overrides(self) -> list[str]:
        # mozaik's job: -n num_mpi -c num_threads, the run script started once per task under srun
        # (launcher.mozaik.script_task.mpi_command), no time or memory limit unless slurm_options give one.
        return [
            "hydra/launcher=submitit_slurm",
            f"hydra.launcher.cpus_per_task={self.num_threads}",
            f"hydra.launcher.ntasks={self.num_mpi}",
            *self._option_overrides,
        ]

    def run_overrides(self, external: bool) -> list[str]:
        if external:  # how the model's task runs the script (launcher.mozaik.script_task.run_script)
            settings = [f"task.threads={self.num_threads}", f"task.mpi={self.num_mpi}"]
            if self.path_to_mozaik_env:
                from launcher.mozaik.script_task import environment_problem

                # Checked on this host before anything is written or queued; ${HOME} is the shell's, not Hydra's
                # (hydra_override escapes it).
                problem = environment_problem(self.path_to_mozaik_env, "path_to_mozaik_env")
                if problem:
                    raise ParameterError(f"SlurmSequentialBackend: {problem}")
                settings.append(hydra_override("task.env", str(self.path_to_mozaik_env)))  # (escaped by hydra_override)
            return settings
        if self.path_to_mozaik_env:
            print(
                f"Note: path_to_mozaik_env ({self.path_to_mozaik_env}) is for mozaik run scripts; "
                "the jobs of a Hydra model run in this environment",
                file=sys.stderr,
            )
        if self.num_mpi != 1:
            raise ParameterError(
                f"SlurmSequentialBackend: num_mpi = {self.num_mpi}: the embedded model runs as one process per job; use num_mpi=1"
            )
        return [f"threads={self.num_threads}"]


# --- searches ---------------------------------------------------------------------------------


class ParameterSearch:
    """A parameter search: combinations of modified parameters, run by a backend."""

    def __init__(self, backend: ParameterSearchBackend) -> None:
        self.backend = backend

    def generate_parameter_combinations(self) -> list[dict[str, Any]]:
        """A list of dicts, each mapping the modified parameters to one combination of values."""
        raise NotImplementedError

    def master_directory_name(self) -> str:
        """The directory (in the working directory) that holds the runs of the search."""
        raise NotImplementedError

    def run_parameter_search(self) -> None:
        """Run every combination; reads ``simulation_run_script simulator_name root_parameter_file``
        from the command line. Running it again resumes: completed runs are not run again.

        Exits with the search's exit code if a job failed.
        """
        from launcher.mozaik.parameter_files import MozaikFormatError
        from launcher.sweep.sweep_dir import SweepRefused

        run_script, simulator_name, root = read_command_line(sys.argv)
        try:
            code = run_search(
                self.backend, run_script, simulator_name, root, self.generate_parameter_combinations(), Path(self.master_directory_name())
            )
        except (ParameterError, MozaikFormatError, SweepRefused) as exc:  # bad input: the message says it all
            print(f"Error: {exc}", file=sys.stderr)
            code = 1
        if code != 0:
            raise SystemExit(code)


class CombinationParameterSearch(ParameterSearch):
    """Every combination of the given values: ``{"a": [1, 2], "b": [3, 4]}`` gives four runs."""

    def __init__(self, backend: ParameterSearchBackend, parameter_values: Mapping[str, Sequence[Any]]) -> None:
        super().__init__(backend)
        self.parameter_values = {key: list(values) for key, values in parameter_values.items()}

    def generate_parameter_combinations(self) -> list[dict[str, Any]]:
        keys = list(self.parameter_values)
        return [dict(zip(keys, values)) for values in parameter_combinations(self.parameter_values.values())]

    def master_directory_name(self) -> str:
        # mozaik's name, without its timestamp (so that running the search again resumes it),
        # made safe as a single directory name.
        values = [f"{key}={'_'.join(map(str, values))}" for key, values in self.parameter_values.items()]
        return "CombinationParamSearch_" + run_dirname(values)


def read_command_line(argv: Sequence[str]) -> tuple[str, str, str]:
    """``(run_script, simulator_name, root_parameter_file)`` from a search script's command line."""
    if len(argv) != 4:
        raise SystemExit(f"Usage: {USAGE}")
    return argv[1], argv[2], argv[3]


def is_hydra_root(root: Path) -> bool:
    """A Hydra root config (YAML) rather than a mozaik root parameter file."""
    return root.suffix in (".yaml", ".yml")


def run_search(
    backend: ParameterSearchBackend,
    run_script: str,
    simulator_name: str,
    root_parameter_file: str,
    combinations: Sequence[Mapping[str, Any]],
    master_dir: Path,
) -> int:
    """Run the combinations as one sweep into ``master_dir``; returns the sweep's exit code."""
    root = Path(root_parameter_file)
    if not root.is_file():
        raise ParameterError(f"root parameter file {root} does not exist")
    if not Path(run_script).is_file():
        raise ParameterError(f"run script {run_script} does not exist")
    jobs = [[hydra_override(key, value) for key, value in combination.items()] for combination in combinations]
    master_dir = master_dir.resolve()
    from launcher.sweep.sweep_dir import refuse_foreign_contents

    # Checked here, as the sweep would, since the search writes its jobs (and an imported model)
    # into the directory first; the sweep is then told those files are the search's own.
    refuse_foreign_contents(master_dir)
    if is_hydra_root(root):
        known = hydra_root_keys(root)
        problems = {
            unknown_key_message(line.partition("=")[0], line, known) for job in jobs for line in job if line.partition("=")[0] not in known
        }
        if problems:
            raise ParameterError("\n".join(sorted(problems)))
        # The run settings a model has keys for (the default model: simulator and threads).
        settings = [
            line for line in [hydra_override("simulator", simulator_name), *backend.run_overrides(external=False)]
            if line.partition("=")[0] in known
        ]
        command = [
            sys.executable, str(run_script), "-m",
            "--config-path", str(root.parent.resolve()), "--config-name", root.stem,
        ]  # fmt: skip
    else:  # a mozaik model: imported as a model option of run_sim.py, its jobs run the user's script
        settings = [f"model={IMPORTED_MODEL}", *backend.run_overrides(external=True)]  # checked before anything is written
        config_dir = prepare_external(root, run_script, simulator_name, jobs, master_dir)
        command = [sys.executable, str(run_sim_script()), "-m", "--config-dir", str(config_dir)]
    master_dir.mkdir(parents=True, exist_ok=True)
    (master_dir / JOBS_FILE).write_text(json.dumps(jobs, indent=1), encoding="utf-8")
    # Run directories are named after the combination only, not after these settings.
    setting_keys = sorted({override.partition("=")[0] for override in settings})
    command += [
        *settings,
        f"hydra.job.config.override_dirname.exclude_keys=[{','.join(setting_keys)}]",
        hydra_override("hydra.sweep.dir", str(master_dir)),
        hydra_override("hydra.sweeper.jobs_file", str(master_dir / JOBS_FILE)),
        "hydra.sweeper.allow_non_empty=true",
        *backend.launcher_overrides(),
    ]
    return run_group(command, grace_s=SWEEP_STOP_GRACE_S).returncode


def _tree_keys(tree: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in tree.items():
        yield f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _tree_keys(value, f"{prefix}{key}.")


def hydra_root_keys(root: Path) -> dict[str, None]:
    """Every dotted key of the config a Hydra root config file composes to (its defaults included)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(root.parent.resolve()), version_base="1.3"):
        return dict.fromkeys(config_keys(compose(root.stem)))


def run_sim_script() -> Path:
    """This project's ``run_sim.py``, through which every search runs."""
    path = Path(__file__).resolve().parent.parent / "run_sim.py"
    if not path.is_file():
        raise ParameterError(f"{path} is missing: run searches of mozaik models from a clone of this project")
    return path


def prepare_external(root: Path, run_script: str, simulator_name: str, jobs: list[list[str]], master_dir: Path) -> Path:
    """Import a mozaik tree into ``master_dir`` as the model option :data:`IMPORTED_MODEL` of ``run_sim.py``
    (:func:`launcher.mozaik.script_task.import_model`); the config directory.

    The tree is read (safely) and every modified key checked before anything is written.
    """
    from launcher.mozaik.script_task import import_model
    from launcher.mozaik.parameter_files import read_parameters

    tree = read_parameters(root, base_dir=Path.cwd())
    known = set(_tree_keys(tree))
    unknown = sorted({o.partition("=")[0] for job in jobs for o in job} - known)
    if unknown:
        raise ParameterError(
            "\n".join(f"Unknown parameter '{key}' of {root}. Did you mean: {', '.join(suggest(key, known))}?" for key in unknown)
        )
    config_dir = master_dir / IMPORTED_DIR
    import_model(root, config_dir, run_script, IMPORTED_MODEL, simulator_name, base_dir=Path.cwd())
    return config_dir
