"""Bad input fails early with a message that names the key, the value and the way out."""

import os
import resource
import subprocess
import sys
import time

import pytest

from launcher.model.config import RootConfig
from launcher.sweep.job_count import MAX_JOBS, size_problem
from launcher.sweep.tree import ParameterError, known_schema_keys, suggest, unknown_key_message, validate_tree, schema_keys, tree_problems
from support import CONF_DIR, RUN_SIM, run_cli


@pytest.mark.parametrize(
    "override, expected",
    [
        ("sheets.V1.desnity=1,2,3", "sheets.V1.density"),
        ("sheet.V1.density=1", "sheets.V1.density"),
        ("sheets.V1.cell.tau_mm=3", "sheets.V1.cell.tau_m"),
        ("pynn_sed=1", "pynn_seed"),
        ("sheets.V1.connections.exc_ex.weight=1", "sheets.V1.connections.exc_exc.weight"),
    ],
)
def test_misspelled_key_is_named_with_suggestion(override, expected):
    message = unknown_key_message(override.split("=")[0], override, known_schema_keys(RootConfig))
    assert f"Unknown parameter '{override.split('=')[0]}' (in override '{override}')" in message
    assert f"Did you mean: {expected}" in message


def test_suggestions_come_from_the_schema():
    assert suggest("threds", list(schema_keys(RootConfig)))[0] == "threads"


@pytest.mark.parametrize(
    "key, expected",
    [
        ("desnity", "sheets.V1.density"),  # the leaf alone
        ("V1.desnity", "sheets.V1.density"),  # the last components
        ("cell.tau_mm", "sheets.V1.cell.tau_m"),
        ("sheets.V1.desnity", "sheets.V1.density"),  # the whole path
        ("delay", "sheets.V1.connectivity.delay"),  # of equally close keys, the shared value first
    ],
)
def test_suggestions_consider_full_dotted_paths(key, expected):
    assert suggest(key, schema_keys(RootConfig))[0] == expected


def test_a_wrong_leaf_under_a_right_parent_gets_its_siblings_not_its_parents():
    hint = suggest("sheets.V1.connectivity.xyz", schema_keys(RootConfig))
    assert hint and all(k.startswith("sheets.V1.connectivity.") for k in hint)


@pytest.mark.parametrize(
    "override, key, allowed",
    [
        ("sheets.V1.density=-1", "sheets.V1.density = -1.0", ">= 0 and finite (neurons per mm2)"),
        ("time_step=0", "time_step = 0.0", "> 0 and <= 9.22337e+15 and finite (ms)"),
        ("sheets.V1.density=inf", "sheets.V1.density = inf", ">= 0 and finite (neurons per mm2)"),
        ("experiment.spontaneous_duration=inf", "experiment.spontaneous_duration = inf", "finite (ms)"),
        ("max_delay=1e30", "max_delay = 1e+30", "<= 9.22337e+15 and finite (ms)"),
        ("sheets.V1.connections.exc_inh.probability=1.5", "sheets.V1.connections.exc_inh.probability = 1.5", "<= 1"),
        ("threads=0", "threads = 0", ">= 1"),
        ("sheets.V1.cell.cm=-0.2", "sheets.V1.cell.cm = -0.2", "> 0 and finite (nF)"),
    ],
)
def test_out_of_range_value_names_key_value_and_range(compose_cfg, override, key, allowed):
    with pytest.raises(ParameterError) as err:
        validate_tree(compose_cfg(override))
    assert key in str(err.value) and allowed in str(err.value)


def test_cross_key_rules(compose_cfg):
    with pytest.raises(ParameterError, match="max_delay = 0.1 must be >= min_delay = 0.5"):
        validate_tree(compose_cfg("min_delay=0.5", "max_delay=0.1", "sheets.V1.connectivity.delay=0.5"))
    with pytest.raises(ParameterError, match="v_reset = -40.0 must be < sheets.V1.cell.v_thresh"):
        validate_tree(compose_cfg("sheets.V1.cell.v_reset=-40"))
    with pytest.raises(ParameterError, match=r"connections.exc_exc.delay = 20.0 is out of range"):
        validate_tree(compose_cfg("sheets.V1.connections.exc_exc.delay=20"))


def test_a_shared_value_is_reported_at_its_source_only(compose_cfg):
    with pytest.raises(ParameterError) as err:
        validate_tree(compose_cfg("sheets.V1.connectivity.probability=2"))
    assert "sheets.V1.connectivity.probability = 2.0" in str(err.value)
    assert "connections" not in str(err.value)


def test_default_tree_is_valid(compose_cfg):
    cfg = compose_cfg()
    assert tree_problems(cfg) == []
    validate_tree(cfg)
    # and the same check does see a broken value of that tree
    cfg.sheets.V1.cell.tau_m = -1.0
    assert any("sheets.V1.cell.tau_m" in problem for problem in tree_problems(cfg))


def test_cli_misspelled_key_fails_fast_and_creates_nothing(tmp_path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = run_cli(["-m", "sheets.V1.desnity=1,2,3", f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode != 0
    assert "sheets.V1.desnity" in proc.stderr and "Did you mean: sheets.V1.density" in proc.stderr
    # Fast: the check's CPU time (not wall time, which a busy machine stretches), far below an
    # import of the simulator and a composition of the sweep.
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu_s < 5, cpu_s
    assert list(tmp_path.iterdir()) == []


def test_cli_single_run_misspelled_key_fails_too(tmp_path):
    proc = run_cli(["sheets.V1.desnity=1"], cwd=tmp_path)
    assert proc.returncode != 0 and "Did you mean: sheets.V1.density" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_rejected_sweep_creates_no_directory(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "sheets.V1.density=2,-1", "time_step=0", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "sheets.V1.density = -1.0 is out of range; allowed: >= 0" in proc.stderr
    assert "time_step = 0.0 is out of range" in proc.stderr and "in: all 2 jobs" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_wrong_type_in_sweep_is_rejected_before_running(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "sheets.V1.density=2,many", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "sheets.V1.density=many" in proc.stderr and "could not be converted to Float" in proc.stderr
    assert not sweep.exists()


def test_a_network_this_machine_cannot_hold_is_refused(compose_cfg):
    # A million neurons per mm2 would allocate until the machine gives out; a delay of 1,000 s gives
    # every neuron ring buffers of ten million steps.
    for override in ("sheets.V1.density=1e6", "max_delay=1000000"):
        with pytest.raises(ParameterError, match=r"the network would need about .* GB in NEST .* more than this machine's"):
            validate_tree(compose_cfg(override))
    validate_tree(compose_cfg("sheets.V1.density=20000"))  # 20,000 neurons: fine


def test_the_sweep_size_is_checked_before_planning(tmp_path):
    # model=... (a config group chosen) leaves the count to the sweeper: its own check, here
    big = run_cli(["-m", "model=vogels_abbott", "pynn_seed=range(0,10000000000)", f"hydra.sweep.dir={tmp_path / 's'}"], cwd=tmp_path)
    assert big.returncode != 0 and "The sweep has 10,000,000,000 jobs, more than hydra.sweeper.max_jobs = 100,000" in big.stderr
    assert "hydra.sweeper.max_jobs=10000000000" in big.stderr
    empty = run_cli(["-m", "model=vogels_abbott", "sheets.V1.density=range(5,5)", f"hydra.sweep.dir={tmp_path / 's'}"], cwd=tmp_path)
    assert empty.returncode != 0 and "The sweep has no job" in empty.stderr
    assert list(tmp_path.iterdir()) == []


#: Modules a refusal of run_sim.py's command line has no use for (a second and more of imports).
HEAVY_MODULES = {"numpy", "pandas", "matplotlib", "optuna", "submitit", "pyNN", "nest", "h5py", "sqlalchemy", "scipy", "neo"}


def test_run_sim_refuses_a_huge_sweep_before_hydra_s_plugin_scan(tmp_path):
    # What run_sim.py imports before it refuses, from Python's own account (-X importtime): no
    # heavy module, no plugin (Hydra's scan imports them all), only the sweeper's message.
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(
        [sys.executable, str(RUN_SIM), "-m", "pynn_seed=range(0,10000000000)"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    said = [line for line in lines if not line.startswith("import time:")]
    assert said == [size_problem(10**10, MAX_JOBS)], said
    imported = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:") and "|" in line}
    assert "launcher.sweep.argv_checks" in imported  # (the account is read right)
    assert not {name.split(".")[0] for name in imported} & (HEAVY_MODULES | {"hydra_plugins"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, max_jobs",
    [
        (["-m", "pynn_seed=range(0,100001)"], MAX_JOBS),
        (["-m", "sheets.V1.density=range(5,5)"], MAX_JOBS),  # no job
        (["-m", "pynn_seed=range(0,10)", "hydra.sweeper.max_jobs=5", "hydra/launcher=local_parallel", "hydra.sweep.dir=d"], 5),
        (["-m", "pynn_seed=range(0,10000000000)", "hydra.sweeper.max_jobs=10000000000"], None),  # raised: not refused
        (["pynn_seed=range(0,10000000000)"], None),  # not a sweep: Hydra says what -m is for
        (["-m", "pynn_seed=range(0,10000000000)", "hydra/sweeper=optuna"], None),  # another sweeper
        (["-m", "pynn_seed=range(0,10000000000)", "hydra.sweeper.jobs_file=jobs.json"], None),  # the sweeper multiplies
        (["-m", "pynn_seed=range(0,10000000000)", "hydra.sweeper.params={a:1}"], None),
        (["-m", "pynn_seed=range(0,10000000000)", "model=vogels_abbott"], None),  # another model's config may set max_jobs
        (["-m", "pynn_seed=range(0,10000000000)", "--config-dir", "elsewhere"], None),
        (["-m", "pynn_seed=range(0,10000000000)", "hydra.searchpath=[file://elsewhere]"], None),
        (["-m", "pynn_sed=range(0,10000000000)"], None),  # a misspelled key: the next check names it
        (["-m", "+extra=range(0,10000000000)"], None),
    ],
)
def test_the_command_line_refuses_a_sweep_s_size_only_where_it_settles_the_sweeper(argv, max_jobs, capsys):
    from launcher.sweep.argv_checks import reject_oversized_sweep
    from launcher.sweep.job_count import count_jobs
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if max_jobs is None:
        reject_oversized_sweep(argv, "conf", "config", RootConfig)  # left to the sweeper: returns
        assert capsys.readouterr().err == ""
        return
    with pytest.raises(SystemExit) as stopped:
        reject_oversized_sweep(argv, "conf", "config", RootConfig)
    sweeps = [o for o in OverridesParser.create().parse_overrides(argv[1:]) if not o.is_hydra_override()]
    assert stopped.value.code == 1
    assert capsys.readouterr().err == size_problem(count_jobs(sweeps, max_jobs), max_jobs) + "\n"


def test_the_app_s_own_config_keeps_the_sweeper_the_command_line_check_assumes():
    # reject_oversized_sweep takes run_sim.py's own config to sweep with the grid sweeper at its
    # defaults; were conf/ to set hydra.sweeper.max_jobs (or params, a jobs_file), it would refuse wrongly.
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        sweeper = compose("config", return_hydra_config=True).hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.mozaik_sweeper.mozaik_sweeper.MozaikSweeper"
    assert (sweeper.max_jobs, sweeper.params, sweeper.jobs_file) == (MAX_JOBS, None, None)


@pytest.mark.parametrize(
    "sweeps, expected",
    [
        (["pynn_seed=range(0,10000000000)"], 10**10),
        (["x=range(0,1,1e-10)"], 10**10),
        (["x=shuffle(range(0,10000000000))", "y=1,2,3"], 3 * 10**10),
        (["x=range(0,1,0.1)", "y=choice(1,2)", "y=range(0,10,3)"], 10 * 4),  # a later override of a key replaces it
        (["x=range(1,0,-0.25)", "y=range(10,0,-3)", "z=interval(0,1)", "w=5"], 4 * 4),
        (["x=range(0,0.3,0.1)", "y=range(0.5,0.25)"], 0),
    ],
)
def test_a_sweep_s_job_count_is_computed_from_its_description(sweeps, expected):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from launcher.sweep.job_count import count_jobs

    overrides = OverridesParser.create().parse_overrides(sweeps)
    cpu = time.process_time()
    assert count_jobs(overrides, 100_000) == expected
    assert time.process_time() - cpu < 0.5  # not one value at a time (10**10 took minutes)
    if expected < 10**6:  # what Hydra's own stepping makes
        walked = 1
        for override in {o.get_key_element(): o for o in overrides}.values():
            walked *= sum(1 for _ in override.sweep_string_iterator()) if override.is_discrete_sweep() else 1
        assert walked == expected


def test_a_float_range_is_counted_as_hydra_steps_it():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from launcher.sweep.job_count import sweep_size

    parser = OverridesParser.create()
    for text in ("range(0,1,0.1)", "range(0.1,0.7,0.1)", "range(0,3,0.3)", "range(1e-3,2.5e-3,1e-4)", "range(1,-1,-0.2)"):
        override = parser.parse_override(f"x={text}")
        assert sweep_size(override, 100) == sum(1 for _ in override.sweep_string_iterator()), text


def test_the_command_line_check_composes_one_value_of_a_shuffled_range_without_listing_it():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from launcher.sweep.argv_checks import _one_value

    cpu = time.process_time()
    for text, first in (("+x=shuffle(range(0,10000000000))", "+x=0"), ("y=range(0.5,1,0.25)", "y=0.5")):
        assert _one_value(OverridesParser.create().parse_override(text), lambda group: []) == first
    assert time.process_time() - cpu < 0.5  # Hydra lists a shuffled range whole (10**9 values: 3 GB, killed at 30 s)
