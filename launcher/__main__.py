"""The sweep tools' command line: ``python -m launcher <command> ...``.

Thin on purpose: it parses the arguments and calls :mod:`launcher.report` or
:mod:`launcher.mozaik.parameter_files`.
A new command is a subparser with a ``run`` default (see :func:`build_parser`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from launcher.report import status
from launcher.sweep.declared import SeedKeysError
from launcher.run.files import problem
from launcher.sweep.manifest import ManifestError
from launcher.mozaik.parameter_files import MozaikFormatError


def _status(args: argparse.Namespace) -> int:
    report = status.status(args.sweep_dir)
    print(status.format_status(report))
    return _report_problem(args, report.problem)


def _collect(args: argparse.Namespace) -> int:
    # Imported here: the table and figures need pandas and matplotlib, a second of start-up
    # that `status` and `import-mozaik` do without.
    from launcher.report.collect import collect

    result = collect(args.sweep_dir)
    for path in result.paths:
        print(path)
    for line in result.damaged:
        print(f"python -m launcher {args.command}: warning: {line}", file=sys.stderr)
    return _report_problem(args, result.problem)


def _report_problem(args: argparse.Namespace, problem: Optional[str]) -> int:
    """The exit code of a command that reported what it could: 1, with the problem on stderr,
    if the sweep's manifest could not be read."""
    if problem is None:
        return 0
    print(f"python -m launcher {args.command}: error: {problem}", file=sys.stderr)
    return 1


Command = Callable[[argparse.Namespace], int]


def _add_sweep_command(commands: argparse._SubParsersAction, name: str, run: Command, summary: str) -> argparse.ArgumentParser:
    """A subcommand that takes one sweep directory."""
    parser = commands.add_parser(name, help=summary, description=summary)
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="the sweep directory (hydra.sweep.dir), holding manifest.json")
    parser.set_defaults(run=run)
    return parser


def _import_mozaik(args: argparse.Namespace) -> int:
    if args.modernise:
        _show_legacy_changes(args.root_file, args.base_dir)
    if args.run_script is None and args.name is None:
        from launcher.mozaik.parameter_files import import_mozaik

        print(import_mozaik(args.root_file, args.out_dir, base_dir=args.base_dir, modernise=args.modernise))
        return 0
    if args.run_script is None or args.name is None:
        raise MozaikFormatError("a model option needs both --run-script and --name")
    from launcher.mozaik.script_task import import_model

    config = import_model(
        args.root_file, args.out_dir, args.run_script, args.name, args.simulator, args.threads, args.mpi,
        base_dir=args.base_dir, timeout_s=args.timeout_s, modernise=args.modernise,
    )  # fmt: skip
    print(config)
    print(f"Sweep it with: python run_sim.py --config-dir {args.out_dir} model={args.name} -m KEY=VALUE1,VALUE2", file=sys.stderr)
    return 0


def _show_legacy_changes(root_file: Path, base_dir: Path | None) -> None:
    """Say, before anything is written, which of mozaik 0.1's distributions the import rewrites, and how."""
    from launcher.mozaik.parameter_files import legacy_changes

    changes = legacy_changes(root_file, base_dir)
    print(f"--modernise: {len(changes)} of mozaik 0.1's distributions written as today's{':' if changes else ''}", file=sys.stderr)
    for change in changes:
        print(f"  {change.where}: {change.old} -> {change.new}", file=sys.stderr)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m launcher", description="Tools for the sweeps of run_sim.py -m.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sweep_command(
        commands, "status", _status, "count the jobs of a sweep by state; list each failed job with its error and log"
    )
    _add_sweep_command(
        commands, "collect", _collect, "write SWEEP_DIR/summary.csv and the figures of the metrics; print their paths"
    )
    importer = commands.add_parser(
        "import-mozaik",
        help="convert a mozaik parameter tree into a Hydra config directory",
        description="Convert a mozaik parameter tree (read safely: nothing in it is evaluated) into a Hydra config "
        "directory: each url() file becomes its own config file, each ref() an interpolation. With --run-script and "
        "--name, the directory holds the model as the option NAME of run_sim.py's config group `model`, each job running "
        "the run script on its tree: `python run_sim.py --config-dir OUT_DIR model=NAME -m ...`. Prints the root config.",
    )
    importer.add_argument("root_file", type=Path, metavar="ROOT_FILE", help="the mozaik root parameter file")
    importer.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="the directory to write the Hydra configs into")
    importer.add_argument(
        "--base-dir", type=Path, default=None, help="the model directory url() paths are relative to (default: the working directory)"
    )
    importer.add_argument("--run-script", type=Path, default=None, help="the model's mozaik run script (with --name)")
    importer.add_argument("--name", default=None, help="the model option's name: model=NAME (with --run-script)")
    importer.add_argument("--simulator", default="nest", help="the simulator_name the run script gets (default: nest)")
    importer.add_argument("--threads", type=_positive, default=1, help="the num_threads the run script gets (default: 1)")
    importer.add_argument("--mpi", type=_positive, default=1, help="MPI processes per job: above 1, started by srun in a Slurm job, by mpirun elsewhere (default: 1)")
    importer.add_argument(
        "--timeout-s", type=_seconds, default=None, metavar="SECONDS",
        help="the time limit of each job's run script: past it, the script and its processes are stopped and the job "
        "fails (default: none; per sweep: task.timeout_s=SECONDS)",
    )  # fmt: skip
    importer.add_argument(
        "--modernise", action="store_true",
        help="import mozaik 0.1's distributions (UniformDist, NormalDist, GammaDist) as today's PyNNDistribution, "
        "after listing each change (the model's own files are left as they are)",
    )  # fmt: skip
    importer.set_defaults(run=_import_mozaik)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # the reader went away (`status D | head -3`): nothing more to say
        _quiet_stdout()
        return 0
    except (ManifestError, FileNotFoundError, MozaikFormatError, SeedKeysError) as exc:  # no sweep directory, another program's manifest...
        print(f"python -m launcher {args.command}: error: {exc}", file=sys.stderr)
    except OSError as exc:  # summary.csv a directory, a full disk, a read-only file system...
        print(f"python -m launcher {args.command}: error: {problem(exc.filename or args.command, exc)}", file=sys.stderr)
    return 1


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush of it at exit meets no closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
