"""The run's recording: recording.h5, and the recording.mat of run directories written before it (still read)."""

from datetime import datetime

import neo
import numpy as np
import pytest
import quantities as pq
from neo.core import ChannelView

from launcher.run import results
from launcher.app import run
from support import SMALL, doc_blocks


def write_old_recording(block, run_dir):
    """The recording.mat a run wrote before recording.h5: Neo's MATLAB format, by Neo's own writer."""
    path = run_dir / results.MAT_RECORDING_FILE
    neo.io.NeoMatlabIO(str(path)).write_block(block)
    return path


def odd_block():
    """A block with what Neo's structures can hold beyond a PyNN recording."""
    block = neo.Block(name="bl\u00f6ck", description="", file_datetime=datetime(2024, 1, 2, 3, 4, 5), answer=42)
    seg = neo.Segment(name="s", index=3)
    block.segments.append(seg)
    seg.spiketrains.append(
        neo.SpikeTrain(
            [1.5, 2.5] * pq.s, t_stop=10 * pq.s, name="ab", source_population="V1_exc", source_index=np.int64(7),
            none=None, flag=True, small=np.int32(3), single=np.float32(0.5), rate=3.0 * pq.Hz, nested={"a": 1, "b": {"c": "x"}},
            empty={}, text="", vector=[1, 2, 3], annotation_name_of_31_character=1,
        )
    )
    seg.spiketrains.append(neo.SpikeTrain([] * pq.ms, t_stop=10 * pq.ms))  # no spikes
    signal = neo.AnalogSignal(np.arange(12, dtype=float).reshape(4, 3) * pq.mV, sampling_rate=10 * pq.kHz, name="v")
    seg.analogsignals.append(signal)
    block.segments.append(neo.Segment())  # an empty segment
    group = neo.Group(name="g")
    group.add(seg.spiketrains[0], ChannelView(signal, [0, 2]))
    block.groups.append(group)
    return block


def test_a_recording_mat_written_before_recording_h5_is_still_read(tmp_path):
    path = write_old_recording(odd_block(), tmp_path)
    assert results.recording_file(tmp_path) == path
    back = results.read_recording(tmp_path)
    st = back.segments[0].spiketrains[0]
    assert np.array_equal(st.magnitude, [1.5, 2.5]) and st.units == pq.s
    assert st.annotations["source_population"] == "V1_exc" and st.annotations["source_index"] == 7
    assert st.annotations["none"] is None and st.annotations["nested"]["b"]["c"] == "x"
    assert back.name == "bl\u00f6ck" and len(back.segments) == 2 and len(back.groups) == 1
    assert back.segments[0].analogsignals[0].shape == (4, 3)


def test_recording_of_a_real_run_reads_back_with_every_train_and_v(compose_cfg, tmp_path):
    run(compose_cfg(*SMALL, "sheets.V1.recording.v_cells=3"), tmp_path, overrides=[])
    record = results.read_results(tmp_path)
    assert record["state"] == "completed"
    block = results.read_recording(tmp_path)
    trains = block.segments[0].spiketrains
    assert len(trains) == 200
    assert sorted((st.annotations["source_population"], st.annotations["source_index"]) for st in trains) == sorted(
        [("V1_exc", i) for i in range(160)] + [("V1_inh", i) for i in range(40)]
    )
    assert sum(len(st) for st in trains) > 0
    v = block.segments[0].analogsignals
    assert sum(sig.shape[1] for sig in v) == 6 and all(sig.units == pq.mV for sig in v)


@pytest.mark.parametrize("overrides", [[], ["sheets.V1.recording.v_cells=0"], ["sheets.V1.density=1"]])
def test_the_sheet_s_recording_is_assembly_get_data_s(compose_cfg, monkeypatch, overrides):
    from launcher.model import network
    from launcher.model.simulator import simulator_session

    reference = {}
    sheet_recording = network.sheet_recording

    def also_assembly_get_data(sim, pops, name):
        reference["block"] = sim.Assembly(*pops.values()).get_data()  # what PyNN gives, every train built
        return sheet_recording(sim, pops, name)

    monkeypatch.setattr(network, "sheet_recording", also_assembly_get_data)
    cfg = compose_cfg(*SMALL, *overrides)
    with simulator_session(cfg) as sim:
        recording = network.simulate(sim, cfg)
    block, expected = recording.block, reference["block"]
    trains = block.segments[0].spiketrains
    # the trains are those of Assembly.get_data(), in the same order
    assert len(trains) == len(expected.segments[0].spiketrains) == sum(recording.sizes.values())
    for ours, theirs in zip(trains, expected.segments[0].spiketrains):
        assert np.array_equal(ours.magnitude, theirs.magnitude) and ours.dtype == theirs.dtype
        assert ours.units == theirs.units and ours.t_start == theirs.t_start and ours.t_stop == theirs.t_stop
        assert list(ours.annotations.items()) == list(theirs.annotations.items())
    assert [(s.name, s.shape) for s in block.segments[0].analogsignals] == [
        (s.name, s.shape) for s in expected.segments[0].analogsignals
    ]
    # the metrics' spike times are the trains' times
    for population in ("exc", "inh"):
        label = network.population_label(population)
        cells = sorted((st for st in trains if st.annotations["source_population"] == label), key=lambda st: st.annotations["source_index"])
        times = recording.spike_times(population)
        assert len(times) == len(cells) == recording.sizes[population]
        assert all(np.array_equal(t, st.rescale("ms").magnitude) and t.dtype == np.float64 for t, st in zip(times, cells))


def spike_trains(block):
    """The block's spike trains by (population, index in it)."""
    return {(st.annotations["source_population"], st.annotations["source_index"]): st for st in block.segments[0].spiketrains}


def simulated(compose_cfg, *overrides):
    from launcher.model import network
    from launcher.model.simulator import simulator_session

    cfg = compose_cfg(*SMALL, *overrides)
    with simulator_session(cfg) as sim:
        return network.simulate(sim, cfg)


def test_recording_h5_holds_the_block_recording_mat_held_for_the_same_run(compose_cfg, tmp_path):
    recording = simulated(compose_cfg, "sheets.V1.recording.v_cells=3")
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir(), new_dir.mkdir()
    results.write_recording(recording.block, new_dir)
    write_old_recording(recording.block, old_dir)  # after: Neo's writer builds every train, which recording.h5 refuses
    assert not (new_dir / results.MAT_RECORDING_FILE).exists() and not (old_dir / results.RECORDING_FILE).exists()
    old, new = results.read_recording(old_dir), results.read_recording(new_dir)  # a run directory of before still reads
    old_trains, new_trains = spike_trains(old), spike_trains(new)
    assert len(new_trains) == 200 and old_trains.keys() == new_trains.keys()
    assert sum(len(st) for st in new_trains.values()) == len(recording.block.segments[0].spiketrains.multiplexed[1]) > 0
    for key, theirs in old_trains.items():
        ours = new_trains[key]
        assert ours.magnitude.tobytes() == theirs.magnitude.tobytes() and ours.dtype == theirs.dtype == np.float64  # bit for bit
        assert ours.units == theirs.units and ours.t_start == theirs.t_start and ours.t_stop == theirs.t_stop
        assert ours.annotations == theirs.annotations
    assert [st.annotations["channel_id"] for st in new.segments[0].spiketrains] == [
        st.annotations["channel_id"] for st in old.segments[0].spiketrains
    ]
    (old_v,), (new_v,) = old.segments[0].analogsignals, new.segments[0].analogsignals
    assert new_v.shape == old_v.shape == (old_v.shape[0], 6) and np.array_equal(new_v.magnitude, old_v.magnitude)
    assert new_v.units == old_v.units and new_v.sampling_rate == old_v.sampling_rate and new_v.t_start == old_v.t_start
    assert np.array_equal(new_v.annotations["channel_ids"], old_v.annotations["channel_ids"])
    assert new.name == old.name and new.annotations == old.annotations and new.rec_datetime == old.rec_datetime
    assert (new_dir / results.RECORDING_FILE).stat().st_size * 3 < (old_dir / results.MAT_RECORDING_FILE).stat().st_size


def test_recording_h5_reads_with_h5py_alone_as_its_layout_says(compose_cfg, tmp_path, monkeypatch):
    recording = simulated(compose_cfg)
    results.write_recording(recording.block, tmp_path)
    # the one-liner of launcher/run/h5file.py and docs/outputs.md, run as written in the run directory
    [(_, language, one_liner)] = doc_blocks("recording.h5")
    assert language == "python" and one_liner.startswith("import h5py")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(one_liner, namespace)
    s, trains = namespace["s"], namespace["trains"]
    for population in ("exc", "inh"):
        label = f"V1_{population}"
        by_index = {int(i): t for p, i, t in zip(s["source_population"][:], s["source_index"][:], trains) if p.decode() == label}
        times = recording.spike_times(population)
        assert len(by_index) == len(times) and all(np.array_equal(by_index[i], t) for i, t in enumerate(times))
    assert list(s["channel_id"][:]) == list(recording.block.segments[0].spiketrains.all_channel_ids)


@pytest.mark.parametrize("cells", [5, 0])
def test_spike_cells_saves_the_spikes_of_the_first_cells_or_none_and_leaves_the_metrics(compose_cfg, tmp_path, cells):
    full, part = tmp_path / "full", tmp_path / "part"
    run(compose_cfg(*SMALL), full, overrides=[])
    run(compose_cfg(*SMALL, f"sheets.V1.recording.spike_cells={cells}"), part, overrides=[])
    assert results.read_results(part)["metrics"] == results.read_results(full)["metrics"]
    all_trains, kept = spike_trains(results.read_recording(full)), spike_trains(results.read_recording(part))
    assert sorted(kept) == sorted((f"V1_{p}", i) for p in ("exc", "inh") for i in range(cells))
    assert all(np.array_equal(st.magnitude, all_trains[key].magnitude) for key, st in kept.items())
    if cells:
        assert sum(len(st) for st in kept.values()) > 0
    v = results.read_recording(part).segments[0].analogsignals
    assert [sig.shape for sig in v] == [sig.shape for sig in results.read_recording(full).segments[0].analogsignals]
    assert (part / "recording.h5").stat().st_size < (full / "recording.h5").stat().st_size
