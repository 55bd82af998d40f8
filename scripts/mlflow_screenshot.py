"""Refresh ``docs/mlflow_compare.png``: the MLflow UI comparing two tracked runs, as headless
Chromium draws it.

    python scripts/mlflow_screenshot.py                     # writes docs/mlflow_compare.png
    python scripts/mlflow_screenshot.py --store sqlite:///mlruns.db --runs RUN_ID RUN_ID \\
        --output /tmp/compare.png --width 1400 --height 900

By default it compares the two most recent FINISHED runs with a ``test.top1`` metric in the
project's store (``sqlite:///mlruns.db``, relative to the project folder). It starts the
MLflow UI (``mlflow server``, one worker, no job runner) on 127.0.0.1 at a free port, opens
its compare-runs page in headless Chromium (``headless_chromium.py``, shared with
``viz_screenshot.py``), waits until both runs' details and metrics are drawn, collapses the
plots, shows only the parameters that differ, zooms out a little (``--zoom``) and scrolls so
that the run details, parameters and metrics are in view, waits until the page has settled,
saves a PNG, then stops the server and the browser.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from headless_chromium import Chromium, require_chromium

if TYPE_CHECKING:
    from mlflow.entities import Run

ROOT = Path(__file__).resolve().parents[1]
STORE = "sqlite:///mlruns.db"
"""The project's store (conf/base/globals.yml), relative to the project folder."""
METRIC = "test.top1"
"""Runs without it were not evaluated: nothing to compare."""
ZOOM = 0.8
"""Zoomed out a little, the run details, the parameters that differ and the metrics fit in."""

ASSISTANT_CLOSED = {"mlflow.assistant.panelOpen_v1": False,
                    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True}
"""MLflow UI settings (localStorage): its assistant's chat panel stays closed."""

SECTIONS = """Object.fromEntries([...document.querySelectorAll('.du-bois-light-collapse-item')]
    .map(item => [item.querySelector('.du-bois-light-collapse-header')?.innerText.trim(), {
        open: item.querySelector('[aria-expanded]')?.getAttribute('aria-expanded') === 'true',
        text: item.querySelector('.du-bois-light-collapse-content')?.innerText ?? '',
        diffOnly: item.querySelector('[role=switch]')?.getAttribute('aria-checked') === 'true',
        top: item.getBoundingClientRect().top,
        bottom: item.getBoundingClientRect().bottom,
    }]))"""
"""The compare page's sections (Visualizations, Run details, Parameters, Metrics, ...)."""

FOR_THE_PICTURE = """(() => {
    const header = [...document.querySelectorAll('.du-bois-light-collapse-header')]
        .find(h => h.innerText.trim() === 'Visualizations');
    if (header?.getAttribute('aria-expanded') === 'true') header.click();
    const params = [...document.querySelectorAll('[role=switch]')]
        .find(s => s.getAttribute('aria-label') === 'Parameters - Show diff only');
    if (params?.getAttribute('aria-checked') === 'false') params.click();
    if (!document.querySelector('#no-assistant')) document.head.insertAdjacentHTML('beforeend',
        '<style id="no-assistant">[data-assistant-ui] {display: none !important}</style>');
})()"""
"""Collapse the plots, show only the parameters that differ, hide the assistant's button."""

TO_METRICS = """(() => {
    const header = h => [...document.querySelectorAll('.du-bois-light-collapse-header')]
        .find(e => e.innerText.trim() === h);
    const metrics = header('Metrics').closest('.du-bois-light-collapse-item');
    const details = header('Run details');
    let pane = metrics.parentElement;  // the page's own scrolling pane, else the window's
    while (pane && !(pane.scrollHeight > pane.clientHeight
                     && /auto|scroll/.test(getComputedStyle(pane).overflowY))) {
        pane = pane.parentElement;
    }
    pane ??= document.scrollingElement;
    const view = pane === document.scrollingElement
        ? {top: 0, bottom: innerHeight} : pane.getBoundingClientRect();
    const below = metrics.getBoundingClientRect().bottom - view.bottom + 16;
    const above = details.getBoundingClientRect().top - view.top - 8;
    pane.scrollTop += Math.max(0, Math.min(below, above));
})()"""
"""Scroll (no further than the run details' header) until the metrics are in view."""

VIEW = f"""JSON.stringify({SECTIONS}) + document.querySelectorAll('*').length"""
"""Changes while the page still loads, lays out or animates."""


def absolute_store(store: str, root: Path = ROOT) -> str:
    """``store`` with a relative SQLite path made relative to ``root`` (not to the cwd);
    exits if that database does not exist (rather than create an empty one)."""
    prefix = "sqlite:///"
    if not store.startswith(prefix):
        return store
    database = Path(store[len(prefix):])
    database = database if database.is_absolute() else (root / database).resolve()
    if not database.is_file():
        raise SystemExit(f"no MLflow store at {database}: track a run first (kedro run)")
    return prefix + str(database)


def latest_evaluated_runs(store: str, count: int = 2) -> list[str]:
    """The ids of the ``count`` most recent FINISHED runs that logged :data:`METRIC`, oldest
    first."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=1000,
    ) if experiments else []
    ids = [run.info.run_id for run in runs if METRIC in run.data.metrics][:count][::-1]
    if len(ids) < count:
        raise SystemExit(
            f"{store} has {len(ids)} FINISHED run(s) with a {METRIC} metric; comparing needs "
            f"{count}: track more runs, or pass --runs RUN_ID RUN_ID"
        )
    return ids


def describe_runs(store: str, run_ids: Sequence[str]) -> list[Run]:
    """The runs; exits if one is not in ``store``."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=store)
    runs = []
    for run_id in run_ids:
        try:
            runs.append(client.get_run(run_id))
        except MlflowException as error:
            raise SystemExit(f"run {run_id} is not in {store}: {error.message}") from None
    return runs


def compare_url(base: str, run_ids: Sequence[str], experiment_ids: Sequence[str]) -> str:
    """The MLflow UI's compare-runs page (its ``getCompareRunPageRoute``) for ``run_ids``."""
    query = urllib.parse.urlencode({
        "runs": json.dumps(list(run_ids)),
        "experiments": json.dumps(sorted(set(experiment_ids))),
    })
    return f"{base}#/compare-runs?{query}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_ui(store: str, timeout: float = 120) -> Iterator[str]:
    """``mlflow server`` for ``store`` on 127.0.0.1 at a free port; yields its URL. Its whole
    process group is stopped after."""
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with tempfile.TemporaryDirectory(prefix="mlflow-ui-") as scratch, \
            open(Path(scratch, "server.log"), "w+") as log:  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the CLI and uvicorn
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_until_healthy(server, url + "health", log, timeout)
            yield url
        finally:
            _stop(server)


def _wait_until_healthy(server: subprocess.Popen, url: str, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"mlflow server exited with code {server.returncode}:\n"
                               f"{log.read()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as reply:
            if reply.status == 200:
                return
        time.sleep(0.5)
    log.seek(0)
    raise TimeoutError(f"mlflow server did not answer {url} in {timeout:.0f} s:\n"
                       f"{log.read()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):  # any worker the CLI left behind
        os.killpg(server.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=10)


def screenshot_comparison(store: str, run_ids: Sequence[str], output: Path, width: int,
                          height: int, scale: float = 1, zoom: float = ZOOM) -> None:
    """Draw the MLflow UI's comparison of ``run_ids`` in ``store`` into ``output``: a
    ``width`` x ``height`` PNG (times ``scale``) of the page zoomed by ``zoom``."""
    executable = require_chromium()
    runs = describe_runs(store, run_ids)
    view = (width / zoom, height / zoom)  # CSS pixels
    with mlflow_ui(store) as base, \
            Chromium(executable, *map(math.ceil, view), scale * zoom) as browser:  # fmt: skip
        browser.open(compare_url(base, run_ids, [run.info.experiment_id for run in runs]),
                     local_storage=ASSISTANT_CLOSED)
        names = json.dumps([run.info.run_name or run.info.run_id for run in runs])
        metrics = json.dumps(sorted({key for run in runs for key in run.data.metrics}))
        browser.wait_for(  # the runs' names, and their metrics unless they logged none
            f"(s => s['Run details'] && {names}.every(n => s['Run details'].text.includes(n))"
            f" && s['Metrics'] && ({metrics}.length === 0"
            f" || {metrics}.some(m => s['Metrics'].text.includes(m))))({SECTIONS})",
            timeout=90,
        )
        browser.evaluate(FOR_THE_PICTURE)
        browser.wait_for(f"(s => !s['Visualizations'].open && s['Parameters'].diffOnly)"
                         f"({SECTIONS})")
        browser.wait_until_settled(VIEW, still=1.5)
        browser.evaluate(TO_METRICS)
        browser.wait_until_settled(VIEW, still=1)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(browser.screenshot(*view))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=STORE,
                        help="MLflow tracking URI; a relative sqlite path is read from the "
                        "project folder")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "mlflow_compare.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--scale", type=float, default=1, help="PNG pixels per screen pixel")
    parser.add_argument("--zoom", type=float, default=ZOOM,
                        help="the page's zoom, as the browser's zoom: below 1 fits more in")
    parser.add_argument("--runs", nargs=2, metavar="RUN_ID",
                        help=f"the runs to compare (default: the two latest with {METRIC})")
    args = parser.parse_args(argv)
    store = absolute_store(args.store)
    run_ids = args.runs or latest_evaluated_runs(store)
    screenshot_comparison(store, run_ids, args.output, args.width, args.height,
                          args.scale, args.zoom)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
