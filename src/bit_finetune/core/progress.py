"""Progress of long work: tqdm's bar on a terminal or in a notebook; plain lines when the
output goes to a file or a pipe (``kedro run > run.log``, CI), so a log holds no carriage
returns: at most one every 30 s, or every ``BIT_FINETUNE_PROGRESS_EVERY`` seconds."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm.auto import tqdm

INTERVAL_VARIABLE = "BIT_FINETUNE_PROGRESS_EVERY"
PIPED_INTERVAL = 30.0
"""Seconds between two progress lines written to a file or a pipe, by default."""


class _Lines:
    """A stream for tqdm that writes each update as a whole line of ``stream``, once (a
    bar repeats its last state as it closes)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        state = line.split(" [", 1)[0]  # the count, without the times and rate
        if line and state != self.last:
            self.stream.write(line + "\n")
            self.last = state

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable: Iterable[Any] | None = None, **options: Any) -> tqdm:
    """``tqdm(iterable, **options)`` on standard error (or ``options["file"]``), written
    as plain periodic lines unless that stream is a terminal or a notebook's."""
    stream = options.pop("file", None) or sys.stderr
    interactive = "ipykernel" in sys.modules or getattr(stream, "isatty", lambda: False)()
    if not interactive:
        every = float(os.environ.get(INTERVAL_VARIABLE) or PIPED_INTERVAL)
        options |= {"mininterval": every, "ascii": True}
        stream = _Lines(stream)
    return tqdm(iterable, file=stream, **options)
