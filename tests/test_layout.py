"""The package's shape: the README's layout section is the tree, and private framework names stay
in the one module that lists them."""

from __future__ import annotations

from pathlib import Path

from support import README, REPO


def layout_entries() -> set[str]:
    """The paths the README's layout section lists (a folder line, then its indented files)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Layout\n") :]
    block = section[section.index("```\n") + 4 : section.index("```", section.index("```\n") + 4)]
    entries, folder = set(), ""
    for line in block.splitlines():
        path = line.split()[0]
        if line.startswith(" "):
            entries.add(folder + path)
        else:
            folder = path if path.endswith("/") else ""
            entries.add(path)
    return entries


def test_the_readme_layout_lists_every_module_and_only_what_exists() -> None:
    listed = layout_entries()
    for path in sorted(listed):
        assert (REPO / path).exists(), f"the README's layout lists {path}, which does not exist"
    modules = {
        str(path.relative_to(REPO)) for path in (REPO / "launcher").rglob("*.py") if path.name != "__init__.py"
    }
    missing = sorted(modules - listed)
    assert not missing, f"modules the README's layout does not list: {missing}"
    folders = {str(path.parent.relative_to(REPO)) + "/" for path in (REPO / "launcher").rglob("__init__.py")} - {"launcher/"}
    assert folders <= listed, f"folders the README's layout does not list: {sorted(folders - listed)}"
