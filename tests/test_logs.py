"""The log written to a file or a pipe is plain lines, never wrapped; a terminal keeps
Rich's columns."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console
from rich.logging import RichHandler
from tiny_project import copy_project, kedro

from bit_finetune.logs import plain_lines_when_piped


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


def test_a_piped_kedro_run_logs_whole_lines(tmp_path: Path):
    copy_project(tmp_path)
    result = kedro(["run", "--pipelines", "ingestion"], tmp_path, COLUMNS="80")
    assert result.returncode == 0, result.stderr[-3000:]
    whole = ("INFO kedro.pipeline.node: Running node: index_images: index_images("
             "[raw_images;params:ingestion]) -> [image_index;label_map]")
    assert any(line.endswith(whole) for line in result.stdout.splitlines()), result.stdout
