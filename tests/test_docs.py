"""The README and the pages of docs/: every code block they show is run (or, for a file, used)
by a test, and the commands no other test runs are run here as written: a sweep of the default
model with ``hydra.sweeper.plan=true`` added (every job validated, named and listed, none run),
the others in full.

A test claims a section's blocks by extracting them by the section's title (``readme_example``,
``write_example``, ``doc_blocks``, ``doc_section`` of tests/support.py); a block in no claimed
section fails ``test_every_code_block_of_the_docs_is_run_by_a_test``.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from support import (
    CONF_DIR,
    FAKE_RUN_SCRIPT,
    REPO,
    RUN_SIM,
    SMALL,
    _FENCE,
    doc_blocks,
    doc_files,
    make_mozaik_model,
    readme_example,
    run_command,
)

#: The functions of tests/support.py that take a section's title and read its blocks.
EXTRACTORS = {"readme_example", "doc_example", "write_example", "doc_blocks", "doc_section"}
TESTS = Path(__file__).resolve().parent


def claimed_titles() -> set[str]:
    """The section titles the tests extract examples from: the first argument of each call of an
    extractor, a string or a module-level name bound to one (in any test file)."""
    sources = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(TESTS.rglob("*.py"))}
    names: dict[str, str] = {}
    for tree in sources.values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                names.update({target.id: node.value.value for target in node.targets if isinstance(target, ast.Name)})
    titles = set()
    for path, tree in sources.items():
        if path.name == "support.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                function = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if function in EXTRACTORS:
                    first = node.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        titles.add(first.value)
                    elif isinstance(first, ast.Name) and first.id in names:
                        titles.add(names[first.id])
    return titles


def blocks_with_titles(path: Path) -> list[tuple[int, str, list[str]]]:
    """Each code block of a document: its line, its first line, and the titles of the sections that
    hold it (the innermost last)."""
    text = path.read_text(encoding="utf-8")
    found = []
    for block in _FENCE.finditer(text):
        before = _FENCE.sub(lambda b: re.sub(r"[^\n]", " ", b.group(0)), text[: block.start()])  # headings outside code
        chain: list[tuple[int, str]] = []
        for heading in re.finditer(r"^(#+) (.+)$", before, re.MULTILINE):
            level = len(heading.group(1))
            if level == 1 and path.name == "README.md":
                continue  # the README's title holds every section: it claims none
            chain = [(lv, title) for lv, title in chain if lv < level] + [(level, heading.group(2))]
        line = text.count("\n", 0, block.start()) + 1
        found.append((line, block.group(3).splitlines()[0] if block.group(3) else "", [title for _, title in chain]))
    return found


def test_every_code_block_of_the_docs_is_run_by_a_test() -> None:
    claimed = claimed_titles()
    unclaimed = [
        f"{path.relative_to(REPO)}:{line}: {first[:60]!r} (sections {titles})"
        for path in doc_files()
        for line, first, titles in blocks_with_titles(path)
        if not claimed & set(titles)
    ]
    assert not unclaimed, "code blocks no test runs (extract them by their section's title in a test):\n" + "\n".join(unclaimed)


def test_the_docs_pages_are_linked_from_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    pages = [path for path in doc_files() if path.parent.name == "docs"]
    assert pages, "no page in docs/"
    assert not [page.name for page in pages if f"(docs/{page.name}" not in readme]


def test_the_links_between_the_docs_lead_to_a_file() -> None:
    broken = []
    for path in doc_files():
        text = _FENCE.sub("", path.read_text(encoding="utf-8"))
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not target.startswith(("http://", "https://")) and not (path.parent / target).exists():
                broken.append(f"{path.relative_to(REPO)}: {target}")
    assert not broken, broken


# --- the commands of the README's sections that no other test runs -------------------------


def without_comment(command: str) -> str:
    """A command line without its trailing shell comment, as a shell reads it."""
    return shlex.join(shlex.split(command, comments=True))


def plan(command: str, cwd: Path) -> int:
    """Run a sweep command of the docs as written, with ``hydra.sweeper.plan=true`` at its end:
    every job validated, named and listed, none run. The number of jobs it lists."""
    assert command.startswith("python run_sim.py -m ") or command.startswith("python run_sim.py -m'"), command
    extra = [] if "hydra.sweeper.plan=true" in command else ["hydra.sweeper.plan=true"]
    proc = run_command(without_comment(command).replace("run_sim.py", str(RUN_SIM), 1), cwd, *extra)
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
    listed = re.search(r"^(\d+) of (\d+) jobs would run:", proc.stdout, re.MULTILINE)
    assert listed, f"{command}\n{proc.stdout[-3000:]}"
    jobs = int(listed.group(2))
    assert jobs > 0 and len(re.findall(r"^  #\d+ ", proc.stdout, re.MULTILINE)) == jobs
    return jobs


def test_the_two_commands(tmp_path: Path) -> None:
    """The install line names extras pyproject.toml declares; the main job's sweep, as written, is a
    valid sweep of 3 jobs (planned here: running it takes a minute); the CI script exists and runs
    pytest."""
    _, commands = readme_example("The two commands")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    sweeps = 0
    for command in commands:
        for part in command.split(" && "):
            argv = shlex.split(part)
            if argv[:3] == ["pip", "install", "-e"]:
                wanted = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", argv[3])
                assert wanted and set((wanted.group(1) or "").split(",")) - {""} <= set(extras), part
            elif argv[:2] == ["python", "run_sim.py"]:
                assert plan(part, tmp_path) == 3
                sweeps += 1
            elif argv[0] == "bash":
                script = REPO / argv[1]
                assert script.is_file() and "pytest" in script.read_text(), part
            elif argv[:3] == ["python", "-m", "pytest"]:
                pass  # the command this suite runs under
            else:
                pytest.fail(f"no test for {part!r}")
    assert sweeps == 1


def test_the_running_commands(tmp_path: Path) -> None:
    """Every command of "Running" and its subsections (parallel, resume, Slurm): each sweep planned
    as written, the single run run on the small network, --cfg job printing the tree; the Slurm
    settings file holds keys of the Slurm preset."""
    from launcher.launchers.slurm import MozaikSlurmConf

    _, commands = readme_example("Running")
    assert len(commands) >= 13
    for command in commands:
        if " -m " in command or " -m'" in command:
            plan(command, tmp_path)
        elif command.startswith("python run_sim.py --cfg job"):
            proc = run_command(without_comment(command).replace("run_sim.py", str(RUN_SIM), 1), tmp_path)
            assert proc.returncode == 0 and "sheets:" in proc.stdout and "density:" in proc.stdout, proc.stderr
        elif without_comment(command) == "python run_sim.py":  # one run: here on the small network
            proc = run_command(without_comment(command).replace("run_sim.py", str(RUN_SIM), 1), tmp_path, *SMALL)
            assert proc.returncode == 0, proc.stderr[-3000:]
            [results] = tmp_path.glob("outputs/*/*/results.json")
            assert '"state": "completed"' in results.read_text()
        else:
            pytest.fail(f"no test for {command!r}")
    settings = [body for path, language, body in doc_blocks("On a Slurm cluster") if language == "yaml"]
    assert len(settings) == 1
    keys = {field.name for field in dataclasses.fields(MozaikSlurmConf)}
    assert set(yaml.safe_load(settings[0])) <= keys, set(yaml.safe_load(settings[0])) - keys


def test_status_and_collect(tmp_path: Path) -> None:
    """The commands of "After a sweep", as written, on a sweep of the small network into D."""
    sweep = run_command(f"python {RUN_SIM} -m pynn_seed=1,2 hydra.sweep.dir=D", tmp_path, *SMALL)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    commands = [c for c in readme_example("After a sweep: status, table, figures")[1] if c.startswith("python -m launcher")]
    assert [shlex.split(c, comments=True)[3:] for c in commands] == [["status", "D"], ["collect", "D"]]
    status = run_command(without_comment(commands[0]), tmp_path)
    assert status.returncode == 0 and "2 completed" in status.stdout, status.stdout + status.stderr
    collect = run_command(without_comment(commands[1]), tmp_path)
    assert collect.returncode == 0 and "summary.csv" in collect.stdout, collect.stdout + collect.stderr
    assert len((tmp_path / "D" / "summary.csv").read_text().splitlines()) == 3


# --- docs/mozaik.md ----------------------------------------------------------------------------


def test_the_search_script_runs_on_the_embedded_model_and_on_a_mozaik_model(tmp_path: Path) -> None:
    """The search script as written (with tiny densities for the embedded model, the test model's
    keys for the mozaik one), run with each command line of the page."""
    [(_, python, script), (_, bash, lines)] = doc_blocks("Search scripts")[:2]
    assert python == "python" and bash == "bash"
    embedded, mozaik = [without_comment(line) for line in lines.splitlines() if line.strip()]
    values = '{"sheets.V1.density": [1000, 2000], "pynn_seed": [1, 2]}'
    assert values in script

    (tmp_path / "search.py").write_text(script.replace("[1000, 2000]", "[1, 2]"))
    command = embedded.replace("run_sim.py", str(RUN_SIM)).replace("conf/config.yaml", str(CONF_DIR / "config.yaml"))
    proc = run_command(command, tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (master,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert sorted(p.name for p in master.iterdir() if (p / "results.json").is_file()) == [
        f"pynn_seed={s},sheets.V1.density={d}" for s in (1, 2) for d in (1, 2)
    ]

    model = make_mozaik_model(tmp_path / "mozaik")
    (model / "run_model.py").write_text(FAKE_RUN_SCRIPT)
    (model / "search.py").write_text(script.replace(values, '{"sheets.inh_layer.params.density": [100, 200]}'))
    proc = run_command(mozaik, model)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (master,) = [p for p in model.iterdir() if p.name.startswith("CombinationParamSearch")]
    runs = sorted(p.name for p in master.iterdir() if (p / "run_output.json").is_file())
    assert runs == ["sheets.inh_layer.params.density=100", "sheets.inh_layer.params.density=200"]


def test_the_import_mozaik_commands(tmp_path: Path) -> None:
    _, commands = readme_example("mozaik parameter files")
    assert len(commands) == 2
    model = make_mozaik_model(tmp_path)
    (model / "run_model.py").write_text(FAKE_RUN_SCRIPT)
    for command in commands:
        proc = run_command(without_comment(command), model)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (model / "hydra_tree" / "config.yaml").is_file()
    assert "run_model.py" in (model / "hydra_conf" / "model" / "my_model.yaml").read_text()
