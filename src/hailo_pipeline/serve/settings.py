"""The sidecar's settings: environment variables (the container), overridden by `serve` flags.

`SidecarConfig` is the one table of settings: each field names its environment variable, what it means, its
default and how its text is parsed. Loading (`from_env`), `serve --help` and the generated settings reference
(`reference()`) all read it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from hailo_pipeline.errors import PipelineError

BACKENDS = ("auto", "hailo", "onnxruntime")
SHORT_WINDOW_POLICIES = ("repeat_first", "reject")
DEFAULT_RELEASE_DIR = Path("/models/current")
CURRENT_LINK_PREFIX = "current-"  # HAILO_MODELS_DIR's links, one per model: current-<model>

T = TypeVar("T")


def _flag(raw: str) -> bool:
    """true/false (also 1/0, yes/no), as Ansible and docker compose write them; anything else is a ValueError."""
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(raw)


def _paths(raw: str) -> tuple[Path, ...]:
    return tuple(Path(part) for part in raw.split(":") if part)


def _setting(env: str, meaning: str, default: T, parse: Callable[[str], T], shown: str | None = None) -> T:
    """A field of the table: `default` as the code holds it, `shown` as a user reads it (derived when None)."""
    return field(default=default, metadata={"env": env, "meaning": meaning, "parse": parse, "shown": shown})


@dataclass(frozen=True)
class SidecarConfig:
    release_dirs: tuple[Path, ...] = _setting(
        "HAILO_RELEASE_DIR",
        "release bundle(s) to serve, ':'-separated; each is a model, named by its manifest's name",
        (),
        _paths,
        shown=f"{DEFAULT_RELEASE_DIR} when HAILO_MODELS_DIR is unset",
    )
    models_dir: Path | None = _setting(  # noqa: RUF009 (a field(), not a shared default)
        "HAILO_MODELS_DIR",
        "serve every current-<model> link in this folder (sorted by name), as a host's deploy keeps them; models are then "
        "added and removed in the running sidecar (POST /control/switch, /control/remove); not with HAILO_RELEASE_DIR",
        None,
        Path,
        shown="empty: the bundles HAILO_RELEASE_DIR names",
    )
    edgeinfer_model: str = _setting(
        "EDGEINFER_MODEL",
        "the model POST /infer answers with",
        "",
        str,
        shown="the first listed that fits EdgeInfer (64 latent, 12 motifs)",
    )
    host: str = _setting("SIDECAR_HOST", "listen address (the container exposes it to EdgeInfer's network only)", "0.0.0.0", str)
    port: int = _setting("SIDECAR_PORT", "listen port", 9000, int)
    backend: str = _setting("HAILO_BACKEND", "inference backend: " + " | ".join(BACKENDS), "auto", str)
    device: Path = _setting("HAILO_DEVICE", "accelerator device node", Path("/dev/hailo0"), Path)  # noqa: RUF009 (a field(), not a shared default)
    multi_process_service: bool = _setting(
        "HAILO_MULTI_PROCESS_SERVICE",
        "true: reach the device through hailort_service (HailoRT's multi-process service, its socket /tmp/hailort_uds.sock), "
        "so that two sidecars can share it during an image change",
        False,
        _flag,
    )
    short_window_policy: str = _setting(
        "SHORT_WINDOW_POLICY", "a window shorter than the model's: " + " | ".join(SHORT_WINDOW_POLICIES), "repeat_first", str
    )
    queue_limit: int = _setting("QUEUE_LIMIT", "requests waiting for the device", 32, int)
    answer_deadline_ms: int = _setting(
        "ANSWER_DEADLINE_MS", "admit a request only if it can be answered within this many ms (EdgeInfer gives up at 45)", 40, int
    )
    infer_timeout_ms: int = _setting("INFER_TIMEOUT_MS", "longest wait for one inference, in ms", 1000, int)
    control_port: int = _setting("CONTROL_PORT", "release switches, on 127.0.0.1 only", 9001, int)
    ort_threads: int = _setting("ORT_THREADS", "ONNX Runtime intra-op threads", 1, int)
    max_body_bytes: int = _setting("MAX_BODY_BYTES", "largest request body accepted, in bytes", 262_144, int)
    parity_sample_every: int = _setting(
        "PARITY_SAMPLE_EVERY",
        "with the Hailo backend, one window in this many runs again on the bundle's ONNX on the CPU (hailo_sidecar_parity_cosine); 0: off",
        100,
        int,
    )
    client_units_file: Path | None = _setting(  # noqa: RUF009 (a field(), not a shared default)
        "CLIENT_UNITS_FILE",
        "JSON {model: {channel: unit}}: what clients send where it differs from a bundle's input.client_units (bundle/units.py's "
        "units); read whenever a release loads, so a switch to the serving release applies a change (it loads beside, "
        "golden-checked); absent: the bundles' own",
        None,
        Path,
        shown="client_units.json in HAILO_MODELS_DIR when that is set",
    )
    input_guard: bool = _setting(
        "INPUT_GUARD",
        "count what clients send against each bundle's calibration envelope (the input guard: /metrics hailo_sidecar_input_*, "
        "/healthz input warnings); it never changes, delays or refuses an answer; false: off",
        True,
        _flag,
    )
    input_guard_period_s: int = _setting(
        "INPUT_GUARD_PERIOD_S",
        "the input guard keeps two generations of counts of this many seconds each: its verdict covers the last one to two "
        "periods, so a client that was fixed leaves it within two",
        900,
        int,
    )
    capture_windows: int = _setting(
        "CAPTURE_WINDOWS",
        "keep a sample of up to this many recent client windows per model, in the model's units, in CAPTURE_DIR (the "
        "capture: for calibration and a canary's live-window gate); 0: off",
        0,
        int,
    )
    capture_dir: Path | None = _setting(  # noqa: RUF009 (a field(), not a shared default)
        "CAPTURE_DIR",
        "the capture's folder, a host volume: <model>.npz per model, read back at start",
        None,
        Path,
        shown="none (required when CAPTURE_WINDOWS > 0)",
    )
    capture_rate: float = _setting(
        "CAPTURE_RATE",
        "the share of answered windows the capture takes, in (0, 1]; once full, each replaces a kept one at random",
        0.05,
        float,
    )
    capture_flush_s: int = _setting(
        "CAPTURE_FLUSH_S", "the capture is written to CAPTURE_DIR this often when it changed (and when the sidecar stops)", 60, int
    )
    allowed_signers: str = _setting(
        "ALLOWED_SIGNERS",
        "ssh-keygen allowed-signers file: every release must be signed by a key it lists, else it is refused at start-up and by a switch",
        "",
        str,
        shown="empty: signatures not required",
    )
    log_level: str = _setting("LOG_LEVEL", "uvicorn/log level", "info", str)

    def validated(self) -> SidecarConfig:
        """This config when its settings make sense together, HAILO_RELEASE_DIR defaulted unless HAILO_MODELS_DIR is
        set; else PipelineError saying which to change."""
        if self.models_dir is None and not self.release_dirs:
            return replace(self, release_dirs=(DEFAULT_RELEASE_DIR,)).validated()
        if self.backend not in BACKENDS:
            raise PipelineError(f"HAILO_BACKEND must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.short_window_policy not in SHORT_WINDOW_POLICIES:
            raise PipelineError(f"SHORT_WINDOW_POLICY must be one of {list(SHORT_WINDOW_POLICIES)}, got {self.short_window_policy!r}")
        for name in (
            "port",
            "queue_limit",
            "answer_deadline_ms",
            "infer_timeout_ms",
            "control_port",
            "ort_threads",
            "max_body_bytes",
            "input_guard_period_s",
            "capture_flush_s",
        ):
            if getattr(self, name) <= 0:
                raise PipelineError(f"{name.upper()} must be a positive integer, got {getattr(self, name)}")
        if self.models_dir is not None:
            if self.client_units_file is None:
                return replace(self, client_units_file=self.models_dir / "client_units.json").validated()
            if self.release_dirs:
                raise PipelineError(
                    f"HAILO_MODELS_DIR={self.models_dir} and HAILO_RELEASE_DIR (or serve's RELEASE arguments) are both set: "
                    "unset HAILO_RELEASE_DIR (and give no RELEASE) to serve the folder's current-* links, or unset HAILO_MODELS_DIR"
                )
            if not self.models_dir.is_dir():
                raise PipelineError(
                    f"HAILO_MODELS_DIR={self.models_dir} is not a folder: mount the host's models folder there, or unset it"
                )
        if len(set(self.release_dirs)) != len(self.release_dirs):
            raise PipelineError(f"HAILO_RELEASE_DIR lists a bundle twice: {':'.join(map(str, self.release_dirs))}")
        if self.parity_sample_every < 0:
            raise PipelineError(f"PARITY_SAMPLE_EVERY must be 0 (off) or a positive integer, got {self.parity_sample_every}")
        if self.allowed_signers and not Path(self.allowed_signers).is_file():
            raise PipelineError(f"ALLOWED_SIGNERS={self.allowed_signers} is not a file: mount the allowed-signers file there, or unset it")
        if self.capture_windows < 0:
            raise PipelineError(f"CAPTURE_WINDOWS must be 0 (off) or a positive integer, got {self.capture_windows}")
        if self.capture_windows and not 0 < self.capture_rate <= 1:
            raise PipelineError(f"CAPTURE_RATE must be in (0, 1], got {self.capture_rate}")
        if self.capture_windows and (self.capture_dir is None or not self.capture_dir.is_dir()):
            raise PipelineError(
                f"CAPTURE_WINDOWS={self.capture_windows} needs CAPTURE_DIR to be a folder (got {self.capture_dir}): "
                "mount a host folder there, or set CAPTURE_WINDOWS=0"
            )
        if self.port == self.control_port:
            raise PipelineError(f"SIDECAR_PORT and CONTROL_PORT must differ, both are {self.port}")
        return self


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return ":".join(map(str, default))
    return str(default)


def reference() -> list[tuple[str, str, str]]:
    """(environment variable, meaning, default as a user reads it) for every setting, in the table's order."""
    return [(f.metadata["env"], f.metadata["meaning"], f.metadata["shown"] or _shown(f.default)) for f in fields(SidecarConfig)]


def describe(name: str) -> str:
    """A `serve --help` text for the setting in field `name`: its meaning, variable and default, from the table."""
    (f,) = (f for f in fields(SidecarConfig) if f.name == name)
    return f"{f.metadata['meaning']} (env {f.metadata['env']}; default {f.metadata['shown'] or _shown(f.default)})"


def from_env(env: Mapping[str, str] = os.environ, **overrides: Any) -> SidecarConfig:
    """Defaults, then environment variables, then explicit overrides (flags) that are not None."""
    values: dict[str, Any] = {}
    for f in fields(SidecarConfig):
        name, parse = f.metadata["env"], f.metadata["parse"]
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[f.name] = parse(raw)
        except ValueError:
            raise PipelineError(f"{name}={raw!r} is not a valid {'true/false' if parse is _flag else parse.__name__}") from None
    config = replace(SidecarConfig(), **values)
    return replace(config, **{k: v for k, v in overrides.items() if v is not None}).validated()
