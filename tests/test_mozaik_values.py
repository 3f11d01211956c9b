"""A mozaik run's single values after its run script: the results mozaik stored, or a user's function.

The reading runs as a child process with the interpreter that ran the script (the model's environment), from
``launcher/mozaik/datastore_values.py``. mozaik itself is not installed here: the reading of its datastore is
tested against a stand-in ``mozaik`` package (the datastore class the reader uses, over results named as mozaik
names its classes), the mechanism end to end with a plain function of the user's, through ``run_sim.py``; real
mozaik by the slow ``test_mozaik_real.py``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.mozaik import datastore_values
from launcher.mozaik.script_task import collect_values, import_model
from launcher.run.job import TaskResultError
from launcher.run.results import MAX_METRICS
from support import REPO, RUN_SIM

#: A stand-in for mozaik's storage: results of mozaik's class names (their ``identifier``), kept in
#: datastore.analysis.pickle, and DataStore.get_analysis_result(identifier=...) as mozaik filters them.
FAKE_MOZAIK = {
    "mozaik/__init__.py": "",
    "mozaik/storage/__init__.py": "",
    "mozaik/storage/datastore.py": '''
import json, os

class _Result:
    def __init__(self, kind, **fields):
        self.identifier = kind
        self.__dict__.update(fields)

class PickledDataStore:
    def __init__(self, load, parameters, replace=False):
        path = os.path.join(parameters["root_directory"], "datastore.analysis.pickle")
        self.results = [_Result(r.pop("kind"), **r) for r in json.load(open(path))]  # JSON: a stand-in's file

    def get_analysis_result(self, **query):
        return [r for r in self.results if r.identifier == query.get("identifier", r.identifier)]
''',
    # NeuralEnsemble's parameters, which the reader takes ParameterSet from: a mapping (the real one imports
    # scipy.stats, seconds of CPU a reading)
    "parameters/__init__.py": "ParameterSet = dict\n",
}


@pytest.fixture
def fake_mozaik(tmp_path) -> dict[str, str]:
    """The environment variables of a model environment whose mozaik (and parameters) are the stand-ins."""
    for name, text in FAKE_MOZAIK.items():
        (tmp_path / "site" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "site" / name).write_text(text)
    return {**os.environ, "PYTHONPATH": str(tmp_path / "site")}


def store(run_dir: Path, results: list[dict], where: str = "ParameterSearch_____") -> None:
    (run_dir / where).mkdir(parents=True)
    (run_dir / where / "datastore.analysis.pickle").write_text(json.dumps(results))


def test_mozaiks_stored_results_become_single_values(tmp_path, fake_mozaik):
    run_dir, script = tmp_path / "run", tmp_path / "run.py"
    store(run_dir, [
        {"kind": "SingleValue", "value_name": "Firing rate", "sheet_name": "V1_Exc_L4", "value": 4.5},
        {"kind": "SingleValue", "value_name": "Firing rate", "sheet_name": "V1_Exc_L4", "value": 5.5},  # another stimulus
        {"kind": "PerNeuronValue", "value_name": "CV(ISI)", "sheet_name": "V1_Inh_L4", "values": [0.5, 1.0, 1.5, float("nan")]},
        {"kind": "SingleValue", "value_name": "Synchrony", "sheet_name": None, "value": 0.25},
        {"kind": "AnalogSignalList", "sheet_name": "V1_Exc_L4"},
    ])  # fmt: skip
    values = collect_values(run_dir, "mozaik", sys.executable, fake_mozaik, str(script))
    assert values == {
        "V1_Exc_L4.Firing_rate": 4.5,
        "V1_Exc_L4.Firing_rate#2": 5.5,
        "V1_Inh_L4.CV_ISI.mean": 1.0,
        "V1_Inh_L4.CV_ISI.std": pytest.approx((2 * 0.25 / 3) ** 0.5),
        "Synchrony": 0.25,
    }


def test_names_and_their_order_do_not_depend_on_the_order_mozaik_stored_the_results(tmp_path, fake_mozaik, monkeypatch):
    # Real mozaik (VogelsAbbott2005, PopulationMeanAndVar) stores the same results in another order in each run:
    # a name must mean the same result in every job, the columns of summary.csv come in one order.
    results = [
        {"kind": "SingleValue", "value_name": "Mean(Firing rate)", "sheet_name": "Inh_Layer", "value": 13.8, "stimulus_id": "b"},
        {"kind": "PerNeuronValue", "value_name": "Firing rate", "sheet_name": "Exc_Layer", "values": [1.0, 3.0], "stimulus_id": "b"},
        {"kind": "PerNeuronValue", "value_name": "Firing rate", "sheet_name": "Exc_Layer", "values": [5.0, 7.0], "stimulus_id": "a"},
        {"kind": "SingleValue", "value_name": "Mean(Firing rate)", "sheet_name": "Exc_Layer", "value": 11.9, "stimulus_id": "b"},
    ]
    site = fake_mozaik["PYTHONPATH"]
    monkeypatch.syspath_prepend(site)  # the reader in this process: three children cost seconds
    for module in [name for name in sys.modules if name.split(".")[0] == "mozaik"]:
        monkeypatch.delitem(sys.modules, module)
    read = []
    try:
        for number, order in enumerate([results, results[::-1], results[2:] + results[:2]]):
            store(tmp_path / f"run{number}", order)
            read.append(list(datastore_values.mozaik_values(str(tmp_path / f"run{number}"))["values"].items()))
    finally:  # the stand-ins leave no module behind for other tests (the real parameters, if loaded, stays)
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(site):
                del sys.modules[name]
    assert read[0] == read[1] == read[2] == [
        ("Exc_Layer.Firing_rate.mean", 6.0),  # stimulus "a" first, whatever the order stored
        ("Exc_Layer.Firing_rate.mean#2", 2.0),
        ("Exc_Layer.Firing_rate.std", 1.0),
        ("Exc_Layer.Firing_rate.std#2", 1.0),
        ("Exc_Layer.Mean_Firing_rate", 11.9),
        ("Inh_Layer.Mean_Firing_rate", 13.8),
    ]


def test_a_datastore_without_such_results_says_what_it_holds(tmp_path, fake_mozaik, caplog):
    run_dir = tmp_path / "run"
    store(run_dir, [{"kind": "AnalogSignalList"}, {"kind": "PerNeuronPairValue"}, {"kind": "AnalogSignalList"}])
    assert collect_values(run_dir, "mozaik", sys.executable, fake_mozaik, str(tmp_path / "run.py")) == {}
    assert f"holds no SingleValue or PerNeuronValue: it holds 2 AnalogSignalList, 1 PerNeuronPairValue" in caplog.text
    (run_dir / "metrics.json").write_text('{"rate": 3}')  # a script's own metrics.json: no datastore read
    assert collect_values(run_dir, "mozaik", sys.executable, fake_mozaik, str(tmp_path / "run.py")) == {"rate": 3}


def test_a_datastore_of_more_values_than_a_job_records_names_the_way_to_choose_them(tmp_path, fake_mozaik):
    store(tmp_path / "run", [{"kind": "SingleValue", "value_name": f"v{n}", "sheet_name": "V1", "value": n} for n in range(MAX_METRICS + 1)])
    with pytest.raises(TaskResultError, match=rf"the datastore holds {MAX_METRICS + 1:,} single values .* name those to keep with task.values=module.function"):
        collect_values(tmp_path / "run", "mozaik", sys.executable, fake_mozaik, str(tmp_path / "run.py"))


def test_no_datastore_or_no_mozaik_is_said_and_the_job_has_no_values(tmp_path, caplog):
    (tmp_path / "run").mkdir()
    assert collect_values(tmp_path / "run", "mozaik", sys.executable, dict(os.environ), str(tmp_path / "run.py")) == {}
    assert "No single values from the run: no mozaik datastore (datastore.analysis.pickle) under" in caplog.text
    store(tmp_path / "run", [])
    collect_values(tmp_path / "run", "mozaik", sys.executable, dict(os.environ), str(tmp_path / "run.py"))
    assert f"cannot import mozaik in {sys.executable}: install it in the model's environment (task.env)" in caplog.text


def test_a_users_function_gives_the_values_and_its_errors_fail_the_job(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "my_values.py").write_text(
        "import json, os\n"
        "def rates(run_dir):\n    return {'rate_hz': float(open(os.path.join(run_dir, 'rate.txt')).read())}\n"
        "def wrong(run_dir):\n    return [1]\n"
    )
    (tmp_path / "run" / "rate.txt").write_text("7.5")
    (tmp_path / "run" / "metrics.json").write_text('{"n": 2}')
    script = str(tmp_path / "run.py")  # the function's module sits beside the run script
    assert collect_values(tmp_path / "run", "my_values.rates", sys.executable, dict(os.environ), script) == {"n": 2, "rate_hz": 7.5}
    with pytest.raises(TaskResultError, match=r"task.values = 'my_values.wrong': my_values.wrong\(.*\) returned list, not a mapping"):
        collect_values(tmp_path / "run", "my_values.wrong", sys.executable, dict(os.environ), script)
    (tmp_path / "run" / "rate.txt").unlink()
    with pytest.raises(TaskResultError, match=r"reading the single values \(my_values.rates\) failed: FileNotFoundError: .*values.log"):
        collect_values(tmp_path / "run", "my_values.rates", sys.executable, dict(os.environ), script)


def test_a_sweep_of_a_run_script_has_the_functions_values_in_its_table(tmp_path):
    (tmp_path / "param").mkdir()
    (tmp_path / "param" / "defaults").write_text("{'sheets': {'exc': {'weight': 0.01}}}")
    (tmp_path / "run.py").write_text(  # stores its result in a file of its own, as mozaik stores a datastore
        "import sys\nfrom launcher.mozaik.parameter_files import read_parameters\n"
        "open('weight.txt', 'w').write(str(read_parameters(sys.argv[3])['sheets']['exc']['weight']))\n"
    )
    (tmp_path / "readout.py").write_text("def values(run_dir):\n    return {'w_times_100': 100 * float(open(run_dir + '/weight.txt').read())}\n")
    import_model(tmp_path / "param" / "defaults", tmp_path / "conf", tmp_path / "run.py", "mz")
    done = subprocess.run(
        [sys.executable, str(RUN_SIM), "--config-dir", "conf", "model=mz", "-m", "sheets.exc.weight=0.01,0.02",
         "task.values=readout.values", "hydra.sweep.dir=D"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = list(csv.DictReader((tmp_path / "D" / "summary.csv").open()))
    assert sorted(float(row["w_times_100"]) for row in rows) == [1.0, 2.0]
