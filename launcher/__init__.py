"""Parameter searches over mozaik-style cortical models, configured and launched with Hydra.

Importing the package registers what composing the configuration needs: the
schema of the parameter tree (:mod:`launcher.config`) and the ``run_dirname``
resolver that names run directories (:mod:`launcher.naming`). Neither imports a
simulator.
"""

from launcher import config as _config  # noqa: F401  (registers the schema)
from launcher import naming as _naming  # noqa: F401  (registers the resolver)
