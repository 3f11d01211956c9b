"""ValuePlanner plans every job it takes exactly as composing it in full would.

The full path is the sweeper's: compose the job with Hydra's loader, then
:func:`launcher.sweep.tree.check_tree` (problems and config hash) and the job's
``hydra.sweep.subdir``. For random override sets (those of test_compose), the
planner must either leave the job to the full path (None) or give the same
problems, hash and run directory; a job that Hydra refuses is never planned.
"""

from __future__ import annotations

from typing import Any, Dict, List

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hydra.errors import HydraException
from omegaconf import open_dict

from hydra.core.override_parser.overrides_parser import OverridesParser

from launcher.sweep.compose import simple_override
from launcher.sweep.manifest import JobEntry
from launcher.sweep.planner import ValuePlanner
from launcher.sweep.tree import check_tree
from test_compose import MASTERS, Sweep, jobs as random_jobs, sweeps  # noqa: F401  (sweeps: the fixture)


def full_plan(sweep: Sweep, overrides: List[str]) -> Any:
    try:
        cfg = sweep.loader.load_sweep_config(sweep.master, list(overrides))
    except HydraException as exc:
        return exc
    found, config_hash = check_tree(cfg)
    with open_dict(cfg.hydra.job):
        cfg.hydra.job.num = 0
    return found, config_hash, str(cfg.hydra.sweep.subdir)


def check(planner: ValuePlanner, sweep: Sweep, overrides: List[str]) -> bool:
    """Compare the two paths on one job; True if the planner took it."""
    planned = planner.plan(overrides)
    if planned is None:
        return False
    full = full_plan(sweep, overrides)
    assert not isinstance(full, Exception), f"planned a job Hydra refuses: {overrides}: {full}"
    assert planned == full, overrides
    return True


@settings(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(jobs=random_jobs, master=st.sampled_from(sorted(MASTERS)))
def test_planner_equals_the_full_path(sweeps: Dict[str, Sweep], jobs: List[List[str]], master: str) -> None:
    sweep = sweeps[master]
    planner = ValuePlanner(sweep.composer)
    for overrides in jobs:
        event("planned" if check(planner, sweep, overrides) else "composed in full")


def test_plain_values_are_planned_without_composing(sweeps: Dict[str, Sweep]) -> None:
    sweep = sweeps["basic"]
    planner = ValuePlanner(sweep.composer)
    grid = [
        ["sheets.V1.density=1000", "pynn_seed=3"],
        ["sheets.V1.density=2000.5", "pynn_seed=4"],
        ["sheets.V1.connectivity.exc_weight=0.001", "sheets.V1.cell.v_rest=-70"],  # followed by references
        ["sheets.V1.cell.v_reset=-40", "sheets.V1.cell.v_thresh=-50"],  # a cross-key problem
        ["sheets.V1.density=-1"],  # out of range
        ["sheets.V1.connections.exc_exc.weight=0.02"],  # replaces a reference
        ["name='a b/c'"],  # a name that needs the hash
        [],
    ]
    for overrides in grid:
        assert check(planner, sweep, overrides), overrides
    assert planner.fast == len(grid)
    problems, _, _ = planner.plan(["sheets.V1.density=-1"])
    assert problems == ["sheets.V1.density = -1.0 is out of range; allowed: >= 0 and finite (neurons per mm2)"]


def test_jobs_of_one_set_of_keys_share_its_template_and_stay_exact(sweeps: Dict[str, Sweep]) -> None:
    """The jobs of a grid are planned from one template (hash prefix, bounds, typed nodes built once
    per value): each job, the valid and the refused ones in any order, as the full path plans it."""
    sweep = sweeps["basic"]
    planner = ValuePlanner(sweep.composer)
    grid = [
        [f"sheets.V1.cell.v_reset={reset}", f"sheets.V1.density={density}", f"min_delay={delay}"]
        for reset in (-60, -40)  # -40 is above v_thresh: a rule of the root broken in a nested node
        for density in (1000, -1)  # -1 is out of range
        for delay in (0.1, 0.05)  # 0.05 is below time_step: a rule of the root itself
    ]
    for overrides in grid + grid[::-1]:  # again, from the nodes built for the first ones
        assert check(planner, sweep, overrides), overrides
    assert len(planner._templates) == 1
    plans = {tuple(overrides): planner.plan(overrides) for overrides in grid}
    assert len({config_hash for _, config_hash, _ in plans.values()}) == len(grid)
    assert sum(bool(problems) for problems, _, _ in plans.values()) == len(grid) - 1
    # The same job with its overrides in another order: another template, the same plan.
    assert planner.plan(grid[0][::-1]) == plans[tuple(grid[0])] and len(planner._templates) == 2


def test_a_planned_jobs_entry_derives_the_run_directory_the_full_path_names(sweeps: Dict[str, Sweep]) -> None:
    """A grid job's entry holds no name of its own (its overrides joined give it) nor a hash string
    (an int): the strings it gives back are those of the full path, the name derived or not."""
    sweep = sweeps["basic"]
    planner = ValuePlanner(sweep.composer)
    derived = [["pynn_seed=3", "sheets.V1.density=1000"], ["sheets.V1.density=1000", "pynn_seed=3"], ["sheets.V1.density=1000.5"]]
    stored = [["name='a b/c'"], []]  # a name that needed the hash; "defaults"
    for overrides in derived + stored:
        problems, config_hash, run_dir = planner.plan(overrides)
        entry = JobEntry(0, overrides, run_dir, config_hash)
        _, full_hash, full_dir = full_plan(sweep, overrides)
        assert not problems and (entry.run_dir, entry.config_hash) == (full_dir, full_hash), overrides
        assert isinstance(entry._run_dir, str) == (overrides in stored) and isinstance(entry._config_hash, int), overrides


def test_the_rest_is_left_to_the_full_path(sweeps: Dict[str, Sweep]) -> None:
    sweep = sweeps["basic"]
    planner = ValuePlanner(sweep.composer)
    for overrides in (
        ["sheets.V1.density=abc"],  # Hydra's own error
        ["sheets.V1.density=${sheets.V1.sx}"],  # an interpolation as the value
        ["+sheets.V1.extra=1"],
        ["hydra.job.name=x"],
        ["hydra/launcher=basic"],
        ["~experiment.kick.rate"],
        ["sheets.V1.cell={v_rest:-70.0}"],
        ["threads=null"],
    ):
        assert planner.plan(overrides) is None, overrides


keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,4}(\.[A-Za-z_0-9][A-Za-z0-9_]{0,3}){0,2}", fullmatch=True)
texts = st.one_of(
    st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{0,3})?", fullmatch=True),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,5}", fullmatch=True),
    st.sampled_from(["true", "False", "NULL", "inf", "NaN", "1e3", "1_000", "01", "-0", "0.5", ".5", "+1", "a b", "'x'", "${a}", ""]),
)


@settings(deadline=None)
@given(key=keys, text=texts)
def test_simple_lines_parse_as_hydra_parses_them(key: str, text: str) -> None:
    line = f"{key}={text}"
    fast = simple_override(line)
    if fast is None:
        return
    parsed = OverridesParser.create().parse_overrides([line])[0]
    assert fast == parsed and type(fast.value()) is type(parsed.value())
    event("simple")
