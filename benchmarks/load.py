"""A sweep's table in one call: ``launcher.load(D)`` on a synthetic sweep of 10,000 jobs, against
the stock way (every results.json read with ``json``, one ``pandas.DataFrame`` of the records) and
against ``summary_table`` (the table of summary.csv, which ``load`` extends).

The synthetic sweep is what a finished grid of the default model leaves: ``manifest.json`` and
one run directory per job (25 densities x 20 weights x 20 seeds) holding a ``results.json`` of a
real run's fields and size; 1% of the jobs failed, 0.5% never wrote one (interrupted). Each
reader runs in a fresh process, the modules imported first (as in a session), the reads alone
timed; the readers alternate, so that a change in the machine's load falls on all; each figure
is the median of the repeats. The files are in the page cache (just written), as after a sweep.
Prints the figures; the last line is a JSON object of them.

    python benchmarks/load.py [--jobs 10000] [--repeats 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: Each reader: (its imports, the read timed) in a child; D is the sweep directory.
STOCK = """
rows = []
for path in sorted(Path(D).glob('*/results.json')):
    record = json.loads(path.read_text())
    rows.append({**dict(o.split('=', 1) for o in record['overrides']), 'state': record['state'], **record['metrics'],
                 'run_dir': str(path.parent), 'duration_s': record['timings'].get('total_s')})
table = pd.DataFrame(rows)
"""
READERS = {
    "launcher_load": ("import launcher, launcher.report.load", "table = launcher.load(D)"),
    "summary_table": ("from launcher.report.table import summary_table", "table = summary_table(D)"),
    "stock_json_pandas": ("import json; from pathlib import Path", STOCK),
}
CHILD = "import sys, time, pandas as pd; D = sys.argv[1]; {imports}\nt = time.perf_counter()\n{read}\nprint(time.perf_counter() - t, len(table))"

#: A real run's results.json (the default model's fields), less what each job changes.
RECORD = {
    "versions": {"launcher": "0.1.0", "hydra-core": "1.3.2", "omegaconf": "2.3.0", "numpy": "2.4.6", "pyNN": "0.13.0", "nest": "3.10.0", "neo": "0.14.6"},
    "host": "vm",
    "python": "3.11.7",
    "slurm_job_id": None,
    "code": {"commit": "6cf1450c3df637f33a4b7a2ef8fffd0508edcc33", "dirty": False},
    "simulator": "nest",
    "population_sizes": {"exc": 3200, "inh": 800},
    "log": "run_sim.log",
}


def synthetic_sweep(sweep_dir: Path, jobs: int) -> None:
    """A finished grid sweep of ``jobs`` jobs in ``sweep_dir`` (see the module's docstring)."""
    from launcher.sweep.manifest import COMPLETED, FAILED, INTERRUPTED, JobEntry, Manifest
    from launcher.sweep.naming import run_dirname

    grid = itertools.product(range(1000, 5000, 160), [round(0.0005 * k, 4) for k in range(1, 21)], range(20))
    entries = []
    for number, (density, weight, seed) in zip(range(jobs), grid):
        overrides = [f"sheets.V1.density={density}", f"sheets.V1.connectivity.exc_weight={weight}", f"pynn_seed={seed}"]
        state = FAILED if number % 100 == 7 else INTERRUPTED if number % 200 == 13 else COMPLETED
        job = JobEntry(number, overrides, run_dirname(overrides), f"{number:016x}", state)
        run_dir = sweep_dir / job.run_dir
        run_dir.mkdir(parents=True)
        entries.append(job)
        if state == INTERRUPTED:
            continue  # killed before it wrote its results.json
        metrics = {"rate_exc_hz": 0.001 * number, "rate_inh_hz": 2.5, "cv_isi": 0.9, "synchrony_chi": 0.1, "active_fraction": 0.97}
        record = {
            "state": state,
            "metrics": metrics if state == COMPLETED else {},
            "overrides": overrides,
            "config_hash": job.config_hash,
            **RECORD,
            "timings": {"started": "2026-11-30T05:28:22+00:00", "setup_s": 4.7, "simulate_s": 20.1, "analysis_s": 0.3,
                        "total_s": 25.1 + number % 7, "finished": "2026-11-30T05:28:47+00:00"},
        }
        if state == FAILED:
            record.update(error="RuntimeError: NEST exploded", traceback="Traceback ...")
        (run_dir / "results.json").write_text(json.dumps(record, indent=2))  # not synced: a benchmark's files
    Manifest(sweep_dir, entries).save()


def read_seconds(name: str, sweep_dir: Path) -> tuple[float, int]:
    imports, read = READERS[name]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    code = CHILD.format(imports=imports, read=read)
    out = subprocess.run([sys.executable, "-c", code, str(sweep_dir)], capture_output=True, text=True, env=env, check=True)
    seconds, rows = out.stdout.split()[-2:]
    return float(seconds), int(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the synthetic sweep (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        sweep_dir = Path(tmp) / "D"
        started = time.perf_counter()
        synthetic_sweep(sweep_dir, args.jobs)
        print(f"synthetic sweep of {args.jobs} jobs written in {time.perf_counter() - started:.1f} s: {sweep_dir}", flush=True)
        times: dict[str, list[float]] = {name: [] for name in READERS}
        rows: dict[str, int] = {}
        for repeat in range(args.repeats):
            for name in READERS:
                seconds, rows[name] = read_seconds(name, sweep_dir)
                times[name].append(seconds)
                print(f"repeat {repeat + 1}, {name:>17}: {seconds:.3f} s, {rows[name]} rows", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    figures = {
        "jobs": args.jobs,
        "repeats": args.repeats,
        "load_s": round(medians["launcher_load"], 3),
        "load_rows": rows["launcher_load"],
        "summary_table_s": round(medians["summary_table"], 3),
        "stock_json_pandas_s": round(medians["stock_json_pandas"], 3),
        "stock_json_pandas_rows": rows["stock_json_pandas"],
        "load_over_stock": round(medians["launcher_load"] / medians["stock_json_pandas"], 3),
        "load_over_summary_table": round(medians["launcher_load"] / medians["summary_table"], 3),
    }
    print(
        f"medians of {args.repeats}: launcher.load {figures['load_s']:.3f} s ({figures['load_rows']} rows, every job), "
        f"summary_table {figures['summary_table_s']:.3f} s, stock json + pandas {figures['stock_json_pandas_s']:.3f} s "
        f"({figures['stock_json_pandas_rows']} rows: the jobs that wrote a results.json, parameters as strings); "
        f"load / stock = {figures['load_over_stock']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
