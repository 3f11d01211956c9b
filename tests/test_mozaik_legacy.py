"""mozaik 0.1's distributions: refused with today's spelling of the same distribution, rewritten by --modernise.

The reference for "the same distribution" is NeuralEnsemble's ``parameters.random`` (the classes mozaik 0.1's
files were evaluated with): its ``UniformDist`` holds min and max, ``NormalDist`` mean and std, ``GammaDist``
its shape a and scale b (from mean and std, or given); PyNN's uniform takes low and high, normal mu and sigma,
gamma k (shape) and theta (scale).
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from launcher.mozaik.parameter_files import MozaikFormatError, PyNNDistribution, legacy_changes, read_parameters
from launcher.mozaik.parameter_files import limits
from launcher.mozaik.parameter_files.legacy import HOW_TO_WRITE, modernise
from launcher.mozaik.script_task import import_model
from support import REPO
from test_mozaik_parity import job_parameters
from test_mozaik_reference import assert_same_leaves, mozaik_load

#: Legacy calls, and PyNN's parameter for each of parameters' values (to check the spelling against it).
CALLS = {
    "UniformDist(min=0.5, max=1.0)": ("uniform", {"low": "min", "high": "max"}),
    "UniformDist(-70, -60)": ("uniform", {"low": "min", "high": "max"}),
    "UniformDist()": ("uniform", {"low": "min", "high": "max"}),
    "NormalDist(mean=-65.0, std=2.5)": ("normal", {"mu": "mean", "sigma": "std"}),
    "NormalDist(std=3)": ("normal", {"mu": "mean", "sigma": "std"}),
    "GammaDist(mean=2.0, std=0.5)": ("gamma", {"k": "a", "theta": "b"}),
    "GammaDist(m=3.0, s=1.5, repr_mode='ab')": ("gamma", {"k": "a", "theta": "b"}),
    "GammaDist(a=2, b=0.25)": ("gamma", {"k": "a", "theta": "b"}),
}


def reference(call: str) -> dict:
    """What ``parameters.random`` holds for a legacy call (this test's own literal calls only)."""
    return eval(call, vars(importlib.import_module("parameters.random"))).params  # noqa: S307


@pytest.mark.parametrize("call", CALLS)
def test_a_legacy_distribution_is_refused_with_todays_spelling_of_the_same(tmp_path, call):
    (tmp_path / "params").write_text("{\n    'v': " + call + ",\n}\n")
    with pytest.raises(MozaikFormatError) as refused:
        read_parameters(tmp_path / "params")
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'params'}, line 2, column 10: {call.split('(')[0]}() is mozaik 0.1's distribution")
    today = message.split(": write ")[1].split(" (python -m launcher import-mozaik --modernise")[0]
    distribution = read_parameters_of(tmp_path, "{'v': " + today + "}")["v"]
    name, mapping = CALLS[call]
    assert distribution.name == name
    expected = reference(call)
    assert {key: pytest.approx(expected[source]) for key, source in mapping.items()} == distribution.params


def read_parameters_of(tmp_path, text: str) -> dict:
    (tmp_path / "today").write_text(text)
    return read_parameters(tmp_path / "today")


def test_a_legacy_call_without_an_equivalent_says_how_to_write_one(tmp_path):
    (tmp_path / "params").write_text("{'v': UniformDist(0, 10, int), 'w': GammaDist(mean=ref('x'))}")
    with pytest.raises(MozaikFormatError, match=r"UniformDist\(\) is mozaik 0.1's .*: write PyNNDistribution\(name=\.\.\., \.\.\.\) with PyNN's names"):
        read_parameters(tmp_path / "params")
    assert modernise("{'v': UniformDist(0, 10, int)}", "f") == ("{'v': UniformDist(0, 10, int)}", [])


def test_a_file_too_large_for_pythons_parser_still_says_what_to_write(tmp_path):
    padding = "'x': 1, " * (limits.AST_MAX_CHARS // 8)
    (tmp_path / "params").write_text("{" + padding + "'v': UniformDist(min=0.5, max=1.0)}")
    with pytest.raises(MozaikFormatError, match=r"UniformDist\(\) is mozaik 0.1's distribution.*'uniform' \(low, high\)"):
        read_parameters(tmp_path / "params")


def test_modernise_rewrites_each_call_in_place_and_says_where(tmp_path):
    text = "  {  # ünï\n'a': [UniformDist(min=0.5, max=1.0), 'ü', NormalDist(mean=1, std=2)],\n 'b': GammaDist(a=2, b=3)}\n"
    new, changes = modernise(text, "f")
    assert new == (
        "  {  # ünï\n'a': [PyNNDistribution(name='uniform', low=0.5, high=1.0), 'ü', PyNNDistribution(name='normal', mu=1, sigma=2)],\n"
        " 'b': PyNNDistribution(name='gamma', k=2, theta=3)}\n"
    )
    assert [(c.where, c.old) for c in changes] == [
        ("f, line 2, column 7", "UniformDist(min=0.5, max=1.0)"),
        ("f, line 2, column 43", "NormalDist(mean=1, std=2)"),
        ("f, line 3, column 7", "GammaDist(a=2, b=3)"),
    ]
    assert read_parameters_of(tmp_path, new)["b"] == PyNNDistribution("gamma", {"k": 2, "theta": 3})


def test_import_mozaik_modernise_lists_the_changes_then_imports_todays_tree(tmp_path):
    model = tmp_path / "model"
    (model / "param").mkdir(parents=True)
    legacy = "{'sheets': url('param/sheets'), 'rate': 5.0}\n"
    sheets = "{'exc': {'v_init': UniformDist(min=-70.0, max=-60.0), 'w': ParameterSet({'d': NormalDist(mean=1.0, std=0.1)})}}\n"
    (model / "param" / "defaults").write_text(legacy)
    (model / "param" / "sheets").write_text(sheets)
    (model / "run.py").write_text("")
    assert [change.new for change in legacy_changes(model / "param" / "defaults", model)] == [
        "PyNNDistribution(name='uniform', low=-70.0, high=-60.0)",
        "PyNNDistribution(name='normal', mu=1.0, sigma=0.1)",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "launcher", "import-mozaik", "param/defaults", "../conf", "--run-script", "run.py", "--name", "mz", "--modernise"],
        cwd=model, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--modernise: 2 of mozaik 0.1's distributions written as today's:" in done.stderr
    assert f"{model / 'param' / 'sheets'}, line 1, column 20: UniformDist(min=-70.0, max=-60.0) -> PyNNDistribution(name='uniform', low=-70.0, high=-60.0)" in done.stderr
    assert (model / "param" / "sheets").read_text() == sheets  # the model's own files are left as they are
    # each job's parameters file: today's tree, as mozaik reads the modernised files
    (model / "param" / "sheets").write_text(modernise(sheets, "sheets")[0])
    written = job_parameters(tmp_path / "conf", {"rate": 7.0}, tmp_path / "job")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(model)
        assert_same_leaves(written, mozaik_load("param/defaults", {"rate": 7.0}))
    assert read_parameters(tmp_path / "job" / "parameters")["sheets"]["exc"]["v_init"] == PyNNDistribution("uniform", {"low": -70.0, "high": -60.0})
