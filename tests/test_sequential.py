"""The sequential launcher gives each job exactly what Hydra's basic launcher gives it.

The same sweep runs twice into the same directory: once with every job run by
Hydra's own ``run_job`` (the launcher's fallback, forced), once with the lean
path. Every file of every run directory must be the same (the job logs but for
their timestamps), and so must what the task saw: its config, HydraConfig, the
environment. The YAML templates are checked against ``OmegaConf.to_yaml`` on
random values.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import GrammarParseError

from launcher import compat
from launcher.run.hydra_files import YamlTemplate, dump, overrides_yaml, scalar
from support import CONF_DIR

APP = f"""
import json, logging, os, sys
mode = os.environ["APP_MODE"]
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
import launcher.launchers.sequential
if mode == "hydra":  # every job through Hydra's run_job, as the basic launcher runs it
    launcher.launchers.sequential._LeanRunner.plain = lambda self, overrides: None
else:  # count the jobs the lean path runs
    lean_run = launcher.launchers.sequential._LeanRunner.run
    def counted(self, *args):
        with open("lean_jobs", "a") as f:
            f.write("job ")
        return lean_run(self, *args)
    launcher.launchers.sequential._LeanRunner.run = counted

log = logging.getLogger("task")

@hydra.main(version_base="1.3", config_path={str(CONF_DIR)!r}, config_name="config")
def main(cfg):
    hc = HydraConfig.get()
    log.info("job %s of %s running", hc.job.num, cfg.name)
    view = {{
        "cfg": OmegaConf.to_yaml(cfg),
        "resolved": OmegaConf.to_container(cfg, resolve=True),
        "hydra": OmegaConf.to_yaml(hc),
        "hydra_resolved": OmegaConf.to_container(hc, resolve=True),
        "env": os.environ.get("MOZAIK_TEST_ENV"),
        "cwd": os.getcwd(),
        "struct": OmegaConf.is_struct(cfg),
        "readonly": OmegaConf.is_readonly(hc),
    }}
    with open(os.path.join(hc.runtime.output_dir, "view.json"), "w") as f:
        json.dump(view, f, indent=1, default=str)
    if cfg.name == "fail":
        raise RuntimeError("asked to fail")
    return cfg.pynn_seed

if __name__ == "__main__":
    main()
"""

JOBS = [
    ["pynn_seed=1"],
    ["pynn_seed=2", "sheets.V1.density=100"],
    ["sheets.V1.density=100", "pynn_seed=2", "sheets.V1.cell.v_rest=-65"],  # same keys, another order
    ["sheets.V1.connections.exc_exc.weight=0.02"],  # replaces a reference
    ["sheets.V1.connectivity.exc_weight=0.001"],  # followed by references
    ["name=fail"],
    ["name='a b'"],  # a value with a space: dumped in full
    ["++threads=2"],  # not a plain change: Hydra's run_job, then back to the lean path
    ["pynn_seed=3"],
    [],
]


def run_app(tmp_path: Path, mode: str, sweep_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    app = tmp_path / "app.py"
    app.write_text(APP)
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps(JOBS))
    command = [
        sys.executable, str(app), "-m", "experiment.kick.rate=50", *extra,
        f"hydra.sweeper.jobs_file={jobs}", "hydra.sweeper.collect=false",
        "+hydra.job.env_set.MOZAIK_TEST_ENV=yes", "hydra.run.dir=unused", f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip
    env = {**os.environ, "APP_MODE": mode}
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)


def lean_jobs_run(tmp_path: Path) -> int:
    """How many jobs the app run in lean mode ran on the lean path (its counter file; none if absent)."""
    counter = tmp_path / "lean_jobs"
    return counter.read_text().count("job") if counter.exists() else 0


def run_files(sweep_dir: Path) -> Dict[str, str]:
    files = {}
    for path in sorted(sweep_dir.rglob("*")):
        if path.is_file() and path.parent != sweep_dir:  # the run directories' files
            text = path.read_text()
            if path.suffix == ".log":
                text = re.sub(r"^\[[^\]]*\]", "[time]", text, flags=re.MULTILINE)
                text = re.sub(r"Traceback.*?(?=^\[time\]|\Z)", "[traceback]\n", text, flags=re.MULTILINE | re.DOTALL)
            if path.name == "results.json":  # the job's record but for its times and the frames of its traceback
                record = json.loads(text)
                del record["timings"], record["code"]
                record.pop("traceback", None)
                text = json.dumps(record)
            files[str(path.relative_to(sweep_dir))] = text
    return files


def launcher_free(hydra_yaml: str) -> str:
    """A dump of Hydra's node without what differs with the launcher: its node, choice, overrides."""
    lines, skip_deeper_than = [], None
    for line in hydra_yaml.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None and indent > skip_deeper_than:
            continue
        skip_deeper_than = indent if line.strip() == "launcher:" else None
        if skip_deeper_than is None and "hydra/launcher" not in line and "hydra.launcher." not in line:
            lines.append(line)
    return "\n".join(lines)


def same_but_launcher(name: str, found: str, expected: str) -> bool:
    if name.endswith("hydra.yaml"):
        return launcher_free(found) == launcher_free(expected)
    if name.endswith("view.json"):
        a, b = json.loads(found), json.loads(expected)
        for view in (a, b):
            view["hydra"] = launcher_free(view["hydra"])
            resolved = view["hydra_resolved"]
            del resolved["launcher"], resolved["runtime"]["choices"]["hydra/launcher"]
            resolved["overrides"]["hydra"] = [line for line in resolved["overrides"]["hydra"] if "launcher" not in line]
        return a == b
    return found == expected


def test_jobs_get_what_hydras_basic_launcher_gives_them(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    by_hydra = run_app(tmp_path, "hydra", sweep_dir)
    assert by_hydra.returncode != 0 and "1 of 10 jobs failed" in by_hydra.stderr, by_hydra.stderr
    expected = run_files(sweep_dir)
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    shutil.rmtree(sweep_dir)

    lean = run_app(tmp_path, "lean", sweep_dir)
    assert lean.returncode != 0 and "1 of 10 jobs failed" in lean.stderr, lean.stderr
    found = run_files(sweep_dir)
    assert sorted(found) == sorted(expected)
    for name in expected:
        assert found[name] == expected[name], name
    assert sum(name.endswith("view.json") for name in found) == len(JOBS)
    assert sum("job 4 of VogelsAbbott2005 running" in text for name, text in found.items() if name.endswith(".log")) == 1
    views = [json.loads(text) for name, text in found.items() if name.endswith("view.json")]
    assert all(view["env"] == "yes" and view["readonly"] for view in views)
    states = lambda m: [(j["number"], j["run_dir"], j["state"], j["error"]) for j in m["jobs"]]  # noqa: E731
    assert states(json.loads((sweep_dir / "manifest.json").read_text())) == states(manifest)
    assert "Launching 10 jobs locally" in lean.stdout
    # Every job but the one with '++' ran on the lean path; none off the fast paths (an unverified
    # Hydra or OmegaConf): there every job is Hydra's run_job.
    assert lean_jobs_run(tmp_path) == (len(JOBS) - 1 if compat.fast_paths() else 0)

    # The local parallel launcher's workers run their jobs the same way.
    shutil.rmtree(sweep_dir)
    (tmp_path / "lean_jobs").unlink(missing_ok=True)
    parallel = run_app(tmp_path, "lean", sweep_dir, "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2")
    assert parallel.returncode != 0 and "1 of 10 jobs failed" in parallel.stderr, parallel.stderr
    found = run_files(sweep_dir)
    assert sorted(found) == sorted(expected)
    for name in expected:  # Hydra's node names the launcher: compared but for that
        assert same_but_launcher(name, found[name], expected[name]), name
    assert lean_jobs_run(tmp_path) == (len(JOBS) - 1 if compat.fast_paths() else 0)


# --- templates -----------------------------------------------------------------

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.booleans(),
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["1", "1.0", "true", "null", "~", "a: b", "- x", "#c", "'q'", '"d"', "x" * 100, "é", "a\nb", "${x}"]),
)


@settings(deadline=None)
@given(leaf=values, items=st.lists(values, max_size=4))
def test_templates_render_what_omegaconf_dumps(leaf: Any, items: List[Any]) -> None:
    cfg = OmegaConf.load(CONF_DIR / "model" / "vogels_abbott.yaml")  # the default model's tree
    container: Dict[str, Any] = OmegaConf.to_container(cfg, resolve=False)  # type: ignore[assignment]
    container["hydra"] = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml"), resolve=False)["hydra"]  # type: ignore[index]
    container["sheets"]["V1"]["cell"]["v_rest"] = leaf
    container["hydra"]["overrides"] = {"task": list(items)}
    paths = [("sheets", "V1", "cell", "v_rest")] + [("hydra", "overrides", "task", i) for i in range(len(items))]
    template = YamlTemplate(json.loads(json.dumps(container, allow_nan=True)), paths)
    rendered = template.render([leaf, *items])
    if rendered is not None:
        assert rendered == OmegaConf.to_yaml(OmegaConf.create(container))
    assert rendered is not None or any(scalar(v) is None for v in [leaf, *items])


@settings(deadline=None)
@given(lines=st.lists(st.text(max_size=20), max_size=4))
@example(lines=["${"])  # found by hypothesis: OmegaConf cannot hold it, and Hydra refuses the override
def test_overrides_file_as_omegaconf_dumps_it(lines: List[str]) -> None:
    try:
        expected = OmegaConf.to_yaml(OmegaConf.create(lines))
    except GrammarParseError:  # a line such as '${': Hydra refuses the override before any job runs
        assume(False)
    text = overrides_yaml(lines)
    if text is not None:
        assert text == expected == dump(lines)
    # A sweep's usual lines are rendered, not left to a full dump.
    assert overrides_yaml(["pynn_seed=3", "sheets.V1.density=1000.0"]) == "- pynn_seed=3\n- sheets.V1.density=1000.0\n"


@settings(deadline=None)
@given(
    value=st.one_of(
        st.integers(),
        st.text(alphabet="abcyesnoINFtrul_/.=,+@%-:#0123 é", max_size=12),
        st.sampled_from(["inf", "NaN", "Infinity", "yes", "Off", "NULL", "y", "_1", "a/b=1,c", "/x:y", "e1", "E5"]),
    )
)
def test_scalars_as_pyyaml_writes_them(value: Any) -> None:
    expected = dump({"k": value})
    found = scalar(value)
    assert found is None or f"k: {found}\n" == expected
    if type(value) is int or (isinstance(value, str) and value.isidentifier() and value.lower() not in ("yes", "no", "on", "off", "true", "false", "null", "y", "n", "inf", "nan", "infinity")):
        assert found is not None, value  # a job number, a plain word: put in place


def test_ctrl_c_leaves_a_manifest_that_says_where_each_job_stands(tmp_path: Path) -> None:
    from support import RUN_SIM, SMALL, with_ctrl_c

    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, str(RUN_SIM), "-m", *SMALL[:-1], "experiment.spontaneous_duration=60000",
               "pynn_seed=1,2", f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=with_ctrl_c
    )
    deadline = time.monotonic() + 120
    while not list(sweep_dir.glob("*/parameters.yaml")) and time.monotonic() < deadline:
        time.sleep(0.2)  # the first job has begun its record
    # Into its 60 s simulation (where NEST turns Ctrl-C into the job's KeyboardInterrupt), past the network's
    # build, which under CI's load took more than 1 s and where a library may swallow the interrupt (the sweep
    # then stops after the job: test_kill.py::test_a_stop_that_a_job_s_code_swallows_...).
    time.sleep(5.0)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, output
    jobs = json.loads((sweep_dir / "manifest.json").read_text())["jobs"]
    assert [job["state"] for job in jobs] == ["failed", "pending"], jobs
    assert jobs[0]["error"].startswith("KeyboardInterrupt"), jobs[0]
    first = sweep_dir / jobs[0]["run_dir"]
    assert sorted(p.name for p in (first / ".hydra").iterdir()) == ["config.yaml", "hydra.yaml", "overrides.yaml"]
    assert json.loads((first / "results.json").read_text())["state"] == "failed"


def test_the_job_file_writer_ends_even_when_a_stop_left_its_queue_miscounted(tmp_path: Path) -> None:
    """A Ctrl-C or SIGTERM raised inside ``Queue.put`` (between two jobs) can leave the writer's
    queue counting an item no thread will take: found by test_kill.py's stops of a sequential sweep,
    which then hung in ``Queue.join()`` at its end. flush() and close() wait for their own marker."""
    import threading

    from launcher.launchers.sequential import _FileWriter

    writer = _FileWriter()
    writer.write(tmp_path / "job", [("a.yaml", "a: 1\n")], [])
    writer._queue.unfinished_tasks += 1  # what an interrupted put() leaves: counted, never taken
    ended = threading.Event()
    threading.Thread(target=lambda: (writer.flush(), writer.close(), ended.set()), daemon=True).start()
    assert ended.wait(20), "the writer waited forever"
    assert (tmp_path / "job" / "a.yaml").read_text() == "a: 1\n"


def test_a_job_log_handler_a_stop_left_half_built_closes_without_an_error() -> None:
    """Ctrl-C landing inside a job log handler's __init__ leaves it without its stream; logging still
    flushes and closes it at exit, which printed an AttributeError after the sweep's one line."""
    import logging

    from launcher.launchers.sequential import JobLogHandler

    handler = JobLogHandler.__new__(JobLogHandler)
    logging.Handler.__init__(handler)  # what the stop leaves: registered with logging, no stream yet
    handler.flush()
    handler.close()
