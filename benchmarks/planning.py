"""Planning time and peak memory of a value sweep, before its first job: 10^4, 10^5 and 10^6 jobs.

    python benchmarks/planning.py [--sizes 10000 100000 1000000] [--repeats 3] [--tree DIR]

Each sweep is a grid of two model values (``pynn_seed`` by ``sheets.V1.density``) planned with
``hydra.sweeper.plan=true`` (every job composed or planned, validated, named and hashed, the
listing printed; nothing runs), in a fresh process of its own, so that its peak resident memory
is its own: read from ``VmHWM`` in /proc/self/status as the process ends (``ru_maxrss`` of a
child is the largest of every child's, which Linux keeps across fork+exec). ``plan_s`` is the
command's wall time, Python's start and Hydra's included; ``per_job_us`` leaves those out:
(time of N jobs - time of 100 jobs) / (N - 100), and ``per_job_bytes`` the same of the peak memory
(100 jobs, not 1: a sweep of one job takes other paths, e.g. no duplicate check worth the name).
Figures are medians of the repeats; the last line is a JSON object of them (its top level: the
largest size). ``--tree`` measures another checkout (e.g. the code before a change).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The sweep whose time and memory the per-job figures leave out (Python's start, Hydra's, the imports).
BASE = 100

#: Runs run_sim.py as its command line would and reports the process's peak memory as it ends.
CHILD = """
import atexit, runpy, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("PEAK_KB", line.split()[1], file=sys.stderr, flush=True)
atexit.register(peak)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def grid(jobs: int) -> list[str]:
    """Two swept values whose product is ``jobs`` (as square as it goes)."""
    seeds = 1
    for divisor in range(1, int(jobs**0.5) + 1):
        if jobs % divisor == 0:
            seeds = divisor
    return [f"pynn_seed=range(1,{seeds + 1})", f"sheets.V1.density=range(1,{jobs // seeds + 1})"]


def plan_once(tree: Path, work: Path, jobs: int) -> tuple[float, float]:
    """Seconds and peak MB of planning a sweep of ``jobs`` jobs, in a process of its own."""
    sweep_dir = Path(tempfile.mkdtemp(dir=work)) / "sweep"
    command = [
        sys.executable, "-c", CHILD, str(tree / "run_sim.py"), "-m", *grid(jobs), "hydra.sweeper.plan=true",
        f"hydra.sweeper.max_jobs={max(jobs, 100_000)}", f"hydra.sweep.dir={sweep_dir}",
    ]
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "HOME": str(work)}
    tic = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - tic
    peaks = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_KB")]
    if done.returncode != 0 or not peaks:
        raise SystemExit(f"planning {jobs} jobs failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, int(peaks[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = {size: [plan_once(args.tree, work, size) for _ in range(args.repeats)] for size in [BASE, *args.sizes]}
    base_s = statistics.median(s for s, _ in runs[BASE])
    base_mb = statistics.median(mb for _, mb in runs[BASE])
    print(f"{'jobs':>9} {'plan s':>8} {'peak MB':>8} {'us/job':>7} {'bytes/job':>9}   (medians of {args.repeats}; {BASE} jobs: {base_s:.2f} s, {base_mb:.0f} MB)")
    for size in args.sizes:
        seconds = statistics.median(s for s, _ in runs[size])
        peak = statistics.median(mb for _, mb in runs[size])
        per_us = (seconds - base_s) / (size - BASE) * 1e6
        per_bytes = (peak - base_mb) * 1024 * 1024 / (size - BASE)
        figures[size] = {"jobs": size, "plan_s": round(seconds, 2), "peak_rss_mb": round(peak, 1),
                         "per_job_us": round(per_us, 1), "per_job_bytes": round(per_bytes)}
        print(f"{size:>9} {seconds:>8.2f} {peak:>8.0f} {per_us:>7.1f} {per_bytes:>9.0f}")
    largest = figures[max(figures)]
    print(json.dumps({**largest, "tree": str(args.tree), "repeats": args.repeats, "base_jobs": BASE, "base_s": round(base_s, 2),
                      "base_mb": round(base_mb, 1), "sizes": list(figures.values())}))


if __name__ == "__main__":
    main()
