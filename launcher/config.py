"""The typed schema of the root parameter tree.

The values live in ``conf/config.yaml``; this module only says what keys exist,
their types, units and allowed ranges. It is registered in Hydra's ConfigStore
as ``mozaik_schema`` and sits first in the defaults list of ``conf/config.yaml``,
so the composed tree is closed (an unknown key is refused) and typed (a value
that cannot be converted is refused). Ranges are checked by
:func:`launcher.tree.validate_tree`, which reads them from the field metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

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


SCHEMA_NAME = "mozaik_schema"

ConfigStore.instance().store(name=SCHEMA_NAME, node=RootConfig)
