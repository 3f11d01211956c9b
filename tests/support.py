"""What the tests share: paths, a small fast network, running the CLI as a user would."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"
RUN_SIM = REPO / "run_sim.py"
README = REPO / "README.md"
#: Where the examples are: the README, and the pages of docs/ it links to.
DOCS_DIR = REPO / "docs"


def doc_files() -> list[Path]:
    """README.md, then every page of docs/."""
    return [README, *sorted(DOCS_DIR.glob("*.md"))]

#: A small, fast network: 200 cells (160 exc, 40 inh) for 200 ms of spontaneous activity,
#: denser connectivity so that it stays active at this size.
SMALL = [
    "sheets.V1.density=200",
    "sheets.V1.connectivity.probability=0.2",
    "sheets.V1.connectivity.exc_weight=0.006",
    "sheets.V1.connectivity.inh_weight=0.04",
    "experiment.kick.probability=0.5",
    "experiment.spontaneous_duration=200",
]


#: A Hydra app with no simulator, for the tests of a sweep's machinery (stops and resumes, a
#: fit's trials, crashes): its jobs take ``+duration`` seconds (a sleep) and return the metric
#: ``rate_hz`` of ``+weight`` and ``+seed``, so the same job gives the same value; with
#: ``TOY_CRASH_ONCE=PATH`` in the environment, the first job to create PATH segfaults (the first
#: of seed ``TOY_CRASH_SEED`` if that is set too). What the
#: real network adds (NEST in the job, its interrupts) is tested on run_sim.py beside each
#: of these. Its sweeps cost half the CPU of the network's or less: no NEST to import.
TOY_APP = textwrap.dedent(
    """
    import os
    import signal
    import time

    import hydra


    @hydra.main(version_base="1.3", config_path=None, config_name=None)
    def main(cfg):
        crash_once, crash_seed = os.environ.get("TOY_CRASH_ONCE"), os.environ.get("TOY_CRASH_SEED")
        if crash_once and (crash_seed is None or int(crash_seed) == cfg.get("seed")):
            try:
                os.close(os.open(crash_once, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(float(cfg.get("duration", 0.0)))
        return {"rate_hz": 100.0 * float(cfg.get("weight", 0.01)) + 0.1 * float(cfg.get("seed", 0))}


    if __name__ == "__main__":
        main()
    """
)


def toy_app(folder: Path, *args: str) -> list[str]:
    """Write the toy app into ``folder``; the command of a sweep of it with ``args``, the
    project's sweeper and sequential launcher unless ``args`` name others (later choices win)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy_app.py").write_text(TOY_APP)
    return [sys.executable, str(folder / "toy_app.py"), "-m", "hydra/sweeper=mozaik", "hydra/launcher=sequential", *args]


def with_ctrl_c() -> None:
    """``preexec_fn`` of a child that a test stops with SIGINT, as Ctrl-C in a terminal would:
    tests run in the background by a shell (or under nohup) ignore SIGINT, and so would
    their children, which then rightly let SIGINT pass."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


#: The environment variable that marks the processes of a test, and every process they start.
MARKER = "MOZAIK_TEST_MARKER"


def marked_env(marker: str, **variables: str) -> dict[str, str]:
    """This process's environment with ``marker`` (unique to the test) and ``variables`` added."""
    return {**os.environ, "HYDRA_FULL_ERROR": "0", MARKER: marker, **variables}


def marked_processes(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries the marker."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"{MARKER}={marker}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


def assert_no_process_left(marker: str, within_s: float = 10.0) -> None:
    """Within ``within_s``, no live process carries the marker."""
    deadline = time.monotonic() + within_s
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked_processes(marker) == []


#: Overrides after which ``run_cli`` starts a process of its own: jobs in worker processes or on
#: Slurm, whose starting and ending belong to what such a test checks.
OWN_PROCESS = ("hydra/launcher=",)


def run_cli(args: Sequence[str], cwd: Path, timeout: float = 600, own_process: Optional[bool] = None) -> subprocess.CompletedProcess:
    """Run ``python run_sim.py ARGS`` as a user would: in a fresh process when ``own_process`` (by
    default, when ARGS choose a launcher: worker processes, Slurm), else in this one
    (:func:`run_sim_here`), which saves a test the interpreter's, Hydra's and NEST's start (about 3 s
    of CPU a call); what a test reads (exit status, stdout, stderr, files) is the same."""
    if own_process is None:
        own_process = any(arg.startswith(OWN_PROCESS) for arg in args)
    if not own_process:
        return run_sim_here(args, cwd)
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(RUN_SIM), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def run_sim_here(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python run_sim.py ARGS`` run in this process (:func:`run_here`)."""
    return run_here([str(RUN_SIM), *map(str, args)], cwd)


def _warning_to_stderr(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001  (warnings.showwarning's)
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def run_here(argv: Sequence[str], cwd: Path, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    """``python ARGV`` (a script's path, or ``-m MODULE``, and its arguments) run in this process, as its
    ``__main__`` (for run_sim.py: the checks before Hydra, then Hydra's main), with what a process of its own would not share put back afterwards: the
    working directory, ``sys.argv``, the environment, Hydra's global state and config store, the root logger's
    handlers and the signal handlers. Its exit status is that of ``sys.exit`` (1 for an exception,
    whose traceback goes to stderr, as Python prints it)."""
    import contextlib
    import faulthandler
    import io
    import logging
    import runpy
    import traceback

    import copy

    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.plugins import Plugins

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd, saved_env, saved_path = sys.argv[:], os.getcwd(), dict(os.environ), sys.path[:]
    saved_modules = set(sys.modules)
    Plugins.instance()  # the plugins' configs stored once, as their modules are imported, before the copy
    saved_store = copy.deepcopy(ConfigStore.instance().repo)  # an app's schemas and presets, stored as it runs
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)}
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    # pytest's own crash handler is not a process's default: the jobs would hand it on to stderr, here a StringIO.
    crash_handler = faulthandler.is_enabled()
    faulthandler.disable()
    code = 0
    script_dir = Path(cwd).resolve() if argv[0] == "-m" else (Path(cwd) / argv[0]).resolve().parent
    try:
        os.chdir(cwd)
        sys.argv = list(map(str, argv[1:] if argv[0] == "-m" else argv))
        sys.path.insert(0, str(script_dir))  # as python does
        os.environ.update({"HYDRA_FULL_ERROR": "0", **(env or {})})
        GlobalHydra.instance().clear()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.showwarning = _warning_to_stderr  # as a process prints them, not into pytest's record
            try:
                if argv[0] == "-m":
                    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(argv[0], run_name="__main__")
            except SystemExit as exc:
                if exc.code is None or isinstance(exc.code, int):
                    code = exc.code or 0
                else:
                    print(exc.code, file=sys.stderr)
                    code = 1
            except Exception:  # noqa: BLE001  (what Python does with an uncaught exception)
                traceback.print_exc()
                code = 1
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None  # type: ignore[assignment]  (no run's config is current)
        ConfigStore.instance().repo = saved_store
        # A model's module imported from the test's folder (toy_model, a run script's) is the test's own:
        # the next test's module of that name is another file. (The installed packages' stay imported.)
        folders = (str(Path(cwd).resolve()), str(script_dir), tempfile.gettempdir())
        for name in set(sys.modules) - saved_modules:
            file = getattr(sys.modules.get(name), "__file__", None)
            if file and file.startswith(folders) and not file.startswith(str(REPO)):
                del sys.modules[name]
        sys.path[:] = saved_path
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.close()
        root.handlers[:], root.level = saved_handlers, saved_level
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        if crash_handler:
            faulthandler.enable(file=sys.__stderr__)
    return subprocess.CompletedProcess([sys.executable, *argv], code, out.getvalue(), err.getvalue())


def run_launcher_cli(*args: object, cwd: Path = REPO, own_process: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m launcher ARGS`` (status, collect...): in this process (:func:`run_here`), or in a
    fresh one when ``own_process``."""
    if not own_process:
        return run_here(["-m", "launcher", *map(str, args)], cwd)
    return subprocess.run(
        [sys.executable, "-m", "launcher", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


# --- mozaik search scripts and models -----------------------------------------------------

MOZAIK_MODEL = Path(__file__).parent / "data" / "mozaik"
#: A model whose run script is a real MPI program (mpi4py): its tree and ``run_mpi.py``.
MPI_MODEL = Path(__file__).parent / "data" / "mpi"

#: A stand-in for a user's mozaik run script: mozaik's command line, reads its tree, writes into its cwd.
FAKE_RUN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from launcher.mozaik.parameter_files import read_parameters
    simulator, threads, parameter_file, run_name = sys.argv[1:]
    tree = read_parameters(parameter_file)
    density = tree["sheets"]["inh_layer"]["params"]["density"]
    if density == 13:
        print("density 13 is unlucky", file=sys.stderr)
        sys.exit(3)
    output = {"density": density, "simulator": simulator, "threads": threads, "run_name": run_name,
              "base_delay": tree["sheets"]["inh_layer"]["InhExcConnection"]["base_delay"]}
    json.dump(output, open("run_output.json", "w"))
    """
)


def search_script(backend: str, values: dict) -> str:
    return (
        "from launcher.parameter_search import *\n"
        f"CombinationParameterSearch({backend}, {values!r}).run_parameter_search()\n"
    )


def run_search(cwd: Path, script: str, *argv: str) -> subprocess.CompletedProcess:
    (cwd / "search.py").write_text(script)
    return subprocess.run([sys.executable, "search.py", *argv], cwd=cwd, capture_output=True, text=True, timeout=600)


def make_mozaik_model(tmp_path: Path) -> Path:
    """A mozaik model directory: its parameter files and a run script."""
    model = tmp_path / "model"
    shutil.copytree(MOZAIK_MODEL, model)
    (model / "run.py").write_text(FAKE_RUN_SCRIPT)
    return model


# --- the worked examples of the README and docs/ ---------------------------------------------

#: A code block, with the line before it: "`path`:" names the file the block holds.
_FENCE = re.compile(r"^(?:`([\w./-]+)`:\n\n)?```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section_bounds(text: str, start: int, level: int) -> int:
    """Where the section whose body starts at ``start`` ends: at the next heading of ``level`` or a
    higher one, outside code blocks (a YAML comment such as "# @package _global_" is not a heading)."""
    outside_code = _FENCE.sub(lambda block: re.sub(r"[^\n]", " ", block.group(0)), text[start:])  # same length
    ends = [m.start() for m in re.finditer(rf"^#{{1,{level}}} ", outside_code, re.MULTILINE)]
    return start + ends[0] if ends else len(text)


def doc_section(heading: str) -> tuple[Path, str]:
    """The document (README.md or a page of docs/) holding the section titled ``heading``, and the
    text of that section, its subsections included. The title must be in exactly one document."""
    found = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE):
            found.append((path, text[match.end() : section_bounds(text, match.end(), len(match.group(1)))]))
    assert found, f"no section {heading!r} in the README or docs/"
    assert len(found) == 1, f"section {heading!r} is in {[str(path.relative_to(REPO)) for path, _ in found]}: make it one"
    return found[0]


def doc_blocks(heading: str) -> list[tuple[str, str, str]]:
    """Every code block of the section ``heading``, as (the file it holds or "", language, body)."""
    return _FENCE.findall(doc_section(heading)[1])


def readme_example(heading: str) -> tuple[dict[str, str], list[str]]:
    """The files and commands of the example under ``heading`` (a section title of the README or
    of a page of docs/), as written: each code block after a line "`<path>`:" is that file, each
    ``bash`` block holds commands (one a line)."""
    files, commands = {}, []
    for path, language, body in doc_blocks(heading):
        if language == "bash":
            commands += [line for line in body.splitlines() if line.strip() and not line.startswith("#")]
        elif path:
            files[path] = body
    return files, commands


doc_example = readme_example


def write_example(heading: str, folder: Path) -> list[str]:
    """Write the files of an example of the README or docs/ into ``folder``; its commands."""
    files, commands = readme_example(heading)
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body, encoding="utf-8")
    return commands


def runs_here(argv: Sequence[str], cwd: Path) -> bool:
    """Whether a command can run in the test's process: ``python -m launcher ...`` or a Hydra app
    (run_sim.py, a user's ``app.py``), whose output is Python's own; not a script that starts others
    (a mozaik search script), whose children write to the process's file descriptors."""
    if len(argv) < 2 or argv[0] != "python":
        return False
    if argv[1] == "-m":
        return argv[2:3] == ["launcher"]
    script = Path(cwd) / argv[1]
    return script.suffix == ".py" and script.is_file() and "@hydra.main" in script.read_text(encoding="utf-8")


def run_command(
    command: str, cwd: Path, *extra: str, timeout: float = 600, env: Optional[dict[str, str]] = None,
    own_process: Optional[bool] = None,
) -> subprocess.CompletedProcess:
    """Run a command line of the README or docs/ as a user types it (split as a shell would, no shell), with
    ``extra`` arguments at its end; ``env``: variables set besides this process's. A ``python`` command
    runs in this process (:func:`run_here`) unless ``own_process`` or it chooses a launcher (as :func:`run_cli`);
    a test of what reaches the console from outside Python (NEST's banner) asks for a process of its own."""
    argv = [*shlex.split(command), *extra]
    if own_process is None:
        own_process = not runs_here(argv, cwd) or any(arg.startswith(OWN_PROCESS) for arg in argv)
    if not own_process:
        return run_here(argv[1:], cwd, env=env)
    if argv[0] == "python":  # the interpreter running the tests, whatever `python` is on PATH
        argv[0] = sys.executable
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})},
    )


def sweep_dir_of(folder: Path) -> Path:
    """The one sweep directory a command wrote under Hydra's default ``multirun/DATE/TIME``."""
    found = sorted(folder.glob("multirun/*/*"))
    assert len(found) == 1, found
    return found[0]


def run_dirs(sweep: Path) -> set[str]:
    return {p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")}


def check_completed_sweep(sweep: Path, names: set[str], log_name: str, shared: Sequence[str] = ()) -> None:
    """Every run directory named after its overrides, completed with its metric; the manifest,
    the table with the metric's column and a figure. ``shared``: overrides of every job left out of
    the names (``model=NAME``)."""
    assert run_dirs(sweep) == names
    for name in names:
        record = json.loads((sweep / name / "results.json").read_text())
        assert record["state"] == "completed", record.get("error")
        assert sorted(record["overrides"]) == sorted([*name.split(","), *shared])
        assert isinstance(record["metrics"]["rate_hz"], float) and record["metrics"]["rate_hz"] >= 0
        assert record["config_hash"] and record["versions"]["nest"] and record["timings"]["total_s"] > 0
        assert (sweep / name / log_name).is_file()
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert sorted(job["run_dir"] for job in manifest["jobs"]) == sorted(names)
    assert {job["state"] for job in manifest["jobs"]} == {"completed"}
    header = (sweep / "summary.csv").read_text().splitlines()[0].split(",")
    assert "rate_hz" in header and "state" in header
    assert (sweep / "heatmap_rate_hz.png").is_file()
