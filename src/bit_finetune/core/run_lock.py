"""One run at a time writes an environment's artefacts: a lock file in its data folder.

``fcntl.flock`` on ``<data folder>/.run.lock``. The kernel lets go of it when the run ends,
however it ends, so a lock left by a killed run is simply taken by the next one. The file
names its holder (host, PID, start time, command) for the message another run gets.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from bit_finetune.errors import RunLockedError

LOCK_NAME = ".run.lock"


def holder() -> dict[str, Any]:
    """Who this process is, as another run's message shows it."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)),
    }


class RunLock:
    """The lock of the artefacts under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._handle: IO[str] | None = None
        self.made_folder = False
        """Whether :meth:`acquire` made the folder (it did not exist before)."""

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunLockedError` naming its holder."""
        self.release()
        self.made_folder = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 (held open while the run lasts)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read()
            handle.close()
            raise RunLockedError(self._refusal(text)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let go of the lock (nothing when not held), leaving the file empty."""
        if self._handle is not None:
            self._handle.truncate(0)
            self._handle.close()  # closing the file releases the flock
            self._handle = None

    def _refusal(self, text: str) -> str:
        try:
            other = json.loads(text)
            who = (f"PID {other['pid']} on {other['host']}, started {other['started']}: "
                   f"{other['command']}")
        except (ValueError, KeyError, TypeError):
            who = "its details are unreadable"
        return (
            f"{self.path.parent}: another run is writing these artefacts ({who}); wait for "
            "it to finish or stop it, then run again (a killed run's lock is taken over)"
        )
