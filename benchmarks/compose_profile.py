"""Time per job of Hydra's full composition vs :class:`launcher.sweep.compose.JobComposer`.

    python3 benchmarks/compose_profile.py [--jobs 200]

Builds the master config of a multirun as Hydra does, then composes the same
jobs (a 3-key grid: density x exc_weight x seed) both ways and prints the
median, mean and 95th percentile per job in milliseconds.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path
from typing import Callable, List

from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode

import launcher  # noqa: F401  (registers the schema and the run_dirname resolver)
from launcher.sweep.compose import JobComposer

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def jobs(n: int) -> List[List[str]]:
    grid = itertools.product(range(1, 1000), (0.002, 0.004, 0.006), (1, 2))
    return [
        [f"sheets.V1.density={d}", f"sheets.V1.connectivity.exc_weight={w}", f"pynn_seed={s}"]
        for d, w, s in itertools.islice(grid, n)
    ]


def timed(compose: Callable[[List[str]], object], batch: List[List[str]]) -> List[float]:
    times = []
    for overrides in batch:
        tic = time.perf_counter()
        compose(overrides)
        times.append((time.perf_counter() - tic) * 1e3)
    return times


def report(name: str, times: List[float]) -> None:
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    print(f"{name:<6} median {statistics.median(times):8.3f} ms  mean {statistics.fmean(times):8.3f} ms  p95 {p95:8.3f} ms  (n={len(times)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        gh = GlobalHydra.instance()
        assert gh.hydra is not None
        master = gh.hydra.compose_config(
            "config", overrides=["hydra.mode=MULTIRUN", "sheets.V1.density=1,2"], run_mode=RunMode.MULTIRUN
        )
        loader = gh.config_loader()
        batch = jobs(args.jobs)
        composer = JobComposer(loader, master)
        composer.compose(batch[0])  # builds the base: one full composition, once per sweep
        report("full", timed(lambda o: loader.load_sweep_config(master, o), batch))
        report("fast", timed(composer.compose, batch))
        print(f"composer counters: fast={composer.fast} full={composer.full}")


if __name__ == "__main__":
    main()
