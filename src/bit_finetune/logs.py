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


# Warnings no user can act on: kedro-mlflow's pipeline model, which this project does not
# use, warns as the `mlflow` extra's plugin loads, before the project's settings are read.
UNACTIONABLE = ("Add type hints to the `predict` method",)


class UnactionableWarnings(logging.Filter):
    """Drops the records of :data:`UNACTIONABLE` warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(phrase in message for phrase in UNACTIONABLE)



def drop_unactionable_warnings() -> None:
    """Keep :data:`UNACTIONABLE` warnings out of the log (Kedro logs Python's warnings as
    ``py.warnings``). Kedro calls this first thing as the project's ``kedro.init`` entry
    point (pyproject.toml), before it loads the plugins; settings.py calls it for sessions
    made without the CLI (notebooks, ``python -m bit_finetune``)."""
    logger = logging.getLogger("py.warnings")
    if not any(isinstance(existing, UnactionableWarnings) for existing in logger.filters):
        logger.addFilter(UnactionableWarnings())
