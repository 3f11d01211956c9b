"""recording.mat: Neo's MATLAB format, written by a fast encoder that must match Neo's own writer."""

from datetime import datetime

import neo
import numpy as np
import pytest
import quantities as pq
from neo.core import ChannelView

from launcher import results
from launcher.app import run
from support import SMALL


def neo_bytes(block, path):
    neo.io.NeoMatlabIO(str(path)).write_block(block)
    return path.read_bytes()


def encoded(block, tmp_path):
    """The bytes of the fast encoder alone (it raises on what it does not cover)."""
    return results._mat5_file({"block": results._neo_matlab_struct(neo.io.NeoMatlabIO(str(tmp_path / "x.mat")), block)})


def assert_same_file_as_neo(block, tmp_path):
    ours = encoded(block, tmp_path)
    assert results.write_recording(block, tmp_path).read_bytes()[116:] == ours[116:]
    theirs = neo_bytes(block, tmp_path / "neo.mat")
    # the first 116 bytes are the header's text, with the time of writing
    assert ours[:30] == theirs[:30] == b"MATLAB 5.0 MAT-file Platform: "
    assert ours[116:] == theirs[116:]


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


def test_recording_of_a_real_run_is_neo_s_own_file_and_reads_back(compose_cfg, tmp_path):
    record = run(compose_cfg(*SMALL, "sheets.V1.recording.v_cells=3"), tmp_path / "run", overrides=[])
    assert record["state"] == "completed"
    block = results.read_recording(tmp_path / "run")
    trains = block.segments[0].spiketrains
    assert len(trains) == 200
    assert sorted((st.annotations["source_population"], st.annotations["source_index"]) for st in trains) == sorted(
        [("V1_exc", i) for i in range(160)] + [("V1_inh", i) for i in range(40)]
    )
    assert sum(len(st) for st in trains) > 0
    v = block.segments[0].analogsignals
    assert sum(sig.shape[1] for sig in v) == 6 and all(sig.units == pq.mV for sig in v)
    # the file holds exactly what Neo's writer writes for the block the simulator returned
    from launcher.simulator import simulator_session
    from launcher.model.network import simulate

    cfg = compose_cfg(*SMALL)
    with simulator_session(cfg) as sim:
        recording = simulate(sim, cfg)
    assert_same_file_as_neo(recording.block, tmp_path)


def test_encoder_matches_neo_s_writer_on_odd_blocks(tmp_path):
    block = odd_block()
    assert_same_file_as_neo(block, tmp_path)
    back = results.read_recording(tmp_path)
    st = back.segments[0].spiketrains[0]
    assert np.array_equal(st.magnitude, [1.5, 2.5]) and st.units == pq.s
    assert st.annotations["source_population"] == "V1_exc" and st.annotations["source_index"] == 7
    assert st.annotations["none"] is None and st.annotations["nested"]["b"]["c"] == "x"
    assert back.name == "bl\u00f6ck" and len(back.segments) == 2 and len(back.groups) == 1
    assert back.segments[0].analogsignals[0].shape == (4, 3)


@pytest.mark.parametrize(
    "annotations",
    [
        {"strings": np.array(["a", "b"])},  # a string array (as the labels of a neo.Event)
        {"_private": 1},  # a field name scipy skips
        {"complex": 1 + 2j},
        {"mixed": [{"a": 1}, 2]},
        {"annotation_name_of_32_characters": 1},  # too long for MATLAB: scipy refuses it
    ],
)
def test_what_the_encoder_does_not_cover_is_written_by_neo_s_writer(tmp_path, annotations):
    block = neo.Block()
    block.segments.append(neo.Segment())
    block.segments[0].spiketrains.append(neo.SpikeTrain([1.0] * pq.ms, t_stop=2 * pq.ms, **annotations))
    with pytest.raises(results._NotEncodable):
        encoded(block, tmp_path)
    try:
        theirs = neo_bytes(block, tmp_path / "neo.mat")
    except Exception as exc:  # what scipy refuses, write_recording refuses the same way
        with pytest.raises(type(exc)):
            results.write_recording(block, tmp_path)
    else:
        assert results.write_recording(block, tmp_path).read_bytes()[116:] == theirs[116:]
