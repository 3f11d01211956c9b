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

``--large N`` also runs this project's sweep of N jobs (e.g. 100,000) after the others, once:
its cost per job against the ``--jobs`` sweep's tells whether the bookkeeping (the manifest and
its journal) costs the same a job at any size (``large_over_small``; the target is at most 2).
``--tree DIR`` runs this project's sweeps from another checkout (e.g. the code before a change).

    python benchmarks/dispatch.py --jobs 1000 --stock-jobs 5 --repeats 1 --large 100000 --dir /dev/shm
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

NOOP_APP = """
import hydra
import launcher  # the project's schema, resolver and plugins


@hydra.main(version_base="1.3", config_path={conf!r}, config_name="config")
def main(cfg):
    return None


if __name__ == "__main__":
    main()
"""

VARIANTS = {
    "stock_hydra": ["hydra/sweeper=basic", "hydra/launcher=basic"],
    "this_project": [],
}


def sweep_seconds(app: Path, work: Path, variant: list[str], jobs: int, tree: Path = REPO) -> float:
    """Wall time of a sweep of ``jobs`` no-op jobs, in a fresh directory it leaves behind only while it runs."""
    sweep_dir = Path(tempfile.mkdtemp(dir=work))
    command = [
        sys.executable, str(app), "-m", f"pynn_seed=range(1,{jobs + 1})", *variant, f"hydra.sweep.dir={sweep_dir}",
    ]
    if not variant:  # this project's sweeper refuses more than 100,000 jobs unless told
        command.append(f"hydra.sweeper.max_jobs={max(jobs, 100_000)}")
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    shutil.rmtree(sweep_dir)  # 100,000 run directories are gigabytes in /dev/shm
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs of this project's sweep")
    parser.add_argument("--stock-jobs", type=int, default=50, help="jobs of stock Hydra's sweep (~0.2 s each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the sweeps write (default: the system's temporary directory)")
    parser.add_argument("--large", type=int, default=0, help="also this project's sweep of this many jobs, once")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout of this project to measure (default: this one)")
    args = parser.parse_args()
    jobs = {"stock_hydra": args.stock_jobs, "this_project": args.jobs}
    tree = args.tree.resolve()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        print(f"sweeps under {work}", flush=True)
        app = work / "noop_app.py"
        app.write_text(NOOP_APP.format(conf=str(tree / "conf")))
        per_job: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for repeat in range(args.repeats):
            for name, variant in VARIANTS.items():
                one = sweep_seconds(app, work, variant, 1, tree)
                many = sweep_seconds(app, work, variant, jobs[name], tree)
                per_job[name].append((many - one) / (jobs[name] - 1) * 1000)
                print(f"repeat {repeat + 1}, {name:>12}: {jobs[name]} jobs in {many:.2f} s, 1 job in {one:.2f} s "
                      f"-> {per_job[name][-1]:.2f} ms per job", flush=True)
        figures: dict[str, float] = {}
        for name in VARIANTS:
            figures[f"{name}_per_job_ms"] = round(statistics.median(per_job[name]), 2)
            figures[f"{name}_jobs"] = jobs[name]
        ratio = figures["stock_hydra_per_job_ms"] / figures["this_project_per_job_ms"]
        figures["stock_over_project"] = round(ratio, 1)
        if args.large:
            one = sweep_seconds(app, work, [], 1, tree)
            large = sweep_seconds(app, work, [], args.large, tree)
            figures["large_jobs"] = args.large
            figures["large_per_job_ms"] = round((large - one) / (args.large - 1) * 1000, 2)
            figures["large_over_small"] = round(figures["large_per_job_ms"] / figures["this_project_per_job_ms"], 2)
            print(f"this project, {args.large} jobs in {large:.1f} s, 1 job in {one:.2f} s -> {figures['large_per_job_ms']:.2f} ms "
                  f"per job, {figures['large_over_small']:.2f} times the {args.jobs}-job sweep's", flush=True)
        figures["repeats"] = args.repeats
        figures["tree"] = str(tree)
        figures["dir"] = str(Path(tmp).parent)
        print(f"medians: stock Hydra {figures['stock_hydra_per_job_ms']:.2f} ms per job, this project "
              f"{figures['this_project_per_job_ms']:.2f} ms per job: stock spends {ratio:.1f} times more per job")
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
