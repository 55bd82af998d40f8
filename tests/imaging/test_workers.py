"""A killed run leaves no worker processes behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

RUN = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing

from bit_finetune.imaging.workers import exit_with


def pid(_):
    time.sleep(0.2)
    return os.getpid()


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    if sys.argv[2] == "executor":
        pool = ProcessPoolExecutor(2, mp_context=context, initializer=exit_with,
                                   initargs=(os.getpid(),))
        pids = set(pool.map(pid, range(8)))
    else:
        pool = context.Pool(2, initializer=exit_with, initargs=(os.getpid(),))
        pids = set(pool.map(pid, range(8)))
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("method", "pool"), [("forkserver", "executor"), ("fork", "pool")])
def test_workers_end_when_the_run_is_killed(tmp_path, method, pool):
    script = tmp_path / "run.py"
    script.write_text(RUN)
    run = subprocess.Popen([sys.executable, str(script), method, pool], stdout=subprocess.PIPE,
                           text=True)
    workers = [int(pid) for pid in run.stdout.readline().split()]
    assert workers and all(alive(pid) for pid in workers)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]
