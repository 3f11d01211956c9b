"""JobComposer gives, for any job, exactly what Hydra's full composition gives.

The master config is built as ``Hydra.multirun`` builds it (``compose_config``
in MULTIRUN mode, with the ``hydra.mode=MULTIRUN`` Hydra's command line adds),
and every job is composed twice: by one shared :class:`JobComposer` (so its
fast path runs job after job on the same base) and by
``config_loader.load_sweep_config``. The two must match node for node: values
and interpolations as written, resolved values, node classes, declared types,
structured-config types, flags and the resolver cache; or both must raise the
same error.
"""

from __future__ import annotations

import logging

import math
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import cloudpickle
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import Container, DictConfig, FloatNode, IntegerNode, ListConfig, OmegaConf, StringNode, ValueNode

import launcher  # noqa: F401  (registers the schema and the run_dirname resolver)
from launcher import compat
from launcher.app import use_card_names
from launcher.sweep.compose import ComposingConfigLoader, JobComposer, restore, snapshot
from launcher.sweep.naming import name_run_dirs_after_overrides
from launcher.model.config import RootConfig
from launcher.sweep.tree import schema_keys

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

#: Hydra overrides of the two masters: a plain multirun, and one that chooses the
#: Slurm launcher and sets Hydra fields the composer must carry over to every job.
MASTERS = {
    "basic": ["hydra.mode=MULTIRUN"],
    "slurm": [
        "hydra/launcher=submitit_slurm",
        "hydra.job.env_copy=[HOME]",
        "hydra.job.config.override_dirname.kv_sep=:",
        "hydra.sweep.dir=sweeps/${now:%H-%M-%S-%f}",
        "hydra.mode=MULTIRUN",
    ],
}


class Sweep:
    """A master config, Hydra's loader and the one composer shared by a module's tests."""

    def __init__(self, hydra_overrides: List[str]) -> None:
        gh = GlobalHydra.instance()
        assert gh.hydra is not None
        self.master = gh.hydra.compose_config(
            "config", overrides=hydra_overrides + ["sheets.V1.density=1,2"], run_mode=RunMode.MULTIRUN
        )
        name_run_dirs_after_overrides(self.master)  # as the mozaik sweeper sets a sweep up
        self.loader = gh.config_loader()
        # The sweeper reads the sweep dir before any job: ${now:...} is then in the master's cache.
        self.sweep_dir = str(self.master.hydra.sweep.dir)
        self.composer = JobComposer(self.loader, self.master)

    def both(self, overrides: List[str]) -> Tuple[Any, Any]:
        """(composer's result or exception, Hydra's result or exception)."""
        return _outcome(lambda: self.composer.compose(overrides)), _outcome(
            lambda: self.loader.load_sweep_config(self.master, list(overrides))
        )


def _outcome(compose: Any) -> Any:
    try:
        return compose()
    except Exception as exc:  # compared with Hydra's own error
        return exc


@pytest.fixture(scope="module")
def sweeps() -> Iterator[Dict[str, Sweep]]:
    # Hydra's singletons (HydraConfig, JobRuntime...) as the module found them, restored after it:
    # a later in-process sweep (Hydra's launcher test suite) must not run under this module's.
    singletons = Singleton.get_state()
    use_card_names()  # run_sim.py's hydra/launcher=submitit_slurm (the store is restored after the module)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="test_compose"):
            built = {name: Sweep(overrides) for name, overrides in MASTERS.items()}
            # ${hydra:...} resolves against HydraConfig: the same (the master's) for both results.
            HydraConfig.instance().set_config(built["basic"].master)
            yield built
    finally:
        Singleton.set_state(singletons)


@pytest.fixture(scope="module")
def sweep(sweeps: Dict[str, Sweep]) -> Sweep:
    return sweeps["basic"]


# --- what "identical" means ---------------------------------------------------


def structure(node: Any, path: str = "") -> Iterator[Tuple[Any, ...]]:
    """Every node: class, declared and structured types, flags, key, raw value (interpolations unresolved)."""
    md = node._metadata
    yield (
        path,
        type(node).__name__,
        repr(md.ref_type),
        repr(md.object_type),
        repr(getattr(md, "key_type", None)),
        repr(getattr(md, "element_type", None)),
        md.optional,
        repr(md.key),
        dict(md.flags),
        md.flags_root,
    )
    if isinstance(node, ValueNode):
        value = node._value()
        yield path, type(value).__name__, repr(value)  # repr: 1 != 1.0, nan == nan
    elif node._is_none() or node._is_missing() or node._is_interpolation():
        yield path, repr(node._value())
    else:
        keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
        for key in keys:
            yield from structure(node._get_node(key), f"{path}.{key}")


def resolved_leaves(node: Container, path: str = "") -> Dict[str, Tuple[str, ...]]:
    """Each leaf resolved on its own: its value, or the error resolving it gives."""
    out: Dict[str, Tuple[str, ...]] = {}
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        child = node._get_node(key)
        where = f"{path}.{key}"
        if isinstance(child, Container) and not (child._is_none() or child._is_missing() or child._is_interpolation()):
            out.update(resolved_leaves(child, where))
            continue
        try:
            value = node[key]
            if OmegaConf.is_config(value):
                value = OmegaConf.to_container(value, resolve=True)
            out[where] = ("ok", type(value).__name__, repr(value))
        except Exception as exc:
            out[where] = ("error", type(exc).__name__, str(exc))
    return out


def comparable(data: Any) -> Any:
    """Plain data with NaN made equal to itself (a swept value may be nan)."""
    if isinstance(data, dict):
        return {key: comparable(value) for key, value in data.items()}
    if isinstance(data, list):
        return [comparable(value) for value in data]
    return "nan" if isinstance(data, float) and math.isnan(data) else data


def container(cfg: Any, resolve: bool) -> Any:
    """``OmegaConf.to_container`` of a node, or the error it raises."""
    return _outcome(lambda: comparable(OmegaConf.to_container(cfg, resolve=resolve)))


def same_error(fast: Any, full: Any) -> bool:
    return type(fast) is type(full) and str(fast) == str(full)


def assert_identical(fast: Any, full: Any) -> None:
    if isinstance(full, Exception) or isinstance(fast, Exception):
        assert same_error(fast, full), (fast, full)
        return
    assert container(fast, resolve=False) == container(full, resolve=False)
    assert list(structure(fast)) == list(structure(full))
    assert OmegaConf.get_cache(fast) == OmegaConf.get_cache(full)
    assert resolved_leaves(fast) == resolved_leaves(full)
    # Resolved as a whole (Hydra's own node does not resolve: it refers to the unset
    # hydra.runtime.output_dir), and the model's tree, which resolves unless a job broke it.
    for fast_node, full_node in [(fast, full), (fast.sheets, full.sheets), (fast.experiment, full.experiment)]:
        fast_data, full_data = container(fast_node, resolve=True), container(full_node, resolve=True)
        assert same_error(fast_data, full_data) if isinstance(full_data, Exception) else fast_data == full_data
    assert OmegaConf.is_struct(fast) and OmegaConf.is_struct(full)
    assert OmegaConf.is_readonly(fast.hydra) == OmegaConf.is_readonly(full.hydra)


# --- random override sets -----------------------------------------------------


def _leaf_types() -> Dict[str, str]:
    """Every leaf of the tree (from the schema) and its node type in the composed config."""
    keys = [k for k in schema_keys(RootConfig) if k not in ("task", "objective")]  # the run config's: not leaves of the tree
    leaves = [k for k in keys if not any(other.startswith(k + ".") for other in keys)]
    singletons = Singleton.get_state()  # restored: importing this module changes nothing of Hydra's
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            gh = GlobalHydra.instance()
            assert gh.hydra is not None
            cfg = gh.hydra.compose_config("config", overrides=[], run_mode=RunMode.RUN)
    finally:
        Singleton.set_state(singletons)
    types = {}
    for key in leaves:
        parent, _, leaf = key.rpartition(".")
        node = (OmegaConf.select(cfg, parent) if parent else cfg)._get_node(leaf)
        kinds = ((FloatNode, "float"), (IntegerNode, "int"), (StringNode, "str"))
        types[key] = next(kind for cls, kind in kinds if isinstance(node, cls))
    return types


LEAVES = _leaf_types()

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True)
quoted = st.text(alphabet=st.characters(codec="ascii", min_codepoint=32), max_size=12).map(
    lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).map(lambda x: f"{x:.3g}"),
    st.integers(-10**6, 10**6).map(str),  # ints given to float fields
    st.sampled_from(["1e-3", "-0.5", "-3", "nan", "inf", "-inf", "0", "1_000.5"]),
)
ints = st.one_of(st.integers(-10**6, 10**6).map(str), st.sampled_from(["2**3", "1.5", "'7'", "-1"]))
strings = st.one_of(identifiers, quoted, st.sampled_from(["'a b'", "'a,b'", '"x=y"', "'${name}'", "'\\${name}'"]))
anything = st.sampled_from(
    [
        "abc",  # a string for a number: invalid
        "null",
        "true",
        "[1,2]",
        "{a:1}",
        "''",
        "1,2",  # a sweep: refused outside of the sweeper
        "${sheets.V1.cell.v_thresh}",
        "${sheets.V1.connectivity.exc_weight}",
        "${name}",
        "${missing.key}",
        "???",
    ]
)
VALUES = {"float": floats, "int": ints, "str": strings}


@st.composite
def leaf_overrides(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(sorted(LEAVES)))
    value = draw(st.one_of(VALUES[LEAVES[key]], VALUES[LEAVES[key]], anything))
    prefix = draw(st.sampled_from(["", "", "", "", "++"]))
    return f"{prefix}{key}={value}"


hydra_overrides = st.one_of(
    identifiers.map(lambda v: f"hydra.job.name={v}"),
    st.sampled_from(
        [
            "hydra.job.name=???",
            "+hydra.job.name=added",  # Hydra adds it (the name is unset then); the base has it
            "hydra.job.chdir=true",
            "hydra.job.chdir=null",
            "hydra.verbose=true",
            "hydra.job.config.override_dirname.kv_sep=_",
            "hydra.job.config.override_dirname.item_sep='|'",
            "hydra.job.config.override_dirname.exclude_keys=[pynn_seed,sheets.V1.density]",
            "hydra.sweep.subdir=${hydra.job.override_dirname}",
            "hydra.job.env_set.FOO=bar",  # a field Hydra derives: composed in full
            "hydra.runtime.cwd=/",
        ]
    ),
)
structural = st.sampled_from(
    [
        "+sheets.V1.extra=1",
        "+extra_top={a:1,b:[x,y]}",
        "+sheets.V1.cell.extra='s p a c e'",
        "+threads=2",  # already there: Hydra refuses the plain '+'
        "++threads=3",
        "sheets.V1.cell={v_rest:-70.0,cm:0.3}",  # merged into the node
        "sheets.V1.connections.exc_exc={weight:0.5}",
        "++sheets.V1.connections.inh_inh={delay:1,extra:2}",
        "sheets.V1.connections.exc_exc.weight=0.02",  # replaces an interpolation
        "sheets.V1.connectivity.exc_weight=0.001",  # followed by the interpolations
        "model=vogels_abbott",  # a choice of the app's group: its own base
        "model=no_such_model",  # Hydra's error either way
        "hydra/launcher=basic",  # choices of Hydra's groups: composed in full
        "hydra/launcher=submitit_slurm",
        "~experiment.kick.rate",  # deletions: composed in full
        "~hydra.job.chdir",
        "no_such_key=1",
        "pynn_seed=choice(1,2)",
        "sheets.V1.density=",
        "broken=[",  # does not parse
    ]
)
jobs = st.lists(
    st.lists(st.one_of(leaf_overrides(), leaf_overrides(), leaf_overrides(), hydra_overrides, structural), max_size=5),
    min_size=1,
    max_size=4,
)


# No shrinking: each example composes several configs in full (~60 ms each), and
# shrinking a failure takes minutes; Hypothesis prints the failing example as drawn.
@settings(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(jobs=jobs, master=st.sampled_from(sorted(MASTERS)))
def test_composer_equals_full_composition(sweeps: Dict[str, Sweep], jobs: List[List[str]], master: str) -> None:
    sweep = sweeps[master]
    for overrides in jobs:
        before = sweep.composer.fast
        fast, full = sweep.both(overrides)
        assert_identical(fast, full)
        # pytest --hypothesis-show-statistics: how often each path ran
        event(("fast path" if sweep.composer.fast > before else "full composition") + (", error" if isinstance(full, Exception) else ""))


# --- the cases one by one -----------------------------------------------------


def test_value_changes_take_the_fast_path(sweep: Sweep) -> None:
    composer = JobComposer(sweep.loader, sweep.master)
    grid = [["sheets.V1.density=1000", f"pynn_seed={seed}", "hydra.job.name=x"] for seed in (1, 2, 3)]
    grid += [["+sheets.V1.extra=1"], ["++threads=2"], ["sheets.V1.cell={v_rest:-70.0}"], []]
    for overrides in grid:
        assert_identical(composer.compose(overrides), sweep.loader.load_sweep_config(sweep.master, overrides))
    # Off the fast paths (an unverified Hydra or OmegaConf) every job is composed in full.
    assert (composer.fast, composer.full) == ((len(grid), 0) if compat.fast_paths() else (0, len(grid)))


@pytest.mark.parametrize(
    "overrides",
    [
        ["hydra/launcher=basic", "sheets.V1.density=1"],
        ["hydra/launcher=submitit_slurm"],
        ["~experiment.kick.rate"],
        ["pynn_seed=1,2"],
        ["hydra.job.env_set.FOO=bar"],
        ["hydra.job={chdir:true}"],
        ["hydra.overrides.task=[a]"],
        ["hydra.searchpath=[]"],
        ["key@pkg=1"],
        ["sheets.V1.density=abc"],  # invalid: Hydra's error comes from Hydra
        ["+hydra.job.name=added"],  # Hydra adds it; on the base it exists: Hydra composes it
    ],
)
def test_fallbacks_to_full_composition(sweep: Sweep, overrides: List[str], caplog: pytest.LogCaptureFixture) -> None:
    composer = JobComposer(sweep.loader, sweep.master)
    with caplog.at_level(logging.DEBUG, logger="launcher.compat"):
        fast = _outcome(lambda: composer.compose(overrides))
    full = _outcome(lambda: sweep.loader.load_sweep_config(sweep.master, overrides))
    assert_identical(fast, full)
    assert (composer.fast, composer.full) == (0, 1)
    # Said (at warning level the first time in a process) only where Hydra composed what the fast
    # path could not: an invalid value is Hydra's error, not a fallback.
    said = [r for r in caplog.records if "cannot be applied to the base config" in r.getMessage()]
    assert len(said) == (1 if overrides == ["+hydra.job.name=added"] and compat.fast_paths() else 0), said


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["sheets.V1.density=1", "sheets.V1.density=2"],  # the last one wins, both are listed
        [" sheets.V1.density = 2 "],
        ["name='a\\'b'"],
        ['name="q,u"'],
        ["name=a\\ b"],
        ["name=${oc.env:HOME}"],
        ["name=${hydra:job.name}"],
        ["name=${now:%Y}"],
        ["name=int(3)", "threads=str(3)"],
        ["threads=0x10"],
        ["threads=true"],
        ["pynn_seed=sort([3,1])"],
        ["sheets.V1.density=${threads}"],
        ["sheets.V1={sx:5}"],
        ["experiment.kick={}"],
        ["sheets=null"],
        ["+sheets.V1.density=3"],
        ["+newkey.sub.deep=1", "++newkey.sub.other=[1,{a:2}]"],
        ["hydra.sweep.dir=foo", "hydra.mode=RUN", "hydra.job.id=5", "hydra.job.num=3"],
        ["hydra.job.override_dirname=x"],
        ["+hydra.job.override_dirname=x"],
        ["++hydra.job.override_dirname=x"],
        ["hydra.job.name=${name}"],
        ["hydra.job.name=???", "hydra.job.chdir=true"],
        ["++hydra.job.name=z"],
        ["+hydra.new_key=1", "hydra.verbose=[a]", "hydra.help.app_name=x"],
        ["hydra.job.config={override_dirname:{kv_sep:'#'}}", "threads=3"],
        ["hydra.job.config.override_dirname.exclude_keys=[name]", "name=x", "threads=2"],
        ["hydra.job.config_name=x"],
        ["hydra.runtime.output_dir=/x"],
        ["hydra=null"],
        ["hydra.sweeper.force=true"],
        ["hydra.sweeper.params={a:b}"],
        ["hydra/sweeper=basic"],
    ],
)
def test_explicit_cases(sweep: Sweep, overrides: List[str]) -> None:
    assert_identical(*sweep.both(overrides))


def test_invalid_values_raise_hydras_error(sweep: Sweep) -> None:
    for overrides in (["sheets.V1.density=abc"], ["threads=1.5"], ["name=null"], ["sheets.V1.density=[1,2]"]):
        with pytest.raises(ConfigCompositionException) as fast:
            sweep.composer.compose(overrides)
        with pytest.raises(ConfigCompositionException) as full:
            sweep.loader.load_sweep_config(sweep.master, overrides)
        assert str(fast.value) == str(full.value) and str(fast.value.__cause__) == str(full.value.__cause__)


def test_interpolations_follow_and_come_back(sweep: Sweep) -> None:
    weight = "sheets.V1.connections.exc_exc.weight"
    first = sweep.composer.compose([f"{weight}=0.02", "sheets.V1.connectivity.exc_weight=0.001"])
    second = sweep.composer.compose(["sheets.V1.connectivity.exc_weight=0.003"])
    assert OmegaConf.select(first, weight) == 0.02
    assert OmegaConf.is_interpolation(OmegaConf.select(second, "sheets.V1.connections.exc_exc"), "weight")
    assert OmegaConf.select(second, weight) == 0.003
    assert OmegaConf.select(second, "sheets.V1.connections.inh_exc.weight") == 0.051
    assert_identical(second, sweep.loader.load_sweep_config(sweep.master, ["sheets.V1.connectivity.exc_weight=0.003"]))


def test_jobs_share_no_state(sweep: Sweep) -> None:
    cfg = sweep.composer.compose(["sheets.V1.density=1", "+sheets.V1.extra=[1,2]"])
    cfg.sheets.V1.density = 5.0
    cfg.sheets.V1.extra.append(3)
    cfg.hydra.overrides.task.append("x=1")
    cfg.hydra.job.name = "changed"
    OmegaConf.set_cache(cfg, {"now": {"%H": "99"}})
    OmegaConf.set_struct(cfg, False)
    overrides = ["sheets.V1.density=2", "+sheets.V1.extra=[1,2]"]
    assert_identical(sweep.composer.compose(overrides), sweep.loader.load_sweep_config(sweep.master, overrides))


def test_now_is_the_sweeps_time(sweeps: Dict[str, Sweep]) -> None:
    time.sleep(1.05)  # a new ${now:%H-%M-%S} would differ from the master's
    for sweep in sweeps.values():
        fast = sweep.composer.compose(["sheets.V1.density=3"])
        full = sweep.loader.load_sweep_config(sweep.master, ["sheets.V1.density=3"])
        assert str(fast.hydra.sweep.dir) == str(full.hydra.sweep.dir) == sweep.sweep_dir


def test_override_dependent_hydra_fields(sweeps: Dict[str, Sweep]) -> None:
    overrides = ["sheets.V1.density=2", "hydra.job.chdir=true", "name='a b'", "pynn_seed=7"]
    slurm = sweeps["slurm"]
    fast = slurm.composer.compose(overrides)
    lines = OmegaConf.to_container(fast.hydra.overrides, resolve=False)  # a line may hold ${now:...}
    master_lines = OmegaConf.to_container(slurm.master.hydra.overrides.hydra, resolve=False)
    assert master_lines[: len(MASTERS["slurm"])] == MASTERS["slurm"]  # then the sweeper's own (its subdir)
    assert lines == {"task": overrides[:1] + overrides[2:], "hydra": master_lines + ["hydra.job.chdir=true"]}
    assert fast.hydra.job.override_dirname == "name:'a b',pynn_seed:7,sheets.V1.density:2"
    assert fast.hydra.runtime.choices["hydra/launcher"] == "submitit_slurm"
    assert "HOME" in fast.hydra.job.env_set
    assert_identical(fast, slurm.loader.load_sweep_config(slurm.master, overrides))


def test_snapshot_restores_an_identical_independent_copy(sweep: Sweep) -> None:
    cfg = sweep.loader.load_sweep_config(sweep.master, ["sheets.V1.density=2"])
    data = snapshot(cfg)
    first, second = restore(data), restore(data)
    assert list(structure(first)) == list(structure(cfg))
    first.sheets.V1.cell.v_rest = -1.0
    assert second.sheets.V1.cell.v_rest == cfg.sheets.V1.cell.v_rest == -60.0
    assert first.sheets.V1.cell._get_parent() is first.sheets.V1
    assert isinstance(OmegaConf.select(first, "hydra.overrides.task"), ListConfig)


def test_composing_config_loader_for_launchers(sweep: Sweep) -> None:
    loader = ComposingConfigLoader(sweep.loader)
    overrides = ["sheets.V1.density=2", "hydra.job.name=job"]
    assert_identical(loader.load_sweep_config(sweep.master, overrides), sweep.loader.load_sweep_config(sweep.master, overrides))
    assert loader.composer(sweep.master).fast == (1 if compat.fast_paths() else 0)
    assert loader.get_group_options("hydra/launcher") == sweep.loader.get_group_options("hydra/launcher")
    assert loader.repository is sweep.loader.repository  # Hydra internals reach the wrapped loader
    # Launchers send their context to workers (Slurm tasks, local processes) pickled.
    worker_loader, worker_master = cloudpickle.loads(cloudpickle.dumps((loader, sweep.master)))
    composed_by_hydra: List[List[str]] = []
    hydras = worker_loader.loader.load_sweep_config
    worker_loader.loader.load_sweep_config = lambda master, lines: composed_by_hydra.append(lines) or hydras(master, lines)
    assert_identical(
        worker_loader.load_sweep_config(worker_master, overrides),
        sweep.loader.load_sweep_config(sweep.master, overrides),
    )
    assert worker_loader.composer(worker_master).fast == (2 if compat.fast_paths() else 0)
    # The base came along (its snapshot): the worker composed none of its own.
    assert composed_by_hydra == ([] if compat.fast_paths() else [overrides])


# --- a sweep of one's own model: group choices ---------------------------------

#: A user's config directory (``--config-dir``): two options of run_sim.py's group ``model``.
OWN_MODELS = {
    "net_a.yaml": "# @package _global_\nnet:\n  w: 1.0\n  n: 2\n  ref: ${net.w}\n",
    "net_b.yaml": "# @package _global_\nnet:\n  w: 2.0\n  n: 3\n  label: b\n",
}


@pytest.fixture
def own_model_sweep(tmp_path: Path) -> Iterator[Sweep]:
    """A sweep of run_sim.py's config with the user's directory of models, ``model=net_a`` on
    its command line (so in every job's overrides), as ``run_sim.py --config-dir my_conf model=net_a -m``."""
    (tmp_path / "model").mkdir()
    for name, text in OWN_MODELS.items():
        (tmp_path / "model" / name).write_text(text)
    singletons = Singleton.get_state()  # (the module's sweeps, restored after this one)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="test_compose"):
            yield Sweep(["hydra.mode=MULTIRUN", f"hydra.searchpath=[file://{tmp_path}]", "model=net_a"])
    finally:
        Singleton.set_state(singletons)


def test_a_sweep_of_a_model_option_composes_its_jobs_from_a_base_of_that_choice(own_model_sweep: Sweep) -> None:
    sweep = own_model_sweep
    grid = [["model=net_a", f"net.w={w}"] for w in (1.5, 2.5, 3.5)]
    grid += [["net.n=7", "model=net_a"], ["model=net_b", "net.w=4"], ["model=net_b", "+net.new=1", "hydra.job.name=j"], ["model=net_a"]]
    for overrides in grid:
        fast, full = sweep.both(overrides)
        assert container(fast, resolve=False) == container(full, resolve=False), overrides
        assert list(structure(fast)) == list(structure(full)), overrides
        assert container(fast.net, resolve=True) == container(full.net, resolve=True)
        assert fast.hydra.overrides.task == full.hydra.overrides.task == [o for o in overrides if not o.startswith("hydra.")]
    # Every job from a base: one per set of choices (net_a, net_b), none composed by Hydra.
    assert (sweep.composer.fast, sweep.composer.full) == (len(grid), 0)
    assert sorted(sweep.composer._bases) == [("model=net_a",), ("model=net_b",)]


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=net_c", "net.w=1"],  # no such option
        ["model=net_a", "net.nope=1"],  # no such key in that option
        ["model=net_b", "net.ref=1"],  # a key of the other option only
        ["+model=net_b"],  # '+': composed in full
        ["model=net_a", "model=net_b", "net.w=2"],  # the last choice wins
        ["model@pkg=net_b"],
        ["hydra/launcher=basic", "model=net_b"],
    ],
)
def test_what_a_base_of_choices_cannot_take_is_hydras_to_compose(own_model_sweep: Sweep, overrides: List[str]) -> None:
    fast, full = own_model_sweep.both(overrides)
    if isinstance(full, Exception) or isinstance(fast, Exception):
        assert same_error(fast, full), (fast, full)
    else:
        assert container(fast, resolve=False) == container(full, resolve=False)
        assert list(structure(fast)) == list(structure(full))
