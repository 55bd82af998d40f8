"""Stopping on request. SIGINT (Ctrl-C) and SIGTERM (what Slurm, Kubernetes and Airflow
send before SIGKILL) during training ask the loop to stop at its next step boundary,
where it saves a checkpoint; a second signal stops the process at once."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Self

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """While entered (on the main thread), :attr:`signal` is the first SIGINT or SIGTERM
    received, else None; the previous handlers come back on exit."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._request) for s in SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _request(self, number: int, frame: FrameType | None) -> None:
        self.signal = number
        for other in SIGNALS:  # the next one ends the process at once, even inside an op
            signal.signal(other, signal.SIG_DFL)
        logger.warning("%s: stopping at the next step boundary to save a checkpoint "
                       "(again to stop at once)", signal.Signals(number).name)
