"""scripts/mlflow_screenshot.py on a small tracked store: the MLflow UI's comparison of the
two latest evaluated runs, drawn by headless Chromium, and nothing left running after."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import mlflow_screenshot  # scripts/ (pytest's pythonpath)
import pytest
from mlflow import MlflowClient
from tracked_store import write_store

from tests.viz.browser import NEEDS_CHROMIUM

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


def servers_of(store: str) -> list[str]:
    """The command lines of the processes still serving ``store``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if store.encode() in args:
            found.append(b" ".join(args).decode(errors="replace"))
    return found


def test_screenshot_compares_the_two_latest_evaluated_runs(tmp_path: Path):
    store, ids = write_store(tmp_path)
    # the resumed digits run and the myimages run: the later runs failed or were killed
    assert mlflow_screenshot.latest_evaluated_runs(store) == [ids[2], ids[3]]
    output = tmp_path / "docs" / "compare.png"

    mlflow_screenshot.main(["--store", store, "--output", str(output),
                            "--width", "1000", "--height", "700"])

    header = output.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1000, 700)
    deadline = time.monotonic() + 10
    while servers := servers_of(store):
        assert time.monotonic() < deadline, f"mlflow server still running: {servers}"
        time.sleep(0.5)


def test_a_missing_store_or_too_few_evaluated_runs_is_a_clear_error(tmp_path: Path):
    store, output = f"sqlite:///{tmp_path / 'mlruns.db'}", str(tmp_path / "compare.png")
    with pytest.raises(SystemExit, match="no MLflow store at"):
        mlflow_screenshot.main(["--store", store, "--output", output])
    assert not (tmp_path / "mlruns.db").exists()
    MlflowClient(tracking_uri=store).search_experiments()  # an empty store
    with pytest.raises(SystemExit, match="0 FINISHED run.*test.top1.*--runs"):
        mlflow_screenshot.main(["--store", store, "--output", output])
    assert not Path(output).exists()
