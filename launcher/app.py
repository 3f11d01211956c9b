"""One job: validate the tree, simulate, analyse, write the run directory.

:func:`run` is the only thing ``run_sim.py`` calls; tests call it directly with
a composed config and a directory.
"""

from __future__ import annotations

import logging
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from launcher import results
from launcher.tree import config_hash, resolved_tree, validate_tree

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _hydra_job() -> tuple[Path | None, list[str]]:
    """Run directory and overrides of the current Hydra job, if there is one."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None, []
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.runtime.output_dir), list(OmegaConf.to_container(hydra_cfg.overrides.task))


def run(cfg: DictConfig, run_dir: Path | str | None = None, overrides: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the model described by ``cfg`` and write its outputs into ``run_dir``.

    ``run_dir`` and ``overrides`` default to those of the current Hydra job.
    Returns the content of ``results.json``. On failure a ``results.json`` with
    state ``failed`` and the error is written, and the exception propagates.
    """
    hydra_dir, hydra_overrides = _hydra_job()
    run_dir = Path(run_dir) if run_dir is not None else hydra_dir
    if run_dir is None:
        raise ValueError("run() needs a run directory outside a Hydra job")
    overrides = list(overrides) if overrides is not None else hydra_overrides

    validate_tree(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    # A stale marker from an earlier attempt must not make this one look finished.
    (run_dir / results.RESULTS_FILE).unlink(missing_ok=True)

    from launcher.simulator import simulator_session, versions

    record: dict[str, Any] = {
        "state": "running",
        "metrics": {},
        "overrides": overrides,
        "config_hash": config_hash(cfg),
        "simulator": cfg.simulator,
        "versions": versions(cfg.simulator),
        **results.host_info(),
        "code": results.code_version(),
        "timings": {"started": _now()},
    }
    timings = record["timings"]
    t0 = time.perf_counter()
    try:
        tree = resolved_tree(cfg)
        results.write_parameters(tree, run_dir)
        from launcher.model.analysis import single_values
        from launcher.model.network import simulate

        with simulator_session(cfg) as sim:
            timings["setup_s"] = round(time.perf_counter() - t0, 3)
            recording = simulate(sim, cfg)
        timings["simulate_s"] = round(time.perf_counter() - t0 - timings["setup_s"], 3)

        t1 = time.perf_counter()
        results.write_recording(recording.block, run_dir)
        record["population_sizes"] = recording.sizes
        record["metrics"] = single_values(
            recording.spike_times("exc"), recording.spike_times("inh"), recording.t_start, recording.t_stop
        )
        timings["analysis_s"] = round(time.perf_counter() - t1, 3)
        record["state"] = results.COMPLETED
    except BaseException as exc:  # a killed or interrupted job is recorded as failed too
        record["state"] = results.FAILED
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
        log.error("Job failed: %s\n%s", record["error"], record["traceback"])
        raise
    finally:
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        timings["finished"] = _now()
        results.write_json_atomic(run_dir / results.RESULTS_FILE, record)
    log.info("Metrics: %s", record["metrics"])
    return record
