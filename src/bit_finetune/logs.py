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
    # A tracked run's notices of kedro-mlflow's and MLflow's inner workings: a resolver
    # the project does not use, mlflow.yml's artifact folder made absolute, a new store's
    # tables, and the run's start under the pipeline's name (the project logs the run
    # under its own name, training.tracking.name_run).
    "kedro_mlflow.framework.hooks.mlflow_hook": ("custom resolver: 'km.random_name'",
                                                 "' has started"),
    "kedro_mlflow.config.kedro_mlflow_config": ("It is converted to a valid uri",),
    "mlflow.store.db.utils": ("Creating initial MLflow database tables",
                              "Updating database tables"),
}
"""Warnings and notices no user can act on: logger name -> phrases of the records dropped."""


class UnactionableWarnings(logging.Filter):
    """Drops the records whose message holds one of ``phrases``."""

    def __init__(self, phrases: tuple[str, ...]) -> None:
        super().__init__()
        self.phrases = phrases

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(phrase in message for phrase in self.phrases)


def drop_unactionable_warnings() -> None:
    """Keep the :data:`UNACTIONABLE` records out of the log (Kedro logs Python's warnings as
    ``py.warnings``). Kedro calls this first thing as the project's ``kedro.init`` entry
    point (pyproject.toml), before it loads the plugins; settings.py calls it for sessions
    made without the CLI (notebooks, ``python -m bit_finetune``)."""
    for name, phrases in UNACTIONABLE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, UnactionableWarnings) for existing in logger.filters):
            logger.addFilter(UnactionableWarnings(phrases))
