"""Starting ``tests.training.run_tiny`` in processes of their own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def run_tiny_command(workspace: Path, out: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "tests.training.run_tiny", str(workspace), str(out), *options]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def start(workspace: Path, out: Path, *options: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        run_tiny_command(workspace, out, *options),
        cwd=ROOT,
        env=environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


def run(workspace: Path, out: Path, *options: str, **env: str) -> dict:
    """Run to the end; the saved arrays plus the process output under ``log``."""
    log = finish(start(workspace, out, *options, **env))
    return {**np.load(out), "log": log}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def weights(result: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [result[k] for k in sorted(result, key=lambda k: (len(k), k)) if k[0] == "w"]
