"""Parameter searches over mozaik-style cortical models, configured and launched with Hydra.

Importing the package registers what composing the configuration needs: the
schema of the parameter tree (:mod:`launcher.model.config`), the ``run_dirname``
resolver that names run directories (:mod:`launcher.sweep.naming`) and the
``mozaik_expr`` resolver that computes the arithmetic on references of an
imported mozaik tree (:mod:`launcher.mozaik.parameter_files`). None imports a simulator.

After a sweep, ``launcher.load(D)`` gives its table (a pandas DataFrame: one row per job) and
``launcher.recordings(rows)`` the recordings of chosen rows, one at a time
(:mod:`launcher.report.load`); pandas is imported on their first use, not with the package.
"""

from typing import Any

from launcher.model import config as _config  # noqa: F401  (registers the schema)
from launcher.mozaik import parameter_files as _mozaik_format  # noqa: F401  (registers the mozaik_expr resolver)
from launcher.sweep import naming as _naming  # noqa: F401  (registers the resolver)

__all__ = ["load", "recordings"]


def __getattr__(name: str) -> Any:
    """``launcher.load`` and ``launcher.recordings``, imported on first use: the table needs
    pandas, which a job, or ``python -m launcher status``, has no use for."""
    if name in __all__:
        from launcher.report import load as sweep_table

        return getattr(sweep_table, name)
    raise AttributeError(f"module 'launcher' has no attribute {name!r}")
