"""The sidecar's control listener: where it listens, and the client `hailo-pipeline switch` uses.

It listens on 127.0.0.1:CONTROL_PORT inside the sidecar's own network namespace, so only a process in the
container reaches it (a deploy runs `docker exec hailo-inference hailo-pipeline switch …`); EdgeInfer's
network sees port 9000 only.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.settings import SidecarConfig

CONTROL_HOST = "127.0.0.1"
SWITCH_TIMEOUT_S = 600  # loading, warming up and golden-checking a release on a Pi's HailoRT takes seconds


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


def switch(release_dir: Path, port: int) -> dict[str, Any]:
    """Asks the sidecar on this host to serve release_dir; raises PipelineError with its reason when it does not."""
    url = f"http://{CONTROL_HOST}:{port}/control/switch"
    body = json.dumps({"release_dir": str(release_dir)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=SWITCH_TIMEOUT_S) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        doc = json.loads(exc.read() or b"{}")
        serving = ", ".join(f"{name} {state['active']}" for name, state in (doc.get("serving") or {}).items()) or "nothing"
        raise PipelineError(f"the sidecar still serves {serving}: {doc.get('detail', exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PipelineError(f"no sidecar control listener at {url} ({exc}); is the sidecar running here?") from None
