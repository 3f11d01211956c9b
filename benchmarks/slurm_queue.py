"""Time to queue a large sweep on the live Slurm cluster: stock Hydra + hydra-submitit-launcher
against this project, in one run, and the memory of the submitting process.

- this project: ``run_sim.py -m`` over a grid of N jobs (four parameters, N**(1/4)
  values each: 10,000 by default) with ``hydra/launcher=submitit_slurm
  hydra.launcher.wait=false``: the time until the command returns, every array queued;
- stock: Hydra's basic sweeper and stock hydra-submitit-launcher
  (``hydra/launcher=stock_submitit_slurm``) over a grid of M jobs (625 by default:
  stock submits one array, refused past the cluster's MaxArraySize, 1001 by
  default, and then fails; the run says so): the time until
  ``squeue`` shows all M tasks (stock then waits for them: it is stopped there).

Jobs are submitted held (``--hold``) and cancelled afterwards: nothing runs.
Prints the figures; the last line is a JSON object of them.

    python benchmarks/slurm_queue.py [--jobs 10000] [--stock-jobs 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELD = "+hydra.launcher.additional_parameters.hold=true"


def grid(jobs: int) -> list[str]:
    """Four swept keys whose product is ``jobs`` (10 values each for 10,000)."""
    side = round(jobs ** 0.25)
    if side**4 != jobs:
        raise SystemExit(f"--jobs must be a fourth power (e.g. 10000, 1296, 256), not {jobs}")
    values = ",".join(str(0.001 * (i + 1)) for i in range(side))
    return [
        f"sheets.V1.connectivity.exc_weight={values}",
        f"sheets.V1.connectivity.inh_weight={values}",
        f"sheets.V1.connectivity.probability={values}",
        f"pynn_seed=range(1,{side + 1})",
    ]


def queued(name: str) -> int:
    proc = subprocess.run(["squeue", "--noheader", "--array", "--name", name, "--format=%i"], capture_output=True, text=True)
    return len(proc.stdout.split())


def cancel(name: str) -> None:
    subprocess.run(["scancel", "--name", name], check=False)
    while queued(name):
        time.sleep(1)


def ours(work: Path, jobs: int) -> dict:
    name = "bench_ours"
    command = [
        sys.executable, str(REPO / "run_sim.py"), "-m", *grid(jobs), f"name={name}",
        "hydra/launcher=submitit_slurm", "hydra.launcher.wait=false", HELD, f"hydra.sweep.dir={work / 'ours'}",
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    n = queued(name)
    cancel(name)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return {"jobs": jobs, "queued": n, "seconds": round(elapsed, 1), "peak_rss_mb": round(rss_mb)}


def stock(work: Path, jobs: int, timeout_s: float) -> dict:
    name = "bench_stock"
    command = [
        sys.executable, str(REPO / "run_sim.py"), "-m", *grid(jobs), f"name={name}", "hydra/sweeper=basic",
        "hydra/launcher=stock_submitit_slurm", f"hydra.launcher.name={name}", HELD, f"hydra.sweep.dir={work / 'stock'}",
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = None
    while time.perf_counter() - start < timeout_s and proc.poll() is None:
        if queued(name) >= jobs:
            elapsed = time.perf_counter() - start
            break
        time.sleep(0.5)
    proc.kill()
    proc.wait()
    cancel(name)
    return {"jobs": jobs, "seconds": round(elapsed, 1) if elapsed else None, "exit_code_if_ended": proc.returncode}


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--stock-jobs", type=int, default=625)
    parser.add_argument("--stock-timeout", type=float, default=900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        mine = ours(work, args.jobs)
        print(f"this project: {mine['jobs']} jobs queued in {mine['seconds']} s, peak memory {mine['peak_rss_mb']} MB")
        theirs = stock(work, args.stock_jobs, args.stock_timeout)
        if theirs["seconds"] is None:
            print(f"stock: {theirs['jobs']} jobs never all queued (exit code {theirs['exit_code_if_ended']}; "
                  "a single array larger than MaxArraySize is refused)")
        else:
            print(f"stock: {theirs['jobs']} jobs queued in {theirs['seconds']} s")
        figures = {"ours": mine, "stock": theirs}
        if theirs["seconds"]:
            per_job = (theirs["seconds"] / theirs["jobs"]) / (mine["seconds"] / mine["jobs"])
            figures["stock_over_ours_per_job"] = round(per_job, 1)
            print(f"per job, stock takes {per_job:.1f} times as long to queue")
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
