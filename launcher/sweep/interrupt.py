"""How a sweep stops on Ctrl-C and SIGTERM: its running jobs stopped and recorded, its state saved,
one line saying what was saved, the exit code of the signal (130, 143), no traceback."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator, NoReturn

from launcher.run.job import kept_stop, stop_received


class SweepTerminated(KeyboardInterrupt):
    """The sweeping process received SIGTERM: the sweep stops as on Ctrl-C (a KeyboardInterrupt to
    every launcher and job wrapper)."""


@contextmanager
def _kept_stops_unsaid() -> Iterator[None]:
    """Within the block, a kept stop (:func:`~launcher.run.job.stop_received`) that Python could not
    raise where it landed (a weakref callback, a ``__del__``: "Exception ignored in ...") is not
    printed: it is raised again after the running job, and the sweep ends with its one line. Any
    other such exception is printed as before."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if unraisable.exc_value is None or unraisable.exc_value is not kept_stop():
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


@contextmanager
def sigterm_stops_sweep() -> Iterator[None]:
    """Within the block, the first SIGTERM raises :class:`SweepTerminated` where the sweep is, so
    that its running jobs stop their run scripts and record their failure, and the manifest is
    saved; Python's default would end the process on the spot. A second SIGTERM ends it at once.
    Left as it is where the program handles SIGTERM itself, or outside the main thread."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stop = SweepTerminated("the sweep received SIGTERM")
        stop_received(stop)  # raised again after the running job, should its code swallow it
        raise stop

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stop_received(None)


def stop_sweep(interrupt: KeyboardInterrupt, saved: str) -> NoReturn:
    """End a sweep stopped by Ctrl-C or SIGTERM (``interrupt``), once its state is saved: one line on
    stderr, ``Interrupted (Ctrl-C): <saved>`` or ``Terminated (SIGTERM): <saved>``, and the exit code
    of a process ended by that signal (130, 143), without the two tracebacks (the job's and the
    sweep's) that would say nothing more. A :class:`SystemExit`, which Hydra's ``main`` lets through."""
    terminated = isinstance(interrupt, SweepTerminated)
    sys.stdout.flush()  # the log's last lines before the one that ends it
    print(f"{'Terminated (SIGTERM)' if terminated else 'Interrupted (Ctrl-C)'}: {saved}", file=sys.stderr, flush=True)
    raise SystemExit(128 + (signal.SIGTERM if terminated else signal.SIGINT)) from None


@contextmanager
def interruption_stops_sweep(saved: str) -> Iterator[None]:
    """Within the block, SIGTERM is Ctrl-C (:func:`sigterm_stops_sweep`), and either, unless the code
    inside handles it, ends the sweep with one line saying ``saved`` (:func:`stop_sweep`).

    Ctrl-C interrupts the sweep once: pressed again while the sweep stops its jobs and saves
    their state, it is ignored (it would cut that short, with a traceback), until the process
    ends. Left as it is where the program handles SIGINT itself (or ignores it: a sweep started
    in the background), or outside the main thread."""
    in_charge = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    interrupted = False

    def interrupt_once(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop = KeyboardInterrupt()
        stop_received(stop)  # raised again after the running job, should its code swallow it (Ctrl-C is ignored now)
        raise stop

    if in_charge:
        signal.signal(signal.SIGINT, interrupt_once)
    try:
        with sigterm_stops_sweep(), _kept_stops_unsaid():
            yield
    except KeyboardInterrupt as interrupt:
        stop_sweep(interrupt, saved)
    finally:
        stop_received(None)
        if in_charge and not interrupted:  # (interrupted: the process ends, Ctrl-C stays ignored)
            signal.signal(signal.SIGINT, signal.default_int_handler)
