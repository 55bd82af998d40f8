"""kedro-viz as a user sees it: after a tiny run, the site is drawn by headless Chromium and
the assertions read the rendered page (the DOM after kedro-viz's scripts ran)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import viz_screenshot as viz  # scripts/ (pytest's pythonpath)
from headless_chromium import Chromium, chromium_path
from tiny_project import copy_of

from bit_finetune.pipeline_registry import STAGES, register_pipelines
from tests.viz.browser import NEEDS_CHROMIUM

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]

SETTINGS = {"KedroViz": viz.NO_HINTS}
METADATA_PANEL = """(() => {
    const panel = document.querySelector('.pipeline-metadata--visible');
    return panel && {
        title: panel.querySelector('.pipeline-metadata__title')?.textContent ?? '',
        columns: [...panel.querySelectorAll('.preview-table__header')].map(h => h.textContent),
        keys: [...panel.querySelectorAll('.object-key')]
            .map(k => k.textContent.replaceAll('"', '')),
        image: panel.querySelector('img.pipeline-metadata__plot-image')?.getAttribute('src')
            ?.slice(0, 22) ?? null,
        text: panel.querySelector('.pipeline-text-renderer__content')?.textContent ?? '',
    };
})()"""
"""The open side panel: its title and what its dataset preview shows."""

PNG = "data:image/png;base64,"
PREVIEWS = {
    # dataset: what its preview must show (table columns, JSON keys, a PNG, or text)
    "raw_images": {"columns": ["id", "uri", "label_name", "split"]},
    "image_index": {"columns": ["id", "uri", "label", "label_name", "split"]},
    "image_profile": {"columns": ["id", "width", "height", "channels"]},
    "predictions": {"columns": ["id", "predicted_name", "confidence", "top_labels"]},
    "tfrecord_shards": {"columns": ["split", "examples", "files", "skipped"]},
    "training_workspace": {"columns": ["entry", "step", "files", "bytes"]},
    "training_history": {"columns": ["step", "loss", "learning_rate"]},
    "hyperrule": {"keys": ["resize_size", "reasons", "overrides"]},
    "metrics": {"keys": ["model"]},
    "serving_model": {"keys": ["signatures", "serve", "serve_float", "bytes"]},
    "classifier": {"columns": ["layer", "type", "output", "parameters", "trainable"]},
    "run_report": {"text": ["# Run report", "## Results", "## HyperRule"]},
    "resolution_plot": {"image": PNG},
    "mistakes_plot": {"image": PNG},
}


def stage_nodes() -> dict[str, str]:
    """Each node's name as kedro-viz labels it (without the namespace) -> its stage."""
    nodes = register_pipelines()["__default__"].nodes
    return {node.name.split(".", 1)[1]: node.namespace for node in nodes}


def drawn(browser: Any, kind: str) -> list[str]:
    return sorted(n["name"] for n in browser.evaluate(viz.DRAWN_NODES) if n["type"] == kind)


def click_dataset(browser: Any, name: str) -> None:
    found = browser.evaluate(f"""(() => {{
        const node = [...document.querySelectorAll('.pipeline-node--data')]
            .find(n => n.querySelector('.pipeline-node__text')?.textContent === {json.dumps(name)});
        node?.dispatchEvent(new MouseEvent('click', {{bubbles: true}}));
        return Boolean(node);
    }})()""")
    assert found, f"dataset {name} is not drawn"


def shown_preview(browser: Any, name: str) -> dict[str, Any]:
    """Click dataset ``name`` and return the side panel once its preview has rendered."""
    click_dataset(browser, name)
    return browser.wait_for(
        f"(p => p && p.title === {json.dumps(name)} && "
        f"(p.columns.length || p.keys.length || p.image || p.text) && p)({METADATA_PANEL})",
        timeout=30,
    )


def assert_preview(panel: dict[str, Any], expected: dict[str, Any]) -> None:
    if "columns" in expected:
        assert set(expected["columns"]) <= set(panel["columns"]), panel
    if "keys" in expected:
        assert set(expected["keys"]) <= set(panel["keys"]), panel
    if "image" in expected:
        assert panel["image"] == expected["image"], panel
    if "text" in expected:
        assert set(expected["text"]) <= set(panel["text"].splitlines()), panel


@pytest.fixture(scope="module")
def project(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of(trained_project, tmp_path_factory.mktemp("viz") / "project")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with Chromium(chromium_path()) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def site(project: Path) -> Iterator[str]:
    """The static site of ``kedro viz build --include-previews``, served on 127.0.0.1."""
    with viz.serve(viz.build_site(project, previews=True)) as url:
        yield url


def test_the_dag_collapses_to_the_seven_stages(browser, site):
    browser.open(site, local_storage=SETTINGS)
    browser.wait_for(viz.STAGES_DRAWN)
    assert drawn(browser, "modularPipeline") == sorted(STAGES)
    assert drawn(browser, "task") == []  # every node sits inside its stage's box
    assert {"raw_images", "image_index", "filtered_index", "hyperrule", "tfrecord_shards",
            "classifier", "mistakes_plot"} <= set(drawn(browser, "data"))
    assert browser.evaluate("document.querySelector('.feature-hints') === null")


def test_expanded_dag_draws_every_node_of_every_stage(browser, site):
    expected = stage_nodes()
    assert set(expected.values()) == set(STAGES)
    browser.open(f"{site}?expandAllPipelines=true", local_storage=SETTINGS)
    browser.wait_for(viz.all_drawn(expected, "task"))
    assert drawn(browser, "task") == sorted(expected)
    assert drawn(browser, "modularPipeline") == []


def test_side_panel_previews_tables_json_and_plots(browser, site):
    browser.open(f"{site}?expandAllPipelines=true", local_storage=SETTINGS)
    browser.wait_for(viz.all_drawn(PREVIEWS, "data"))
    for name, expected in PREVIEWS.items():
        assert_preview(shown_preview(browser, name), expected)


def _free_port() -> int:
    """A free port below 49152: ``kedro viz run`` refuses the ephemeral range above."""
    for port in random.sample(range(20000, 49152), 100):
        if not _listening(port):
            return port
    raise RuntimeError("no free port between 20000 and 49151")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def viz_server(project: Path, tmp_path: Path) -> Iterator[str]:
    """``kedro viz run`` on 127.0.0.1; its whole process group (uvicorn too) is ended after."""
    port, log = _free_port(), tmp_path / "kedro-viz-run.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "kedro", "viz", "run", "--no-browser", "--host",
             "127.0.0.1", "--port", str(port)],
            cwd=project, env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            _wait_until_serving(server, f"http://127.0.0.1:{port}/api/main", log)
            yield f"http://127.0.0.1:{port}/"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)  # the CLI and its uvicorn server
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    deadline = time.monotonic() + 20
    while _listening(port):
        assert time.monotonic() < deadline, f"something still serves port {port}"
        time.sleep(0.5)


def _wait_until_serving(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 180
    while True:
        if server.poll() is not None:
            output = log.read_text()[-3000:]
            pytest.fail(f"kedro viz run exited with {server.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "kedro viz run did not serve in 180 s"
        time.sleep(1)


def test_viz_run_serves_the_stages_and_previews(browser, viz_server):
    browser.open(viz_server, local_storage=SETTINGS)
    browser.wait_for(viz.STAGES_DRAWN)
    assert drawn(browser, "modularPipeline") == sorted(STAGES)
    assert_preview(shown_preview(browser, "hyperrule"), PREVIEWS["hyperrule"])
    browser.open(f"{viz_server}?expandAllPipelines=true", local_storage=SETTINGS)
    browser.wait_for(viz.all_drawn(["predictions"], "data"))
    assert_preview(shown_preview(browser, "predictions"), PREVIEWS["predictions"])
