"""The default run's recording: recording.h5 (this project's format) against recording.mat (Neo's MATLAB format, before).

Simulates the default model once (about 30 s), writes its Neo block in both formats (each in a run
directory of its own, as a run of today and one of before: recording.mat by Neo's own writer,
``neo.io.NeoMatlabIO(path).write_block(block)``, which takes a few seconds more for the default run,
and after recording.h5, as that writer builds every spike train), then reads each back in a fresh
process, in alternation, timing the read alone (the modules imported first, as in a session that
reads many runs): ``launcher.run.results.read_recording`` of recording.h5, of recording.mat, Neo's own
``neo.io.NeoMatlabIO(path).read_block()`` of recording.mat, and the stock readers of each file
without Neo (``h5py`` reading every dataset, ``scipy.io.loadmat``). Prints bytes per spike and the
median read times; the last line is a JSON object of the figures.

    python benchmarks/recording.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: Each reader: (its imports, the read timed) in a child; P is the directory of both run directories.
READERS = {
    "h5_read_recording": ("from launcher.run.results import read_recording", "read_recording(P + '/new')"),
    "mat_read_recording": ("from launcher.run.results import read_recording", "read_recording(P + '/old')"),
    "mat_neo_matlab_io": ("from neo.io import NeoMatlabIO", "NeoMatlabIO(P + '/old/recording.mat').read_block()"),
    "h5_h5py": ("import h5py", "h5py.File(P + '/new/recording.h5').visititems(lambda n, o: o[()] if isinstance(o, h5py.Dataset) else None)"),
    "mat_scipy_loadmat": ("import scipy.io", "scipy.io.loadmat(P + '/old/recording.mat')"),
}
#: Imported before any read is timed, by every child alike: the modules the readers import when first called.
COMMON_IMPORTS = "import h5py, neo, neo.io, quantities, scipy.io"
CHILD = "import time, sys; P = sys.argv[1]; " + COMMON_IMPORTS + "; {imports}; t = time.perf_counter(); {read}; print(time.perf_counter() - t)"


def default_block():
    """The Neo block of one run of the default model."""
    os.environ["PYNEST_QUIET"] = "1"
    warnings.simplefilter("ignore")
    from hydra import compose, initialize_config_dir

    from launcher.model import network
    from launcher.model.simulator import simulator_session

    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        cfg = compose("config")
    with simulator_session(cfg) as sim:
        return network.simulate(sim, cfg).block


def read_seconds(name: str, run_dir: Path) -> float:
    imports, read = READERS[name]
    code = CHILD.format(imports=imports, read=read)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from neo.io import NeoMatlabIO

    from launcher.run import results

    block = default_block()
    spikes = len(block.segments[0].spiketrains.multiplexed[1])
    signals = sum(signal.shape[1] for signal in block.segments[0].analogsignals)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        (run_dir / "new").mkdir(), (run_dir / "old").mkdir()
        new = results.write_recording(block, run_dir / "new").stat().st_size
        old_file = run_dir / "old" / results.MAT_RECORDING_FILE
        NeoMatlabIO(str(old_file)).write_block(block)  # what runs wrote before recording.h5
        old = old_file.stat().st_size
        times: dict[str, list[float]] = {name: [] for name in READERS}
        for _ in range(args.repeats):
            for name in READERS:  # in alternation: the machine's speed drifts
                times[name].append(read_seconds(name, run_dir))
    load = {name: statistics.median(values) for name, values in times.items()}
    print(f"default run: {spikes} spikes, {signals} voltage traces")
    print(f"recording.h5  {new:>10,} bytes  {new / spikes:6.2f} bytes/spike")
    print(f"recording.mat {old:>10,} bytes  {old / spikes:6.2f} bytes/spike  ({old / new:.1f} times larger)")
    print(f"read, medians of {args.repeats} fresh processes (imports done before):")
    for name, seconds in load.items():
        print(f"  {name:22} {seconds:7.3f} s")
    print(json.dumps({
        "spikes": spikes, "voltage_traces": signals, "bytes": new, "bytes_per_spike": round(new / spikes, 2),
        "load_s": round(load["h5_read_recording"], 3), "old_bytes": old, "old_bytes_per_spike": round(old / spikes, 2),
        "old_load_s": round(load["mat_read_recording"], 3), "old_neo_load_s": round(load["mat_neo_matlab_io"], 3),
        "h5py_load_s": round(load["h5_h5py"], 3), "scipy_loadmat_s": round(load["mat_scipy_loadmat"], 3),
        "repeats": args.repeats,
    }))


if __name__ == "__main__":
    main()
