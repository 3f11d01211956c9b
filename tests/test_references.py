"""A change of a key under a reference to a whole node, pinned. In an imported mozaik tree the
referring node is a copy, as mozaik's references are (``parameters`` expands a ref() of a node into a
``tree_copy()``): a change under it changes that copy alone, a change of the node referred to reaches
every copy. mozaik itself refuses the first (its ``load_parameters`` applies the changes before it
expands the references: a TypeError); here it does what it says. In any other Hydra config, a change
under an interpolation of a whole node is refused with what to do instead. The same on every
OmegaConf: 2.3 refuses such an override, 2.4 writes it through to the node referred to, and neither
happens here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import parameters  # NeuralEnsemble's, mozaik's parameter library: the reference
import pytest
import yaml

from support import REPO, RUN_SIM

SHEETS = """{
    'l4': {'params': {'density': 1, 'tau': 2.0, 'nested': {'a': 1}}},
    'l23': {'params': ref('sheets.l4.params')},
}
"""
DEFAULTS = """{
    'sheets': url('param/sheets'),
    'other': {'copy': ref('sheets.l4'), 'k': ref('sheets.l4.params.tau') * 2},
}
"""
TREE = {  # the same tree, for NeuralEnsemble's reader
    "sheets": {
        "l4": {"params": {"density": 1, "tau": 2.0, "nested": {"a": 1}}},
        "l23": {"params": parameters.ParameterReference("sheets.l4.params")},
    },
    "other": {"copy": parameters.ParameterReference("sheets.l4"), "k": parameters.ParameterReference("sheets.l4.params.tau") * 2},
}


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "HYDRA_FULL_ERROR": "0"}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tmp_path_factory.mktemp("model")
    (model / "param").mkdir()
    (model / "param" / "defaults").write_text(DEFAULTS)
    (model / "param" / "sheets").write_text(SHEETS)
    (model / "run.py").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "launcher", "import-mozaik", "param/defaults", "out", "--run-script", "run.py", "--name", "mz"],
        cwd=model, capture_output=True, text=True, env=env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return model


def composed(model: Path, override: str) -> dict:
    """The job's tree as run_sim.py composes it for one override (resolved)."""
    done = subprocess.run(
        [sys.executable, str(RUN_SIM), "--config-dir", "out", "model=mz", override, "--cfg", "job", "--resolve"],
        cwd=model, capture_output=True, text=True, env=env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    tree = yaml.safe_load(done.stdout)
    return {key: tree[key] for key in ("sheets", "other")}


def mozaik_tree(key: str, value: object, references_first: bool) -> dict:
    """What mozaik's parameter library gives: references replaced (copies), then the change
    (``references_first``), or the change, then the references (a change of a referenced leaf)."""
    tree = parameters.ParameterSet(TREE).tree_copy()
    if references_first:
        tree.replace_references()
        tree.replace_values(**{key: value})
    else:
        tree.replace_values(**{key: value})
        tree.replace_references()
    return tree.as_dict()


@pytest.mark.parametrize(
    "key, value, references_first",
    [
        ("sheets.l23.params.density", 5, True),  # under the copy: it alone changes
        ("other.copy.params.nested.a", 9, True),  # deeper, under a copy of a node above
        ("sheets.l4.params.density", 7, False),  # the node referred to: every copy follows
        ("sheets.l4.params.tau", 3.0, False),  # and the arithmetic on it
    ],
)
def test_a_change_under_a_mozaik_reference_is_what_mozaik_makes(imported: Path, key: str, value: object, references_first: bool) -> None:
    assert composed(imported, f"{key}={value}") == mozaik_tree(key, value, references_first)


def test_mozaik_itself_refuses_a_change_under_a_reference() -> None:
    """Why the copy semantics are a choice: mozaik's load order (changes, then references) fails."""
    tree = parameters.ParameterSet(TREE).tree_copy()
    with pytest.raises(TypeError, match="does not support item assignment"):
        tree.replace_values(**{"sheets.l23.params.density": 5})


def test_an_imported_reference_to_a_node_is_a_copy_of_references_to_its_leaves(imported: Path) -> None:
    sheets = yaml.safe_load((imported / "out" / "mz" / "param" / "sheets.yaml").read_text())
    assert sheets["l23"]["params"] == {
        "density": "${sheets.l4.params.density}",
        "tau": "${sheets.l4.params.tau}",
        "nested": {"a": "${sheets.l4.params.nested.a}"},
    }


@pytest.mark.parametrize("fast_paths", ["1", "0"])
def test_a_change_under_an_interpolation_of_a_whole_node_is_refused_before_anything_runs(tmp_path: Path, fast_paths: str) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "c.yaml").write_text(
        "sheets:\n  l4:\n    params:\n      density: 1\n      tau: 2\n  l23:\n    params: ${sheets.l4.params}\n"
    )
    (tmp_path / "app.py").write_text(
        "import hydra\n\n"
        "@hydra.main(config_path='conf', config_name='c', version_base='1.3')\n"
        "def main(cfg):\n    return {'density': float(cfg.sheets.l23.params.density)}\n\n"
        "if __name__ == '__main__':\n    main()\n"
    )
    done = subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/sweeper=mozaik", "sheets.l23.params.density=5,6", "hydra.sweep.dir=sweep"],
        cwd=tmp_path, capture_output=True, text=True, env={**env(), "MOZAIK_LAUNCHER_FAST_PATHS": fast_paths}, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "sheets.l23.params is the interpolation ${sheets.l4.params}, a reference to a whole node" in done.stderr
    assert "change the key in the node it refers to" in done.stderr
    assert not (tmp_path / "sweep").exists()  # nothing run or written
