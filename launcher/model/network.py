"""Build and run the default V1 sheet on a PyNN backend.

The network is PyNN's COBA benchmark (Vogels & Abbott 2005): conductance-based
integrate-and-fire cells (``IF_cond_exp``), an excitatory and an inhibitory
population with random connectivity, started by a short Poisson kick and then
left to its own spontaneous activity. Every value comes from the tree.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import neo
import numpy as np
import quantities as pq
from neo.core.spiketrainlist import SpikeTrainList
from omegaconf import DictConfig

from launcher import compat

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
    #: PyNN ids of each population's cells, in cell order (the trains' ``channel_id``)
    cell_ids: dict[str, np.ndarray] = field(default_factory=dict)

    def spike_times(self, population: str) -> list[np.ndarray]:
        """Spike times (ms) of each cell of a population, in cell order; empty for an empty population.

        Read from the arrays the block's spike trains are kept in (their
        ``multiplexed`` form): the same numbers as each SpikeTrain's times,
        without building a SpikeTrain object per cell.
        """
        ids = self.cell_ids.get(population)
        if ids is None or not len(ids) or not self.block.segments:
            return []
        channel_of_spike, times = self.block.segments[0].spiketrains.multiplexed
        times = times.rescale("ms").magnitude if isinstance(times, pq.Quantity) else np.asarray(times)
        order = np.argsort(channel_of_spike, kind="stable")  # stable: each cell's spikes keep their order
        channel_of_spike, times = np.asarray(channel_of_spike)[order], times[order]
        starts = np.searchsorted(channel_of_spike, ids, side="left")
        ends = np.searchsorted(channel_of_spike, ids, side="right")
        return [times[a:b] for a, b in zip(starts, ends)]


def sheet_recording(sim: ModuleType, pops: dict[str, Any], name: str) -> neo.Block:
    """The recording of every population as one Neo block: what ``Assembly.get_data()`` returns.

    ``Assembly.get_data()`` merges the populations' blocks with Neo's merge,
    which builds a SpikeTrain object for every cell (1.7 s for the default 4,000
    cells, a tenth of the whole run, that a bare PyNN script fetching the spikes
    never pays). Here the v signals are merged by ``Assembly.get_data("v")``
    and the spike trains stay in the multiplexed form PyNN returns them in, one
    ``SpikeTrainList`` with the annotations PyNN gives each train
    (``source_population``, ``source_index``, ``channel_id``); Neo builds the
    SpikeTrain objects only when something iterates over them. The tests check
    that they are the trains ``Assembly.get_data()`` gives.
    """
    block = sim.Assembly(*pops.values()).get_data("v")
    block.name = name
    if not block.segments:
        block.segments.append(neo.Segment(name="segment000"))
    spikes = [pop.get_data("spikes").segments[0].spiketrains for pop in pops.values()]
    ids = [np.asarray(trains.all_channel_ids, dtype=int) for trains in spikes]
    t_start, t_stop = spikes[0].t_start, spikes[0].t_stop
    if any(trains.t_start != t_start or trains.t_stop != t_stop for trains in spikes):
        raise ValueError("the populations' recordings do not cover the same time")
    channel_of_spike, times = zip(*(trains.multiplexed for trains in spikes))
    block.segments[0].spiketrains = SpikeTrainList.from_spike_time_array(
        np.concatenate([pq.Quantity(t).rescale("ms").magnitude for t in times]),
        np.concatenate(channel_of_spike).astype(int),
        np.concatenate(ids),
        t_start=t_start,
        t_stop=t_stop,
        units="ms",
        source_population=np.concatenate([np.full(len(i), pop.label) for i, pop in zip(ids, pops.values())]),
        source_index=np.concatenate([pop.id_to_index(i) for i, pop in zip(ids, pops.values())]),
    )
    return block


def first_cells(block: neo.Block, per_population: int | None) -> neo.Block:
    """The block with the spike trains of only the first ``per_population`` cells of each population
    (by ``source_index``; None: the block itself), still in multiplexed form: what the run saves
    when ``sheets.V1.recording.spike_cells`` is set. The v signals are kept."""
    if per_population is None or not block.segments:
        return block
    trains = block.segments[0].spiketrains
    annotations = compat.spike_train_annotations(trains)
    if not len(trains):
        return block
    channels = np.asarray(trains.all_channel_ids)
    keep = np.asarray(annotations["source_index"]) < per_population
    channel_of_spike, times = trains.multiplexed
    spiking = np.isin(channel_of_spike, channels[keep])
    copy = neo.Block(name=block.name, description=block.description, rec_datetime=block.rec_datetime, **block.annotations)
    segment = neo.Segment(name=block.segments[0].name, **block.segments[0].annotations)
    segment.analogsignals = block.segments[0].analogsignals
    copy.segments.append(segment)
    if keep.any():
        segment.spiketrains = SpikeTrainList.from_spike_time_array(
            times[spiking], np.asarray(channel_of_spike)[spiking], channels[keep], t_start=trains.t_start,
            t_stop=trains.t_stop, units=times.units, **{key: value[keep] if _per_train(value, channels) else value for key, value in annotations.items()},
        )
    return copy


def _per_train(value: Any, channels: np.ndarray) -> bool:
    """An annotation of a SpikeTrainList that holds one value per train."""
    return isinstance(value, np.ndarray) and value.shape == channels.shape


def random_stream(seed: int, name: str) -> Any:
    """A PyNN ``NumpyRNG`` of its own for one random quantity of the model (``name``: a
    projection, a population's initial values), derived from the tree's ``pynn_seed``.

    Why not one generator for the whole network, as PyNN's own examples do: with PyNN 0.13
    and lazyarray 0.7 a connector draws from a deep copy of the RNG it is given, so the
    generator itself never advances and every connector that shares it draws the same
    random matrix. Minimal reproduction (1,003 of 1,003 pairs identical, the RNG's state
    unchanged after both)::

        rng = NumpyRNG(seed=1)
        a, b, c = (sim.Population(100, sim.IF_cond_exp()) for _ in range(3))
        p1 = sim.Projection(a, b, sim.FixedProbabilityConnector(0.1, rng=rng))
        p2 = sim.Projection(a, c, sim.FixedProbabilityConnector(0.1, rng=rng))
        set(map(tuple, p1.get([], format="list"))) == set(map(tuple, p2.get([], format="list")))  # True

    So each stream is NumPy's ``SeedSequence(seed)`` spawned under a key fixed by the
    stream's name (a CRC-32 of it): independent of the others, the same for the same seed
    and name whatever else the network holds or in which order it is built.
    """
    from pyNN.random import NumpyRNG

    sequence = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),))
    return NumpyRNG(seed=int(sequence.generate_state(1)[0]))


def population_label(population: str) -> str:
    """PyNN label of a population of the V1 sheet (kept in every recorded spike train)."""
    return f"V1_{population}"


def population_sizes(sheet: DictConfig) -> dict[str, int]:
    """Cells per population: density (per mm2) times the sheet's area (um2), split by exc_fraction."""
    total = int(round(sheet.density * sheet.sx * sheet.sy / 1e6))
    n_exc = int(round(total * sheet.exc_fraction))
    return {"exc": n_exc, "inh": total - n_exc}


@dataclass
class Network:
    """The V1 sheet as built on the simulator: its populations and its projections, by name."""

    sizes: dict[str, int]
    #: ``exc``, ``inh``: PyNN populations (an empty one is absent: PyNN cannot create it)
    populations: dict[str, Any]
    #: ``connections/<source>_<target>`` and ``kick/<target>``: PyNN projections
    projections: dict[str, Any]


def build(sim: ModuleType, cfg: DictConfig) -> Network:
    """Build the V1 sheet and its kick on a set-up simulator, recording set up; nothing run."""
    sheet, kick = cfg.sheets.V1, cfg.experiment.kick
    # Every projection and every population's initial values draw from a stream of their
    # own (random_stream says why); NEST's own generator (seeded by setup) draws the
    # Poisson spikes.
    seed = cfg.pynn_seed
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
        v0 = random_stream(seed, f"v_init/{name}").next(len(pop), "uniform", {"low": sheet.v_init.low, "high": sheet.v_init.high})
        pop.initialize(v=np.atleast_1d(v0))
        pop.record("spikes")
        n_v = min(sheet.recording.v_cells, len(pop))
        if n_v:
            pop[0:n_v].record("v")

    projections: dict[str, Any] = {}
    for name, conn in sheet.connections.items():
        source, target = str(name).split("_")
        if source in pops and target in pops:
            stream = f"connections/{name}"
            projections[stream] = sim.Projection(
                pops[source],
                pops[target],
                sim.FixedProbabilityConnector(conn.probability, rng=random_stream(seed, stream)),
                sim.StaticSynapse(weight=conn.weight, delay=conn.delay),
                receptor_type=POPULATIONS[source],
            )

    if kick.sources > 0 and kick.duration > 0:
        drive = sim.Population(kick.sources, sim.SpikeSourcePoisson(rate=kick.rate, duration=kick.duration), label="kick")
        for name, pop in pops.items():
            stream = f"kick/{name}"
            projections[stream] = sim.Projection(
                drive,
                pop,
                sim.FixedProbabilityConnector(kick.probability, rng=random_stream(seed, stream)),
                sim.StaticSynapse(weight=kick.weight, delay=cfg.min_delay),
                receptor_type="excitatory",
            )
    return Network(sizes=sizes, populations=pops, projections=projections)


def simulate(sim: ModuleType, cfg: DictConfig) -> Recording:
    """Build the V1 sheet on a set-up simulator, run the protocol, return the recording."""
    kick = cfg.experiment.kick
    network = build(sim, cfg)
    pops, sizes = network.populations, network.sizes
    t_stop = kick.duration + cfg.experiment.spontaneous_duration
    step = max(1, round(RUN_STEP_MS / cfg.time_step)) * cfg.time_step  # a whole number of time steps
    # The times numpy.arange(step, t_stop, step) holds, then t_stop, one at a time: a long run
    # needs no array of all its steps.
    for i in range(max(0, math.ceil((t_stop - step) / step))):
        sim.run_until(float(step + i * step))
    sim.run_until(float(t_stop))
    block = sheet_recording(sim, pops, cfg.name) if pops else neo.Block(name=cfg.name)
    cell_ids = {name: np.asarray(pop.all_cells, dtype=int) for name, pop in pops.items()}
    return Recording(block=block, sizes=sizes, t_start=float(kick.duration), t_stop=float(t_stop), cell_ids=cell_ids)
