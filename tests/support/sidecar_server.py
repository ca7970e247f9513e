"""Test helper: the sidecar on its real server (serve.server) in this process, on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from hailo_pipeline.serve.control import listeners
from hailo_pipeline.serve.device.process import open_engine
from hailo_pipeline.serve.http.app import create_app
from hailo_pipeline.serve.server import DrainingServer, sidecar_server
from hailo_pipeline.serve.settings import SidecarConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningSidecar:
    def __init__(self, server: DrainingServer, thread: threading.Thread, url: str, control_port: int) -> None:
        self.server, self.thread, self.url, self.control_port = server, thread, url, control_port

    @property
    def sidecar(self) -> Any:
        return self.server.config.app.state.sidecar


@contextmanager
def running(release_dir: Path | tuple[Path, ...], opener: Any = open_engine, **settings: Any) -> Iterator[RunningSidecar]:
    """The sidecar on one bundle, or on several (a tuple: one model each)."""
    port = free_port()
    release_dirs = release_dir if isinstance(release_dir, tuple) else (release_dir,)
    config = SidecarConfig(release_dirs=release_dirs, host="127.0.0.1", port=port, backend="onnxruntime", control_port=free_port())
    config = replace(config, log_level="warning", **settings)
    server = sidecar_server(create_app(config, opener), config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": listeners(config)}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "sidecar server thread ended"
        assert time.monotonic() < deadline, "sidecar did not start"
        time.sleep(0.02)
    try:
        yield RunningSidecar(server, thread, url, config.control_port)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def post(url: str, body: bytes, content_type: str = "application/json", timeout: float = 5.0) -> httpx.Response:
    return httpx.post(f"{url}/infer", content=body, headers={"Content-Type": content_type}, timeout=timeout)
