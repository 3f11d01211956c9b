"""Fitting the model to target rates: a grid sweep, random search and Optuna's TPE, same budget.

On the default model at a small size (200 cells, 1 s), two parameters are fitted:
the shared excitatory and inhibitory weights. The targets are the excitatory and
inhibitory rates of one simulation at weights that lie off the grid (so that no
grid point hits them by construction). Each method gets the same number of
simulations (``--simulations``, 40: a grid of 5 x 8 points); random search and TPE
run ``--seeds`` times with different sampler seeds, and their median is reported.
The loss is the fit's own (``launcher.sweep.fit.target_loss``): the sum of squared
relative errors. Every method runs through ``run_sim.py -m`` as a user runs it.

    python benchmarks/fit.py [--simulations 40] [--seeds 3]

Prints the figures; the last line is a JSON object with ``simulations``,
``grid_best_loss``, ``random_best_loss``, ``tpe_best_loss``, ``tpe_within_10pct``
(every target metric of TPE's best trial within 10% of its target, for the
median seed) and the per-seed figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from launcher.sweep.fit import target_loss  # noqa: E402

#: The small network (as the tests' SMALL, 1 s of spontaneous activity).
MODEL = [
    "sheets.V1.density=200",
    "sheets.V1.connectivity.probability=0.2",
    "experiment.kick.probability=0.5",
    "experiment.spontaneous_duration=1000",
]
EXC, INH = "sheets.V1.connectivity.exc_weight", "sheets.V1.connectivity.inh_weight"
BOUNDS = {EXC: (0.002, 0.010), INH: (0.02, 0.08)}
#: Where the targets come from: off every grid line of the 5 x 8 grid below.
TRUTH = {EXC: 0.0071, INH: 0.0433}
METRICS = ("rate_exc_hz", "rate_inh_hz")


def run_sim(args: list[str], cwd: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "run_sim.py"), *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"run_sim.py {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def completed_metrics(sweep: Path) -> list[dict[str, float]]:
    found = []
    for results in sweep.glob("*/results.json"):
        record = json.loads(results.read_text())
        if record["state"] == "completed":
            found.append(record["metrics"])
    return found


def best(sweep: Path, targets: dict[str, float]) -> tuple[float, dict[str, float]]:
    """The lowest loss of a sweep's simulations, and the metrics where it was reached."""
    scored = [(target_loss(m, targets), m) for m in completed_metrics(sweep) if all(np.isfinite(m[k]) for k in targets)]
    return min(scored, key=lambda pair: pair[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=40, help="simulations per method (the grid takes the nearest 5 x n)")
    parser.add_argument("--seeds", type=int, default=3, help="sampler seeds of random search and TPE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run_sim(["-m", *MODEL, f"{EXC}={TRUTH[EXC]}", f"{INH}={TRUTH[INH]}", f"hydra.sweep.dir={work / 'truth'}"], work)
        (truth,) = completed_metrics(work / "truth")
        targets = {name: truth[name] for name in METRICS}
        print(f"targets (the model at {TRUTH}): {targets}", flush=True)

        per_axis = args.simulations // 5
        grid = {EXC: np.linspace(*BOUNDS[EXC], 5), INH: np.linspace(*BOUNDS[INH], per_axis)}
        simulations = 5 * per_axis
        start = time.perf_counter()
        run_sim(["-m", *MODEL, *(f"{key}={','.join(f'{v:.6g}' for v in values)}" for key, values in grid.items()),
                 f"hydra.sweep.dir={work / 'grid'}", "hydra.sweeper.collect=false"], work)
        grid_loss, grid_metrics = best(work / "grid", targets)
        print(f"grid ({simulations} simulations, {time.perf_counter() - start:.0f} s): best loss {grid_loss:.4g} at {grid_metrics}", flush=True)

        objective = "objective={" + ", ".join(f"{k}: {v!r}" for k, v in targets.items()) + "}"
        space = [f"{key}=interval({low},{high})" for key, (low, high) in BOUNDS.items()]
        results: dict[str, list[tuple[float, dict[str, float]]]] = {"random": [], "tpe": []}
        samplers = {"random": "optuna.samplers.RandomSampler", "tpe": "optuna.samplers.TPESampler"}
        for seed in range(args.seeds):
            for name, sampler in samplers.items():
                sweep = work / f"{name}{seed}"
                start = time.perf_counter()
                run_sim(["-m", "hydra/sweeper=optuna", f"hydra.sweeper.n_trials={simulations}", "hydra.sweeper.n_jobs=1",
                         f"hydra.sweeper.sampler._target_={sampler}", f"hydra.sweeper.sampler.seed={seed}", *MODEL, *space,
                         objective, f"hydra.sweep.dir={sweep}", "hydra.sweeper.collect=false"], work)
                results[name].append(best(sweep, targets))
                loss, metrics = results[name][-1]
                print(f"{name} seed {seed} ({time.perf_counter() - start:.0f} s): best loss {loss:.4g} at {metrics}", flush=True)

    def median_run(name: str) -> tuple[float, dict[str, float]]:
        ordered = sorted(results[name], key=lambda pair: pair[0])
        return ordered[len(ordered) // 2]

    tpe_loss, tpe_metrics = median_run("tpe")
    within = all(abs(tpe_metrics[k] - v) <= 0.1 * abs(v) for k, v in targets.items())
    figures = {
        "simulations": simulations,
        "targets": targets,
        "grid_best_loss": grid_loss,
        "random_best_loss": median_run("random")[0],
        "tpe_best_loss": tpe_loss,
        "tpe_best_metrics": tpe_metrics,
        "tpe_within_10pct": within,
        "tpe_at_or_below_grid": tpe_loss <= grid_loss,
        "seeds": args.seeds,
        "random_losses": [loss for loss, _ in results["random"]],
        "tpe_losses": [loss for loss, _ in results["tpe"]],
    }
    print(f"median over {args.seeds} sampler seeds: grid {grid_loss:.4g}, random {figures['random_best_loss']:.4g}, "
          f"TPE {tpe_loss:.4g}; TPE's best within 10% of every target: {within}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
