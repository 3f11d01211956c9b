"""Parameter searches over mozaik-style cortical models, configured and launched with Hydra.

Importing the package registers what composing the configuration needs: the
schema of the parameter tree (:mod:`launcher.model.config`), the ``run_dirname``
resolver that names run directories (:mod:`launcher.sweep.naming`) and the
``mozaik_expr`` resolver that computes the arithmetic on references of an
imported mozaik tree (:mod:`launcher.mozaik.parameter_files`). None imports a simulator.
"""

from launcher.model import config as _config  # noqa: F401  (registers the schema)
from launcher.mozaik import parameter_files as _mozaik_format  # noqa: F401  (registers the mozaik_expr resolver)
from launcher.sweep import naming as _naming  # noqa: F401  (registers the resolver)
