"""The root parameter tree composes, is typed, closed, and shares values by interpolation."""

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from launcher.model.config import RootConfig
from launcher.run.tree_hash import config_hash, resolved_tree
from launcher.sweep.tree import ParameterError, schema_keys, validate_tree


def test_default_tree_has_mozaiks_root_keys(compose_cfg):
    cfg = compose_cfg()
    for key in ("name", "time_step", "min_delay", "max_delay", "pynn_seed", "simulator", "threads"):
        assert key in cfg
    assert cfg.simulator == "nest"
    assert cfg.sheets.V1.density == 4000.0
    assert set(cfg.sheets.V1.connections) == {"exc_exc", "exc_inh", "inh_exc", "inh_inh"}


def test_shared_values_are_references(compose_cfg):
    cfg = compose_cfg("sheets.V1.connectivity.exc_weight=0.01", "sheets.V1.connectivity.delay=0.5")
    conns = cfg.sheets.V1.connections
    assert conns.exc_exc.weight == conns.exc_inh.weight == 0.01
    assert conns.inh_exc.weight == cfg.sheets.V1.connectivity.inh_weight
    assert {c.delay for c in conns.values()} == {0.5}
    # one connection can still be changed alone
    cfg = compose_cfg("sheets.V1.connections.exc_exc.weight=0.02")
    changed = cfg.sheets.V1.connections
    assert changed.exc_exc.weight == 0.02
    assert changed.exc_inh.weight == cfg.sheets.V1.connectivity.exc_weight != 0.02  # the others still refer to the shared value


def test_unknown_key_is_refused(compose_cfg):
    with pytest.raises(ConfigCompositionException):
        compose_cfg("sheets.V1.desnity=3")
    # Hydra's '+' adds keys even to a closed tree: validation refuses them.
    with pytest.raises(ParameterError, match="unknown parameter 'sheets.V1.extra'"):
        validate_tree(compose_cfg("+sheets.V1.extra=3"))


def test_wrong_type_is_refused(compose_cfg):
    with pytest.raises(ConfigCompositionException):
        compose_cfg("sheets.V1.density=lots")


def test_values_are_converted_to_their_schema_type(compose_cfg):
    cfg = compose_cfg("sheets.V1.density=3", "threads=2")
    assert isinstance(cfg.sheets.V1.density, float) and isinstance(cfg.threads, int)


def test_every_yaml_key_is_in_the_schema(compose_cfg):
    tree = resolved_tree(compose_cfg())
    flat = set()

    def walk(node, prefix=""):
        for k, v in node.items():
            flat.add(prefix + k)
            if isinstance(v, dict):
                walk(v, prefix + k + ".")

    walk({key: value for key, value in tree.items() if key != "task"})  # the run config's task: not the tree's
    assert flat == set(schema_keys(RootConfig)) - {"task", "objective"}  # run settings of the schema, not the tree


def test_config_hash_follows_the_resolved_values(compose_cfg):
    base = config_hash(compose_cfg())
    assert config_hash(compose_cfg()) == base
    assert config_hash(compose_cfg("sheets.V1.density=3")) != base
    # Same resolved tree reached two ways: same hash.
    a = compose_cfg("sheets.V1.connectivity.probability=0.1")
    b = compose_cfg(*[f"sheets.V1.connections.{c}.probability=0.1" for c in ("exc_exc", "exc_inh", "inh_exc", "inh_inh")], "sheets.V1.connectivity.probability=0.1")
    assert config_hash(a) == config_hash(b)
    assert "hydra" not in resolved_tree(a) and OmegaConf.is_config(a)
