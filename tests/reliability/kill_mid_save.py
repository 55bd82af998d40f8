"""``kedro run`` that SIGKILLs itself in the middle of writing an artefact.

    python -m reliability.kill_mid_save NAME BYTES [kedro run options...]

Once a file whose path contains ``NAME`` holds ``BYTES`` bytes, the process kills itself
with SIGKILL: the worst moment for a crash, which no cleanup code can soften.
"""

from __future__ import annotations

import os
import signal
import sys

from fsspec.implementations.local import LocalFileOpener


def main() -> None:
    name, limit, options = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    write = LocalFileOpener.write

    def write_then_die(self, data, *args, **kwargs):
        if name in str(self.path) and self.f.tell() + len(data) > limit:
            write(self, bytes(data)[: max(limit - self.f.tell(), 0)])
            self.f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return write(self, data, *args, **kwargs)

    LocalFileOpener.write = write_then_die
    from kedro.framework.cli import main as kedro

    sys.argv = ["kedro", "run", *options]
    kedro()


if __name__ == "__main__":
    main()
