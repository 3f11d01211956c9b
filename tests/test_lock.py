"""The sweep lock (launcher.sweep.lock) in this process and a child: held, waited for, released."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from launcher.sweep.lock import SweepLock, holder_description, is_swept
from support import REPO

HOLD = "import sys; from launcher.sweep.lock import SweepLock; SweepLock(sys.argv[1]).acquire(); print('held', flush=True); sys.stdin.read()"
ASK = "import sys; from launcher.sweep.lock import is_swept; print(is_swept(sys.argv[1]))"


def python(code: str, *args: object, **popen: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, **popen)


def test_the_lock_is_held_inside_its_block_and_names_its_holder(tmp_path: Path) -> None:
    assert not is_swept(tmp_path)
    with SweepLock(tmp_path) as lock:
        assert is_swept(tmp_path)
        # Asking (here, holding it) must not release it: another process still finds it held.
        asked = python(ASK, tmp_path, stdout=subprocess.PIPE)
        assert asked.communicate(timeout=60)[0].strip() == "True"
    assert not is_swept(tmp_path)
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()  # (read inside the block, it would release the lock)
    assert lock.path.exists()  # never removed: others may wait on it


def test_a_second_sweeper_waits_for_the_holder_to_end(tmp_path: Path, caplog) -> None:
    holder = python(HOLD, tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert is_swept(tmp_path) and f"pid {holder.pid} on " in holder_description(tmp_path / ".sweep.lock")
        holder_alive_when_taken: list[bool] = []

        def take() -> None:
            with SweepLock(tmp_path):
                holder_alive_when_taken.append(holder.poll() is None)

        with caplog.at_level(logging.INFO, logger="launcher.sweep.lock"):
            waiter = threading.Thread(target=take)
            waiter.start()
            while not any("is being swept by another process" in r.getMessage() for r in caplog.records):
                waiter.join(0.05)
                assert waiter.is_alive() or holder_alive_when_taken == [False]
            assert f"(pid {holder.pid} on " in caplog.text
            holder.stdin.close()  # the holder ends: the kernel releases its lock
            waiter.join(60)
        assert holder_alive_when_taken == [False]
        assert "The other sweep of" in caplog.text
    finally:
        holder.kill()
        holder.wait()
