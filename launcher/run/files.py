"""Opening the files of a sweep directory so that no file can be turned against the user, and
saying in one line what is wrong with one that cannot be used.

Anything in a sweep directory may have been replaced: a symbolic link to a file elsewhere (the
lock would overwrite it, a run directory would be written through), a FIFO (a reader would wait
forever), a device (``/dev/zero`` never ends), a file too large to be what this program wrote.
So every file the program reads or writes in a sweep directory is opened here:

- :func:`read_bounded`: without following a symbolic link (``O_NOFOLLOW``), without waiting
  (``O_NONBLOCK``: a FIFO opens at once), checked to be a regular file on its own descriptor
  (``fstat``) before a byte is read, and read up to a size limit that fits its kind;
- :func:`open_regular`: the same for a file written in place (the lock, the journal), created
  with ``O_EXCL`` when it must be new;
- :func:`open_directory`: a directory the same way (a run directory that is a link is refused
  by name), and :func:`link_within`: a link in a run directory, which a job would write through.

Each refusal is a :class:`FileProblem`, an ``OSError`` whose message names the file and says what
to do; :func:`problem` turns any other ``OSError`` met on a file into one the same way.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
from pathlib import Path

from hydra.errors import CompactHydraException

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: How every file of a sweep directory is opened: never through a link, never waiting on a FIFO.
SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC

#: The most bytes read of each kind of file (what this program writes is far smaller): a file
#: larger than that is not one it wrote.
MB = 1 << 20
LIMITS = {
    "sweep lock file": 64 * 1024,  # a pid, a host, a time and a command line
    "results.json": 64 * MB,  # a job's record: its metrics (at most launcher.run.results.MAX_METRICS)
    "metrics.json": 64 * MB,  # a mozaik run script's single values (launcher.mozaik.script_task)
    "manifest.json": 4096 * MB,  # 150 bytes a job: 28 million jobs
    "manifest journal": 4096 * MB,
    "jobs file": 1024 * MB,
    "YAML config": 64 * MB,  # a job's .hydra/config.yaml, parameters.yaml; the sweep's multirun.yaml
    "job return": 1024 * MB,  # a packed Slurm job's pickled return (launcher.launchers.slurm_pack)
}


class FileProblem(OSError, CompactHydraException):
    """A file or directory that cannot be used as it is; the message (one line) names it and says
    what to do. An ``OSError`` (with its ``errno``), so that code that handles those handles it;
    a Hydra "compact" error, so that an app prints its message without a traceback."""

    def __init__(self, path: Path | str, why: str, todo: str = "", code: int = 0) -> None:
        self.path, self.why, self.todo = Path(path), why, todo
        message = f"{path}: {why}" + (f"; {todo}" if todo else "")
        super().__init__(code, message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self) -> tuple:  # (pickled by the local launcher's workers)
        return (type(self), (str(self.path), self.why, self.todo, self.errno or 0))


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, as a message names it."""
    for test, name in (
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _move_aside(path: Path | str) -> str:
    return f"move it aside (mv '{path}' '{path}.moved') and run the command again"


def problem(path: Path | str, exc: OSError, what: str = "file") -> FileProblem:
    """``exc``, met on ``path`` (a ``what``: "file", "directory"...), as a :class:`FileProblem`
    saying what to do (a FileProblem already: itself)."""
    if isinstance(exc, FileProblem):
        return exc
    code = exc.errno or 0
    reason = exc.strerror or str(exc)
    todo = {
        errno.ENOSPC: "free space on its file system, then run the command again (what is complete is kept)",
        errno.EDQUOT: "free space within your quota, then run the command again (what is complete is kept)",
        errno.EROFS: "its file system is read-only: choose a writable directory (e.g. hydra.sweep.dir=...)",
        errno.EACCES: "you may not use it: change its permissions or choose another directory",
        errno.EPERM: "you may not use it: change its permissions or choose another directory",
        errno.ENOTDIR: "a part of its path is a file, not a directory: choose another path",
        errno.EEXIST: f"another kind of file is in its place: choose another path, or {_move_aside(path)}",
        errno.EISDIR: f"a {what} belongs there: {_move_aside(path)}",
        errno.ELOOP: f"this program never follows one in a sweep directory: {_move_aside(path)}",
        errno.ENAMETOOLONG: "its name is longer than the file system allows: choose shorter names",
        errno.ENXIO: f"it is a FIFO or a device, not a {what}: {_move_aside(path)}",
    }.get(code, "check it, then run the command again")
    reason = {errno.ELOOP: "a symbolic link", errno.EISDIR: "a directory"}.get(code, reason)  # (not "Too many levels of symbolic links")
    return FileProblem(path, reason, todo, code)


def _check_regular(fd: int, path: Path | str, what: str, limit: int | None) -> os.stat_result:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        code = errno.EISDIR if stat.S_ISDIR(info.st_mode) else errno.ENXIO
        raise FileProblem(path, f"{kind_of(info.st_mode)} where a regular file ({what}) belongs", _move_aside(path), code)
    if limit is not None and info.st_size > limit:
        raise _too_large(path, what, limit)
    return info


def _too_large(path: Path | str, what: str, limit: int) -> FileProblem:
    return FileProblem(path, f"larger than a {what} can be ({limit:,} bytes): not a file this program wrote", _move_aside(path), errno.EFBIG)


def open_regular(
    path: Path | str, flags: int, what: str, mode: int = 0o644, limit: int | None = None, dir_fd: int | None = None,
    follow: bool = False,
) -> int:
    """A descriptor of the regular file ``path`` (``os.open`` ``flags`` with :data:`SAFE`); a
    :class:`FileProblem` if it is a link, a FIFO, a device, a directory or over ``limit`` bytes,
    or cannot be opened (but :class:`FileNotFoundError`, left to the caller: often no problem).
    ``dir_fd``: as for :func:`read_bounded`; ``follow``: a link is followed (a user's own file)."""
    safe = (os.O_NONBLOCK | _CLOEXEC) if follow else SAFE
    try:
        fd = os.open(path if dir_fd is None else os.path.basename(path), flags | safe, mode, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise problem(path, exc, what) from None
    try:
        _check_regular(fd, path, what, limit)
        if flags & (os.O_WRONLY | os.O_RDWR):
            os.set_blocking(fd, True)  # a regular file: writes wait for the disk as usual
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: Path | str, kind: str, dir_fd: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, a ``kind`` of :data:`LIMITS`, read without following
    a link or waiting on a FIFO and up to its limit (:class:`FileProblem` otherwise;
    :class:`FileNotFoundError` if there is none). ``dir_fd``: a descriptor of the directory of
    ``path`` (see :func:`open_directory`), which the file is then opened in by its name."""
    limit = LIMITS[kind]
    fd = open_regular(path, os.O_RDONLY, kind, limit=limit, dir_fd=dir_fd)
    try:
        size = os.fstat(fd).st_size
        chunks = [os.read(fd, size + 1)]  # one read for a file that does not grow
        read = len(chunks[0])
        while chunks[-1]:
            if read > limit:  # grown since: still bounded
                raise _too_large(path, kind, limit)
            chunks.append(os.read(fd, 1 << 20))
            read += len(chunks[-1])
    except OSError as exc:
        raise problem(path, exc, kind) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


#: File systems of the kernel's own files: never read as a user's file (procfs files say they are
#: regular files of size 0, and some, /proc/kmsg, wait forever for a line).
PSEUDO_FILE_SYSTEMS = ("/proc", "/sys", "/dev")


def read_user_file(path: Path | str, limit: int, what: str = "file") -> bytes:
    """The bytes of a user's own file (links followed: a model directory may hold them), read as
    :func:`read_bounded` reads a sweep's files otherwise: a regular file, never a FIFO, a device or
    a file of the kernel's (:data:`PSEUDO_FILE_SYSTEMS`), without waiting; at most ``limit`` + 1
    bytes (the caller names the limit). :class:`FileProblem` (or :class:`FileNotFoundError`) otherwise."""
    resolved = os.path.realpath(path)
    if any(resolved == top or resolved.startswith(top + "/") for top in PSEUDO_FILE_SYSTEMS):
        raise FileProblem(path, f"a file of the kernel's ({resolved}), not a {what}", "name a file of your own", errno.EINVAL)
    fd = open_regular(path, os.O_RDONLY, what, follow=True)
    try:
        chunks, read = [], 0
        while read <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - read))):
            chunks.append(chunk)
            read += len(chunk)
    except OSError as exc:
        raise problem(path, exc, what) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def open_directory(path: Path | str, what: str = "run directory", dir_fd: int | None = None) -> int:
    """A descriptor of the directory ``path`` (its last part no link); :class:`FileProblem` if it
    is a link or not a directory, :class:`FileNotFoundError` if there is none."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | SAFE, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and os.path.islink(path)):
            raise FileProblem(
                path, f"a symbolic link, not a {what}: this program never writes or reads through one", _move_aside(path), errno.ELOOP
            ) from None
        raise problem(path, exc, what) from None


def link_within(directory: Path | str) -> str | None:
    """The first symbolic link among the entries of ``directory`` and of the directories in it
    (``.hydra/``, a datastore), or None: a job writes its ``.hydra/`` files, log and outputs there
    by name, and Hydra's own launchers open them following links. None for a directory that is
    not there or cannot be listed (a new job's; the job then says why it cannot write)."""
    inside: list[str] = []
    link = _first_link(str(directory), inside)
    for subdirectory in inside:
        link = link or _first_link(subdirectory)
    return link


def _first_link(directory: str, subdirectories: list[str] | None = None) -> str | None:
    """The first symbolic link listed in ``directory`` (None if none, or if it cannot be listed);
    the directories it lists added to ``subdirectories``."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_symlink():
                    return entry.path
                if subdirectories is not None and entry.is_dir(follow_symlinks=False):
                    subdirectories.append(entry.path)
    except OSError:
        pass
    return None


def make_directory(path: Path | str, what: str = "sweep directory") -> Path:
    """Make the directory ``path`` and its parents (nothing if it exists); :class:`FileProblem`
    naming it if it cannot be (a file in its place or on its path, a read-only file system...)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise problem(path, exc, what) from None
    if path.is_symlink() and what != "sweep directory":  # (a sweep directory may be a link: the user's choice)
        raise FileProblem(path, f"a symbolic link, not a {what}", _move_aside(path), errno.ELOOP)
    return path


def quiet_log_file(handler: logging.Handler) -> logging.Handler:
    """Make a log file's ``handler`` keep the first ``OSError`` of writing a line (a full disk) in its
    ``error`` attribute, for its owner to say once, rather than print a traceback for each line
    (``logging``'s default). Other errors are reported as ``logging`` reports them."""
    report = handler.handleError

    def handle_error(record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            if getattr(handler, "error", None) is None:
                handler.error = error  # type: ignore[attr-defined]
            return
        report(record)

    handler.error = None  # type: ignore[attr-defined]
    handler.handleError = handle_error  # type: ignore[method-assign]
    return handler


def quiet_log_files() -> list[logging.Handler]:
    """The root logger's file handlers, each made quiet by :func:`quiet_log_file` (once): called
    after each configuration of the logs (Hydra makes new handlers each time)."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    return [h if hasattr(h, "error") else quiet_log_file(h) for h in handlers]
