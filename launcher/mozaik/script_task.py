"""The task of a mozaik model: each job runs the model's own run script on its merged tree.

A mozaik run script takes mozaik's command line::

    python run_script simulator_name num_threads root_parameter_file simulation_run_name

A mozaik model imported with ``python -m launcher import-mozaik`` (see
:func:`import_model`) is a model option of ``run_sim.py`` like any other: its tree
at the root of the config, and ``task`` naming :func:`run_script` with the
script and how to run it. Each job's merged, resolved tree is written in
mozaik's format to ``<run dir>/parameters`` (by :mod:`launcher.app`, as for every
model); this task runs the script on it in the run directory, as a child process
with an argument list (no shell), its output in ``script.log``. The script's exit
code decides the job's state; a script that writes ``metrics.json`` (a flat
mapping of names to numbers) into its run directory has those single values in
the job's ``results.json``, ``summary.csv`` and figures.

The script runs as a process group that ends with the job
(:func:`launcher.launchers.process_group.run_group`): past its time limit ``timeout_s``
(``task.timeout_s``; null, the default, is none, as in mozaik) the script and every
process it started are stopped and the job fails with :class:`ScriptTimeout`; an
interrupted job (Ctrl-C, SIGTERM) stops them before it records its failure; a job
whose process is killed takes them with it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, ListConfig

from launcher.run.files import read_bounded
from launcher.run.job import TaskResultError, current_record, current_run_dir, single_values
from launcher.launchers.process_group import run_group
from launcher.run.results import MAX_METRICS, MOZAIK_PARAMETERS_FILE

log = logging.getLogger(__name__)

#: The run name mozaik scripts get (mozaik's own backends pass this one).
SIMULATION_RUN_NAME = "ParameterSearch"
#: The script's standard output and error, in the run directory.
SCRIPT_LOG = "script.log"
#: Single values a script may leave in its run directory.
METRICS_FILE = "metrics.json"
#: ``task.values``: the single values of the results mozaik stored (see :func:`collect_values`).
MOZAIK_VALUES = "mozaik"
#: The output of reading the single values after the script, in the run directory.
VALUES_LOG = "values.log"
#: Characters of the script's output shown in the job's log when it ends.
TAIL_CHARS = 4000
#: ``task.mpirun``: how a script's ranks start, decided where the job runs (see :func:`mpi_command`).
AUTO = "auto"
#: Slurm's MPI plugin for ``srun --mpi=`` in a Slurm job: PMI-2, which MPICH (Debian's, PyPI's ``mpich``) speaks
#: and Slurm builds by default. A site whose MPI needs another (OpenMPI: ``pmix``) sets :data:`SRUN_MPI_VARIABLE`
#: where the jobs are submitted (sbatch passes the environment on) or ``task.mpirun=[srun,--mpi=pmix]``.
SRUN_MPI = "pmi2"
SRUN_MPI_VARIABLE = "MOZAIK_SRUN_MPI"


class ScriptTimeout(TimeoutError):
    """A run script still running at its time limit (it was stopped with every process it started)."""


#: ``$NAME`` and ``${NAME}`` in a path, as a shell reads them.
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand_path(path: str) -> str:
    """``path`` as a shell reads it: ``~`` (this user's home) and ``$NAME``/``${NAME}`` expanded."""
    return os.path.expanduser(os.path.expandvars(path))


def unset_variables(path: str) -> list[str]:
    """The variables ``path`` names that are not set here (a shell would make them empty)."""
    return [a or b for a, b in _VARIABLE.findall(path) if (a or b) not in os.environ]


def _env_python(path_to_env: str) -> tuple[Path, Path]:
    """The environment's directory and its Python, for a directory or its ``bin/activate``, expanded."""
    path = Path(expand_path(path_to_env))
    env_dir = path.parent.parent if path.name.startswith("activate") else path
    return env_dir, env_dir / "bin" / "python"


def environment(path_to_env: Optional[str]) -> tuple[str, dict[str, str]]:
    """The Python and the environment variables to run a script with: this job's own, or those of
    the virtual environment ``path_to_env`` (its directory or its ``bin/activate``; ``~``, ``$HOME``
    and ``${NAME}`` expanded here, where the job runs) as its ``activate`` sets them, without a shell."""
    if not path_to_env:
        return sys.executable, dict(os.environ)
    unset = unset_variables(path_to_env)
    if unset:
        raise FileNotFoundError(
            f"path_to_mozaik_env = {path_to_env!r}: ${unset[0]} is not set on {socket.gethostname()}; "
            "set it where the jobs run, or write the path without it"
        )
    env_dir, python = _env_python(path_to_env)
    if not python.exists():
        raise FileNotFoundError(
            f"path_to_mozaik_env = {path_to_env!r}: there is no {python} on {socket.gethostname()}; "
            "give a virtual environment's directory or its bin/activate"
        )
    variables = {key: value for key, value in os.environ.items() if key != "PYTHONHOME"}
    variables["VIRTUAL_ENV"] = str(env_dir)
    variables["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{variables.get('PATH', '')}"
    return str(python), variables


def environment_problem(path_to_env: Any, setting: str = "task.env") -> Optional[str]:
    """Why the jobs could not run in the environment ``path_to_env``, checked on this host before any job
    is queued (None: no problem seen). A path naming a variable not set here is left to the host the job
    runs on, which expands it."""
    if path_to_env is None or path_to_env == "":
        return None
    if not isinstance(path_to_env, str):
        return f"{setting} = {path_to_env!r}: give the path of a virtual environment (its directory or its bin/activate)"
    if unset_variables(path_to_env):
        return None
    _, python = _env_python(path_to_env)
    if not python.exists():
        return (
            f"{setting} = {path_to_env!r}: there is no {python} on this host: give a virtual environment's directory "
            "or its bin/activate (~, $HOME and ${NAME} are read as a shell reads them)"
        )
    return None


def reject_missing_environments(argv: list[str], config_path: str, config_name: str) -> None:
    """Exit with one line per problem if ``task.env=...`` on ``run_sim.py``'s command line names an
    environment that is not there (:func:`environment_problem`), before Hydra starts and anything is queued."""
    from launcher.sweep.argv_checks import read_command_line

    line = read_command_line(argv, config_path, config_name)
    problems = []
    for override in line.overrides if line is not None else []:
        if override.key_or_group != "task.env" or override.is_delete():
            continue
        values = list(override.sweep_iterator()) if override.is_sweep_override() and not override.is_range_sweep() else [override.value()]
        for value in values:
            if isinstance(value, str) and re.search(r"(?<!\\)\$\{", value):
                problems.append(
                    f"task.env = {value!r}: Hydra reads ${{...}} as a reference to a key of the config; "
                    "write $NAME for the variable NAME (or \\${NAME})"
                )
            elif problem := environment_problem(value.replace("\\${", "${") if isinstance(value, str) else value):
                problems.append(problem)
    if problems:
        print("Error: " + "\n".join(dict.fromkeys(problems)), file=sys.stderr)
        sys.exit(1)


def mpi_command(mpirun: Any, mpi: int, threads: int) -> list[str]:
    """What starts a script's ``mpi`` ranks of ``threads`` threads: ``mpirun`` (``task.mpirun``), a program or an
    argument list to which ``-n MPI`` is added, or ``auto``: in a Slurm job (a Slurm launcher's job of
    ``--ntasks=MPI``) ``srun --mpi=PLUGIN`` over its tasks, as mozaik's Slurm backend starts them (PLUGIN from
    :data:`SRUN_MPI_VARIABLE`, by default :data:`SRUN_MPI`; ``--mpi`` is never left to the site's MpiDefault,
    often ``none``, under which each rank would run alone as rank 0 of 1), elsewhere ``mpirun`` (the
    environment's own first, its ``bin`` leads PATH). ``--kill-on-bad-exit``: a rank that dies ends the others,
    which would wait for it."""
    if mpirun == AUTO:
        if "SLURM_JOB_ID" not in os.environ:
            return ["mpirun", "-n", str(mpi)]
        plugin = os.environ.get(SRUN_MPI_VARIABLE) or SRUN_MPI
        # --overlap: also where the job's own wrapper runs as a step holding CPUs (a job of one task).
        return ["srun", f"--mpi={plugin}", f"--ntasks={mpi}", f"--cpus-per-task={threads}", "--kill-on-bad-exit=1", "--overlap"]
    if isinstance(mpirun, str) and mpirun.strip():
        return [mpirun, "-n", str(mpi)]
    if isinstance(mpirun, (list, tuple, ListConfig)) and len(mpirun) and all(isinstance(a, str) and a for a in mpirun):
        return [*mpirun, "-n", str(mpi)]
    raise ValueError(
        f"task.mpirun = {mpirun!r}: give auto, a program (mpirun, mpiexec) or an argument list such as [srun,--mpi=pmix]"
    )


def script_command(python: str, script: str, simulator: str, threads: int, mpi: int, mpirun: Any, parameters: Path) -> list[str]:
    """mozaik's command line for one job, as an argument list; with ``mpi > 1`` under :func:`mpi_command`, each
    rank ``python -m mpi4py script ...``: mpi4py's runner ends every rank (MPI_Abort) when one raises, where
    the others would wait for it until the job's time limit."""
    arguments = [script, simulator, str(threads), str(parameters), SIMULATION_RUN_NAME]
    if mpi > 1:
        return [*mpi_command(mpirun, mpi, threads), python, "-m", "mpi4py", *arguments]
    return [python, *arguments]


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The single values a script left in ``metrics.json`` (none if it wrote no such file)."""
    path = run_dir / METRICS_FILE
    if not path.exists():
        return {}
    try:
        return single_values(json.loads(read_bounded(path, "metrics.json").decode("utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TaskResultError) as exc:
        raise TaskResultError(f"{path}: not a flat mapping of names to numbers ({exc})") from None


def run_script(
    cfg: DictConfig,
    script: str,
    simulator: str = "nest",
    threads: int = 1,
    mpi: int = 1,
    mpirun: Any = AUTO,
    env: Optional[str] = None,
    timeout_s: Optional[float] = None,
    values: Optional[str] = MOZAIK_VALUES,
) -> dict[str, Any]:
    """Run the model's mozaik ``script`` on the job's tree (already written to its run directory);
    its single values (:func:`collect_values`). ``env``: a virtual environment the script runs in;
    ``timeout_s``: seconds the script may run (None: no limit); ``values``: where the single values
    come from besides ``metrics.json`` (see :func:`collect_values`)."""
    check_timeout(timeout_s)
    run_dir = current_run_dir()
    parameters = run_dir / MOZAIK_PARAMETERS_FILE
    if not parameters.exists():
        raise FileNotFoundError(f"{parameters} was not written: mozaik's format cannot hold this tree (see the job's log)")
    (run_dir / METRICS_FILE).unlink(missing_ok=True)  # never the values of an earlier attempt
    python, variables = environment(env)
    command = script_command(python, script, simulator, threads, mpi, mpirun, parameters)
    record = current_record()
    record.update(simulator=simulator, script=script, command=command)
    log.info("Running %s in %s", command, run_dir)
    with open(run_dir / SCRIPT_LOG, "wb") as output:
        ended = run_group(command, cwd=run_dir, env=variables, stdout=output, stderr=subprocess.STDOUT, timeout_s=timeout_s)
    record["exit_code"] = ended.returncode
    tail = _tail(run_dir / SCRIPT_LOG)
    log_script_output(tail, failed=ended.timed_out or ended.returncode != 0)
    if ended.timed_out:
        raise ScriptTimeout(
            f"{script} timed out: still running after its time limit of {timeout_s:g} s (task.timeout_s); "
            f"it was stopped with every process it started (see {run_dir / SCRIPT_LOG})"
        )
    if ended.returncode != 0:
        raise RuntimeError(f"{script} exited with code {ended.returncode}: {telling_line(tail)} (see {run_dir / SCRIPT_LOG})")
    return collect_values(run_dir, values, python, variables, script)


def collect_values(run_dir: Path, values: Optional[str], python: str, variables: dict[str, str], script: str) -> dict[str, Any]:
    """The job's single values after its run script: those of ``metrics.json`` if the script wrote one, and

    - ``values="mozaik"`` (the default), without a ``metrics.json``: the results mozaik stored in its
      datastore under the run directory (``SingleValue`` by sheet and value name, the mean and spread of each
      ``PerNeuronValue``), read by ``datastore_values.py`` with the script's own interpreter ``python``, the
      one that has mozaik; a run without such results says what it found, and has no single values;
    - ``values="module.function"``: what ``function(run_dir)`` returns, called in the same way (the script's
      directory on the path), added to those of ``metrics.json``;
    - ``values=None``: ``metrics.json`` only.
    """
    metrics = read_metrics(run_dir)
    if values is None or (values == MOZAIK_VALUES and metrics):
        return metrics
    reader = Path(__file__).with_name("datastore_values.py")
    paths = [str(Path(script).resolve().parent), variables.get("PYTHONPATH", "")]
    env = {**variables, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    with open(run_dir / VALUES_LOG, "wb") as output:
        ended = run_group([python, str(reader), str(run_dir), values], cwd=run_dir, env=env, stdout=output, stderr=subprocess.STDOUT)
    lines = (run_dir / VALUES_LOG).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if ended.returncode == 0 and lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        last = lines[-1] if lines else "no output"
        raise TaskResultError(f"reading the single values ({values}) failed: {last} (see {run_dir / VALUES_LOG})")
    if "problem" in answer or not isinstance(answer.get("values"), dict):
        problem = str(answer.get("problem", answer))
        if values != MOZAIK_VALUES:
            raise TaskResultError(f"task.values = {values!r}: {problem}")
        current_record()["values_problem"] = problem
        log.warning("No single values from the run: %s", problem)
        return metrics
    if values == MOZAIK_VALUES and len(answer["values"]) > MAX_METRICS:  # a model with many stimuli and analyses
        raise TaskResultError(
            f"task.values = 'mozaik': the datastore holds {len(answer['values']):,} single values (SingleValue, and the mean "
            f"and spread of each PerNeuronValue), more than the {MAX_METRICS:,} a job records: name those to keep with "
            "task.values=module.function (a function of the run directory; its datastore is kept there)"
        )
    try:
        return {**metrics, **single_values(answer["values"])}
    except TaskResultError as exc:
        raise TaskResultError(f"task.values = {values!r}: {exc}") from None


#: How the lines of srun, Slurm's step daemon and MPI that follow a failed rank's own output begin.
MPI_LAUNCHER_LINES = ("srun:", "slurmstepd", "Abort(", "mpirun", "mpiexec", "===", "=   ", "BAD TERMINATION")


def telling_line(tail: str) -> str:
    """The line of a failed script's output that says what went wrong: its last, but the lines of the MPI
    launcher that report the ranks' end (``srun: error: ...: Killed``) are passed over for the rank's own."""
    lines = [line.strip() for line in tail.strip().splitlines() if line.strip()]
    own = [line for line in lines if not line.startswith(MPI_LAUNCHER_LINES)]
    return (own or lines or ["no output"])[-1]


def log_script_output(tail: str, failed: bool) -> None:
    """The end of a script's output into the job's log: for a failed job on every handler (the console
    too), for a successful one on the log files only (NEST's banner, PyNN's notes: nothing to act on)."""
    if failed:
        log.error("Script output (end):\n%s", tail)
        return
    if not log.isEnabledFor(logging.INFO):
        return
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, "Script output (end):\n%s", (tail,), None)
    logger: Optional[logging.Logger] = log
    while logger is not None:  # the handlers a record of this logger reaches, as Logger.callHandlers walks them
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
                handler.handle(record)
        logger = logger.parent if logger.propagate else None


def check_timeout(timeout_s: Any) -> None:
    """Refuse a time limit that is not a number of seconds above 0 (None: no limit)."""
    if timeout_s is None:
        return
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise ValueError(f"task.timeout_s = {timeout_s!r}: give the seconds a run script may run (above 0), or null for no limit")


def import_model(
    root_file: str | Path,
    out_dir: str | Path,
    script: str | Path,
    name: str,
    simulator: str = "nest",
    threads: int = 1,
    mpi: int = 1,
    base_dir: str | Path | None = None,
    timeout_s: Optional[float] = None,
    modernise: bool = False,
) -> Path:
    """Import a mozaik model (its root parameter file, its run ``script``) into the Hydra config directory
    ``out_dir`` as the model option ``name`` of ``run_sim.py``; the option's config file.

    Sweep it with ``python run_sim.py --config-dir OUT_DIR model=NAME -m KEY=V1,V2``: each job runs
    :func:`run_script` with the script's absolute path, ``simulator``, ``threads``, ``mpi`` and
    ``timeout_s`` (the seconds each job's script may run; None: no limit).
    ``base_dir`` is the model directory url() paths are relative to (default: the working directory).
    ``modernise``: mozaik 0.1's distributions imported as today's (see :func:`import_mozaik`).
    """
    from launcher.mozaik.parameter_files import import_mozaik, read_parameters, tuple_paths

    if not Path(script).is_file():
        raise FileNotFoundError(f"run script {script}: no such file")
    check_timeout(timeout_s)
    task = {
        "_target_": f"{__name__}.{run_script.__name__}",
        # Hydra has no tuples: where the model's tree holds one (also where a ref() copies one), the job's
        # parameters file has it again.
        "_tuples_": tuple_paths(read_parameters(root_file, base_dir, modernise=modernise)),
        "script": str(Path(script).resolve()),
        "simulator": simulator,
        "threads": threads,
        "mpi": mpi,
        "mpirun": AUTO,  # with mpi > 1: srun in a Slurm job, mpirun elsewhere (see mpi_command)
        "env": None,
        "timeout_s": timeout_s,
        "values": MOZAIK_VALUES,  # the single values: those mozaik stored (or module.function, or null: metrics.json only)
    }
    return import_mozaik(root_file, out_dir, base_dir, model=name, task=task, modernise=modernise)


def _tail(path: Path) -> str:
    """The end of a file, without reading the whole of it."""
    with open(path, "rb") as file:
        file.seek(max(0, file.seek(0, os.SEEK_END) - TAIL_CHARS))
        return file.read().decode("utf-8", errors="replace")
