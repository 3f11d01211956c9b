"""Wall time of a sweep of 8 real simulations (1,000 neurons, seeds 1..8, default durations):

(a) Hydra's basic launcher (one job after the other: the sequential time),
(a') ours, the default sequential launcher (one job after the other),
(b) hydra-joblib-launcher, n_jobs=2,
(c) ours, hydra/launcher=local_parallel, n_jobs=2,
(d) ours, n_jobs=2, with one of the 8 jobs made to segfault in the middle of its simulation
    (a wrapper app around the real model: no project file is changed),
(e) with --joblib-crash: (d) under hydra-joblib-launcher, for comparison.

Each sweep runs the real command line (``python run_sim.py -m ...``) into its own
sweep directory under a temporary directory. Prints the wall times, their ratios
to (a), whether the metrics of (a), (b) and (c) are identical, how many jobs of
(d) completed, and, as its last line, a JSON object of these figures.

    python benchmarks/local_parallel.py [--repeat N] [--joblib-crash] [--keep]

With ``--repeat N`` (a), (a'), (b) and (c) run N times, interleaved (a change in the
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
    """Run one sweep; its wall time and exit code."""
    command = [sys.executable, str(script), "-m", *SWEEP, *extra, f"hydra.sweep.dir={sweep_dir}"]
    t0 = time.perf_counter()
    with open(sweep_dir.parent / f"{sweep_dir.name}.log", "w") as log:
        proc = subprocess.run(command, cwd=sweep_dir.parent, stdout=log, stderr=subprocess.STDOUT, env=env)
    return time.perf_counter() - t0, proc.returncode


def metrics(sweep_dir: Path) -> dict[str, dict[str, float]]:
    found = {}
    for results in sorted(sweep_dir.glob("*/results.json")):
        record = json.loads(results.read_text())
        if record["state"] == "completed":
            found[results.parent.name] = record["metrics"]
    return found


def same(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> bool:
    """Bit-identical metrics (NaN equal to NaN) for the same run directories."""
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
    completed = metrics(sweep_dir) if sweep_dir.exists() else {}
    if not (sweep_dir / "manifest.json").exists():
        # the sweep never started its jobs: not the crash this measures
        log = (sweep_dir.parent / f"{sweep_dir.name}.log").read_text()
        sys.exit(f"the {name} sweep failed before running its jobs (exit code {code}):\n{log[-2000:]}")
    failed = [job["error"] for job in json.loads((sweep_dir / "manifest.json").read_text())["jobs"] if job["state"] == "failed"]
    return {"wall_s": round(wall, 2), "exit_code": code, "completed": len(completed), "failed_errors": failed, "metrics": completed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of (a), (a'), (b), (c), interleaved; the median counts")
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
    try:
        for run in range(args.repeat):
            for name, extra in LAUNCHERS.items():
                sweep_dir = root / f"{name}_{run}"
                wall, code = sweep(REPO / "run_sim.py", sweep_dir, extra)
                if code != 0:
                    sys.exit(f"the {name} sweep failed (exit code {code}); see {sweep_dir}.log")
                walls[name].append(round(wall, 2))
                print(f"  {name:<15} run {run + 1}: {wall:6.2f} s", flush=True)
        found = {name: metrics(root / f"{name}_0") for name in LAUNCHERS}
        crashed = crash_sweep(root, "local_parallel_crash", LAUNCHERS["local_parallel"])
        print(f"  local_parallel with a segfaulting job: {crashed['wall_s']:6.2f} s", flush=True)
        joblib_crashed = crash_sweep(root, "joblib_crash", LAUNCHERS["joblib"]) if args.joblib_crash else None
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    best = {name: statistics.median(times) for name, times in walls.items()}
    basic = best["basic"]
    figures: dict[str, object] = {
        "jobs": 8,
        "density": 1000,
        "n_jobs": 2,
        "cpus": os.cpu_count(),
        "wall_s": best,
        "all_wall_s": walls,
        "ratio_to_basic": {name: round(wall / basic, 3) for name, wall in best.items()},
        "metrics_identical": {
            "basic_joblib": same(found["basic"], found["joblib"]),
            "basic_local_parallel": same(found["basic"], found["local_parallel"]),
            "basic_sequential": same(found["basic"], found["sequential"]),
        },
        "crash": {
            "wall_s": crashed["wall_s"],
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
    print(f"{'launcher':<34}{'wall (s)':>10}{'ratio to basic':>16}")
    for name, wall in best.items():
        print(f"{name:<34}{wall:>10.2f}{wall / basic:>16.3f}")
    print(f"{'local_parallel, 1 job segfaults':<34}{crashed['wall_s']:>10.2f}{figures['crash']['ratio_to_basic']:>16.3f}")  # type: ignore[index]
    print(f"metrics identical: basic = joblib: {figures['metrics_identical']['basic_joblib']}, "  # type: ignore[index]
          f"basic = local_parallel: {figures['metrics_identical']['basic_local_parallel']}, "  # type: ignore[index]
          f"basic = sequential: {figures['metrics_identical']['basic_sequential']}")  # type: ignore[index]
    print(f"segfaulting sweep: {crashed['completed']} of 8 jobs completed, exit code {crashed['exit_code']}, failed: {crashed['failed_errors']}")
    if joblib_crashed is not None:
        print(f"joblib, same segfault: {joblib_crashed['completed']} of 8 jobs completed, exit code {joblib_crashed['exit_code']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
