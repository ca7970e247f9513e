"""The sidecar's control listener: where it listens (its routes: http/control.py; its client: clients/switch.py).

It listens on 127.0.0.1:CONTROL_PORT inside the sidecar's own network namespace, so only a process in the
container reaches it (a deploy runs `docker exec hailo-inference hailo-pipeline switch …`); EdgeInfer's
network sees port 9000 only.
"""

from __future__ import annotations

import socket

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.settings import SidecarConfig

CONTROL_HOST = "127.0.0.1"


def _bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PipelineError(f"cannot listen on {host}:{port}: {exc}") from None
    return sock


def listeners(config: SidecarConfig) -> list[socket.socket]:
    """EdgeInfer's listener (SIDECAR_HOST:SIDECAR_PORT) and the control listener, both bound."""
    return [_bound(config.host, config.port), _bound(CONTROL_HOST, config.control_port)]
