"""The run's log on the console: Rich's columns on a terminal, plain lines that are never
wrapped when the output goes to a file or a pipe (``kedro run > run.log``, CI), so paths
and node names stay whole for reading and grepping."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def plain_lines_when_piped() -> None:
    """Replace the root logger's Rich handlers that do not write to a terminal (nor to a
    notebook) by plain stream handlers on the same stream, level and filters."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        console = getattr(handler, "console", None)
        if not isinstance(handler, RichHandler) or console.is_terminal or console.is_jupyter:
            continue
        plain = logging.StreamHandler(console.file)
        plain.setLevel(handler.level)
        plain.setFormatter(logging.Formatter(PLAIN))
        for log_filter in handler.filters:
            plain.addFilter(log_filter)
        root.removeHandler(handler)
        root.addHandler(plain)
