"""One sweeping process per sweep directory at a time.

Two sweeps into one directory would each write its own ``manifest.json`` (the
last one wins, hiding the other's jobs) and could run the same job twice at once
in one run directory. The sweeper therefore holds :class:`SweepLock` from the
moment it looks at what an earlier sweep left until its own sweep ends: a second
sweep into the directory waits for the first to end, saying whose it is, then
resumes from what the first completed.

The lock is a POSIX record lock (``fcntl.lockf``) on ``<sweep dir>/.sweep.lock``.
The kernel releases it when its process ends, however it ends (``kill -9``
included), so a stale lock never blocks; POSIX locks also hold across NFSv4,
where many clusters keep their sweeps (``flock`` does not, there). The file
keeps the last holder's pid, host, start time and command, for the message of
whoever waits; it is never removed (removing a lock file others wait on would
let two processes hold locks on two different files).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, Optional

from launcher.run.files import LIMITS, make_directory, open_regular, problem, read_bounded
from launcher.run.results import now

log = logging.getLogger(__name__)

LOCK_FILE = ".sweep.lock"
#: The lock files this process holds. A POSIX lock is the process's: closing any descriptor of
#: the file releases it, so :func:`is_swept` must not open a file this process has locked.
_HELD: set[Path] = set()


class SweepLock:
    """Exclusive use of a sweep directory by this process (a context manager; re-entrant it is not)."""

    def __init__(self, sweep_dir: Path | str) -> None:
        self.path = Path(sweep_dir) / LOCK_FILE
        self._fd: Optional[int] = None

    def __enter__(self) -> "SweepLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, waiting (with a message naming the holder) while another process holds it."""
        make_directory(self.path.parent)  # a FileProblem naming it if it cannot be (a file there, read-only...)
        # Never through a link (the lock's content would overwrite its target), never a FIFO or a directory.
        fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, "sweep lock file", limit=LIMITS["sweep lock file"])
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # EACCES or EAGAIN: another process sweeps this directory
                log.warning(
                    "%s is being swept by another process (%s); waiting for it to end (Ctrl-C to stop waiting)",
                    self.path.parent, holder_description(self.path),
                )
                fcntl.lockf(fd, fcntl.LOCK_EX)
                log.info("The other sweep of %s has ended: going on", self.path.parent)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({**sweeper_identity(), "command": sys.argv}).encode("utf-8"), 0)
        except BaseException as exc:
            os.close(fd)  # closing releases the lock, if it was taken
            if isinstance(exc, OSError):  # e.g. a full disk
                raise problem(self.path, exc, "sweep lock file") from None
            raise
        self._fd = fd
        _HELD.add(self.path.parent.resolve() / LOCK_FILE)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            _HELD.discard(self.path.parent.resolve() / LOCK_FILE)
            os.close(fd)  # releases the lock


_STARTED = now()


def sweeper_identity() -> dict[str, Any]:
    """This process as a sweep's manifest and lock name their sweeper: pid, host, start time."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _STARTED}


def is_swept(sweep_dir: Path | str) -> bool:
    """Whether a live process (this one included) sweeps the directory now: holds its lock."""
    path = Path(sweep_dir).resolve() / LOCK_FILE  # (the directory resolved, never the file: a link is no lock)
    if path in _HELD:
        return True
    try:
        fd = open_regular(path, os.O_RDONLY, "sweep lock file")  # a shared lock needs only read access
    except OSError:  # no lock file: never swept by this program (or no lock file it wrote: a link, a FIFO...)
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:  # the sweeper's exclusive lock is held
        return True
    finally:
        os.close(fd)  # releases the test lock, if it was taken
    return False


def holder_description(path: Path) -> str:
    """Who holds (or last held) a sweep directory's lock: pid, host, start time and command."""
    try:
        holder = json.loads(read_bounded(path, "sweep lock file").decode("utf-8"))
        command = " ".join(str(arg) for arg in holder.get("command", []))
        return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}: {command}"
    except (OSError, ValueError, AttributeError, RecursionError):
        return "a process that left no description"
