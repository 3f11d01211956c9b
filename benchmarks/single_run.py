"""One default-model run through ``run_sim.py`` against a bare PyNN script of the same network.

The bare script builds the same network with the same values (read from the
composed tree, so that the two stay the same), runs the same protocol and
fetches the spikes; ``run_sim.py`` adds Hydra, validation, the metrics and the
run directory's outputs. Both run as fresh processes, alternately; each figure
is the median of several repeats. Prints the figures; the last line is a JSON object of them.

    python benchmarks/single_run.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BARE_SCRIPT = f'''
import os, warnings, zlib
os.environ["PYNEST_QUIET"] = "1"
warnings.simplefilter("ignore")
import numpy as np
from hydra import compose, initialize_config_dir
import launcher  # the schema of the tree
with initialize_config_dir(version_base="1.3", config_dir={str(REPO / "conf")!r}):
    cfg = compose("config")
import pyNN.nest as sim
from pyNN.random import NumpyRNG
sheet, kick = cfg.sheets.V1, cfg.experiment.kick
sim.setup(timestep=cfg.time_step, min_delay=cfg.min_delay, max_delay=cfg.max_delay, threads=cfg.threads, rng_seed=cfg.pynn_seed)
def rng(name):  # a generator of its own per random quantity, as the model's random_stream
    sequence = np.random.SeedSequence(int(cfg.pynn_seed), spawn_key=(zlib.crc32(name.encode()),))
    return NumpyRNG(seed=int(sequence.generate_state(1)[0]))
total = int(round(sheet.density * sheet.sx * sheet.sy / 1e6)); n_exc = int(round(total * sheet.exc_fraction))
cell = sim.IF_cond_exp(**sheet.cell)
pops = {{"exc": sim.Population(n_exc, cell), "inh": sim.Population(total - n_exc, cell)}}
for name, pop in pops.items():
    pop.initialize(v=rng(f"v_init/{{name}}").next(len(pop), "uniform", {{"low": sheet.v_init.low, "high": sheet.v_init.high}}))
    pop.record("spikes")
for name, conn in sheet.connections.items():
    source, target = name.split("_")
    sim.Projection(pops[source], pops[target], sim.FixedProbabilityConnector(conn.probability, rng=rng(f"connections/{{name}}")),
                   sim.StaticSynapse(weight=conn.weight, delay=conn.delay),
                   receptor_type="excitatory" if source == "exc" else "inhibitory")
drive = sim.Population(kick.sources, sim.SpikeSourcePoisson(rate=kick.rate, duration=kick.duration))
for name, pop in pops.items():
    sim.Projection(drive, pop, sim.FixedProbabilityConnector(kick.probability, rng=rng(f"kick/{{name}}")),
                   sim.StaticSynapse(weight=kick.weight, delay=cfg.min_delay), receptor_type="excitatory")
sim.run(kick.duration + cfg.experiment.spontaneous_duration)
spikes = {{name: pop.get_data("spikes") for name, pop in pops.items()}}
sim.end()
'''


def seconds(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of a command, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bare = work / "bare_pynn.py"
        bare.write_text(BARE_SCRIPT)
        # Alternated, so that a change in the machine's load falls on both alike.
        bare_runs, ours_runs = [], []
        for i in range(args.repeats):
            bare_runs.append(seconds([sys.executable, str(bare)], work))
            ours_runs.append(seconds([sys.executable, str(REPO / "run_sim.py"), f"hydra.run.dir={work / f'run{i}'}"], work))
            print(
                f"repeat {i + 1}: bare {bare_runs[-1][0]:.2f} s (CPU {bare_runs[-1][1]:.2f} s), "
                f"run_sim.py {ours_runs[-1][0]:.2f} s (CPU {ours_runs[-1][1]:.2f} s)",
                flush=True,
            )
    bare_s, ours_s = (statistics.median(wall for wall, _ in runs) for runs in (bare_runs, ours_runs))
    bare_cpu, ours_cpu = (statistics.median(cpu for _, cpu in runs) for runs in (bare_runs, ours_runs))
    ratio = ours_s / bare_s
    # CPU time is less disturbed than wall time by other work on the machine
    print(f"bare PyNN script: {bare_s:.2f} s; run_sim.py: {ours_s:.2f} s; ratio {ratio:.3f} (CPU time: ratio {ours_cpu / bare_cpu:.3f})")
    print(json.dumps({
        "bare_pynn_s": round(bare_s, 2), "run_sim_s": round(ours_s, 2), "ratio": round(ratio, 3),
        "bare_pynn_cpu_s": round(bare_cpu, 2), "run_sim_cpu_s": round(ours_cpu, 2), "cpu_ratio": round(ours_cpu / bare_cpu, 3),
    }))


if __name__ == "__main__":
    main()
