"""The run's log on the console: Rich's columns on a terminal, plain lines that are never
wrapped when the output goes to a file or a pipe (``kedro run > run.log``, CI), so paths
and node names stay whole for reading and grepping."""

from __future__ import annotations

import logging
import sys

from rich.logging import RichHandler

from bit_finetune.errors import expected, wants_traceback

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
    # `mlflow` extra's plugin loads, before the project's settings are read; and kedro-viz's
    # own use of a FastAPI class that FastAPI now deprecates.
    "py.warnings": ("Add type hints to the `predict` method",
                    "FastAPIDeprecationWarning: ORJSONResponse is deprecated"),
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


KEDRO_ADVICE = ("kedro.pipeline.node", "kedro.runner.sequential_runner",
                "kedro.runner.thread_runner", "kedro.runner.parallel_runner")
"""Kedro's loggers of a failed node ("Node ... failed with error") and of its advice
("No nodes ran. Repeat the previous command", "--from-nodes ...")."""


class ExpectedErrorAdvice(logging.Filter):
    """Drops Kedro's report of a failure while the error being handled is an expected one
    (:func:`bit_finetune.errors.expected`): the project's ``Error:`` line says what to do,
    and Kedro's advice to repeat the command would contradict it. A bug keeps Kedro's full
    report, and so does every error when the user asked for tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = sys.exc_info()[1]
        return error is None or expected(error) is None or wants_traceback()


class UnactionableWarnings(logging.Filter):
    """Drops the records whose message holds one of ``phrases``."""

    def __init__(self, phrases: tuple[str, ...]) -> None:
        super().__init__()
        self.phrases = phrases

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(phrase in message for phrase in self.phrases)


def drop_unactionable_warnings() -> None:
    """Keep the :data:`UNACTIONABLE` records (Kedro logs Python's warnings as
    ``py.warnings``) and Kedro's advice after an expected error out of the log. Kedro calls
    this first thing as the project's ``kedro.init`` entry point (pyproject.toml), before it
    loads the plugins; settings.py calls it for sessions made without the CLI (notebooks,
    ``python -m bit_finetune``)."""
    filters = [*((name, UnactionableWarnings(phrases)) for name, phrases in UNACTIONABLE.items()),
               *((name, ExpectedErrorAdvice()) for name in KEDRO_ADVICE)]
    for name, log_filter in filters:
        logger = logging.getLogger(name)
        if not any(type(existing) is type(log_filter) for existing in logger.filters):
            logger.addFilter(log_filter)
