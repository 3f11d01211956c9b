"""Run a child as a process group that ends with the process that started it.

A mozaik run script may hang, fork (``mpirun`` and its ranks, a script's own
helpers) and outlive whatever started it; so may ``run_sim.py -m`` started by a
mozaik search script. :func:`run_group` runs such a command so that:

- the command and every process it starts share one process group of their own
  (a new session), so that one signal reaches all of them and the terminal's
  Ctrl-C reaches only the process that started it, which decides;
- past its time limit (``timeout_s``), or when the waiting process is interrupted
  (Ctrl-C, a SIGTERM turned into an exception by a handler, any error), the group
  gets SIGTERM, then SIGKILL after ``grace_s``, before the caller goes on (the
  interrupt then propagates: a job records its failure only once its script is gone);
- when the command ends on its own, whatever it left running in its group is
  killed;
- when the process that started it ends in any way, ``kill -9`` included, the
  group gets the same SIGTERM, then SIGKILL.

The last point needs a process that outlives its parent: a SIGKILLed process runs
no cleanup. ``prctl(PR_SET_PDEATHSIG)`` on the child is not enough: it reaches the
child alone, not the processes the child starts, and it fires when the parent
*thread* that started the child ends, not the parent process. So the command runs
under a small *guard*: this file run by a bare interpreter (``python -I -S``,
standard library only), which leads the new group and starts the command in it.
The guard watches its parent process through a pidfd (Linux >= 5.3; elsewhere it
polls ``getppid()``), which ends with the process, whatever thread started the
guard; when the parent is gone, it stops its own group (SIGTERM, grace, SIGKILL,
itself included). Otherwise it waits for the command and exits as the command did
(its exit code, or killed by the same signal), so the caller sees the command's
status. The guard ignores SIGINT and SIGTERM: a stop of the group must not take
away the one process that finishes it.

The group's id is the guard's pid. The caller signals the group only while the
guard is its unreaped child (it waits for the guard's exit without reaping it,
``waitid(WNOWAIT)``), so the id cannot have been reused by another group. If the
guard alone is killed, the caller sees it end and kills the group. If the guard
and its parent are killed at once, or a process leaves the group (``setsid``),
nothing here can reach it (on Slurm, the job's cgroup still does).

POSIX only; the guard costs one interpreter start (about 0.1 s) per command.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Any, Mapping, NoReturn, Optional, Sequence, Union

#: Seconds a stopped group has between SIGTERM and SIGKILL.
GRACE_S = 2.0
#: Seconds between two looks at a process where there is no pidfd to wait on.
POLL_S = 0.2

_File = Union[None, int, IO[Any]]


@dataclass(frozen=True)
class Ended:
    """How a command run by :func:`run_group` ended."""

    #: As :attr:`subprocess.Popen.returncode`: the exit code, or minus the signal that ended it.
    returncode: int
    #: Whether it was still running at its time limit (and was then stopped).
    timed_out: bool


def run_group(
    command: Sequence[str],
    *,
    cwd: Optional[os.PathLike | str] = None,
    env: Optional[Mapping[str, str]] = None,
    stdout: _File = None,
    stderr: _File = None,
    timeout_s: Optional[float] = None,
    grace_s: float = GRACE_S,
) -> Ended:
    """Run ``command`` (an argument list, no shell) as a process group that ends with this process
    (see the module doc); how it ended. Its standard input is empty: it runs unattended.

    ``timeout_s``: seconds it may run (None: no limit); past them, the group is stopped and
    ``timed_out`` is true. An exception while it runs (Ctrl-C...) stops the group, then goes on.
    """
    guard = subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()), repr(float(grace_s)), *command],
        cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True,
    )  # fmt: skip
    try:
        ended = _wait_exit(guard.pid, timeout_s)
    except BaseException:
        _stop(guard, grace_s)
        raise
    if ended:
        _end(guard)
    else:
        _stop(guard, grace_s)
    assert guard.returncode is not None
    return Ended(guard.returncode, timed_out=not ended)


def _stop(guard: subprocess.Popen, grace_s: float) -> None:
    """Stop the guard's group: SIGTERM, up to ``grace_s`` for the command to end, then :func:`_end`
    (also when a second interrupt cuts the grace short)."""
    try:
        _signal_group(guard.pid, signal.SIGTERM)
        _wait_exit(guard.pid, grace_s)
    finally:
        _end(guard)


def _end(guard: subprocess.Popen) -> None:
    """SIGKILL to whatever is left of the guard's group, then reap the guard. The guard is still
    unreaped here, so its pid is still the group's id and no other's."""
    _signal_group(guard.pid, signal.SIGKILL)
    guard.wait()


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):  # nobody left in it
        pass


def _wait_exit(pid: int, timeout_s: Optional[float]) -> bool:
    """Wait until this process's child ``pid`` has ended, without reaping it; whether it ended
    within ``timeout_s`` (None: wait as long as it runs)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    pidfd = _pidfd(pid)
    try:
        while not _has_ended(pid):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            _sleep_on([pidfd] if pidfd is not None else [], left)
        return True
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _has_ended(pid: int) -> bool:
    """Whether the child ``pid`` has ended; it stays unreaped (a zombie holding its pid)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True


def _pidfd(pid: int) -> Optional[int]:
    """A file descriptor that becomes readable when process ``pid`` ends (Linux >= 5.3), or None
    (no pidfds here, or no such process): then the caller polls."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _sleep_on(pidfds: Sequence[int], timeout_s: Optional[float]) -> None:
    """Sleep until one of ``pidfds`` is readable or ``timeout_s`` has passed; without pidfds, at
    most :data:`POLL_S`."""
    if pidfds:
        select.select(pidfds, [], [], timeout_s)
    else:
        time.sleep(POLL_S if timeout_s is None else min(POLL_S, timeout_s))


# --- the guard, run as a script by run_group --------------------------------------------------------


def _ignore(signum: int, frame: Any) -> None:
    # A handler, not SIG_IGN: the command the guard starts gets the default action back at exec.
    pass


def guard(parent: int, grace_s: float, command: Sequence[str]) -> NoReturn:
    """Lead this process's group: run ``command`` in it; stop the group if ``parent`` ends first,
    else exit as the command did."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # an ignored signal stays ignored for the command
            signal.signal(signum, _ignore)
    parent_fd = _pidfd(parent)  # opened before the check: it then watches this parent, no other
    if os.getppid() != parent:  # gone already: nobody waits for the command
        sys.exit(1)
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc}", file=sys.stderr)
        sys.exit(127)  # the shell's code for a command that cannot be run
    child_fd = _pidfd(child.pid)
    pidfds = [fd for fd in (parent_fd, child_fd) if fd is not None]
    while child.poll() is None:
        if _parent_gone(parent, parent_fd):
            _stop_own_group(child, grace_s)
        _sleep_on(pidfds, None if len(pidfds) == 2 else POLL_S)
    if _parent_gone(parent, parent_fd):  # nobody will kill what the command left behind
        _stop_own_group(child, 0.0)
    _exit_as(child.returncode)


def _parent_gone(parent: int, parent_fd: Optional[int]) -> bool:
    return os.getppid() != parent or (parent_fd is not None and bool(select.select([parent_fd], [], [], 0)[0]))


def _stop_own_group(child: subprocess.Popen, grace_s: float) -> NoReturn:
    """SIGTERM to the guard's group, up to ``grace_s`` for the command to end, then SIGKILL to the
    whole group, the guard included: nobody waits for it any more."""
    os.killpg(os.getpgrp(), signal.SIGTERM)
    try:
        child.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    os.killpg(os.getpgrp(), signal.SIGKILL)
    sys.exit(1)  # not reached


def _exit_as(returncode: int) -> NoReturn:
    """End this process as the command ended: with its exit code, or by its signal (without a
    core dump of the guard's own)."""
    if returncode < 0:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if -returncode not in (signal.SIGKILL, signal.SIGSTOP):  # those have no handler to reset
            signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
        returncode = 128 - returncode  # a signal that does not end a process: the shell's code
    sys.exit(returncode)


if __name__ == "__main__":
    guard(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:])
