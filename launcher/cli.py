"""Checks on the command line of ``run_sim.py`` that must happen before Hydra starts.

Hydra refuses a misspelled key (the tree is closed) but only names it; here the
overrides are checked against the schema first, so the message also suggests
the nearest existing keys. Nothing is composed and nothing is written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from hydra._internal.utils import get_args_parser
from hydra.errors import OverrideParseException

from launcher.tree import ParameterError, check_override_keys


def config_groups(conf_dir: Path) -> list[str]:
    """Names of the config groups under a config directory (``experiment``, ``hydra/launcher``...)."""
    return [str(d.relative_to(conf_dir)) for d in Path(conf_dir).rglob("*") if d.is_dir()]


def reject_unknown_parameters(argv: Sequence[str], conf_dir: Path) -> None:
    """Exit with a clear message if an override names a key the tree does not have."""
    args, _ = get_args_parser().parse_known_args(list(argv))
    try:
        check_override_keys(args.overrides, config_groups(conf_dir))
    except OverrideParseException:
        return  # malformed override: Hydra's own parser error is the clearest message
    except ParameterError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
