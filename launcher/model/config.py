"""The typed schema of the default model's parameter tree.

The values live in ``conf/model/vogels_abbott.yaml``; this module only says what
keys exist, their types, units and allowed ranges, and the rules between keys.
It is registered in Hydra's ConfigStore as ``mozaik_schema`` and sits first in
the defaults list of that model option, so the composed tree is closed (an unknown
key is refused) and typed (a value that cannot be converted is refused).

Nothing here is special to the sweeper: it validates any model the same way
(:func:`launcher.sweep.tree.tree_problems`), reading a leaf's allowed range from its
field's metadata (``ge``, ``gt``, ``le``, ``unit``: plain keys, so a user's own
schema needs no import from this package) and the rules between keys from the
schema's ``__post_init__``, which raises ``ValueError`` with one line per broken
rule.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


#: The longest time NEST represents (ms): int64 tics of 0.001 ms, its default resolution. Durations
#: and delays beyond it fail inside the simulator (an overflow, or a buffer larger than memory).
NEST_MAX_MS = float(2**63 - 1) / 1000.0
#: What a network costs NEST, for the estimate that refuses one this machine cannot hold: bytes
#: per neuron (its state, 2 input ring buffers are counted apart), per connection (a static
#: synapse and its share of the connection infrastructure) and per ring-buffer slot.
NEST_BYTES_PER_NEURON = 2_000
NEST_BYTES_PER_SYNAPSE = 48
NEST_BYTES_PER_BUFFER_SLOT = 8


def machine_memory() -> Optional[int]:
    """This machine's physical memory in bytes (None where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def param(
    unit: str = "",
    *,
    ge: Optional[float] = None,
    gt: Optional[float] = None,
    le: Optional[float] = None,
    default: Any = MISSING,
) -> Any:
    """A schema field with its unit and bounds kept as metadata for validation: a physical
    quantity, so a finite number (infinity would pass ``> 0`` and fail in the simulator)."""
    return field(default=default, metadata={"unit": unit, "ge": ge, "gt": gt, "le": le, "finite": True})


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
    """What the run's recording file keeps. The simulator records every cell's spikes all the same
    (the metrics need them); ``spike_cells`` only chooses what is saved, to keep a large sweep's files small."""

    v_cells: int = param("cells per population", ge=0)
    #: Cells per population whose spikes are saved, the first ones (those whose v is recorded; in a
    #: random network as good a sample as any): None saves every cell's, 0 none.
    spike_cells: Optional[int] = param("cells per population", ge=0, default=None)


@dataclass
class Connectivity:
    """Values shared by several connections, referenced by interpolation (mozaik's ref())."""

    probability: float = param("", ge=0, le=1)
    delay: float = param("ms", gt=0, le=NEST_MAX_MS)
    exc_weight: float = param("uS", ge=0)
    inh_weight: float = param("uS", ge=0)


@dataclass
class Connection:
    """One random projection (PyNN FixedProbabilityConnector + StaticSynapse)."""

    probability: float = param("", ge=0, le=1)
    weight: float = param("uS", ge=0)
    delay: float = param("ms", gt=0, le=NEST_MAX_MS)


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
    duration: float = param("ms", ge=0, le=NEST_MAX_MS)
    probability: float = param("", ge=0, le=1)
    weight: float = param("uS", ge=0)


@dataclass
class Experiment:
    """Stimulation protocol: the kick, then spontaneous activity that is analysed."""

    kick: Kick = field(default_factory=Kick)
    spontaneous_duration: float = param("ms", gt=0, le=NEST_MAX_MS)


@dataclass
class RootConfig:
    """The root parameter tree, after mozaik's root keys."""

    #: The model's task (``launcher.app``): run settings, not part of the model's tree.
    task: Dict[str, Any] = field(default_factory=dict)
    #: What a fit optimises (``launcher.sweep.fit``): a metric, targets of metrics, or a list of metrics.
    objective: Any = None
    name: str = MISSING
    simulator: str = MISSING
    threads: int = param("threads", ge=1)
    time_step: float = param("ms", gt=0, le=NEST_MAX_MS)
    min_delay: float = param("ms", gt=0, le=NEST_MAX_MS)
    max_delay: float = param("ms", gt=0, le=NEST_MAX_MS)
    # NEST accepts seeds in [1, 2**31 - 1]
    pynn_seed: int = param("", ge=1, le=2**31 - 1)
    sheets: Sheets = field(default_factory=Sheets)
    experiment: Experiment = field(default_factory=Experiment)

    def __post_init__(self) -> None:
        """The rules between keys; raises ValueError with one line per broken rule."""
        problems: List[str] = []

        # Each message is written only when its rule is broken: the sweeper checks the rules of
        # every job of a sweep before any runs (a million jobs: formatting them all would be seconds).
        def require(ok: bool, message: Callable[[], str]) -> None:
            if not ok:
                problems.append(message())

        require(self.simulator.isidentifier(), lambda: f"simulator = {self.simulator!r} is not a PyNN backend name (e.g. 'nest')")
        require(self.min_delay >= self.time_step, lambda: f"min_delay = {self.min_delay} must be >= time_step = {self.time_step} (ms)")
        require(self.max_delay >= self.min_delay, lambda: f"max_delay = {self.max_delay} must be >= min_delay = {self.min_delay} (ms)")
        for name, sheet in (("sheets.V1", self.sheets.V1),):
            cell = sheet.cell
            require(
                cell.v_reset < cell.v_thresh,
                lambda: f"{name}.cell.v_reset = {cell.v_reset} must be < {name}.cell.v_thresh = {cell.v_thresh} (mV)",
            )
            require(
                sheet.v_init.low <= sheet.v_init.high,
                lambda: f"{name}.v_init.low = {sheet.v_init.low} must be <= {name}.v_init.high = {sheet.v_init.high} (mV)",
            )
            for conn in ("exc_exc", "exc_inh", "inh_exc", "inh_inh"):
                delay = getattr(sheet.connections, conn).delay
                require(
                    self.min_delay <= delay <= self.max_delay,
                    lambda: f"{name}.connections.{conn}.delay = {delay} is out of range; allowed: between min_delay = "
                    f"{self.min_delay} and max_delay = {self.max_delay} (ms)",
                )
        # Values out of their own range (an infinity...) are reported by their bounds: not again here.
        duration = self.experiment.kick.duration + self.experiment.spontaneous_duration
        require(
            not math.isfinite(duration) or duration <= NEST_MAX_MS,
            lambda: f"experiment.kick.duration + experiment.spontaneous_duration = {duration} is more than NEST represents ({NEST_MAX_MS:.3g} ms)",
        )
        if not problems and self.max_delay <= NEST_MAX_MS:  # (a delay beyond it is reported by its bound)
            problems += self._memory_problems()
        if problems:
            raise ValueError("\n".join(problems))

    def _memory_problems(self) -> List[str]:
        """A network NEST could not hold in this machine's memory, estimated before anything runs
        (a density of a million per mm2 would otherwise allocate until the machine gives out)."""
        sheet, kick = self.sheets.V1, self.experiment.kick
        cells = sheet.density * sheet.sx * sheet.sy / 1e6
        sizes = {"exc": cells * sheet.exc_fraction, "inh": cells * (1 - sheet.exc_fraction)}
        synapses = sum(
            sizes[name.split("_")[0]] * sizes[name.split("_")[1]] * getattr(sheet.connections, name).probability
            for name in ("exc_exc", "exc_inh", "inh_exc", "inh_inh")
        ) + kick.sources * cells * kick.probability
        slots = (self.max_delay + self.min_delay) / self.time_step  # each neuron's ring buffers, one slot a step
        need = cells * NEST_BYTES_PER_NEURON + synapses * NEST_BYTES_PER_SYNAPSE + cells * 2 * slots * NEST_BYTES_PER_BUFFER_SLOT
        have = machine_memory()
        if have is None or need <= have or not math.isfinite(need):
            return []
        return [
            f"the network would need about {need / 1e9:.3g} GB in NEST ({cells:.3g} neurons, {synapses:.3g} connections, "
            f"delay buffers of {slots:.3g} steps), more than this machine's {have / 1e9:.3g} GB: lower sheets.V1.density "
            "or the connection probabilities, or max_delay / time_step"
        ]


SCHEMA_NAME = "mozaik_schema"

ConfigStore.instance().store(name=SCHEMA_NAME, node=RootConfig)
