"""Parameter searches over mozaik-style cortical models, configured and launched with Hydra.

Importing the package registers what composing the configuration needs: the
schema of the parameter tree (:mod:`launcher.model.config`), the ``run_dirname``
resolver that names run directories (:mod:`launcher.sweep.naming`) and the
``mozaik_expr`` resolver that computes the arithmetic on references of an
imported mozaik tree (:mod:`launcher.mozaik.expr_resolver`). None imports a simulator.

After a sweep, ``launcher.load(D)`` gives its table (a pandas DataFrame: one row per job) and
``launcher.recordings(rows)`` the recordings of chosen rows, one at a time
(:mod:`launcher.report.load`); pandas is imported on their first use, not with the package.

Imports point one way, through these layers, lowest first (``tests/test_layers.py`` reads every
import, at module level and in functions, and fails on one from a higher layer or on modules that
import each other):

1. ``compat``: every private name of another package, each with its public fallback;
2. ``run``: the job record (``results.json``, the tree's hash), files;
3. ``launchers.protocol``: what the sweeper asks of any launcher (it imports nothing of the package);
4. ``sweep``: composing, validating, planning, the manifest, the sweepers. It validates any model:
   a model's schema is passed to it (the embedded model's entry points pass
   :class:`launcher.model.config.RootConfig`), and what it needs of the layers above comes
   through the protocol (a launcher's queue: ``FollowsQueuedJobs``) or a callable it is given
   (the report's collector, set by ``hydra_plugins.mozaik_sweeper``);
5. ``launchers``: sequential, local parallel, Slurm (the Slurm specifics stay here);
6. ``report``, ``mozaik``, ``model``: above the sweep, so the embedded model may use its checks
   (``model.simulator`` reads ``sweep.tree``);
7. entry points: this package's ``__init__``, ``app``, ``__main__``, ``parameter_search``,
   ``hydra_plugins``, ``run_sim.py``.
"""

from typing import Any

from launcher.model import config as _config  # noqa: F401  (registers the schema)
from launcher.mozaik import expr_resolver as _mozaik_expr  # noqa: F401  (registers the mozaik_expr resolver)
from launcher.sweep import naming as _naming  # noqa: F401  (registers the resolver)

__all__ = ["load", "recordings"]


def __getattr__(name: str) -> Any:
    """``launcher.load`` and ``launcher.recordings``, imported on first use: the table needs
    pandas, which a job, or ``python -m launcher status``, has no use for."""
    if name in __all__:
        from launcher.report import load as sweep_table

        return getattr(sweep_table, name)
    raise AttributeError(f"module 'launcher' has no attribute {name!r}")
