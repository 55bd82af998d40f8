"""An HTTP server on 127.0.0.1 standing in for the BiT release bucket in tests."""

from __future__ import annotations

import io
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def npz_bytes(seed: int = 0) -> bytes:
    """A small archive in the official key layout (a root kernel and the pre-head norm)."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        **{
            "resnet/root_block/standardized_conv2d/kernel": rng.normal(size=(7, 7, 3, 16)),
            "resnet/group_norm/gamma": np.ones(64),
            "resnet/group_norm/beta": np.zeros(64),
        },
    )
    return buffer.getvalue()


class WeightsServer:
    """Serves ``files`` (URL path -> bytes). ``requests`` counts GETs and HEADs by path;
    a path in ``truncate`` gets its full Content-Length but only half its bytes before
    the connection drops (once per entry in the counter)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: Counter[str] = Counter()
        self.truncate: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                server.requests[f"{self.command} {self.path}"] += 1
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not body:
                    return
                if server.truncate[self.path] > 0:
                    server.truncate[self.path] -= 1
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def gets(self, path: str) -> int:
        return self.requests[f"GET {path}"]


@contextmanager
def serve() -> Iterator[WeightsServer]:
    server = WeightsServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
