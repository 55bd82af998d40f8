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


UNACTIONABLE = {
    # kedro-mlflow's pipeline model, which this project does not use: MLflow warns as the
    # `mlflow` extra's plugin loads, before the project's settings are read.
    "py.warnings": ("Add type hints to the `predict` method",),
    # kedro-viz's run hooks, on every partial run (--nodes, --from-nodes, --pipelines ...)
    # the README shows: its workflow view follows full runs only.
    "kedro_viz.integrations.kedro.run_hooks": (
        "Workflow tracking is disabled during partial pipeline runs",
    ),
}
"""Warnings no user can act on: logger name -> phrases of the records dropped."""


class UnactionableWarnings(logging.Filter):
    """Drops the records whose message holds one of ``phrases``."""

    def __init__(self, phrases: tuple[str, ...]) -> None:
        super().__init__()
        self.phrases = phrases

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(phrase in message for phrase in self.phrases)


def drop_unactionable_warnings() -> None:
    """Keep :data:`UNACTIONABLE` warnings out of the log (Kedro logs Python's warnings as
    ``py.warnings``). Kedro calls this first thing as the project's ``kedro.init`` entry
    point (pyproject.toml), before it loads the plugins; settings.py calls it for sessions
    made without the CLI (notebooks, ``python -m bit_finetune``)."""
    for name, phrases in UNACTIONABLE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, UnactionableWarnings) for existing in logger.filters):
            logger.addFilter(UnactionableWarnings(phrases))
