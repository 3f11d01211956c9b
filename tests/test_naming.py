"""Run-directory names: readable when possible, always one safe component, unique per job."""

import os
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from launcher.sweep.naming import MAX_NAME_BYTES, NO_OVERRIDES_NAME, outside_sweep_dir, overrides_hash, run_dirname
from support import run_cli

HOSTILE_VALUES = [
    "a/b",
    "../../escape",
    "..",
    ".",
    "x" * 300,
    "'quoted'",
    '"double"',
    "with space",
    "ünïcødé-ß-日本",
    "tab\there",
    "new\nline",
    "nul\x00byte",
    "back\\slash",
    "1,b=2",
    "~h0123456789",
    "",
]


def assert_safe(name: str) -> None:
    assert name and name not in (".", "..")
    assert "/" not in name and "\x00" not in name and "\\" not in name
    assert not any(ord(c) < 32 or ord(c) == 127 for c in name)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES


def test_plain_overrides_read_like_hydras_override_dirname():
    assert run_dirname(["sheets.V1.density=1"]) == "sheets.V1.density=1"
    assert run_dirname(["b=2", "a=1.5e-3"]) == "a=1.5e-3,b=2"
    assert run_dirname(["a=-1"]) == "a=-1"
    assert run_dirname([]) == NO_OVERRIDES_NAME


def test_order_of_overrides_does_not_matter():
    assert run_dirname(["a=1", "b=x/y"]) == run_dirname(["b=x/y", "a=1"])


def test_hostile_values_give_safe_distinct_names():
    names = [run_dirname([f"name={v}"]) for v in HOSTILE_VALUES]
    for name in names:
        assert_safe(name)
    assert len(set(names)) == len(names)


def test_long_values_are_shortened_with_a_hash_and_stay_distinct():
    a, b = run_dirname(["k=" + "x" * 300]), run_dirname(["k=" + "x" * 299 + "y"])
    assert len(a.encode()) == MAX_NAME_BYTES and a != b and "~" in a
    multibyte = run_dirname(["k=" + "日" * 200])
    assert_safe(multibyte)
    multibyte.encode("utf-8").decode("utf-8")  # not cut inside a character


def test_substitutions_never_make_two_jobs_share_a_name():
    # '/' and '_' both become '_' in the readable part: the hash keeps them apart.
    assert run_dirname(["k=a/b"]) != run_dirname(["k=a_b"])
    assert run_dirname(["a=1,b=2"]) != run_dirname(["a=1", "b=2"])


def test_a_value_written_like_a_hashed_name_does_not_take_that_name():
    hashed = run_dirname(["k=x/"])
    assert hashed == "k=x_~" + overrides_hash(["k=x/"])
    assert run_dirname([hashed]) != hashed  # '~' is never kept: the look-alike is hashed itself
    assert run_dirname(["a"]) != run_dirname(["a="])  # a line without '=' is not the same as an empty value


def test_excluded_keys_are_left_out_whatever_the_override_prefix():
    assert run_dirname(["a=1", "+b=2", "++c=3", "~d"], exclude_keys=["b", "c", "d"]) == "a=1"
    assert run_dirname(["b=2"], exclude_keys={"b"}) == NO_OVERRIDES_NAME
    assert run_dirname(["a=1", "ab=2"], exclude_keys=("a",)) == "ab=2"


def test_which_run_dirs_lie_outside_the_sweep_dir():
    for outside in ("", ".", "..", "./", "a/../..", "../a", "/abs", "a\\..\\.."):
        assert outside_sweep_dir(outside), outside
    for inside in ("a", "a=1,b=2", "...", "a/b", "x~0123456789"):
        assert not outside_sweep_dir(inside), inside


@settings(deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=40), st.text(max_size=300)), max_size=5))
def test_any_override_set_gives_one_safe_component(pairs):
    name = run_dirname([f"{k}={v}" for k, v in pairs])
    assert_safe(name)
    assert os.path.dirname(name) == ""
    assert Path("/sweep", name).resolve().parent == Path("/sweep")


@settings(deadline=None)
@given(st.sets(st.text(max_size=60), min_size=2, max_size=6))
def test_distinct_values_give_distinct_names(values):
    names = {run_dirname([f"name={v}"]) for v in values}
    assert len(names) == len(values)


def test_cli_sweep_with_hostile_values_stays_inside_the_sweep_dir(tmp_path):
    sweep = tmp_path / "sweep"
    values = ["a/b", "../../escape", "..", "x" * 300, "'q u o t e'", "ünï"]
    choice = ",".join(f"'{v}'" if "'" not in v else f'"{v}"' for v in values)
    proc = run_cli(
        ["-m", f"name={choice}", "sheets.V1.density=0", "experiment.spontaneous_duration=10", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
    run_dirs = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(run_dirs) == len(values)
    for d in run_dirs:
        assert_safe(d.name)
        assert (d / "results.json").is_file()
        assert not any(p.is_dir() and p.name != ".hydra" for p in d.iterdir())  # nothing nested


def test_an_explicit_numbered_subdir_is_honoured_and_the_default_named_after_the_overrides():
    """``hydra.sweep.subdir=${hydra.job.num}`` given by name keeps Hydra's numbered directories;
    Hydra's default (not given) becomes the overrides' names; run_sim.py's config says so itself."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from launcher.sweep.naming import HYDRA_SUBDIR, SWEEP_SUBDIR, name_run_dirs_after_overrides, names_run_dirs
    from support import CONF_DIR

    def master(hydra_lines):
        return OmegaConf.create({"hydra": {"sweep": {"subdir": HYDRA_SUBDIR}, "overrides": {"hydra": hydra_lines}}})

    asked = master(["hydra.sweep.subdir=${hydra.job.num}"])
    name_run_dirs_after_overrides(asked)
    assert OmegaConf.to_container(asked.hydra.sweep)["subdir"] == HYDRA_SUBDIR
    default = master(["hydra.mode=MULTIRUN"])
    name_run_dirs_after_overrides(default)
    assert OmegaConf.to_container(default.hydra.sweep)["subdir"] == SWEEP_SUBDIR
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        assert names_run_dirs(compose("config", return_hydra_config=True))  # --cfg hydra shows the names' subdir
        numbered = compose("config", overrides=["hydra.sweep.subdir=${hydra.job.num}"], return_hydra_config=True)
        assert OmegaConf.to_container(numbered.hydra.sweep)["subdir"] == HYDRA_SUBDIR


def test_a_numbered_subdir_given_on_the_command_line_numbers_the_run_dirs(tmp_path):
    """(Escape and sharing are checked for any subdir: tests/test_sweep_dir.py.)"""
    numbered = run_cli(["-m", "hydra.sweep.subdir=${hydra.job.num}", "sheets.V1.density=1,2", "hydra.sweeper.plan=true",
                        f"hydra.sweep.dir={tmp_path / 'N'}"], cwd=tmp_path)
    assert numbered.returncode == 0, numbered.stderr
    assert re.search(r"#0 +0 +pending +run\n +#1 +1 +pending +run", numbered.stdout + numbered.stderr)
