"""The default model as a task: build the V1 sheet, simulate, keep the recording, return its single values.

Named by ``conf/model/vogels_abbott.yaml`` (``task: {_target_: launcher.model.task.run}``)
and run by :func:`launcher.app.run` like any other model: it only returns its
metrics; the job's record (``results.json``) is the launchers' business. It adds
to that record what only it knows: the simulator, the population sizes and where
its time went.
"""

from __future__ import annotations

import time
from typing import Any

from omegaconf import DictConfig

from launcher.run import results
from launcher.run.job import current_record, current_run_dir


def run(cfg: DictConfig) -> dict[str, float]:
    """Simulate the tree ``cfg`` (the default model's) in the job's run directory; its single values."""
    from launcher.model.analysis import single_values
    from launcher.model.network import first_cells, simulate
    from launcher.model.simulator import simulator_session, simulator_version

    record = current_record()
    timings: dict[str, Any] = record.setdefault("timings", {})
    record["simulator"] = cfg.simulator
    record["simulator_version"] = simulator_version(cfg.simulator)
    t0 = time.perf_counter()
    with simulator_session(cfg) as sim:
        timings["setup_s"] = round(time.perf_counter() - t0, 3)
        recording = simulate(sim, cfg)
    timings["simulate_s"] = round(time.perf_counter() - t0 - timings["setup_s"], 3)

    t1 = time.perf_counter()
    results.write_recording(first_cells(recording.block, cfg.sheets.V1.recording.spike_cells), current_run_dir())
    record["population_sizes"] = recording.sizes
    metrics = single_values(recording.spike_times("exc"), recording.spike_times("inh"), recording.t_start, recording.t_stop)
    timings["analysis_s"] = round(time.perf_counter() - t1, 3)
    return metrics


def warm_up(cfg: DictConfig) -> None:
    """Import what a first job imports (the network, its analysis, the simulator backend), e.g. in a
    local worker process while the sweep still plans its jobs."""
    import launcher.model.analysis  # noqa: F401
    import launcher.model.network  # noqa: F401
    from launcher.model.simulator import load_backend

    simulator = cfg.get("simulator")
    if isinstance(simulator, str):
        load_backend(simulator)
