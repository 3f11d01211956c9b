"""One job: validate the tree, simulate, analyse, write the run directory.

:func:`run` is the only thing ``run_sim.py`` calls; tests call it directly with
a composed config and a directory. :func:`recorded_job` is the life cycle of a
job's ``results.json``, shared with the task that runs external mozaik scripts
(:mod:`launcher.external`).
"""

from __future__ import annotations

import logging
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf

from launcher import results
from launcher.manifest import now
from launcher.tree import config_hash, resolved_tree, validate_tree

log = logging.getLogger(__name__)


def job_location(run_dir: Path | str | None, overrides: Sequence[str] | None) -> tuple[Path, list[str]]:
    """Run directory and overrides of a job: as given, else those of the current Hydra job."""
    from hydra.core.hydra_config import HydraConfig

    if run_dir is None or overrides is None:
        if not HydraConfig.initialized():
            raise ValueError("a run directory and overrides are needed outside a Hydra job")
        hydra_cfg = HydraConfig.get()
        run_dir = run_dir if run_dir is not None else hydra_cfg.runtime.output_dir
        overrides = overrides if overrides is not None else OmegaConf.to_container(hydra_cfg.overrides.task)
    return Path(run_dir), list(overrides)  # type: ignore[arg-type]


@contextmanager
def recorded_job(cfg: DictConfig, run_dir: Path, overrides: Sequence[str], **fields: Any) -> Iterator[dict[str, Any]]:
    """The job's record, written to ``results.json`` when the block ends, whatever happens.

    The block fills in ``metrics`` and anything else it learns. The record's
    state is ``completed`` if the block returns, ``failed`` (with the error) if
    it raises, even on KeyboardInterrupt or SystemExit; the exception goes on (a
    Ctrl-C that the interrupted code turned into another error goes on as the
    KeyboardInterrupt it was).
    A ``results.json`` left by an earlier attempt is removed first, so this
    attempt never looks finished before it is.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / results.RESULTS_FILE).unlink(missing_ok=True)
    record: dict[str, Any] = {
        "state": "running",
        "metrics": {},
        "overrides": list(overrides),
        "config_hash": config_hash(cfg),
        **fields,
        **results.host_info(),
        "code": results.code_version(),
        "timings": {"started": now()},
    }
    t0 = time.perf_counter()
    try:
        yield record
        record["state"] = results.COMPLETED
    except BaseException as exc:  # a killed or interrupted job is recorded as failed too
        record["state"] = results.FAILED
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
        interrupted = _interrupt_behind(exc)
        if interrupted:
            record["error"] = f"KeyboardInterrupt (then, while it was handled: {record['error']})"
        log.error("Job failed: %s\n%s", record["error"], record["traceback"])
        if interrupted:
            # Ctrl-C stops the sweep, not just this job, however the interrupted code reacted.
            raise KeyboardInterrupt from exc
        raise
    finally:
        record["timings"]["total_s"] = round(time.perf_counter() - t0, 3)
        record["timings"]["finished"] = now()
        results.write_json_atomic(run_dir / results.RESULTS_FILE, record)


def _interrupt_behind(exc: BaseException) -> bool:
    """Whether a Ctrl-C is behind another error: code interrupted half-way may fail differently
    while the KeyboardInterrupt is being handled (seen: an import of ``quantities`` cut short
    raising AttributeError), and the launcher would then go on to the next job."""
    seen = {id(exc)}
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return not isinstance(exc, KeyboardInterrupt)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def run(cfg: DictConfig, run_dir: Path | str | None = None, overrides: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the model described by ``cfg`` and write its outputs into ``run_dir``.

    ``run_dir`` and ``overrides`` default to those of the current Hydra job.
    Returns the content of ``results.json``. On failure a ``results.json`` with
    state ``failed`` and the error is written, and the exception propagates.
    """
    run_dir, overrides = job_location(run_dir, overrides)
    validate_tree(cfg)
    from launcher.simulator import simulator_session, versions

    with recorded_job(cfg, run_dir, overrides, simulator=cfg.simulator, versions=versions(cfg.simulator)) as record:
        timings = record["timings"]
        t0 = time.perf_counter()
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
    log.info("Metrics: %s", record["metrics"])
    return record
