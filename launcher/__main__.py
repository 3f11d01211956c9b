"""The sweep tools' command line: ``python -m launcher <command> ...``.

Thin on purpose: it parses the arguments and calls :mod:`launcher.collect`.
A new command is a subparser with a ``run`` default (see :func:`build_parser`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from launcher import collect


def _status(args: argparse.Namespace) -> int:
    print(collect.format_status(collect.status(args.sweep_dir)))
    return 0


def _collect(args: argparse.Namespace) -> int:
    for path in collect.collect(args.sweep_dir).paths:
        print(path)
    return 0


Command = Callable[[argparse.Namespace], int]


def _add_sweep_command(commands: argparse._SubParsersAction, name: str, run: Command, summary: str) -> argparse.ArgumentParser:
    """A subcommand that takes one sweep directory."""
    parser = commands.add_parser(name, help=summary, description=summary)
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="the sweep directory (hydra.sweep.dir), holding manifest.json")
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m launcher", description="Tools for the sweeps of run_sim.py -m.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sweep_command(
        commands, "status", _status, "count the jobs of a sweep by state; list each failed job with its error and log"
    )
    _add_sweep_command(
        commands, "collect", _collect, "write SWEEP_DIR/summary.csv and the figures of the metrics; print their paths"
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FileNotFoundError as exc:  # most often: not a sweep directory (no manifest.json)
        print(f"python -m launcher {args.command}: error: {exc}", file=sys.stderr)
    except json.JSONDecodeError as exc:
        print(f"python -m launcher {args.command}: error: {args.sweep_dir} has a damaged manifest.json: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
