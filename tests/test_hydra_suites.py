"""Hydra's own plugin test suites (``hydra.test_utils.launcher_common_tests``) run over the
project's launchers (``sequential``, ``local_parallel``) and its sweeper (``mozaik``), the way
Hydra's official plugins run them over theirs (hydra_joblib_launcher, hydra_submitit_launcher):
subclasses of the suites parametrized with the plugin's config name and overrides.

The suites' apps (``hydra.test_utils.configs``, and the scripts the integration suite writes)
keep Hydra's basic sweeper unless a case below selects ours, so the launcher cases test our
launchers alone, and the sweeper cases test our sweeper under Hydra's basic launcher and
under ours. A suite test left out for a plugin is replaced by :func:`excluded`, which names
the behaviour that differs and why it is intended.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, List

import pytest
from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)
from hydra.test_utils.test_utils import TSweepRunner
from omegaconf import DictConfig

# What each integration case passes besides its plugin choice: multirun, and Hydra's logging
# off (as hydra_submitit_launcher's cases do), so the scripts' output is only what they print.
QUIET_MULTIRUN = ["-m", "hydra/hydra_logging=disabled", "hydra/job_logging=disabled"]
# Two workers: the machine's CPU count would make local_parallel's worker count differ
# between machines, and two is the smallest number that runs jobs side by side.
TWO_WORKERS = ["hydra.launcher.n_jobs=2"]

# Our sweeper names each run directory after its job's overrides (``+a=0``), where Hydra's
# basic sweeper names it after the job's number (``0``): README "Running", launcher/sweep/naming.py.
RUN_DIRS_NAMED_AFTER_OVERRIDES = (
    "expects run directories <sweep dir>/0 and /1; the mozaik sweeper names them after the jobs' "
    "overrides (+a=0, +a=1), its intended naming (launcher/sweep/naming.py), which no "
    "hydra.sweep.subdir=${hydra.job.num} can turn off: that is the default it replaces"
)
# Under Hydra's basic launcher our sweeper launches one job at a time (ValidatingSweeper.run),
# so that the manifest, each results.json and the progress line follow every job.
ONE_JOB_PER_BASIC_LAUNCH = (
    "expects all jobs of the sweep in its first batch (sweep.returns[0]); under Hydra's basic "
    "launcher the mozaik sweeper launches one job per batch on purpose (ValidatingSweeper.run: the "
    "manifest and progress are updated after each job); the same test runs with our launchers"
)


def excluded(suite_test: Callable[..., Any], reason: str) -> Any:
    """A suite test skipped in one subclass only, with its reason.

    Marking the suite's own function would skip it in every subclass; a wrapper keeps its
    signature (pytest reads it through ``__wrapped__``) so that the class's parameters apply.
    """

    @functools.wraps(suite_test)
    def skipped(*args: Any, **kwargs: Any) -> Any:
        return suite_test(*args, **kwargs)

    return pytest.mark.skip(reason=reason)(skipped)


@pytest.mark.parametrize(
    "plugin_type, name",
    [(Launcher, "SequentialLauncher"), (Launcher, "LocalParallelLauncher"), (Sweeper, "MozaikSweeper")],
)
def test_discovery(plugin_type: type, name: str) -> None:
    # The suites select plugins by config name; this checks that Hydra's plugin scan finds our
    # classes (from this checkout's hydra_plugins) at all.
    assert name in [found.__name__ for found in Plugins.instance().discover(plugin_type)]


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_sweeper_after_plugin_rescan(hydra_sweep_runner: TSweepRunner, tmpdir: Path) -> None:
    # Singleton.set_state (Hydra's test fixtures, our launchers' workers) builds a new Plugins
    # singleton, whose scan executes Hydra's core plugins again: new BasicSweeper and BasicLauncher
    # classes under the names our sweeper imported earlier (launcher.sweep.sweeper.ValidatingSweeper is not their subclass).
    Plugins.instance()
    Singleton.set_state(Singleton.get_state())
    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=None,
        config_path="configs",
        config_name="compose",
        overrides=["hydra/sweeper=mozaik", "hydra/launcher=basic", "bar=1,2"],
        temp_dir=tmpdir,
    )
    with sweep:
        # Built at all (BasicSweeper.__init__ failed on the new class), and still one job per
        # launch under the basic launcher (our sweeper recognises the new BasicLauncher class).
        assert sweep.returns is not None
        assert [[job.overrides for job in batch] for batch in sweep.returns] == [[["bar=1"]], [["bar=2"]]]


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [pytest.param("sequential", [], id="sequential"), pytest.param("local_parallel", TWO_WORKERS, id="local_parallel")],
)
class TestLaunchers(LauncherTestSuite):
    """Our launchers under Hydra's basic sweeper: every test of the suite."""


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        pytest.param({"defaults": [{"override hydra/launcher": "sequential"}]}, QUIET_MULTIRUN, id="sequential"),
        pytest.param(
            {"defaults": [{"override hydra/launcher": "local_parallel"}]}, QUIET_MULTIRUN + TWO_WORKERS, id="local_parallel"
        ),
    ],
)
class TestLaunchersIntegration(IntegrationTestSuite):
    """Our launchers in scripts run as subprocesses, under Hydra's basic sweeper: every test of the suite."""


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [
        pytest.param("sequential", ["hydra/sweeper=mozaik"], id="mozaik-sequential"),
        pytest.param("local_parallel", ["hydra/sweeper=mozaik"] + TWO_WORKERS, id="mozaik-local_parallel"),
    ],
)
class TestSweeper(LauncherTestSuite):
    """Our sweeper under our launchers."""

    test_sweep_2_jobs = excluded(LauncherTestSuite.test_sweep_2_jobs, RUN_DIRS_NAMED_AFTER_OVERRIDES)


@pytest.mark.parametrize("launcher_name, overrides", [pytest.param("basic", ["hydra/sweeper=mozaik"], id="mozaik-basic")])
class TestSweeperUnderBasicLauncher(LauncherTestSuite):
    """Our sweeper under Hydra's basic launcher."""

    test_sweep_2_jobs = excluded(
        LauncherTestSuite.test_sweep_2_jobs, RUN_DIRS_NAMED_AFTER_OVERRIDES + "; and " + ONE_JOB_PER_BASIC_LAUNCH
    )
    test_sweep_2_optimizers = excluded(LauncherTestSuite.test_sweep_2_optimizers, ONE_JOB_PER_BASIC_LAUNCH)
    test_sweep_over_unspecified_mandatory_default = excluded(
        LauncherTestSuite.test_sweep_over_unspecified_mandatory_default, ONE_JOB_PER_BASIC_LAUNCH
    )
    test_sweep_and_override = excluded(LauncherTestSuite.test_sweep_and_override, ONE_JOB_PER_BASIC_LAUNCH)


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [
        pytest.param("sequential", ["hydra/sweeper=mozaik", "hydra.sweeper.max_batch_size=2"], id="mozaik-sequential"),
        pytest.param(
            "local_parallel", ["hydra/sweeper=mozaik", "hydra.sweeper.max_batch_size=2"] + TWO_WORKERS, id="mozaik-local_parallel"
        ),
    ],
)
class TestSweeperBatched(BatchedSweeperTestSuite):
    """Our sweeper's ``max_batch_size`` under our launchers."""


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        pytest.param(
            {"defaults": [{"override hydra/sweeper": "mozaik"}, {"override hydra/launcher": "sequential"}]},
            QUIET_MULTIRUN,
            id="mozaik-sequential",
        ),
    ],
)
class TestSweeperIntegration(IntegrationTestSuite):
    """Our sweeper in scripts run as subprocesses, under our default launcher."""

    def test_to_absolute_path_multirun(self, tmpdir: Path, task_launcher_cfg: DictConfig, extra_flags: List[str]) -> None:
        # The suite runs the same one-job sweep twice into the same sweep directory, the second
        # time printing one more line. Our sweeper resumes by default: the job completed with the
        # same config, so the second run would leave it and the first run's output alone
        # (README "Resume, rerun, plan"). hydra.sweeper.force=true reruns it, as the suite means.
        super().test_to_absolute_path_multirun(tmpdir, task_launcher_cfg, extra_flags + ["hydra.sweeper.force=true"])
