"""Refresh ``docs/dag.png``: the project's kedro-viz DAG as headless Chromium draws it.

    python scripts/viz_screenshot.py                        # writes docs/dag.png
    python scripts/viz_screenshot.py --output /tmp/dag.png --width 1400 --height 900

It builds the static kedro-viz site (``kedro viz build``: offline, telemetry off), serves
it on 127.0.0.1, opens it in headless Chromium (Debian's ``chromium`` package; no browser
is downloaded) driven over the DevTools protocol, waits until every stage is drawn and
the view has settled, and saves a PNG. ``tests/viz/test_viz_browser.py`` drives the
browser with the same pieces.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from bit_finetune.pipeline_registry import STAGES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-port=0",
)
NO_HINTS = {"showFeatureHints": False}
"""kedro-viz settings (localStorage "KedroViz"): no feature-hint popup over the graph."""

SCREENSHOT_SETTINGS = {**NO_HINTS, "theme": "light",
                       "visible": {"miniMap": False, "sidebar": False}}

DRAWN_NODES = """[...document.querySelectorAll('.pipeline-flowchart__nodes .pipeline-node')]
    .map(node => ({
        name: node.querySelector('.pipeline-node__text')?.textContent ?? '',
        type: ['task', 'data', 'parameters', 'modularPipeline']
            .find(t => node.classList.contains(`pipeline-node--${t}`)) ?? '',
    }))"""
"""Every node drawn in the flowchart's SVG: its label and its kedro-viz type."""

VIEW = """document.querySelector('#zoom-wrapper')?.getAttribute('transform') + ' '
    + document.querySelectorAll('.pipeline-flowchart__nodes .pipeline-node').length"""
"""Changes while kedro-viz lays out, zooms or animates the graph."""

def all_drawn(names: Iterable[str], node_type: str) -> str:
    """A JavaScript test: are nodes of ``node_type`` with all these ``names`` drawn?"""
    return (
        f"(nodes => {json.dumps(sorted(names))}.every(name => nodes.some(node => "
        f"node.type === {json.dumps(node_type)} && node.name === name)))({DRAWN_NODES})"
    )


STAGES_DRAWN = all_drawn(STAGES, "modularPipeline")
"""True once every stage is drawn as a collapsed modular pipeline."""


def chromium_path() -> str | None:
    """The installed Chromium (Debian's ``chromium`` package), if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def build_site(project: Path, previews: bool = False) -> Path:
    """``kedro viz build`` in ``project`` (with every dataset's preview when ``previews``);
    returns the site's folder, ``<project>/build``."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build", *(["--include-previews"] * previews)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    site = project / "build"
    if result.returncode != 0 or not (site / "index.html").is_file():
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise RuntimeError(f"kedro viz build failed:\n{output}")
    return site


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 at a free port; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            thread.join()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Chromium:
    """Headless Chromium with one page, driven over the DevTools protocol (CDP)."""

    def __init__(self, executable: str, width: int = 1600, height: int = 1000,
                 scale: float = 1):
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self._connection = contextlib.ExitStack()
        self._process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._storage_script: str | None = None
        try:
            port = self._devtools_port()
            url = f"http://127.0.0.1:{port}/json/list"
            with urllib.request.urlopen(url, timeout=10) as reply:
                page = next(t for t in json.load(reply) if t["type"] == "page")
            self._socket = self._connection.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
            )
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=scale, mobile=False)
            self.call("Page.enable")  # else scripts added by `open` do not run
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout: float = 30) -> int:
        where = Path(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self._process.returncode}")
            if where.is_file() and where.read_text().strip():
                return int(where.read_text().split()[0])
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command and return its result (events in between are skipped)."""
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def open(self, url: str, local_storage: dict[str, Any] | None = None) -> None:
        """Navigate to ``url``; ``local_storage`` items are set before the page's scripts run."""
        if self._storage_script:
            self.call("Page.removeScriptToEvaluateOnNewDocument",
                      identifier=self._storage_script)
            self._storage_script = None
        if local_storage:
            script = "".join(
                f"localStorage.setItem({json.dumps(k)}, {json.dumps(json.dumps(v))});"
                for k, v in local_storage.items()
            )
            added = self.call("Page.addScriptToEvaluateOnNewDocument", source=script)
            self._storage_script = added["identifier"]
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                          awaitPromise=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout:.0f} s: {expression}")
            time.sleep(0.25)
        return value

    def wait_until_settled(self, timeout: float = 30, still: float = 1.0) -> None:
        """Wait until the graph's layout and zoom have not changed for ``still`` seconds."""
        deadline = time.monotonic() + timeout
        view, since = None, time.monotonic()
        while time.monotonic() < deadline:
            current = self.evaluate(VIEW)
            if current != view:
                view, since = current, time.monotonic()
            elif time.monotonic() - since >= still:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the graph kept moving for {timeout:.0f} s")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._connection.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def screenshot_dag(site: Path, output: Path, width: int, height: int, scale: float) -> None:
    """Draw the collapsed DAG (one box per stage) of the built ``site`` into ``output``."""
    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    with serve(site) as url, Chromium(executable, width, height, scale) as browser:
        browser.open(url, local_storage={"KedroViz": SCREENSHOT_SETTINGS})
        browser.wait_for(STAGES_DRAWN)
        browser.wait_until_settled()
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(browser.screenshot())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="the Kedro project")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "dag.png")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=1300)
    parser.add_argument("--scale", type=float, default=2, help="device pixels per CSS pixel")
    args = parser.parse_args(argv)
    site = build_site(args.project)
    screenshot_dag(site, args.output, args.width, args.height, args.scale)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
