"""The default model on the real simulator (PyNN on NEST), small and short where possible."""

import importlib.metadata
import json
import math

import numpy as np
import pytest

from launcher.run import results
from launcher.app import run
from launcher.model.network import population_sizes
from support import SMALL


def spikes(run_dir):
    block = results.read_recording(run_dir)
    trains = block.segments[0].spiketrains
    key = lambda st: (st.annotations["source_population"], st.annotations["source_index"])
    return [(key(st), st.magnitude.copy()) for st in sorted(trains, key=key)]


def same_spikes(a, b):
    return len(a) == len(b) and all(ka == kb and np.array_equal(ta, tb) for (ka, ta), (kb, tb) in zip(a, b))


def test_population_sizes_follow_density_and_area(compose_cfg):
    sheet = compose_cfg("sheets.V1.density=4000", "sheets.V1.sx=500", "sheets.V1.sy=500").sheets.V1
    assert population_sizes(sheet) == {"exc": 800, "inh": 200}
    assert population_sizes(compose_cfg("sheets.V1.density=1").sheets.V1) == {"exc": 1, "inh": 0}


def test_small_network_runs_and_writes_every_output(compose_cfg, tmp_path):
    run(compose_cfg(*SMALL), tmp_path, overrides=["x=1"])
    record = results.read_results(tmp_path)
    assert record["state"] == "completed"
    m = record["metrics"]
    assert set(m) == {"rate_exc_hz", "rate_inh_hz", "cv_isi", "synchrony_chi", "active_fraction"}
    assert 1 < m["rate_exc_hz"] < 200 and 0 < m["active_fraction"] <= 1
    assert all(isinstance(v, float) for v in m.values())
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["state"] == "completed" and on_disk["overrides"] == ["x=1"]
    assert on_disk["population_sizes"] == {"exc": 160, "inh": 40}
    assert on_disk["versions"]["nest"] and on_disk["versions"]["pyNN"]
    for key in ("config_hash", "timings", "host", "code", "simulator"):
        assert key in on_disk
    # the simulator that ran the job, and its version (not just whatever NEST is installed)
    assert on_disk["simulator"] == "nest"
    assert on_disk["simulator_version"] == importlib.metadata.version("nest-simulator")
    assert (tmp_path / results.PARAMETERS_FILE).read_text().count("${") == 0  # resolved
    block = results.read_recording(tmp_path)
    trains = block.segments[0].spiketrains
    assert len(trains) == 200
    assert {st.annotations["source_population"] for st in trains} == {"V1_exc", "V1_inh"}
    assert len(block.segments[0].analogsignals) >= 1  # v of the first cells


def test_same_seed_same_spikes_other_seed_other_spikes(compose_cfg, tmp_path):
    # Runs in one process, one after the other, as Hydra's basic launcher does:
    # the third run must not see anything of the first two.
    run(compose_cfg(*SMALL, "pynn_seed=11"), tmp_path / "a", overrides=[])
    run(compose_cfg(*SMALL, "pynn_seed=12"), tmp_path / "b", overrides=[])
    run(compose_cfg(*SMALL, "pynn_seed=11"), tmp_path / "c", overrides=[])
    a, b, c = (spikes(tmp_path / d) for d in "abc")
    assert sum(len(t) for _, t in a) > 0
    assert same_spikes(a, c)
    assert not same_spikes(a, b)


@pytest.mark.parametrize("density", [0, 1, 2, 3])
def test_degenerate_sheets_run_and_report_nan(compose_cfg, tmp_path, density):
    run(compose_cfg(f"sheets.V1.density={density}", "experiment.spontaneous_duration=50"), tmp_path, overrides=[])
    record = results.read_results(tmp_path)
    assert record["state"] == "completed"
    if density <= 1:  # synchrony needs two cells
        assert math.isnan(record["metrics"]["synchrony_chi"])
    if density == 0:
        assert all(math.isnan(v) for v in record["metrics"].values())
    json.loads((tmp_path / "results.json").read_text())


def test_a_failing_job_records_failure_and_no_stale_success(compose_cfg, tmp_path, monkeypatch):
    run(compose_cfg("sheets.V1.density=2", "experiment.spontaneous_duration=10"), tmp_path, overrides=[])
    assert results.read_results(tmp_path)["state"] == "completed"

    def broken(sim, cfg):
        raise RuntimeError("simulator exploded")

    monkeypatch.setattr("launcher.model.network.simulate", broken)
    with pytest.raises(RuntimeError):
        run(compose_cfg("sheets.V1.density=2", "experiment.spontaneous_duration=10"), tmp_path, overrides=[])
    record = results.read_results(tmp_path)
    assert record["state"] == "failed" and "simulator exploded" in record["error"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_ctrl_c_that_the_job_turned_into_another_error_still_stops_the_sweep(compose_cfg, tmp_path, monkeypatch):
    # As when Ctrl-C cuts an import of quantities short and its half-made module then fails
    # while the KeyboardInterrupt is handled: the job records the interrupt and raises it,
    # so that the launcher stops the sweep instead of going on to the next job.
    def interrupted(sim, cfg):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise AttributeError("'numpy.ndarray' object has no attribute 'dimensionality'")

    monkeypatch.setattr("launcher.model.network.simulate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(compose_cfg("sheets.V1.density=2", "experiment.spontaneous_duration=10"), tmp_path, overrides=[])
    record = results.read_results(tmp_path)
    assert record["state"] == "failed"
    assert record["error"].startswith("KeyboardInterrupt") and "AttributeError" in record["error"], record["error"]


@pytest.mark.slow
def test_default_model_shows_sustained_plausible_activity(compose_cfg, tmp_path):
    cfg = compose_cfg()
    run(cfg, tmp_path, overrides=[])
    record = results.read_results(tmp_path)
    m = record["metrics"]
    t_end = cfg.experiment.kick.duration + cfg.experiment.spontaneous_duration
    assert 1 < m["rate_exc_hz"] < 100, m
    assert 1 < m["rate_inh_hz"] < 100, m
    # activity sustained over the whole spontaneous period, not only just after the kick
    late = [t[t > t_end - 200] for _, t in spikes(tmp_path)]
    assert sum(len(t) for t in late) > 0
    assert m["cv_isi"] > 0.5 and m["active_fraction"] > 0.5


def connection_pairs(projection) -> np.ndarray:
    """The (source index, target index) pairs of a projection, as PyNN itself lists them."""
    return np.asarray(projection.get([], format="list"), dtype=float)[:, :2].astype(np.int64).reshape(-1, 2)


def test_no_two_projections_share_more_connections_than_chance(compose_cfg):
    """Each projection of the default network draws its own connections (network.random_stream):
    two projections share no more (source, target) index pairs than independent draws would.
    With one RNG handed to every connector, PyNN 0.13 copies it and they all share every pair."""
    from launcher.model.network import build
    from launcher.model.simulator import simulator_session

    cfg = compose_cfg("sheets.V1.density=300")  # the default model's projections, a third of its cells (the copies show at any size)
    with simulator_session(cfg) as sim:
        network = build(sim, cfg)
        sizes = {name: (p.pre.size, p.post.size) for name, p in network.projections.items()}
        pairs = {name: connection_pairs(p) for name, p in network.projections.items()}
    assert set(pairs) == {"connections/exc_exc", "connections/exc_inh", "connections/inh_exc", "connections/inh_inh",
                          "kick/exc", "kick/inh"}
    names = sorted(pairs)
    for a_i, a in enumerate(names):
        for b in names[a_i + 1:]:
            # The index pairs both projections could hold, and how many of them each holds.
            rows, cols = min(sizes[a][0], sizes[b][0]), min(sizes[a][1], sizes[b][1])
            in_a, in_b = (pairs[name][(pairs[name][:, 0] < rows) & (pairs[name][:, 1] < cols)] @ [cols, 1] for name in (a, b))
            expected = len(in_a) * len(in_b) / (rows * cols)  # independent draws
            shared = len(np.intersect1d(in_a, in_b))
            assert len(in_a) and len(in_b), (a, b)  # each projection has pairs where they overlap
            assert shared <= expected + 6 * math.sqrt(expected) + 5, (a, b, shared, expected, len(in_a), len(in_b))


def test_no_inhibitory_spike_train_copies_an_excitatory_one(compose_cfg, tmp_path):
    """In recording.h5 of a run, the spike train of inhibitory cell i is not that of excitatory
    cell i (with a connector RNG shared by every projection, most of them were)."""
    run(compose_cfg("sheets.V1.density=1000"), tmp_path, overrides=[])
    block = results.read_recording(tmp_path)
    by_cell = {(st.annotations["source_population"], int(st.annotations["source_index"])): st.magnitude
               for st in block.segments[0].spiketrains}
    inhibitory = {i: t for (pop, i), t in by_cell.items() if pop == "V1_inh" and len(t)}
    assert len(inhibitory) > 20  # enough active cells for the check to mean something
    copies = [i for i, t in inhibitory.items() if np.array_equal(t, by_cell[("V1_exc", i)])]
    assert copies == []


def test_random_streams_are_fixed_by_seed_and_name():
    from launcher.model.network import random_stream

    draw = lambda seed, name: random_stream(seed, name).next(5, "uniform", {"low": 0.0, "high": 1.0})
    assert np.array_equal(draw(3, "connections/exc_exc"), draw(3, "connections/exc_exc"))
    assert not np.array_equal(draw(3, "connections/exc_exc"), draw(3, "connections/exc_inh"))
    assert not np.array_equal(draw(3, "connections/exc_exc"), draw(4, "connections/exc_exc"))


def test_simulator_version_names_the_backend_simulator():
    from launcher.model.simulator import simulator_version

    assert simulator_version("nest") == importlib.metadata.version("nest-simulator")
    assert simulator_version("no_such_simulator") is None


def test_the_simulator_is_imported_without_pynns_doomed_build_of_its_nest_extensions(tmp_path):
    """PyNN 0.13 runs cmake at every import of its NEST backend whose extensions are not installed
    (NEST from PyPI: none), with a compiler the wheel names and the machine lacks: 0.3 s of CPU a job
    process, CMake files written. A nest-config and a cmake of the test's own on PATH (PyNN builds
    only where it finds a nest-config): the cmake records whether it ran. PATH is the caller's again
    after the import."""
    import os
    import subprocess
    import sys

    from support import REPO

    tools, fake = tmp_path / "nest", tmp_path / "bin"
    for folder, program, script in ((tools, "nest-config", "echo g++"), (fake, "cmake", f"touch {tmp_path / 'cmake-ran'}")):
        folder.mkdir()
        (folder / program).write_text(f"#!/bin/sh\n{script}\nexit 1\n")
        (folder / program).chmod(0o755)
    ran = tmp_path / "cmake-ran"
    code = (
        "import os; path = os.environ['PATH']; "
        "from launcher.model.simulator import load_backend; load_backend('nest'); "
        "assert os.environ['PATH'] == path, 'PATH not restored'"
    )
    env = {**os.environ, "PATH": os.pathsep.join([str(fake), str(tools), os.environ["PATH"]]), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not ran.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "nest"]  # nothing built in the working directory either
