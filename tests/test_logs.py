"""The log written to a file or a pipe is plain lines, never wrapped, its progress too; a
terminal keeps Rich's columns."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console
from rich.logging import RichHandler
from tiny_project import copy_project, kedro

from bit_finetune.errors import TRACEBACK_VARIABLE, ConfigError
from bit_finetune.logs import (
    KEDRO_ADVICE,
    UnactionableWarnings,
    drop_unactionable_warnings,
    plain_lines_when_piped,
)


@pytest.fixture
def root_handlers():
    root = logging.getLogger()
    saved = list(root.handlers)
    yield root
    root.handlers[:] = saved


def test_a_rich_handler_writing_to_a_file_becomes_plain(root_handlers):
    stream, terminal = io.StringIO(), io.StringIO()
    piped = RichHandler(console=Console(file=stream), level=logging.INFO)
    kept = RichHandler(console=Console(file=terminal, force_terminal=True))
    root_handlers.handlers[:] = [piped, kept]
    plain_lines_when_piped()
    (plain,) = [h for h in root_handlers.handlers if not isinstance(h, RichHandler)]
    assert kept in root_handlers.handlers and piped not in root_handlers.handlers
    assert plain.stream is stream and plain.level == logging.INFO
    message = "a long line naming /a/very/long/path/" + "x" * 200 + " and node.name"
    plain.handle(logging.LogRecord("bit_finetune.x", logging.INFO, "f", 1, message, None, None))
    assert stream.getvalue() == f"{stream.getvalue().split(' INFO ')[0]} INFO bit_finetune.x: {message}\n"


@pytest.mark.slow
def test_a_piped_kedro_run_logs_whole_lines(tmp_path: Path):
    copy_project(tmp_path)
    result = kedro(["run", "--namespaces", "ingestion,profiling"], tmp_path, COLUMNS="80")
    assert result.returncode == 0, result.stderr[-3000:]
    written = {p.name for p in (tmp_path / "data").glob("0[2-5]_*/*") if p.is_file()}
    assert written == {"image_index.parquet", "label_map.json", "image_profile.parquet"}, (
        written)  # the two stages' data alone (their reports in 08_reporting)
    assert "\r" not in result.stdout + result.stderr  # progress as whole lines, no bar
    assert any(line.startswith("profiling: 100%") for line in result.stderr.splitlines())
    whole = ("INFO kedro.pipeline.node: Running node: index_images: index_images("
             "[raw_images;params:ingestion]) -> [image_index;label_map]")
    assert any(line.endswith(whole) for line in result.stdout.splitlines()), result.stdout


@pytest.mark.parametrize(("logger_name", "message"), [
    ("py.warnings", "UserWarning: Add type hints to the `predict` method to enable ..."),
    ("py.warnings", ("kedro_viz/api/rest/responses/pipelines.py:12: FastAPIDeprecationWarning:"
                     " ORJSONResponse is deprecated, FastAPI now serializes data directly ...")),
    ("kedro_viz.integrations.kedro.run_hooks",
     "Workflow tracking is disabled during partial pipeline runs (executed using ...)"),
    ("kedro_mlflow.framework.hooks.mlflow_hook",
     "Registering new custom resolver: 'km.random_name'"),
    ("kedro_mlflow.framework.hooks.mlflow_hook", "Mlflow run '__default__' - '0a1b' has started"),
    ("kedro_mlflow.config.kedro_mlflow_config",
     ("The 'tracking_uri' key in mlflow.yml is relative ('server.mlflow_(tracking|registry)_uri"
      " = mlartifacts'). It is converted to a valid uri: 'file:///p/mlartifacts'")),
    ("mlflow.store.db.utils", "Creating initial MLflow database tables..."),
    ("mlflow.store.db.utils", "Updating database tables"),
])  # fmt: skip
def test_unactionable_warnings_are_dropped_and_others_kept(logger_name, message, caplog):
    logger = logging.getLogger(logger_name)
    kept = list(logger.filters)
    logger.filters[:] = [f for f in kept if not isinstance(f, UnactionableWarnings)]
    try:
        drop_unactionable_warnings()
        drop_unactionable_warnings()  # twice: still one filter
        assert sum(isinstance(f, UnactionableWarnings) for f in logger.filters) == 1
        with caplog.at_level(logging.WARNING, logger=logger_name):
            logger.warning(message)
            logger.warning("Something the user should read")
        assert [r.getMessage() for r in caplog.records] == ["Something the user should read"]
    finally:
        logger.filters[:] = kept


@pytest.mark.parametrize("logger_name", KEDRO_ADVICE)
def test_kedro_advice_is_dropped_after_an_expected_error_only(logger_name, caplog, monkeypatch):
    """The project's ``Error:`` line is the only advice after an expected error (wrapped as
    Kedro wraps a dataset's); a bug, or any error with tracebacks asked for, keeps Kedro's."""
    drop_unactionable_warnings()
    logger = logging.getLogger(logger_name)

    def report(error: Exception) -> list[str]:
        caplog.clear()
        try:
            raise error
        except Exception:  # noqa: BLE001 - logged as Kedro logs a failure
            logger.error("Node train failed with error: \n%s", error)
            logger.warning("No nodes ran. Repeat the previous command to attempt a new run.")
        return [record.levelname for record in caplog.records]

    def wrapped() -> Exception:
        try:
            try:
                raise ConfigError("raw_images.path: does not exist")
            except ConfigError as error:
                raise RuntimeError("Failed while loading data from dataset") from error
        except RuntimeError as outer:
            return outer

    with caplog.at_level(logging.INFO, logger=logger_name):
        assert report(ConfigError("training.model.weights: not found")) == []
        assert report(wrapped()) == []
        assert report(RuntimeError("a bug")) == ["ERROR", "WARNING"]
        monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
        assert report(ConfigError("training.model.weights: not found")) == ["ERROR", "WARNING"]
