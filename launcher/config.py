"""The typed schema of the default model's parameter tree.

The values live in ``conf/model/vogels_abbott.yaml``; this module only says what
keys exist, their types, units and allowed ranges, and the rules between keys.
It is registered in Hydra's ConfigStore as ``mozaik_schema`` and sits first in
the defaults list of that model option, so the composed tree is closed (an unknown
key is refused) and typed (a value that cannot be converted is refused).

Nothing here is special to the sweeper: it validates any model the same way
(:func:`launcher.tree.tree_problems`), reading a leaf's allowed range from its
field's metadata (``ge``, ``gt``, ``le``, ``unit``: plain keys, so a user's own
schema needs no import from this package) and the rules between keys from the
schema's ``__post_init__``, which raises ``ValueError`` with one line per broken
rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


def param(
    unit: str = "",
    *,
    ge: Optional[float] = None,
    gt: Optional[float] = None,
    le: Optional[float] = None,
    default: Any = MISSING,
) -> Any:
    """A schema field with its unit and bounds kept as metadata for validation."""
    return field(default=default, metadata={"unit": unit, "ge": ge, "gt": gt, "le": le})


@dataclass
class CellParams:
    """PyNN ``IF_cond_exp`` parameters, in PyNN's units."""

    v_rest: float = param("mV")
    cm: float = param("nF", gt=0)
    tau_m: float = param("ms", gt=0)
    tau_refrac: float = param("ms", ge=0)
    tau_syn_E: float = param("ms", gt=0)
    tau_syn_I: float = param("ms", gt=0)
    e_rev_E: float = param("mV")
    e_rev_I: float = param("mV")
    v_thresh: float = param("mV")
    v_reset: float = param("mV")
    i_offset: float = param("nA")


@dataclass
class InitialPotential:
    """Membrane potentials at t=0 are drawn uniformly from [low, high]."""

    low: float = param("mV")
    high: float = param("mV")


@dataclass
class Recording:
    """What each population records besides spikes (spikes are always recorded)."""

    v_cells: int = param("cells per population", ge=0)


@dataclass
class Connectivity:
    """Values shared by several connections, referenced by interpolation (mozaik's ref())."""

    probability: float = param("", ge=0, le=1)
    delay: float = param("ms", gt=0)
    exc_weight: float = param("uS", ge=0)
    inh_weight: float = param("uS", ge=0)


@dataclass
class Connection:
    """One random projection (PyNN FixedProbabilityConnector + StaticSynapse)."""

    probability: float = param("", ge=0, le=1)
    weight: float = param("uS", ge=0)
    delay: float = param("ms", gt=0)


@dataclass
class Connections:
    """The four recurrent projections of the sheet, named source_target."""

    exc_exc: Connection = field(default_factory=Connection)
    exc_inh: Connection = field(default_factory=Connection)
    inh_exc: Connection = field(default_factory=Connection)
    inh_inh: Connection = field(default_factory=Connection)


@dataclass
class Sheet:
    """A cortical sheet of sx x sy um with an excitatory and an inhibitory population."""

    sx: float = param("um", gt=0)
    sy: float = param("um", gt=0)
    density: float = param("neurons per mm2", ge=0)
    exc_fraction: float = param("", ge=0, le=1)
    cell: CellParams = field(default_factory=CellParams)
    v_init: InitialPotential = field(default_factory=InitialPotential)
    recording: Recording = field(default_factory=Recording)
    connectivity: Connectivity = field(default_factory=Connectivity)
    connections: Connections = field(default_factory=Connections)


@dataclass
class Sheets:
    """The model's sheets; the default model has one."""

    V1: Sheet = field(default_factory=Sheet)


@dataclass
class Kick:
    """A short Poisson drive that starts the network's activity."""

    sources: int = param("Poisson sources", ge=0)
    rate: float = param("Hz", ge=0)
    duration: float = param("ms", ge=0)
    probability: float = param("", ge=0, le=1)
    weight: float = param("uS", ge=0)


@dataclass
class Experiment:
    """Stimulation protocol: the kick, then spontaneous activity that is analysed."""

    kick: Kick = field(default_factory=Kick)
    spontaneous_duration: float = param("ms", gt=0)


@dataclass
class RootConfig:
    """The root parameter tree, after mozaik's root keys."""

    #: The model's task (``launcher.app``): run settings, not part of the model's tree.
    task: Dict[str, Any] = field(default_factory=dict)
    name: str = MISSING
    simulator: str = MISSING
    threads: int = param("threads", ge=1)
    time_step: float = param("ms", gt=0)
    min_delay: float = param("ms", gt=0)
    max_delay: float = param("ms", gt=0)
    # NEST accepts seeds in [1, 2**31 - 1]
    pynn_seed: int = param("", ge=1, le=2**31 - 1)
    sheets: Sheets = field(default_factory=Sheets)
    experiment: Experiment = field(default_factory=Experiment)

    def __post_init__(self) -> None:
        """The rules between keys; raises ValueError with one line per broken rule."""
        problems: List[str] = []

        def require(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        require(self.simulator.isidentifier(), f"simulator = {self.simulator!r} is not a PyNN backend name (e.g. 'nest')")
        require(self.min_delay >= self.time_step, f"min_delay = {self.min_delay} must be >= time_step = {self.time_step} (ms)")
        require(self.max_delay >= self.min_delay, f"max_delay = {self.max_delay} must be >= min_delay = {self.min_delay} (ms)")
        for name, sheet in (("sheets.V1", self.sheets.V1),):
            cell = sheet.cell
            require(
                cell.v_reset < cell.v_thresh,
                f"{name}.cell.v_reset = {cell.v_reset} must be < {name}.cell.v_thresh = {cell.v_thresh} (mV)",
            )
            require(
                sheet.v_init.low <= sheet.v_init.high,
                f"{name}.v_init.low = {sheet.v_init.low} must be <= {name}.v_init.high = {sheet.v_init.high} (mV)",
            )
            for conn in ("exc_exc", "exc_inh", "inh_exc", "inh_inh"):
                delay = getattr(sheet.connections, conn).delay
                require(
                    self.min_delay <= delay <= self.max_delay,
                    f"{name}.connections.{conn}.delay = {delay} is out of range; allowed: between min_delay = "
                    f"{self.min_delay} and max_delay = {self.max_delay} (ms)",
                )
        if problems:
            raise ValueError("\n".join(problems))


SCHEMA_NAME = "mozaik_schema"

ConfigStore.instance().store(name=SCHEMA_NAME, node=RootConfig)
