"""A quick exit for processes that have imported TensorFlow.

When the interpreter shuts down it clears every module and runs the cycle collector
over what is left; with TensorFlow and Keras loaded that final collection takes 1-2 s
on two cores, after all work and all output is done. :func:`skip_final_collection`
freezes the heap just before, so the collector leaves it to the operating system.
Objects are still released by reference counting and every exit handler still runs;
only objects in reference cycles are not finalised, which Python never promises at exit.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def skip_final_collection() -> None:
    """Freeze the heap at exit (once per process, however often it is called).

    Exit handlers run last-registered first: those registered after this call run
    before the freeze, those registered before it (logging's final flush) after it,
    on a heap that is frozen but fully usable.
    """
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
