"""Real mozaik, installed and swept as docs/mozaik.md says ("Running real mozaik"), step by step as written.

Slow (the install and two runs of the model: some 10 minutes), and only where the sources are given: the steps
install mozaik and imagen from clones of ``DrTaDa/MozaikICMS`` and ``CSNG-MFF/imagen``, which a test cannot
fetch, so it takes their paths from ``MOZAIK_SRC`` and ``IMAGEN_SRC`` (the docs' names) and skips, saying so,
when they are not set. It copies them (the steps patch mozaik's source), makes the virtual environment
``MOZAIK_ENV`` in its temporary directory from the install steps, runs the example's commands, and checks the
table against the spikes mozaik recorded (counted by the docs' ``check_rates.py``, with mozaik's own API) and
against the output the docs show.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, doc_blocks

INSTALL = "Installing mozaik"
EXAMPLE = "Running VogelsAbbott2005 through the launcher"
#: The single values of a job of the example: 6 PerNeuronValue (mean and spread) and 16 SingleValue.
VALUES_PER_JOB = 28

pytestmark = pytest.mark.slow


def run_bash(commands: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The docs' commands as a shell runs them (they name the variables MOZAIK_SRC, ... the environment holds)."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, f"{commands}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_real_mozaik_installed_and_swept_as_the_docs_say(tmp_path):
    sources = {name: os.environ.get(name) for name in ("MOZAIK_SRC", "IMAGEN_SRC")}
    if not all(sources.values()):
        pytest.skip("set MOZAIK_SRC and IMAGEN_SRC to clones of DrTaDa/MozaikICMS and CSNG-MFF/imagen (docs/mozaik.md, 'Running real mozaik')")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # `python`: this project's environment
        "PYTHONPATH": str(REPO),
        "MOZAIK_ENV": str(tmp_path / "mozaik-env"),
    }
    for name, source in sources.items():  # copies: the install steps patch mozaik's source
        env[name] = str(shutil.copytree(source, tmp_path / "src" / name, ignore=shutil.ignore_patterns(".git", "tests", "build")))

    (install,) = [body for _, language, body in doc_blocks(INSTALL) if language == "bash"]
    run_bash(install, tmp_path, env)
    source = Path(env["MOZAIK_SRC"], "mozaik")
    assert not re.search(r"annotations\['source_ids?'\]", "".join(p.read_text() for p in source.rglob("*.py") if "ipynb" not in str(p)))

    work = tmp_path / "work"
    work.mkdir()
    (work / "mozaik-hydra").symlink_to(REPO)
    blocks = doc_blocks(EXAMPLE)
    (check,) = [body for path, _, body in blocks if path == "check_rates.py"]
    (work / "check_rates.py").write_text(check)
    (commands,) = [body for _, language, body in blocks if language == "bash"]
    (shown,) = [body for _, language, body in blocks if language == "text"]
    done = run_bash(commands, work, env)

    rows = {row["sheets.inh_layer.InhExcConnection.weights"]: row for row in csv.DictReader((work / "va_sweep" / "summary.csv").open())}
    assert sorted(rows) == ["0.051", "0.06"] and {row["state"] for row in rows.values()} == {"completed"}
    assert all(sum(1 for key in row if "_Layer." in key) == VALUES_PER_JOB for row in rows.values())
    assert (work / "va_sweep" / "summary_sheets.inh_layer.InhExcConnection.weights.png").stat().st_size > 10_000

    # The independent check: each sheet's rate counted from the recorded spikes equals its single values.
    counted = re.findall(r"weights=([\d.]+) (\w+): (\d+) spikes of (\d+) neurons, mean rate ([\d.]+) Hz", done.stdout)
    assert len(counted) == 4, done.stdout[-3000:]
    for weight, sheet, spikes, neurons, rate in counted:
        assert float(rows[weight][f"{sheet}.Firing_rate.mean"]) == pytest.approx(float(rate), abs=1e-6)
        assert float(rows[weight][f"{sheet}.Mean_Firing_rate"]) == pytest.approx(int(spikes) / int(neurons) / 0.27, rel=1e-9)

    # What the docs show is what the steps give (NEST with the example's seeds, one thread).
    assert re.findall(r"^sheets.*Hz$", done.stdout, re.MULTILINE) == re.findall(r"^sheets.*Hz$", shown, re.MULTILINE)
    for line in shown.splitlines():
        name, *values = line.split()
        if name.endswith(".mean"):
            assert [float(rows[weight][name]) for weight in ("0.051", "0.06")] == pytest.approx([float(v) for v in values], abs=1e-6)
