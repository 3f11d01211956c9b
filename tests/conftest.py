"""Shared fixtures: compose the project's config as Hydra would."""

from __future__ import annotations

from typing import Callable

import os

import pytest
from hypothesis import settings
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import launcher  # noqa: F401  (registers the schema and the run_dirname resolver)
from support import CONF_DIR

#: Hypothesis draws 15 examples a test by default (the suite's ten minutes), 300 under
#: ``HYPOTHESIS_PROFILE=thorough`` (the long run: see tests/README.md).
settings.register_profile("quick", max_examples=15)
settings.register_profile("thorough", max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    """compose_cfg(*overrides): the composed tree, with Hydra's node, as a job would get it."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose("config", overrides=list(overrides), return_hydra_config=False)

    return _compose


def pytest_collection_modifyitems(session, config, items):  # noqa: ARG001  (pytest's hook signature)
    """Hydra's own launcher test suites (tests/test_hydra_suites.py) run first: they sweep in this
    process, and in-process compositions of other tests leave Hydra's singletons in states these
    suites were not written for (found in a full run: job logs missing in 26 of them)."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/test_hydra_suites.py") else 1)
