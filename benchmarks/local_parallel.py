"""Wall time of a sweep of 8 real simulations (1,000 neurons, seeds 1..8, default durations):

(s) stock Hydra: its basic sweeper and basic launcher (one job after the other,
    as a user of Hydra runs such a sweep today: the issue's sequential time),
(a) this project's sweeper with Hydra's basic launcher (one job after the other,
    with the same sweeper as (a'), (b), (c): the stricter comparison),
(a') ours, the default sequential launcher (one job after the other),
(b) hydra-joblib-launcher, n_jobs=2,
(c) ours, hydra/launcher=local_parallel, n_jobs=2,
(d) ours, n_jobs=2, with one of the 8 jobs made to segfault in the middle of its simulation
    (a wrapper app around the real model: no project file is changed),
(e) with --joblib-crash: (d) under hydra-joblib-launcher, for comparison.

Each sweep runs the real command line (``python run_sim.py -m ...``) into its own
sweep directory under a temporary directory. Prints the wall times, their ratios
to (s) and to (a), whether the metrics of all of them are identical to (a)'s, how
many jobs of (d) completed, and, as its last line, a JSON object of these figures.

    python benchmarks/local_parallel.py [--repeat N] [--joblib-crash] [--keep]

With ``--repeat N`` (s), (a), (a'), (b) and (c) run N times, interleaved (a change in the
machine's load falls on all of them); the figures are the median of each. Needs hydra-joblib-launcher (``pip install hydra-joblib-launcher``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SWEEP = ["sheets.V1.density=1000", "pynn_seed=1,2,3,4,5,6,7,8"]
LAUNCHERS = {
    "stock": ["hydra/sweeper=basic", "hydra/launcher=basic"],
    "basic": ["hydra/launcher=basic"],
    "sequential": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "local_parallel": ["hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"],
}
CRASH_SEED = 5

#: The real model, but the job of seed $BENCH_CRASH_SEED segfaults one second into its run.
#: Named run_sim.py, as the real one, so that the job name and log are the same.
CRASHING_APP = textwrap.dedent(
    f"""
    import os, signal, sys, threading

    sys.path.insert(0, {str(REPO)!r})  # this checkout's launcher, installed or not

    import hydra

    from launcher.app import run


    @hydra.main(version_base="1.3", config_path={str(REPO / "conf")!r}, config_name="config")
    def main(cfg):
        if cfg.pynn_seed == int(os.environ["BENCH_CRASH_SEED"]):
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGSEGV)).start()
        return run(cfg)


    if __name__ == "__main__":
        main()
    """
)


def sweep(script: Path, sweep_dir: Path, extra: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run one sweep; its wall time and exit code. Its start time (epoch) is kept in a file
    beside the sweep directory, for :func:`phases`."""
    command = [sys.executable, str(script), "-m", *SWEEP, *extra, f"hydra.sweep.dir={sweep_dir}"]
    (sweep_dir.parent / f"{sweep_dir.name}.start").write_text(repr(time.time()))
    t0 = time.perf_counter()
    with open(sweep_dir.parent / f"{sweep_dir.name}.log", "w") as log:
        proc = subprocess.run(command, cwd=sweep_dir.parent, stdout=log, stderr=subprocess.STDOUT, env=env)
    return time.perf_counter() - t0, proc.returncode


def phases(sweep_dir: Path, wall: float) -> dict[str, float]:
    """Where a sweep's wall time went: before its first job started (start-up, planning,
    importing the simulator where the job does not), running jobs, and after its last job
    ended (collection, exit). From the run directories' first file (.hydra/config.yaml, written
    as a job starts) and last (results.json, written as it ends)."""
    start = float((sweep_dir.parent / f"{sweep_dir.name}.start").read_text())
    runs = [run for run in sweep_dir.iterdir() if (run / "results.json").exists()]
    first = min((run / ".hydra" / "config.yaml").stat().st_mtime for run in runs) - start
    last = max((run / "results.json").stat().st_mtime for run in runs) - start
    return {"before_first_job_s": round(first, 2), "jobs_s": round(last - first, 2), "after_last_job_s": round(wall - last, 2)}


def metrics(sweep_dir: Path) -> dict[str, dict[str, float]]:
    """The metrics of each completed job, by its overrides (stock Hydra names run directories by
    job number, this project's sweeper by overrides)."""
    found = {}
    for results in sorted(sweep_dir.glob("*/results.json")):
        record = json.loads(results.read_text())
        if record["state"] == "completed":
            found[",".join(sorted(record["overrides"]))] = record["metrics"]
    return found


def same(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> bool:
    """Bit-identical metrics (NaN equal to NaN) for the same jobs."""
    if a.keys() != b.keys():
        return False
    return all(
        a[run].keys() == b[run].keys()
        and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in ((a[run][k], b[run][k]) for k in a[run]))
        for run in a
    )


def job_states(sweep_dir: Path) -> dict[str, int]:
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    states: dict[str, int] = {}
    for job in manifest["jobs"]:
        states[job["state"]] = states.get(job["state"], 0) + 1
    return states


def crash_sweep(root: Path, name: str, launcher: list[str]) -> dict[str, object]:
    app_dir = root / f"{name}_app"
    app_dir.mkdir()
    (app_dir / "run_sim.py").write_text(CRASHING_APP)
    env = {**os.environ, "BENCH_CRASH_SEED": str(CRASH_SEED), "HYDRA_FULL_ERROR": "0"}
    sweep_dir = root / name
    wall, code = sweep(app_dir / "run_sim.py", sweep_dir, launcher, env)
    if not (sweep_dir / "manifest.json").exists():
        # the sweep never started its jobs: not the crash this measures
        log = (sweep_dir.parent / f"{sweep_dir.name}.log").read_text()
        sys.exit(f"the {name} sweep failed before running its jobs (exit code {code}):\n{log[-2000:]}")
    completed = metrics(sweep_dir)
    failed = [job["error"] for job in json.loads((sweep_dir / "manifest.json").read_text())["jobs"] if job["state"] == "failed"]
    return {"wall_s": round(wall, 2), "exit_code": code, "completed": len(completed), "failed_errors": failed, "metrics": completed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of (s), (a), (a'), (b), (c), interleaved; the median counts")
    parser.add_argument("--joblib-crash", action="store_true", help="also run the crashing sweep under joblib")
    parser.add_argument("--keep", action="store_true", help="keep the sweep directories")
    args = parser.parse_args()
    try:
        import hydra_plugins.hydra_joblib_launcher  # noqa: F401
    except ImportError:
        sys.exit("hydra-joblib-launcher is missing: pip install hydra-joblib-launcher")

    root = Path(tempfile.mkdtemp(prefix="bench_local_parallel_"))
    print(f"Sweep directories under {root}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}", flush=True)
    walls: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    spent: dict[str, list[dict[str, float]]] = {name: [] for name in LAUNCHERS}
    try:
        for run in range(args.repeat):
            for name, extra in LAUNCHERS.items():
                sweep_dir = root / f"{name}_{run}"
                wall, code = sweep(REPO / "run_sim.py", sweep_dir, extra)
                if code != 0:
                    sys.exit(f"the {name} sweep failed (exit code {code}); see {sweep_dir}.log")
                walls[name].append(round(wall, 2))
                spent[name].append(phases(sweep_dir, wall))
                print(f"  {name:<15} run {run + 1}: {wall:6.2f} s", flush=True)
        found = {name: metrics(root / f"{name}_0") for name in LAUNCHERS}
        crashed = crash_sweep(root, "local_parallel_crash", LAUNCHERS["local_parallel"])
        print(f"  local_parallel with a segfaulting job: {crashed['wall_s']:6.2f} s", flush=True)
        joblib_crashed = crash_sweep(root, "joblib_crash", LAUNCHERS["joblib"]) if args.joblib_crash else None
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    best = {name: statistics.median(times) for name, times in walls.items()}
    basic, stock = best["basic"], best["stock"]
    phase = {name: {key: statistics.median(run[key] for run in runs) for key in runs[0]} for name, runs in spent.items()}
    # A launcher running the jobs two at a time with no cost of its own would pay the basic
    # sweep's serial parts once and half its job time: the best ratio reachable on this machine.
    serial = phase["basic"]["before_first_job_s"] + phase["basic"]["after_last_job_s"]
    ideal = (serial + phase["basic"]["jobs_s"] / 2) / basic
    figures: dict[str, object] = {
        "jobs": 8,
        "density": 1000,
        "n_jobs": 2,
        "cpus": os.cpu_count(),
        "wall_s": best,
        "all_wall_s": walls,
        "phases_s": phase,
        "ideal_two_lane_ratio_to_basic": round(ideal, 3),
        "ideal_two_lane_ratio_to_stock": round(ideal * basic / stock, 3),
        "ratio_to_stock": {name: round(wall / stock, 3) for name, wall in best.items()},
        "ratio_to_basic": {name: round(wall / basic, 3) for name, wall in best.items()},
        "metrics_identical": {f"basic_{name}": same(found["basic"], found[name]) for name in LAUNCHERS if name != "basic"},
        "crash": {
            "wall_s": crashed["wall_s"],
            "ratio_to_stock": round(float(crashed["wall_s"]) / stock, 3),  # type: ignore[arg-type]
            "ratio_to_basic": round(float(crashed["wall_s"]) / basic, 3),  # type: ignore[arg-type]
            "exit_code": crashed["exit_code"],
            "completed": crashed["completed"],
            "failed_errors": crashed["failed_errors"],
            "completed_metrics_identical_to_basic": all(
                same({run: m}, {run: found["basic"].get(run, {})}) for run, m in crashed["metrics"].items()  # type: ignore[union-attr]
            ),
        },
    }
    if joblib_crashed is not None:
        figures["joblib_crash"] = {k: v for k, v in joblib_crashed.items() if k != "metrics"}

    print()
    print(f"{'launcher':<34}{'wall (s)':>10}{'ratio to stock':>16}{'ratio to basic':>16}")
    for name, wall in best.items():
        print(f"{name:<34}{wall:>10.2f}{wall / stock:>16.3f}{wall / basic:>16.3f}")
    crash = figures["crash"]
    print(f"{'local_parallel, 1 job segfaults':<34}{crashed['wall_s']:>10.2f}{crash['ratio_to_stock']:>16.3f}{crash['ratio_to_basic']:>16.3f}")  # type: ignore[index]
    print("metrics identical to basic's: " + ", ".join(f"{key[6:]}: {value}" for key, value in figures["metrics_identical"].items()))  # type: ignore[union-attr]
    print(f"segfaulting sweep: {crashed['completed']} of 8 jobs completed, exit code {crashed['exit_code']}, failed: {crashed['failed_errors']}")
    if joblib_crashed is not None:
        print(f"joblib, same segfault: {joblib_crashed['completed']} of 8 jobs completed, exit code {joblib_crashed['exit_code']}")
    print()
    print(f"{'where the time went (s)':<34}{'before 1st job':>16}{'running jobs':>16}{'after last job':>16}")
    for name, times in phase.items():
        print(f"{name:<34}{times['before_first_job_s']:>16.2f}{times['jobs_s']:>16.2f}{times['after_last_job_s']:>16.2f}")
    print(f"best ratio of any launcher running two jobs at a time (basic's serial parts, half its job time): "
          f"{ideal:.3f} to basic, {ideal * basic / stock:.3f} to stock")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
