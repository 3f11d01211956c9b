"""Reading the sweep's JSON files (``manifest.json``, ``results.json``) without ever raising,
and writing them (and the sweep's other files) atomically.

Any file on disk may be damaged: cut short by a full disk, overwritten by hand,
bytes that are not UTF-8, or valid JSON of another shape. The readers of a
sweep (``status``, ``collect``, the sweeper on resume) must report that and go
on, never stop on a traceback. So each file is read here into either its
object or a :class:`Damage` saying why it cannot be used, and its fields are
checked against what the writer writes with :func:`field_problem`: one
mechanism for both files (:func:`launcher.run.results.load_results`,
:meth:`launcher.sweep.manifest.Manifest.read` say what each must hold).

Every file a reader may open while it is being written (``results.json``, ``manifest.json``,
``summary.csv``, figures) is written by :func:`write_atomically`: readers see the old file or
the whole new one, nothing between.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, NamedTuple, Optional

from launcher.run.files import FileProblem, open_regular, problem, read_bounded


@dataclass(frozen=True)
class Damage:
    """A file that exists but cannot be used, and why (one line, for a person to read)."""

    path: Path
    why: str

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


def read_json_object(path: Path | str, kind: str = "results.json", dir_fd: Optional[int] = None) -> dict[str, Any] | Damage | None:
    """The JSON object a file holds; a :class:`Damage` if it is anything else (not UTF-8, not
    JSON, JSON but not an object, unreadable; a link, a FIFO, a device, a directory or larger than
    a ``kind`` of :data:`launcher.run.files.LIMITS` can be); None if there is no such file."""
    try:
        data = json.loads(read_bounded(path, kind, dir_fd=dir_fd).decode("utf-8"))
    except FileNotFoundError:
        return None
    except FileProblem as exc:
        return Damage(Path(path), f"{exc.why}; {exc.todo}" if exc.todo else exc.why)
    except UnicodeDecodeError as exc:
        return Damage(Path(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except RecursionError:  # nested deeper than the parser goes
        return Damage(Path(path), "not JSON that can be read (nested too deeply)")
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        return Damage(Path(path), f"not valid JSON ({exc})")
    except OSError as exc:  # no permission...
        return Damage(Path(path), f"cannot be read ({exc.strerror or exc})")
    if not isinstance(data, dict):
        return Damage(Path(path), f"not a JSON object but {_kind(data)}")
    return data


def write_atomically(path: Path, write: Callable[[Path], None], durable: bool = False, what: str = "file") -> Path:
    """Write ``path`` through ``write(temporary path)`` and a rename over it, so that readers see
    the old file or the whole new one; ``durable``: also on disk (the file and the rename synced)
    before this returns, so that a crash right after leaves the new file, never a partial one.

    The temporary file is made here, new (``O_EXCL``: never a link planted in its place), and the
    rename replaces a link at ``path`` rather than writing through it. An ``OSError`` (a full
    disk, ``path`` a directory...) is a :class:`~launcher.run.files.FileProblem` naming ``path``
    (a ``what``) and saying what to do."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.close(open_regular(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, what, 0o644))
        write(tmp)
        if durable:
            _sync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise problem(path, exc, what) from None
        raise
    if durable:
        _sync(path.parent, os.O_RDONLY)  # make the rename itself durable
    return path


def _sync(path: Path, flags: int) -> None:
    """Flush a file's or a directory's content to disk."""
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as a JSON file, atomically and durably (see :func:`write_atomically`)."""

    def dump(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:  # (made new by write_atomically)
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")

    write_atomically(path, dump, durable=True)


def _kind(value: Any) -> str:
    """What a JSON value is, as a message names it."""
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def short(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: its JSON form, cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- what a field may hold ------------------------------------------------------------------------


class Kind(NamedTuple):
    """What a field must hold: a test of its value and its description in a message."""

    test: Callable[[Any], bool]
    description: str


def is_text(value: Any) -> bool:
    """A string that can be written out again: JSON's ``\\ud800`` escapes give strings that
    cannot be encoded, which would make printing the report fail."""
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_number(value: Any) -> bool:
    """A JSON number a table can hold (NaN and infinities included, booleans and integers
    beyond a float's range not)."""
    if isinstance(value, float):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return False
        return True
    return False


def _optional(kind: Kind) -> Kind:
    return Kind(lambda value: value is None or kind.test(value), f"{kind.description} or null")


def one_of(*values: str) -> Kind:
    """A string among ``values``."""
    return Kind(lambda value: isinstance(value, str) and value in values, " or ".join(map(repr, values)))


TEXT = Kind(is_text, "a string")
OPTIONAL_TEXT = _optional(TEXT)
TEXTS = Kind(lambda value: isinstance(value, list) and all(map(is_text, value)), "a list of strings")
COUNT = Kind(lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 0, "a whole number, 0 or more")
NUMBERS = Kind(
    lambda value: isinstance(value, dict) and all(is_text(k) and is_number(v) for k, v in value.items()),
    "a mapping of names to numbers",
)


def field_problem(
    data: Mapping[str, Any], kinds: Mapping[str, Kind], required: Collection[str], closed: bool = False
) -> Optional[str]:
    """The first thing wrong with the fields of ``data``: a ``required`` field missing, a field
    of ``kinds`` holding something else, or (``closed``) a field that ``kinds`` does not name;
    None if nothing is. The message quotes the field and its value."""
    for name, value in data.items():
        kind = kinds.get(name)
        if kind is None:
            if closed:
                return f"unknown field {short(name)}"
        elif not kind.test(value):
            return f"the field {name!r} holds {short(value)}, not {kind.description}"
    for name in required:
        if name not in data:
            return f"the field {name!r} is missing"
    return None

