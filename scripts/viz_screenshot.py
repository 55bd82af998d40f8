"""Refresh ``docs/dag.png``: the project's kedro-viz DAG as headless Chromium draws it.

    python scripts/viz_screenshot.py                        # writes docs/dag.png
    python scripts/viz_screenshot.py --output /tmp/dag.png --width 1400 --height 900

It builds the static kedro-viz site (``kedro viz build``: offline, telemetry off), serves
it on 127.0.0.1, opens it in headless Chromium (Debian's ``chromium`` package; no browser
is downloaded) driven over the DevTools protocol, waits until every stage is drawn and
the view has settled, and saves a PNG. The browser pieces live in ``headless_chromium.py``,
shared with ``mlflow_screenshot.py`` and ``tests/viz``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from headless_chromium import Chromium, require_chromium

from bit_finetune.pipeline_registry import STAGES

ROOT = Path(__file__).resolve().parents[1]
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


def screenshot_dag(site: Path, output: Path, width: int, height: int, scale: float) -> None:
    """Draw the collapsed DAG (one box per stage) of the built ``site`` into ``output``."""
    with serve(site) as url, Chromium(require_chromium(), width, height, scale) as browser:
        browser.open(url, local_storage={"KedroViz": SCREENSHOT_SETTINGS})
        browser.wait_for(STAGES_DRAWN)
        browser.wait_until_settled(VIEW)
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
