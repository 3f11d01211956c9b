"""Fixtures of the tests that submit to a real Slurm cluster (tests/slurm/local_cluster.sh).

Without a reachable cluster these tests skip, saying why; under CI=true a
missing cluster is a failure, since CI starts one.
"""

from __future__ import annotations

import os

import pytest

from cluster import cluster_problem


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    problem = cluster_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Slurm tests: {problem}")
        pytest.skip(problem)
