"""Headless Chromium driven over the DevTools protocol (CDP), for the scripts that draw the
project's web views into docs/ (``viz_screenshot.py``, ``mlflow_screenshot.py``) and the
browser tests in ``tests/viz``. Chromium is Debian's ``chromium`` package; none is downloaded.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.sync.client import connect

if TYPE_CHECKING:
    from typing_extensions import Self

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-port=0",
)


def chromium_path() -> str | None:
    """The installed Chromium (Debian's ``chromium`` package), if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The installed Chromium, or exit with how to install it."""
    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    return executable


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

    def wait_until_settled(self, view: str, timeout: float = 30, still: float = 1.0) -> None:
        """Wait until the value of the JavaScript expression ``view`` (something that changes
        while the page lays out or animates) has not changed for ``still`` seconds."""
        deadline = time.monotonic() + timeout
        view_now, since = None, time.monotonic()
        while time.monotonic() < deadline:
            current = self.evaluate(view)
            if current != view_now:
                view_now, since = current, time.monotonic()
            elif time.monotonic() - since >= still:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the page kept moving for {timeout:.0f} s: {view}")

    def screenshot(self, width: float | None = None, height: float | None = None) -> bytes:
        """A PNG of the page's view, or of its top-left ``width`` x ``height`` CSS pixels."""
        clip = {} if width is None or height is None else {
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}
        reply = self.call("Page.captureScreenshot", format="png", **clip)
        return base64.b64decode(reply["data"])

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
