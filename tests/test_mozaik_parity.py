"""Each job's ``parameters`` file is mozaik's own tree, for every mozaik tree of the tests.

For each tree: imported as a model option (``import-mozaik --run-script --name``), composed by Hydra with a
job's changes as ``run_sim.py`` composes it, and written into a run directory by the code every job runs
(:func:`launcher.app.write_tree`, given the task's ``_tuples_``); that file, read by mozaik's own reader
(NeuralEnsemble's ``parameters``, see ``test_mozaik_reference.py``), must equal the tree mozaik builds from
the model's files with the same changes (``load_parameters``: the changes, then the references), leaf by
leaf, types included: a tuple is no list, None stays None, a distribution stays a distribution. All in this
process (no run_sim.py subprocess, no simulation): the sweep's running of jobs is tested elsewhere.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

import launcher.model.config  # noqa: F401  (registers run_sim.py's schema, as run_sim.py does)
from launcher.app import model_tree, task_of, write_tree
from launcher.mozaik.parameter_files import write_parameters
from launcher.mozaik.script_task import import_model
from launcher.run.tree_hash import resolved_tree
from launcher.sweep.overrides import hydra_override
from support import REPO, write_example
from test_mozaik_reference import MODEL as LSV1M_STYLE
from test_mozaik_reference import SWEEP as LSV1M_SWEEP
from test_mozaik_reference import MozaikParameterSet, assert_same_leaves, mozaik_load
from test_references import DEFAULTS as REFS_DEFAULTS
from test_references import SHEETS as REFS_SHEETS

pytestmark = pytest.mark.filterwarnings("ignore::launcher.mozaik.parameter_files.MozaikFormatWarning")

#: The mozaik model of docs/own-models.md (tests/data/mozaik is not one mozaik reads: it includes a YAML file).
DOCS_MODEL = "3. A mozaik model directory"

#: A ref() to a node holding tuples, to a tuple, to None; arithmetic on a ref.
TUPLES = "{'a': {'t': (1, 2), 'n': None, 'd': {'u': ((1,), [2, (3,)])}}, 'b': ref('a'), 'c': ref('a.t'), 'x': 1.5, 'y': ref('x') * 2}\n"

#: Values that are hard to carry through YAML and Hydra (the tree of test_mozaik_reference's writer test).
AWKWARD = {
    "floats": [0.1 + 0.2, 1e-300, 1e16, 5e-324, 1.7976931348623157e308, -0.0, math.inf, -math.inf, 2.5],
    "ints": [0, -1, 10**18, True, None],
    "strings": ["it's", 'say "hi"', "back\\slash", "new\nline\ttab", "ünïcødé 日本", "", "${x}", "# no comment"],
    "tuples": [(), (1,), ((1, 2), [3, {"a": (4,)}])],
    "nested": [{"a": 1}, [], {}, [[{"b": None}]]],
    "empty": {},
    "scalar": 1,
}


def docs_model(directory: Path) -> Path:
    write_example(DOCS_MODEL, directory)
    return directory


def tuples_model(directory: Path) -> Path:
    (directory / "param").mkdir(parents=True)
    (directory / "param" / "defaults").write_text(TUPLES)
    return directory


def references_model(directory: Path) -> Path:
    (directory / "param").mkdir(parents=True)
    (directory / "param" / "defaults").write_text(REFS_DEFAULTS)
    (directory / "param" / "sheets").write_text(REFS_SHEETS)
    return directory


def awkward_model(directory: Path) -> Path:
    write_parameters(AWKWARD, directory / "param" / "defaults")
    return directory


#: Every mozaik tree of the tests: its model directory (made in a temporary one, or the tests' own) and the
#: changes of the jobs compared. Changes are of leaves mozaik can change (a change under a ref() to a node
#: fails in mozaik itself: test_references.py).
TREES: dict[str, tuple[Any, list[dict[str, Any]]]] = {
    "docs' model": (docs_model, [{}, {"sheets.exc.weight": 0.02, "input.rate": 100}]),
    "lsv1m style": (LSV1M_STYLE, [{}, LSV1M_SWEEP]),
    "refs to nodes": (references_model, [{}, {"sheets.l4.params.density": 7}, {"sheets.l4.params.tau": 3.0}]),
    "tuples through refs": (tuples_model, [{}, {"x": 4.0, "a.n": 3}]),
    "awkward values": (awkward_model, [{}, {"scalar": 2}]),
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Each tree's model directory and its imported config directory."""
    made = {}
    for name, (model, _) in TREES.items():
        if callable(model):
            model = model(tmp_path_factory.mktemp("model"))
        out = tmp_path_factory.mktemp("conf")
        script = out / "run.py"
        script.write_text("")
        import_model(model / "param" / "defaults", out, script, "mz", base_dir=model)
        made[name] = (model, out)
    return made


def job_parameters(config_dir: Path, changes: dict[str, Any], run_dir: Path) -> MozaikParameterSet:
    """The job's ``parameters`` file as mozaik reads it: composed as run_sim.py composes the job, written as
    the job writes it."""
    overrides = ["model=mz", f"hydra.searchpath=[file://{config_dir}]", *(hydra_override(k, v) for k, v in changes.items())]
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        cfg = compose("config", overrides=overrides)
    _, _, settings = task_of(cfg)
    write_tree(resolved_tree(model_tree(cfg)), run_dir, settings.get("_tuples_") or [])
    return MozaikParameterSet(str(run_dir / "parameters"))


@pytest.mark.parametrize("tree", TREES)
def test_each_jobs_parameters_file_is_the_tree_mozaik_builds_with_its_changes(tree, imported, tmp_path, monkeypatch):
    model, config_dir = imported[tree]
    for number, changes in enumerate(TREES[tree][1]):
        written = job_parameters(config_dir, changes, tmp_path / str(number))
        monkeypatch.chdir(model)  # url() paths are from the model directory, as when mozaik runs it
        assert_same_leaves(written, mozaik_load("param/defaults", changes))


def test_a_tuple_a_ref_copies_stays_a_tuple(imported, tmp_path):
    written = job_parameters(imported["tuples through refs"][1], {}, tmp_path)
    assert written["b"]["t"] == (1, 2) and written["c"] == (1, 2) and written["b"]["n"] is None
    assert written["b"]["d"]["u"] == ((1,), [2, (3,)])
