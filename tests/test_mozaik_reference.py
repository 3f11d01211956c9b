"""Differential tests: the safe reader against NeuralEnsemble's ``parameters`` package, mozaik's own reader.

mozaik reads a parameter file with ``eval()`` over a namespace of ``parameters`` classes and its own
(``MozaikExtendedParameterSet``), then ``load_parameters`` calls ``replace_values(**modified)`` and
``replace_references()``. Here that reading is rebuilt from ``parameters`` (the reference: the eval() below is
the one mozaik runs, on this repository's own test files only), with small classes that record their
arguments in place of mozaik's PyNNDistribution, NumpyRNG and ParameterWithUnitsAndPeriod (which need pyNN
and mozaik). Its tree is compared leaf by leaf with ours: the tree :func:`read_parameters` gives, the Hydra
import composed with overrides, and what the writer writes.

The model under tests/data/lsv1m_style is written in the style of the published LSV1M models: url() includes,
ref() chains, arithmetic on refs in several forms, ParameterSet, ParameterTable, spaces and a tab before the
opening brace, a repeated key, tuples, PyNNDistribution, ParameterWithUnitsAndPeriod, NumpyRNG and pi.

Where ``parameters`` cannot be the reference (``-ref()`` has no ``__neg__``, ``2 ** ref()`` no ``__rpow__``,
refs in lists are never replaced, a path through a ref fails unless the ref was replaced before), ours is
tested alone, and the failure of ``parameters`` is shown.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import parameters
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from launcher.mozaik import parameter_files as ours  # its constructs: this module's own names are the reference's
from launcher.mozaik.parameter_files import (
    Construct,
    MozaikFormatWarning,
    from_hydra,
    import_mozaik,
    read_parameters,
    tuple_paths,
    write_parameters,
)

MODEL = Path(__file__).resolve().parent / "data" / "lsv1m_style"
ROOT = "param/defaults"
#: Overrides of a parameter search: leaves that arithmetic, chains and subtree refs are computed from.
SWEEP = {
    "sheets.l4_cortex_exc.K": 1500,
    "sheets.l4_cortex_exc.syn_tau_scaler": 2,
    "sheets.l4_cortex_exc.params.sx": 4000.0,
    "sheets.l23_cortex_exc.layer23_aff_ratio": 0.3,
    "sheets.l23_cortex_exc.radius": 1,
    "sheets.l4_cortex_inh.params.sy": 2500.0,  # a ref replaced by a value
}

# The model repeats a key on purpose (as a published one does); the warning is tested in test_mozaik_format.py.
pytestmark = pytest.mark.filterwarnings("ignore::launcher.mozaik.parameter_files.MozaikFormatWarning")


# --------------------------------------------------------------------------- mozaik's reader, from `parameters`


class Recorded:
    """A mozaik class that needs pyNN or mozaik, replaced by its call's arguments, named like our fields."""

    construct = ""

    def __init__(self, **arguments: Any) -> None:
        self.arguments = arguments


class PyNNDistribution(Recorded):
    construct = "PyNNDistribution"

    def __init__(self, name: str, **params: Any) -> None:  # mozaik's signature
        super().__init__(name=name, params=params)


class NumpyRNG(Recorded):
    construct = "NumpyRNG"

    def __init__(self, seed: int | None = None, parallel_safe: bool = True) -> None:  # pyNN's signature
        super().__init__(seed=seed, parallel_safe=parallel_safe)


class ParameterWithUnitsAndPeriod(Recorded):
    construct = "ParameterWithUnitsAndPeriod"

    def __init__(self, value: Any, units: str | None = None, period: Any = None) -> None:  # mozaik's signature
        super().__init__(value=value, units=units, period=period)


class RandomDistribution(Recorded):
    construct = "RandomDistribution"


def mozaik_namespace() -> dict[str, Any]:
    """The names mozaik's MozaikExtendedParameterSet.read_from_str evaluates a parameter file with."""
    return {
        "ref": parameters.ParameterReference,
        "url": MozaikParameterSet,
        "ParameterSet": parameters.ParameterSet,
        "ParameterRange": parameters.ParameterRange,
        "ParameterTable": parameters.ParameterTable,
        "PyNNDistribution": PyNNDistribution,
        "RandomDistribution": RandomDistribution,
        "NumpyRNG": NumpyRNG,
        "ParameterWithUnitsAndPeriod": ParameterWithUnitsAndPeriod,
        "pi": math.pi,  # numpy.pi in mozaik: the same float
    }


class MozaikParameterSet(parameters.ParameterSet):
    """mozaik's MozaikExtendedParameterSet: a ParameterSet read from a file (``url()``, a path relative to the
    working directory, the model directory) by eval() over mozaik's namespace."""

    @staticmethod
    def read_from_str(s: str, update_namespace: dict[str, Any] | None = None) -> Any:
        # The reference reader is eval(), as in mozaik; only this repository's test files are read with it.
        return eval(s, mozaik_namespace()) or {}  # noqa: S307

    def __init__(self, initialiser: Any, label: str | None = None, update_namespace: Any = None) -> None:
        if isinstance(initialiser, str):
            initialiser = self.read_from_str(Path(initialiser).read_text(encoding="utf-8"))
        super().__init__(initialiser, label)


def mozaik_load(root: str, modified: dict[str, Any] | None = None) -> parameters.ParameterSet:
    """mozaik's load_parameters: read, replace the modified values, then the references."""
    tree = MozaikParameterSet(root)
    tree.replace_values(**(modified or {}))
    tree.replace_references()
    return tree


# --------------------------------------------------------------------------- comparing trees leaf by leaf


def construct_fields(value: Any) -> tuple[str, dict[str, Any]] | None:
    """A construct's name and fields, ours or the reference's; None for anything else."""
    if isinstance(value, Construct):
        return type(value).__name__, {f.name: getattr(value, f.name) for f in fields(value)}  # type: ignore[arg-type]
    if isinstance(value, Recorded):
        return value.construct, value.arguments
    if isinstance(value, parameters.ParameterRange):
        return "ParameterRange", {"values": value._values}
    return None


def leaves(tree: Any) -> dict[str, Any]:
    """Every node of a tree by its dotted path: each leaf as its type and value (so 1 differs from 1.0), each
    container or construct as its kind (so a tuple differs from a list, a construct from a dict)."""
    found: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        construct = construct_fields(value)
        if construct is not None:
            found[path], children = construct[0], construct[1].items()
        elif isinstance(value, dict):  # parameters' ParameterSet and ParameterTable too
            found[path], children = "dict", value.items()
        elif isinstance(value, (list, tuple)):
            found[path], children = type(value).__name__, enumerate(value)
        else:
            found[path], children = (type(value).__name__, value), ()
        for key, child in children:
            walk(child, f"{path}.{key}" if path else str(key))

    walk(tree, "")
    return found


def assert_same_leaves(ours: Any, reference: Any) -> None:
    ours_leaves, reference_leaves = leaves(ours), leaves(reference)
    missing = "<missing>"
    differences = {
        path: (ours_leaves.get(path, missing), reference_leaves.get(path, missing))
        for path in sorted(ours_leaves.keys() | reference_leaves.keys())
        if ours_leaves.get(path, missing) != reference_leaves.get(path, missing)
    }
    listed = "\n".join(f"{path}: {pair}" for path, pair in differences.items())
    assert not differences, f"path: (ours, parameters'):\n{listed}"


def at(tree: Any, path: str) -> Any:
    for key in path.split("."):
        tree = tree[int(key)] if isinstance(tree, (list, tuple)) else tree[key]
    return tree


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def in_model(monkeypatch) -> Path:
    """The working directory is the model directory, as when mozaik runs a model (url() paths are from there)."""
    monkeypatch.chdir(MODEL)
    return MODEL


@pytest.fixture(scope="module")
def hydra_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hydra") / "conf"
    import_mozaik(MODEL / ROOT, out, base_dir=MODEL)
    return out


def composed(config_dir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The Hydra import composed with ``overrides`` and resolved, back in mozaik's form (constructs, tuples)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir)):
        cfg = compose("config", overrides=[f"{key}={value}" for key, value in overrides.items()])
    tree = OmegaConf.to_container(cfg, resolve=True)
    return from_hydra(tree, tuples=tuple_paths(read_parameters(MODEL / ROOT, base_dir=MODEL)))


# --------------------------------------------------------------------------- the differential tests


def test_the_reader_gives_the_tree_mozaik_gives(in_model):
    ours, reference = read_parameters(ROOT), mozaik_load(ROOT)
    assert_same_leaves(ours, reference)
    # the model holds what it is meant to test, computed as mozaik computes it
    l4, l23 = ours["sheets"]["l4_cortex_exc"], ours["sheets"]["l23_cortex_exc"]
    assert l4["L4ExcL4ExcConnection"]["num_samples"] == 1000 * 4.0 / 5.0 * (1 - 0.2)
    assert l23["L23ExcL23ExcConnection"]["num_samples"] == (1 - 0.909) * 2300 * 4 / 5 * (1 - 0.22)
    assert l23["L23ExcL23ExcConnection"]["weight_functions"]["f1"]["params"]["arborization_constant"] == 270
    assert l4["delay_table"]["L23_exc"] == {"L4_exc": 2.0, "L4_inh": 1.5, "L23_exc": -1.0}
    assert ours["sheets"]["retina_lgn"]["params"]["size"] == (6.0, 6.0)
    assert l4["params"]["recorders"]["1"]["variables"] == "spikes"


def test_the_repeated_key_is_warned_about(in_model):
    with pytest.warns(MozaikFormatWarning, match="l23_cortex_exc, line 33, column 9: key 'weight_functions'"):
        read_parameters(ROOT)


def test_a_swept_tree_gives_the_values_mozaik_gives(in_model, hydra_dir):
    ours, reference = composed(hydra_dir, SWEEP), mozaik_load(ROOT, SWEEP)
    assert_same_leaves(ours, reference)
    # values computed from the swept leaves changed with them, through arithmetic, chains and subtree refs
    l4, l23, inh = (ours["sheets"][name] for name in ("l4_cortex_exc", "l23_cortex_exc", "l4_cortex_inh"))
    assert l4["L4ExcL4ExcConnection"]["num_samples"] == 1500 * 4.0 / 5.0 * (1 - 0.2)
    assert inh["L4InhL4ExcConnection"]["num_samples"] == 1500 * 4.0 / 5.0 * (1 - 0.2) * 0.6  # on arithmetic
    assert l23["params"]["cell"]["params"]["tau_syn_exc"] == 1.5 * 2  # arithmetic in a subtree a ref copies
    assert l23["L23ExcL23ExcConnection"]["short_term_plasticity"]["tau_psc"] == 3.0  # a path through that ref
    assert inh["L4InhL4ExcConnection"]["aspect"] == 2500.0 / 4000.0
    assert l23["L23ExcL4ExcConnection"]["surface"] == 2 * math.pi * 1**2
    assert (inh["params"]["sy"], l4["params"]["sy"]) == (2500.0, 4000.0)  # the ref replaced, its source swept


def test_without_overrides_the_hydra_import_gives_the_tree_mozaik_gives(in_model, hydra_dir):
    assert_same_leaves(composed(hydra_dir, {}), mozaik_load(ROOT))


@pytest.mark.parametrize("resolve", [True, False], ids=["resolved", "with refs and arithmetic"])
def test_a_written_tree_reads_back_in_mozaik_to_the_same_tree(in_model, tmp_path, resolve):
    write_parameters(read_parameters(ROOT, resolve=resolve), tmp_path / "written")
    assert_same_leaves(read_parameters(ROOT), mozaik_load(str(tmp_path / "written")))


def test_a_written_composed_tree_reads_back_in_mozaik_with_its_tuples(in_model, hydra_dir, tmp_path):
    swept = composed(hydra_dir, SWEEP)
    write_parameters(swept, tmp_path / "parameters")  # as a job writes its parameters file
    reference = mozaik_load(str(tmp_path / "parameters"))
    assert_same_leaves(swept, reference)
    assert type(at(reference, "visual_field.centre")) is tuple
    assert type(at(reference, "sheets.l4_cortex_inh.params.recorders.1.variables")) is tuple


def test_awkward_values_written_read_back_in_mozaik_as_they_are(tmp_path):
    tree = {
        "floats": [0.1 + 0.2, 1e-300, 1e16, 5e-324, 1.7976931348623157e308, -0.0, math.inf, -math.inf, 2.5],
        "ints": [0, -1, 10**40, True, None],
        "strings": ["it's", 'say "hi"', "back\\slash", "new\nline\ttab", "ünïcødé 日本", "", "${x}", "# no comment"],
        "tuples": [(), (1,), ((1, 2), [3, {"a": (4,)}])],
        "nested": [{"a": 1}, [], {}, [[{"b": None}]]],
        "empty": {},
        "ranges": ours.ParameterRange([1, 2.5, (3, 4)]),
        "units": ours.ParameterWithUnitsAndPeriod(1, units="rad", period=math.pi),
        "rng": ours.NumpyRNG(),
        "dist": ours.PyNNDistribution("normal", {"mu": -0.5, "rng": ours.NumpyRNG(3, False), "shape": (2,)}),
    }
    write_parameters(tree, tmp_path / "awkward")
    reference = mozaik_load(str(tmp_path / "awkward"))
    assert_same_leaves(tree, reference)
    assert math.copysign(1, reference["floats"][5]) == -1


# --------------------------------------------------------------------------- where `parameters` is no reference


def reference_of(text: str, tmp_path: Path) -> parameters.ParameterSet:
    (tmp_path / "params").write_text(text, encoding="utf-8")
    return mozaik_load(str(tmp_path / "params"))


@pytest.mark.parametrize(
    "expression, value",
    [
        ("-ref('a')", -3),  # ParameterReference has no __neg__
        ("+ref('a')", 3),  # nor __pos__
        ("2 ** ref('a')", 8),  # nor __rpow__
        ("ref('a') ** ref('a')", 27),  # float ** ParameterReference at replacement: no __rpow__
        ("-ref('a') * 2 + 1", -5),
    ],
)
def test_arithmetic_parameters_cannot_compute_is_computed_by_ours(tmp_path, expression, value):
    text = "{'a': 3, 'b': " + expression + "}"
    (tmp_path / "params").write_text(text, encoding="utf-8")
    assert read_parameters(tmp_path / "params")["b"] == value
    with pytest.raises(TypeError):
        reference_of(text, tmp_path)


def test_refs_in_lists_are_resolved_by_ours_and_left_by_parameters(tmp_path):
    text = "{'a': 3, 'b': [ref('a'), ref('a') * 2, (ref('a'),)]}"
    (tmp_path / "params").write_text(text, encoding="utf-8")
    assert read_parameters(tmp_path / "params")["b"] == [3, 6, (3,)]
    assert all(isinstance(item, parameters.ParameterReference) for item in reference_of(text, tmp_path)["b"][:2])


def test_a_path_through_a_ref_is_followed_by_ours_whatever_the_order(tmp_path):
    text = "{'w': ref('x.z'), 'x': ref('y'), 'y': {'z': 1}}"  # parameters replaces w before x: it fails
    (tmp_path / "params").write_text(text, encoding="utf-8")
    assert read_parameters(tmp_path / "params")["w"] == 1
    with pytest.raises(TypeError, match="not subscriptable"):
        reference_of(text, tmp_path)
