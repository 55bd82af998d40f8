"""Worker processes that end with the run that started them.

A pool's workers wait on a pipe for their next task. When the run is killed (SIGKILL, out
of memory) nothing closes that pipe, so they would wait forever, and with them the
multiprocessing fork server. :func:`exit_with` makes each worker watch the run instead.
"""

from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 1.0


def exit_with(parent: int) -> None:
    """A pool initializer (``initargs=(os.getpid(),)``): end this worker within about a
    second once process ``parent`` is gone."""

    def watch() -> None:
        while True:
            time.sleep(POLL_SECONDS)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # it exists, owned by someone else
                pass

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
