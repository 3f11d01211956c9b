"""Packed Slurm tasks against one task per job and against the local parallel launcher, on the
same jobs, in one run, on the live Slurm cluster.

The jobs: N runs of the tiny network (``sheets.V1.density=1``, ``pynn_seed=range(1,N+1)``,
200 by default), each sweep in a fresh sweep directory:

- packed: ``hydra/launcher=submitit_slurm hydra.launcher.jobs_per_task=auto`` (or ``--per-task K``);
- unpacked: ``hydra/launcher=submitit_slurm`` (one task per job, today's default);
- local parallel: ``hydra/launcher=local_parallel hydra.launcher.n_jobs=2`` (``--n-jobs``).

Wall time of each command, from its start to its return (every job ended, the table
collected); ``--repeat R`` runs the three R times, interleaved (each first in turn), and
reports medians. Each
sweep must end with every job completed. Prints the figures; the last line is a JSON
object of them (``packed_over_local_parallel``: the packed sweep's wall time over the local
parallel one's; the target is at most 1.3 for 200 jobs).

    python benchmarks/slurm_packing.py [--jobs 200] [--repeat 1] [--per-task auto] [--skip-unpacked]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sweep(work: Path, name: str, jobs: int, launcher: list[str]) -> float:
    """Run the sweep; its wall time in seconds (every job must complete)."""
    sweep_dir = work / name
    shutil.rmtree(sweep_dir, ignore_errors=True)
    command = [
        sys.executable, str(REPO / "run_sim.py"), "-m", f"pynn_seed=range(1,{jobs + 1})", "sheets.V1.density=1",
        *launcher, f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    states = [job["state"] for job in json.loads((sweep_dir / "manifest.json").read_text())["jobs"]]
    if states.count("completed") != jobs:
        raise SystemExit(f"{name}: {states.count('completed')} of {jobs} jobs completed")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200, help="jobs per sweep (seeds of the tiny network)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the three sweeps, interleaved; medians count")
    parser.add_argument("--per-task", default="auto", help="hydra.launcher.jobs_per_task of the packed sweep")
    parser.add_argument("--n-jobs", type=int, default=2, help="hydra.launcher.n_jobs of the local parallel sweep")
    parser.add_argument("--skip-unpacked", action="store_true", help="leave out the unpacked Slurm sweep (slow)")
    args = parser.parse_args()

    slurm = ["hydra/launcher=submitit_slurm", "hydra.launcher.mem_gb=1", "hydra.launcher.poll_interval_s=0.5"]
    sweeps = {
        "packed": [*slurm, f"hydra.launcher.jobs_per_task={args.per_task}"],
        "unpacked": slurm,
        "local_parallel": ["hydra/launcher=local_parallel", f"hydra.launcher.n_jobs={args.n_jobs}"],
    }
    if args.skip_unpacked:
        del sweeps["unpacked"]
    times: dict[str, list[float]] = {name: [] for name in sweeps}
    with tempfile.TemporaryDirectory(prefix="slurm_packing_") as tmp:
        work = Path(tmp)
        for repeat in range(args.repeat):
            names = list(sweeps)
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:  # each first in turn
                times[name].append(sweep(work, name, args.jobs, sweeps[name]))
                print(f"run {repeat + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.jobs} jobs of the tiny network, wall time (median of {args.repeat}):")
    for name, value in medians.items():
        print(f"  {name:15s} {value:7.1f} s  ({value / args.jobs * 1000:.0f} ms a job)")
    figures = {
        "jobs": args.jobs,
        "repeat": args.repeat,
        "jobs_per_task": args.per_task,
        "packed_s": round(medians["packed"], 2),
        "unpacked_s": round(medians["unpacked"], 2) if "unpacked" in medians else None,
        "local_parallel_s": round(medians["local_parallel"], 2),
        "packed_over_local_parallel": round(medians["packed"] / medians["local_parallel"], 3),
        "unpacked_over_local_parallel": round(medians["unpacked"] / medians["local_parallel"], 3) if "unpacked" in medians else None,
        "runs": {name: [round(v, 2) for v in values] for name, values in times.items()},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
