"""The sidecar's settings: environment variables (the container), overridden by `serve` flags.

HAILO_RELEASE_DIR      release bundle(s) to serve, ':'-separated  /models/current
                       (each is a model, named by its manifest's
                       name: issue #17)
EDGEINFER_MODEL        the model POST /infer answers with         the first listed that fits
                                                                  EdgeInfer (64 latent, 12 motifs)
SIDECAR_HOST/PORT      listen address                             0.0.0.0:9000
HAILO_BACKEND          auto | hailo | onnxruntime                 auto
HAILO_DEVICE           accelerator device node                    /dev/hailo0
HAILO_MULTI_PROCESS_SERVICE
                       true: reach the device through             false
                       hailort_service (HailoRT's multi-process
                       service), so that two sidecars can share it
                       during an image change
SHORT_WINDOW_POLICY    repeat_first | reject                      repeat_first
QUEUE_LIMIT            requests waiting for the device            32
ANSWER_DEADLINE_MS     admit a request only if it can be answered 40
                       within this (EdgeInfer gives up at 45)
INFER_TIMEOUT_MS       longest wait for one inference             1000
CONTROL_PORT           release switches, on 127.0.0.1 only        9001
ORT_THREADS            ONNX Runtime intra-op threads              1
MAX_BODY_BYTES         largest request body accepted              262144
PARITY_SAMPLE_EVERY    with the Hailo backend, one window in this 100
                       many runs again on the bundle's ONNX on
                       the CPU (hailo_sidecar_parity_cosine); 0: off
ALLOWED_SIGNERS        ssh-keygen allowed-signers file: every     "" (signatures not required)
                       release must be signed by a key it lists
                       (build/signature.py)
LOG_LEVEL              uvicorn/log level                          info
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from hailo_pipeline.errors import PipelineError

BACKENDS = ("auto", "hailo", "onnxruntime")
SHORT_WINDOW_POLICIES = ("repeat_first", "reject")


@dataclass(frozen=True)
class SidecarConfig:
    release_dirs: tuple[Path, ...] = (Path("/models/current"),)
    edgeinfer_model: str = ""  # "": the first of release_dirs whose bundle fits EdgeInfer
    host: str = "0.0.0.0"  # the container exposes it to EdgeInfer's network only
    port: int = 9000
    backend: str = "auto"
    device: Path = Path("/dev/hailo0")
    multi_process_service: bool = False
    short_window_policy: str = "repeat_first"
    queue_limit: int = 32
    answer_deadline_ms: int = 40
    infer_timeout_ms: int = 1000
    control_port: int = 9001
    ort_threads: int = 1
    max_body_bytes: int = 262_144
    parity_sample_every: int = 100
    allowed_signers: str = ""
    log_level: str = "info"

    def validated(self) -> SidecarConfig:
        if self.backend not in BACKENDS:
            raise PipelineError(f"HAILO_BACKEND must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.short_window_policy not in SHORT_WINDOW_POLICIES:
            raise PipelineError(f"SHORT_WINDOW_POLICY must be one of {list(SHORT_WINDOW_POLICIES)}, got {self.short_window_policy!r}")
        for name in ("port", "queue_limit", "answer_deadline_ms", "infer_timeout_ms", "control_port", "ort_threads", "max_body_bytes"):
            if getattr(self, name) <= 0:
                raise PipelineError(f"{name.upper()} must be a positive integer, got {getattr(self, name)}")
        if not self.release_dirs:
            raise PipelineError("no release bundle to serve: set HAILO_RELEASE_DIR (':'-separated for several models)")
        if len(set(self.release_dirs)) != len(self.release_dirs):
            raise PipelineError(f"HAILO_RELEASE_DIR lists a bundle twice: {':'.join(map(str, self.release_dirs))}")
        if self.parity_sample_every < 0:
            raise PipelineError(f"PARITY_SAMPLE_EVERY must be 0 (off) or a positive integer, got {self.parity_sample_every}")
        if self.allowed_signers and not Path(self.allowed_signers).is_file():
            raise PipelineError(f"ALLOWED_SIGNERS={self.allowed_signers} is not a file: mount the allowed-signers file there, or unset it")
        if self.port == self.control_port:
            raise PipelineError(f"SIDECAR_PORT and CONTROL_PORT must differ, both are {self.port}")
        return self


_ENV = {
    "release_dirs": "HAILO_RELEASE_DIR",
    "edgeinfer_model": "EDGEINFER_MODEL",
    "host": "SIDECAR_HOST",
    "port": "SIDECAR_PORT",
    "backend": "HAILO_BACKEND",
    "device": "HAILO_DEVICE",
    "multi_process_service": "HAILO_MULTI_PROCESS_SERVICE",
    "short_window_policy": "SHORT_WINDOW_POLICY",
    "queue_limit": "QUEUE_LIMIT",
    "answer_deadline_ms": "ANSWER_DEADLINE_MS",
    "infer_timeout_ms": "INFER_TIMEOUT_MS",
    "control_port": "CONTROL_PORT",
    "ort_threads": "ORT_THREADS",
    "max_body_bytes": "MAX_BODY_BYTES",
    "parity_sample_every": "PARITY_SAMPLE_EVERY",
    "allowed_signers": "ALLOWED_SIGNERS",
    "log_level": "LOG_LEVEL",
}


def _flag(raw: str) -> bool:
    """true/false (also 1/0, yes/no), as Ansible and docker compose write them; anything else is a ValueError."""
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(raw)


def from_env(env: Mapping[str, str] = os.environ, **overrides: Any) -> SidecarConfig:
    """Defaults, then environment variables, then explicit overrides (flags) that are not None."""
    values: dict[str, Any] = {}
    for f in fields(SidecarConfig):
        raw = env.get(_ENV[f.name])
        if raw is None or raw == "":
            continue
        kind = type(getattr(SidecarConfig(), f.name))
        try:
            if kind is tuple:
                values[f.name] = tuple(Path(part) for part in raw.split(":") if part)
            else:
                values[f.name] = _flag(raw) if kind is bool else kind(raw)
        except ValueError:
            raise PipelineError(f"{_ENV[f.name]}={raw!r} is not a valid {'true/false' if kind is bool else kind.__name__}") from None
    config = replace(SidecarConfig(), **values)
    return replace(config, **{k: v for k, v in overrides.items() if v is not None}).validated()
