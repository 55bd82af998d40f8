"""Progress of long work: tqdm's bar on a terminal or in a notebook; plain lines, at most
one every :data:`PIPED_INTERVAL` seconds, when the output goes to a file or a pipe
(``kedro run > run.log``, CI), so a log holds no carriage returns."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm.auto import tqdm

PIPED_INTERVAL = 30.0
"""Seconds between two progress lines written to a file or a pipe."""


class _Lines:
    """A stream for tqdm that writes each update as a whole line of ``stream``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable: Iterable[Any] | None = None, **options: Any) -> tqdm:
    """``tqdm(iterable, **options)`` on standard error (or ``options["file"]``), written
    as plain periodic lines unless that stream is a terminal or a notebook's."""
    stream = options.pop("file", None) or sys.stderr
    interactive = "ipykernel" in sys.modules or getattr(stream, "isatty", lambda: False)()
    if not interactive:
        options |= {"mininterval": PIPED_INTERVAL, "ascii": True}
        stream = _Lines(stream)
    return tqdm(iterable, file=stream, **options)
