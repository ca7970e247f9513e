"""What the event loop asks of the device process, shared by both sides of the process boundary: how to reach
the accelerator (DeviceAccess), a release to load (LoadRequest, sent as JSON in a LOAD frame: wire.py), and
the opener the device process makes an engine with (OpenEngine; tests give a double)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hailo_pipeline.serve.device.engine import Engine

# Where hailort_service, HailoRT's multi-process service, listens: its default address (HailoRT's
# rpc_definitions.hpp), the one at which its clients also share buffers through /dev/shm.
SERVICE_SOCKET = Path("/tmp/hailort_uds.sock")


@dataclass(frozen=True)
class DeviceAccess:
    """How the Hailo backend reaches the accelerator: its device node, or through hailort_service, which owns
    the device and lets several processes (two sidecar containers during an image change) share it."""

    node: Path
    service: bool = False
    socket: Path = SERVICE_SOCKET

    def problem(self) -> str | None:
        if not self.service:
            return None if self.node.exists() else f"{self.node} does not exist"
        if self.socket.exists():
            return None
        return (
            f"HAILO_MULTI_PROCESS_SERVICE=true but no hailort_service socket at {self.socket} "
            "(is hailort.service running on the host, and its socket mounted into the container?)"
        )


@dataclass(frozen=True)
class LoadRequest:
    release_dir: Path
    backend: str
    access: DeviceAccess
    threads: int
    timeout_ms: int
    allowed_signers: Path | None = None  # None: signatures not required
    parity_every: int = 0  # on the accelerator, one window in this many run again on the CPU (device/parity.py); 0: none
    client_units: dict[str, str] = field(default_factory=dict)  # the host's override of the bundle's, {channel: unit}
    # A capture file (bundle/fleet_windows.py) whose windows the release must reproduce on the device against its FP32
    # ONNX before it may serve: the canary's live-window gate. Not part of what makes two requests the same release.
    live_windows: Path | None = field(default=None, compare=False)

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), default=str).encode()  # paths as strings

    @classmethod
    def from_json(cls, payload: bytes) -> LoadRequest:
        doc = json.loads(payload)
        access = DeviceAccess(Path(doc["access"]["node"]), bool(doc["access"]["service"]), Path(doc["access"]["socket"]))
        signers = Path(doc["allowed_signers"]) if doc.get("allowed_signers") else None
        return cls(
            Path(doc["release_dir"]),
            doc["backend"],
            access,
            int(doc["threads"]),
            int(doc["timeout_ms"]),
            signers,
            int(doc["parity_every"]),
            dict(doc["client_units"]),
            Path(doc["live_windows"]) if doc.get("live_windows") else None,
        )


OpenEngine = Callable[[LoadRequest], "Engine"]
