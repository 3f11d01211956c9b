"""What a simulator prints that the sweep's console need not show, sent to the job's log instead,
for every model (the embedded one and a user's own alike):

- NEST's banner, printed by ``import nest`` unless ``PYNEST_QUIET`` is set: not printed
  (:func:`quiet_simulators`, at a worker's start and around every job);
- the warnings PyNN and NEST raise (PyNN's output of its failed compilation of NEST
  extensions, about forty lines per process; NEST's deprecations): written to the job's log
  file, not the console (:func:`simulator_noise_to_log`). A warning raised while a worker
  imports the model ahead of its first job (:func:`held_while_warming_up`) goes to that job's log;
- a crash's Python stack (``faulthandler``, where a launcher enabled it): into the job's log,
  the console gets the launcher's one-line report.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import re
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, List

#: Where the warnings come from that a job's log, not the console, shows: PyNN's and NEST's modules.
_SIMULATOR_FILE = re.compile(r"[/\\](pyNN|nest)[/\\]")
#: Warnings a worker's warm-up caught, for the log of its first job.
_held: List[warnings.WarningMessage] = []


def quiet_simulators() -> None:
    """No NEST banner in this process or its children (a user who set PYNEST_QUIET keeps theirs)."""
    os.environ.setdefault("PYNEST_QUIET", "1")


def _log_files() -> List[logging.FileHandler]:
    return [handler for handler in logging.getLogger().handlers if isinstance(handler, logging.FileHandler)]


def _to_log(message: Any, category: Any, filename: str, lineno: int, line: Any = None) -> None:
    text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    record = logging.LogRecord("py.warnings", logging.WARNING, filename, lineno, "%s", (text,), None)
    for handler in _log_files():
        handler.handle(record)


@contextmanager
def held_while_warming_up() -> Iterator[None]:
    """Catch the simulator's warnings of code run outside any job (a worker importing the model)."""
    quiet_simulators()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        finally:
            for message in caught:
                if _SIMULATOR_FILE.search(message.filename):
                    _held.append(message)
                else:  # not the simulator's: shown as it would have been
                    warnings.showwarning(message.message, message.category, message.filename, message.lineno, line=message.line)


@contextmanager
def simulator_noise_to_log() -> Iterator[None]:
    """Around a job: the simulator's warnings (and those held from the warm-up) into the job's log
    file, every other warning as before; a crash's stack into the log file too."""
    quiet_simulators()
    files = _log_files()
    if not files:  # no log of the job's own (a direct call): nothing to redirect to
        yield
        return
    while _held:
        message = _held.pop(0)
        _to_log(message.message, message.category, message.filename, message.lineno, message.line)
    previous = warnings.showwarning

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        if _SIMULATOR_FILE.search(str(filename)):
            _to_log(message, category, filename, lineno, line)
        else:
            previous(message, category, filename, lineno, file, line)

    crash_to_log = faulthandler.is_enabled() and files[0].stream is not None
    warnings.showwarning = show
    if crash_to_log:
        files[0].flush()
        faulthandler.enable(file=files[0].stream)
    try:
        yield
    finally:
        warnings.showwarning = previous
        if crash_to_log:
            faulthandler.enable(file=sys.stderr)
