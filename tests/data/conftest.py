"""Fixtures of the data tests: an isolated cache and system folder, synthetic files, a local HTTP server."""

from __future__ import annotations

import gzip
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from idx_files import idx_bytes, md5, synthetic_arrays, write_idx

from d2lvgg.data import checksum, release
from d2lvgg.data import locate as finding


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Keep every test away from the real env var, system dir and user cache."""
    monkeypatch.delenv(release.ENV_VAR, raising=False)
    monkeypatch.setattr(finding, "SYSTEM_DIR", tmp_path / "no-system")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def synthetic(monkeypatch) -> dict[str, bytes]:
    """Small synthetic IDX contents (name -> raw bytes) with the MD5 table patched to match."""
    raws = {name: idx_bytes(arr) for name, arr in synthetic_arrays().items()}
    monkeypatch.setattr(checksum, "MD5", {name: md5(raw) for name, raw in raws.items()})
    return raws


@pytest.fixture
def syn_dir(tmp_path, synthetic) -> Path:
    folder = tmp_path / "syn"
    for name, raw in synthetic.items():
        write_idx(folder / f"{name}.gz", raw)
    return folder


class Server:
    """A local HTTP server: ``files`` maps URL paths to bodies, ``hits`` counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail_first: Counter[str] = Counter()  # path -> number of 503s before serving
        self.short: set[str] = set()  # paths whose transfer is cut off mid-way
        self.hits: Counter[str] = Counter()
        self.url = ""

    def publish(self, prefix: str, raws: dict[str, bytes]) -> str:
        for name, raw in raws.items():
            self.files[f"/{prefix}/{name}.gz"] = gzip.compress(raw)
        return f"{self.url}{prefix}/"


@pytest.fixture
def server():
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            state.hits[self.path] += 1
            if state.fail_first[self.path] > 0:
                state.fail_first[self.path] -= 1
                self.send_error(503)
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if self.path in state.short else body)

        def log_message(self, *args):
            """Keep the test output quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def refused_url() -> str:
    """A localhost URL on a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
