"""A child run as a process group that ends with its parent (launcher/process_group.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from launcher.process_group import run_group
from support import assert_no_process_left, marked_env, marked_processes

# --- the helper itself -------------------------------------------------------------------------


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


#: A command that starts a process of its own, then sleeps.
FORKS_AND_SLEEPS = python(
    """
    import subprocess, time
    subprocess.Popen(["sleep", "600"])
    time.sleep(600)
    """
)


def test_the_exit_status_is_the_commands_and_nothing_it_started_is_left(tmp_path: Path) -> None:
    env = marked_env(str(tmp_path))
    assert run_group(python("import sys; sys.exit(3)"), env=env).returncode == 3
    assert run_group(python("import os, signal; os.kill(os.getpid(), signal.SIGUSR1)"), env=env).returncode == -signal.SIGUSR1
    left_behind = run_group(python("import subprocess; subprocess.Popen(['sleep', '600'])"), env=env)
    assert left_behind.returncode == 0 and not left_behind.timed_out
    assert_no_process_left(str(tmp_path), within_s=2)


def test_past_its_time_limit_the_group_is_stopped(tmp_path: Path) -> None:
    start = time.monotonic()
    ended = run_group(FORKS_AND_SLEEPS, env=marked_env(str(tmp_path)), timeout_s=1)
    assert ended.timed_out and ended.returncode == -signal.SIGTERM
    assert time.monotonic() - start < 5
    assert_no_process_left(str(tmp_path), within_s=2)


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    stubborn = python("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)")
    ended = run_group(stubborn, env=marked_env(str(tmp_path)), timeout_s=0.5, grace_s=0.5)
    assert ended.timed_out and ended.returncode == -signal.SIGKILL
    assert_no_process_left(str(tmp_path), within_s=2)


def test_an_interrupt_stops_the_group_before_it_goes_on(tmp_path: Path) -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_group(FORKS_AND_SLEEPS, env=marked_env(str(tmp_path)))
        assert_no_process_left(str(tmp_path), within_s=1)  # signalled to end before the interrupt went on
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_group_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    starter = python(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from launcher.process_group import run_group
        run_group({FORKS_AND_SLEEPS!r})
        """
    )
    process = subprocess.Popen(starter, env=marked_env(str(tmp_path)), start_new_session=True)
    deadline = time.monotonic() + 30
    while len(marked_processes(str(tmp_path))) < 4 and time.monotonic() < deadline:  # starter, guard, command, sleep
        time.sleep(0.05)
    assert len(marked_processes(str(tmp_path))) == 4
    process.kill()
    process.wait()
    assert_no_process_left(str(tmp_path), within_s=5)


def test_a_command_that_cannot_run_is_named(tmp_path: Path) -> None:
    with open(tmp_path / "out.log", "wb") as output:
        ended = run_group(["no-such-program-here"], stdout=output, stderr=subprocess.STDOUT)
    assert ended.returncode == 127
    assert "cannot run no-such-program-here" in (tmp_path / "out.log").read_text()
