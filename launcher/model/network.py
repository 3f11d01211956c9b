"""Build and run the default V1 sheet on a PyNN backend.

The network is PyNN's COBA benchmark (Vogels & Abbott 2005): conductance-based
integrate-and-fire cells (``IF_cond_exp``), an excitatory and an inhibitory
population with random connectivity, started by a short Poisson kick and then
left to its own spontaneous activity. Every value comes from the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import neo
import numpy as np
from omegaconf import DictConfig

#: Model time (ms) the simulator runs before returning to Python: signals (Slurm's
#: cancel and time-limit warnings) are only handled between two such steps.
RUN_STEP_MS = 100.0
#: Populations of the sheet and the receptor their outgoing synapses target.
POPULATIONS = {"exc": "excitatory", "inh": "inhibitory"}


@dataclass
class Recording:
    """What a run produced: one Neo block with the spikes (and v, if asked) of every cell."""

    block: neo.Block
    sizes: dict[str, int]
    t_start: float  # ms, start of the spontaneous period
    t_stop: float  # ms, end of the run

    def spike_times(self, population: str) -> list[np.ndarray]:
        """Spike times (ms) of each cell of a population, in cell order; empty for an empty population."""
        label = population_label(population)
        trains = [st for seg in self.block.segments for st in seg.spiketrains if st.annotations.get("source_population") == label]
        trains.sort(key=lambda st: st.annotations["source_index"])
        return [_in_ms(st) for st in trains]


def _in_ms(train: neo.SpikeTrain) -> np.ndarray:
    """Spike times of a train in ms (a view of the recording's data when it is already in ms).

    ``rescale("ms")`` would copy the whole SpikeTrain even when the units are
    already ms, the same numbers (about 1.5 s for the default 4,000 cells).
    """
    if train.dimensionality.string == "ms":
        return train.magnitude
    return train.rescale("ms").magnitude


def population_label(population: str) -> str:
    """PyNN label of a population of the V1 sheet (kept in every recorded spike train)."""
    return f"V1_{population}"


def population_sizes(sheet: DictConfig) -> dict[str, int]:
    """Cells per population: density (per mm2) times the sheet's area (um2), split by exc_fraction."""
    total = int(round(sheet.density * sheet.sx * sheet.sy / 1e6))
    n_exc = int(round(total * sheet.exc_fraction))
    return {"exc": n_exc, "inh": total - n_exc}


def simulate(sim: ModuleType, cfg: DictConfig) -> Recording:
    """Build the V1 sheet on a set-up simulator, run the protocol, return the recording."""
    from pyNN.random import NumpyRNG

    sheet, kick = cfg.sheets.V1, cfg.experiment.kick
    # One generator for connectivity and initial state; NEST's own (seeded by
    # setup) draws the Poisson spikes.
    rng = NumpyRNG(seed=cfg.pynn_seed)
    sizes = population_sizes(sheet)
    cell_type = sim.IF_cond_exp(**sheet.cell)
    # PyNN cannot create an empty population: a degenerate sheet simply lacks it.
    pops = {
        name: sim.Population(size, cell_type, label=population_label(name))
        for name, size in sizes.items()
        if size > 0
    }
    for name, pop in pops.items():
        # Drawn here rather than passed as a RandomDistribution: PyNN cannot
        # initialise a one-cell population from a distribution.
        v0 = rng.next(len(pop), "uniform", {"low": sheet.v_init.low, "high": sheet.v_init.high})
        pop.initialize(v=np.atleast_1d(v0))
        pop.record("spikes")
        n_v = min(sheet.recording.v_cells, len(pop))
        if n_v:
            pop[0:n_v].record("v")

    for name, conn in sheet.connections.items():
        source, target = str(name).split("_")
        if source in pops and target in pops:
            sim.Projection(
                pops[source],
                pops[target],
                sim.FixedProbabilityConnector(conn.probability, rng=rng),
                sim.StaticSynapse(weight=conn.weight, delay=conn.delay),
                receptor_type=POPULATIONS[source],
            )

    if kick.sources > 0 and kick.duration > 0:
        drive = sim.Population(kick.sources, sim.SpikeSourcePoisson(rate=kick.rate, duration=kick.duration), label="kick")
        for pop in pops.values():
            sim.Projection(
                drive,
                pop,
                sim.FixedProbabilityConnector(kick.probability, rng=rng),
                sim.StaticSynapse(weight=kick.weight, delay=cfg.min_delay),
                receptor_type="excitatory",
            )

    t_stop = kick.duration + cfg.experiment.spontaneous_duration
    step = max(1, round(RUN_STEP_MS / cfg.time_step)) * cfg.time_step  # a whole number of time steps
    for t in np.append(np.arange(step, t_stop, step), t_stop):
        sim.run_until(float(t))
    block = sim.Assembly(*pops.values()).get_data() if pops else neo.Block()
    block.name = cfg.name
    return Recording(block=block, sizes=sizes, t_start=float(kick.duration), t_stop=float(t_stop))
