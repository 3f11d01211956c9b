"""The user's commands, run as subprocesses exactly as a user types them."""

import json
import math

from support import SMALL, run_cli


def load(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def test_density_sweep_makes_three_named_completed_runs(tmp_path):
    sweep = tmp_path / "D"
    proc = run_cli(["-m", "sheets.V1.density=1,2,3", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dirs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert run_dirs == ["sheets.V1.density=1", "sheets.V1.density=2", "sheets.V1.density=3"]
    for name in run_dirs:
        record = load(sweep / name)
        assert record["state"] == "completed"
        assert record["overrides"] == [name]
        assert all(isinstance(v, float) for v in record["metrics"].values())  # numbers or NaN
        assert (sweep / name / "run_sim.log").is_file() and (sweep / name / "recording.h5").is_file()
    # outputs go to the run directories only, never to the working directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D"]


def test_a_failing_job_is_reported_and_the_others_complete(tmp_path):
    sweep = tmp_path / "D"
    # 'nosuchsim' passes validation (a backend name) but cannot be imported: the job fails at run time.
    proc = run_cli(
        ["-m", "simulator=nest,nosuchsim", "sheets.V1.density=2", "experiment.spontaneous_duration=10", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "1 of 2 jobs failed" in proc.stderr
    assert "simulator=nosuchsim" in proc.stderr and "cannot import pyNN.nosuchsim" in proc.stderr
    failed_dir = sweep / "experiment.spontaneous_duration=10,sheets.V1.density=2,simulator=nosuchsim"
    assert str(failed_dir / "run_sim.log") in proc.stderr
    assert load(failed_dir)["state"] == "failed"
    assert "cannot import pyNN.nosuchsim" in (failed_dir / "run_sim.log").read_text()
    assert load(sweep / "experiment.spontaneous_duration=10,sheets.V1.density=2,simulator=nest")["state"] == "completed"


def test_basic_launcher_sweep_is_reproducible(tmp_path):
    args = ["-m", *SMALL, "pynn_seed=5,6"]
    first = run_cli([*args, f"hydra.sweep.dir={tmp_path / 'a'}"], cwd=tmp_path)
    second = run_cli([*args, f"hydra.sweep.dir={tmp_path / 'b'}"], cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    for name in (p.name for p in (tmp_path / "a").iterdir() if p.is_dir()):
        a, b = load(tmp_path / "a" / name)["metrics"], load(tmp_path / "b" / name)["metrics"]
        assert a.keys() == b.keys()
        assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)
    m5 = load(tmp_path / "a" / next(p.name for p in (tmp_path / "a").iterdir() if "pynn_seed=5" in p.name))["metrics"]
    m6 = load(tmp_path / "a" / next(p.name for p in (tmp_path / "a").iterdir() if "pynn_seed=6" in p.name))["metrics"]
    assert m5 != m6
