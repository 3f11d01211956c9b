"""The one place that knows simulator specifics: which PyNN backend, how to set it up.

``pyNN.<name>`` is imported here and nowhere else, lazily, so composing or
validating a configuration never pays for (or needs) a simulator.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import warnings
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

from omegaconf import DictConfig

from launcher.sweep.tree import ParameterError


@contextmanager
def _quiet_simulator_warnings() -> Iterator[None]:
    # PyNN warns at import that it cannot build its optional NEST extensions (it is not
    # let to try: _no_extension_build); NEST warns about the deprecated calls PyNN makes.
    # Neither concerns the user of this tool.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"(nest|pyNN)(\.|$)")
        yield


#: The program PyNN's NEST backend looks for on PATH to build its NEST extensions.
NEST_CONFIG = "nest-config"


@contextmanager
def _no_extension_build() -> Iterator[None]:
    """PyNN's NEST backend imported without trying to build its NEST extensions.

    Whenever they are not installed (a NEST from PyPI has none), PyNN 0.13 runs cmake at every
    import to build them, with the compiler NEST's ``nest-config`` names: a NEST wheel names its
    build machine's, so it fails every time. That costs each job process 0.3 s of CPU and writes
    CMake files into PyNN's package, or into the working directory when that is read-only (outside
    the sweep directory). The embedded model uses none of the extensions, so PyNN's search for
    ``nest-config`` (on PATH, when it imports) finds none, and it skips the build. PATH is as it
    was again once PyNN is imported (its extensions are never looked for again)."""
    path = os.environ.get("PATH")
    if path is None:
        yield
        return
    folders = path.split(os.pathsep)
    kept = [folder for folder in folders if not os.path.isfile(os.path.join(folder, NEST_CONFIG))]
    if len(kept) == len(folders):
        yield
        return
    os.environ["PATH"] = os.pathsep.join(kept)
    try:
        yield
    finally:
        os.environ["PATH"] = path


def load_backend(name: str) -> ModuleType:
    """Import ``pyNN.<name>`` (e.g. ``pyNN.nest``), or explain which name is wrong."""
    os.environ.setdefault("PYNEST_QUIET", "1")  # no NEST banner in every job's output
    try:
        with _quiet_simulator_warnings(), _no_extension_build():
            backend = importlib.import_module(f"pyNN.{name}")
    except ImportError as exc:
        raise ParameterError(f"simulator = {name!r}: cannot import pyNN.{name} ({exc})") from exc
    _cell_ids_answer_numpy_at_once()
    return backend


#: numpy's priority of an object that has none (NPY_SCALAR_PRIORITY): what it assumes when the lookup fails.
_NO_ARRAY_PRIORITY = -1000000.0


def _cell_ids_answer_numpy_at_once() -> None:
    """Give PyNN's cell IDs numpy's ``__array_priority__`` of an object that has none.

    numpy looks it up on a cell ID in each ``array - id`` (PyNN's ``id_to_index``: 34 times in a job
    of the embedded model at density 100, when connecting and reading the recordings); PyNN answers an
    attribute it does not have by reading every parameter of the cell's population from the simulator,
    and numpy drops any error raised meanwhile, a KeyboardInterrupt included: a Ctrl-C landing there
    was lost (seen: about 1 sweep in 7 stopped between jobs ran on to its end). The value is the one
    numpy takes when the lookup fails, so every result is unchanged."""
    from pyNN.common.populations import IDMixin

    if "__array_priority__" not in vars(IDMixin):
        IDMixin.__array_priority__ = _NO_ARRAY_PRIORITY


#: The distribution (PyPI name) of the simulator behind each PyNN backend ``pyNN.<name>``.
SIMULATOR_DISTRIBUTIONS = {"nest": "nest-simulator", "brian2": "Brian2", "neuron": "NEURON"}


def simulator_version(name: str) -> str | None:
    """The installed version of the simulator that ``pyNN.<name>`` runs (``nest``: nest-simulator's),
    or None when it cannot be told: what a job's record names, so that a Brian2 run does not
    appear to have run on the NEST that happens to be installed beside it."""
    distribution = SIMULATOR_DISTRIBUTIONS.get(name, name)
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        module = importlib.import_module(name) if importlib.util.find_spec(name) else None
        version = getattr(module, "__version__", None)
        return str(version) if version is not None else None


@contextmanager
def simulator_session(cfg: DictConfig) -> Iterator[ModuleType]:
    """A freshly reset simulator set up from the root keys of the tree; ended on exit.

    ``setup()`` resets the NEST kernel and ``end()`` releases it, so jobs run one
    after the other in one process (the sequential launcher) share nothing.
    """
    sim = load_backend(cfg.simulator)
    extra = {"threads": cfg.threads, "rng_seed": cfg.pynn_seed} if cfg.simulator == "nest" else {}
    with _quiet_simulator_warnings():
        sim.setup(timestep=cfg.time_step, min_delay=cfg.min_delay, max_delay=cfg.max_delay, **extra)
        try:
            yield sim
        finally:
            sim.end()
