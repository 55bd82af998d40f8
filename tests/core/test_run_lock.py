"""The run lock: one holder at a time, named to the others, taken over after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bit_finetune.core.run_lock import RunLock
from bit_finetune.errors import RunLockedError

HOLD = """
import sys, time
from bit_finetune.core.run_lock import RunLock
lock = RunLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_holder_is_refused_with_the_first_named(tmp_path: Path):
    first = RunLock(tmp_path)
    first.acquire()
    with pytest.raises(RunLockedError, match=rf"PID {os.getpid()} on .*, started .*: "):
        RunLock(tmp_path).acquire()
    first.release()
    second = RunLock(tmp_path)
    second.acquire()  # free again
    second.release()
    assert (tmp_path / ".run.lock").read_text() == ""


@pytest.mark.slow
def test_the_lock_of_a_killed_run_is_taken_over(tmp_path: Path):
    held = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
    assert held.stdout.readline().strip() == "held"
    with pytest.raises(RunLockedError, match=f"PID {held.pid} "):
        RunLock(tmp_path).acquire()
    os.kill(held.pid, signal.SIGKILL)
    held.wait()
    deadline = time.monotonic() + 5
    lock = RunLock(tmp_path)
    while True:
        try:
            lock.acquire()
            break
        except RunLockedError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    lock.release()
