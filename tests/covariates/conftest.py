"""Fixtures for the covariate tests: a local HTTP server with Range support, and small rasters in
the real products' layouts. Nothing here touches the internet."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine


@dataclass
class ServerState:
    """What the test server does and saw."""

    root: Path
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, once
    ignore_range: bool = False


class _Handler(SimpleHTTPRequestHandler):
    state: ServerState

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        st = self.state
        rng = self.headers.get("Range")
        st.requests.append((self.path, rng))
        path = st.root / self.path.lstrip("/").split("?", 1)[0]
        if not path.is_file():
            self.send_error(404, "not found")
            return
        data = path.read_bytes()
        start = 0
        if rng and not st.ignore_range:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = st.drop_after.pop(self.path, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, ServerState]]:
    """``(base_url, state)`` of a server on 127.0.0.1 serving ``tmp_path / "www"``."""
    root = tmp_path / "www"
    root.mkdir()
    state = ServerState(root)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_tif(
    path: Path,
    data: np.ndarray,
    transform: Affine,
    crs: str | None = "EPSG:4326",
    nodata: float | None = None,
    **profile: object,
) -> Path:
    """Write a small GeoTIFF (2-D or (band, row, col))."""
    arr = data if data.ndim == 3 else data[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=arr.shape[1],
        width=arr.shape[2],
        count=arr.shape[0],
        dtype=arr.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        **profile,
    ) as ds:
        ds.write(arr)
    return path
