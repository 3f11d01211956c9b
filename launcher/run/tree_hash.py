"""A parameter tree as plain data, and its hash: what a job's record names its simulation by.

Any model's tree, composed by Hydra: the job wrapper (:mod:`launcher.run.job`) records the hash of
the tree a job ran, the sweep (:mod:`launcher.sweep`) plans and compares jobs by it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: Root keys of a config that are not the model's tree: Hydra's node (run-specific values: dirs,
#: times) and a fit's objective (what to optimise is not what is simulated: a fit resumed with
#: another objective reuses every simulation). Left out of the tree's hash and files.
NOT_THE_MODELS = ("hydra", "objective")


def resolved_tree(cfg: DictConfig, resolve: bool = True) -> dict[str, Any]:
    """The tree as plain data, interpolations resolved (unless told not to), without the root keys
    that are not the model's (:data:`NOT_THE_MODELS`)."""
    tree: dict[str, Any] = {}
    for key in cfg:
        if key in NOT_THE_MODELS:
            continue
        if not OmegaConf.is_interpolation(cfg, key) and not OmegaConf.is_missing(cfg, key) and OmegaConf.is_config(cfg[key]):
            tree[str(key)] = OmegaConf.to_container(cfg[key], resolve=resolve, throw_on_missing=resolve)
        elif resolve:  # a leaf, or an interpolation (of a leaf or of a whole node: plain data too)
            value = cfg[key]
            tree[str(key)] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        else:  # the leaf as written (an interpolation stays one): read from a copy of it alone
            tree[str(key)] = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [key]), resolve=False)[key]
    return tree


def config_hash(cfg: DictConfig) -> str:
    """A hash of the resolved tree: equal hashes mean the same simulation."""
    return tree_hash(resolved_tree(cfg))


def tree_hash(values: dict[str, Any]) -> str:
    """The hash of a tree already resolved (see :func:`resolved_tree`)."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
