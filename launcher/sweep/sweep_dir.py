"""What a sweep directory must be before a sweep writes into it: not the root or the home directory,
new or swept by this program, no run directory that is (or holds) a symbolic link; and the stamp that
tells whether another sweep wrote its manifest meanwhile. Moved out of sweeper.py, which uses them."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from hydra.errors import CompactHydraException

from launcher.run.files import FileProblem, link_within
from launcher.sweep.job_entry import JobEntry
from launcher.sweep.lock import LOCK_FILE
from launcher.sweep.manifest import JOURNAL_FILE, MANIFEST_FILE


class SweepRefused(CompactHydraException):
    """The sweep directory holds what this sweep must not overwrite (another program's manifest.json)."""


def refuse_as_sweep_dir(sweep_dir: Path, allow_non_empty: bool) -> None:
    """Refuse the file system's root and the home directory as sweep directories, whatever is asked:
    a sweep writes its manifest, table, figures and run directories into it."""
    resolved = Path(sweep_dir).expanduser().resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise SweepRefused(
            f"The sweep was refused; nothing was run or written: hydra.sweep.dir = {sweep_dir} is "
            f"{'the root of the file system' if resolved == Path(resolved.anchor) else 'the home directory'}; "
            "choose a directory of its own (e.g. multirun/my_sweep)"
        )


def looks_like_a_sweep(sweep_dir: Path) -> bool:
    """Whether a directory is new, empty, or was swept by this program (whose manifest may be lost)."""
    try:
        names = {path.name for path in Path(sweep_dir).iterdir()}
    except FileNotFoundError:
        return True
    except NotADirectoryError:
        return False
    return not names or bool(names & {MANIFEST_FILE, "multirun.yaml", LOCK_FILE})


def refuse_foreign_contents(sweep_dir: Path) -> None:
    """Refuse a sweep directory holding files but no sweep of this program (see :func:`looks_like_a_sweep`)."""
    if not looks_like_a_sweep(sweep_dir):
        raise SweepRefused(
            f"The sweep was refused; nothing was run or written: {sweep_dir} holds files but no sweep of this "
            "program (no manifest.json, multirun.yaml or .sweep.lock), and a sweep would write over same-named "
            "ones (summary.csv, run directories). Choose another hydra.sweep.dir, or allow it: "
            "hydra.sweeper.allow_non_empty=true"
        )


def manifest_stamp(sweep_dir: Path) -> Tuple[Optional[Tuple[int, int]], ...]:
    """When and how large the sweep directory's manifest and its journal were last written (None
    for a file it does not have), to tell whether another sweep wrote them in the meantime."""
    stamps: List[Optional[Tuple[int, int]]] = []
    for name in (MANIFEST_FILE, JOURNAL_FILE):
        try:
            stat = (Path(sweep_dir) / name).stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def refuse_linked_run_dirs(sweep_dir: Path, jobs: Sequence[JobEntry]) -> None:
    """A :class:`~launcher.run.files.FileProblem` naming the first run directory of ``jobs`` that is
    a symbolic link, or the first link in one (``.hydra`` linked elsewhere): a job would write its
    results, ``.hydra/`` and log through it, outside the sweep directory, whatever the launcher
    (Hydra's basic one saves ``.hydra/*.yaml`` through links)."""
    for job in jobs:
        path = os.path.join(sweep_dir, job.run_dir)
        link = path if os.path.islink(path) else link_within(path)
        if link is not None:
            where = f"where the run directory of job #{job.number} belongs" if link == path else f"in the run directory of job #{job.number}"
            raise FileProblem(
                link, f"a symbolic link {where}: a job never writes through one",
                f"move it aside (mv '{link}' '{link}.moved') and run the sweep again", errno.ELOOP,
            )
