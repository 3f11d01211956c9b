"""Per-job dispatch overhead of a sweep on a no-op task: stock Hydra against this project.

Runs, in one go and on the same no-op task (the project's config tree, a task
function that does nothing), sweeps of 1 and of N jobs with

- stock Hydra: the basic sweeper and the basic launcher (``hydra/sweeper=basic
  hydra/launcher=basic``);
- this project: its sweeper (validation, manifest, resume, collection) and its
  sequential launcher, as ``run_sim.py -m`` uses them.

Both write the same run directories (``.hydra/`` files and a job log each).

The overhead per job is (time of the N-job sweep - time of the 1-job sweep) / (N - 1),
so that start-up is left out. The sweeps of the two variants alternate, so that a
change in the machine's load falls on both; each figure is the median of the repeats.
Prints the figures; the last line is a JSON object of them.

    python benchmarks/dispatch.py [--jobs 1000] [--stock-jobs 50] [--repeats 3] [--dir DIR]

Every job writes a run directory (two directories, four files): on a slow or
busy disk that alone can cost milliseconds a job, and vary from run to run;
``--dir /dev/shm`` (memory) measures the dispatch itself.
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

NOOP_APP = f'''
import hydra
import launcher  # the project's schema, resolver and plugins


@hydra.main(version_base="1.3", config_path={str(REPO / "conf")!r}, config_name="config")
def main(cfg):
    return None


if __name__ == "__main__":
    main()
'''

VARIANTS = {
    "stock_hydra": ["hydra/sweeper=basic", "hydra/launcher=basic"],
    "this_project": [],
}


def sweep_seconds(app: Path, work: Path, variant: list[str], jobs: int) -> float:
    sweep_dir = Path(tempfile.mkdtemp(dir=work))
    command = [sys.executable, str(app), "-m", f"pynn_seed=range(1,{jobs + 1})", *variant, f"hydra.sweep.dir={sweep_dir}"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs of this project's sweep")
    parser.add_argument("--stock-jobs", type=int, default=50, help="jobs of stock Hydra's sweep (~0.2 s each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the sweeps write (default: the system's temporary directory)")
    args = parser.parse_args()
    jobs = {"stock_hydra": args.stock_jobs, "this_project": args.jobs}

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        print(f"sweeps under {work}", flush=True)
        app = work / "noop_app.py"
        app.write_text(NOOP_APP)
        per_job: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for repeat in range(args.repeats):
            for name, variant in VARIANTS.items():
                one = sweep_seconds(app, work, variant, 1)
                many = sweep_seconds(app, work, variant, jobs[name])
                per_job[name].append((many - one) / (jobs[name] - 1) * 1000)
                print(f"repeat {repeat + 1}, {name:>12}: {jobs[name]} jobs in {many:.2f} s, 1 job in {one:.2f} s "
                      f"-> {per_job[name][-1]:.2f} ms per job", flush=True)
        figures: dict[str, float] = {}
        for name in VARIANTS:
            figures[f"{name}_per_job_ms"] = round(statistics.median(per_job[name]), 2)
            figures[f"{name}_jobs"] = jobs[name]
        ratio = figures["stock_hydra_per_job_ms"] / figures["this_project_per_job_ms"]
        figures["stock_over_project"] = round(ratio, 1)
        figures["repeats"] = args.repeats
        figures["dir"] = str(Path(tmp).parent)
        print(f"medians: stock Hydra {figures['stock_hydra_per_job_ms']:.2f} ms per job, this project "
              f"{figures['this_project_per_job_ms']:.2f} ms per job: stock spends {ratio:.1f} times more per job")
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
