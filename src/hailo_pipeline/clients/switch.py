"""The client `hailo-pipeline switch` uses: asks the sidecar on this host, through its loopback-only control
listener (serve/control.py), to serve another release (adding its model when not served) or to remove a model."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hailo_pipeline.errors import PipelineError

SWITCH_TIMEOUT_S = 600  # loading, warming up and golden-checking a release on a Pi's HailoRT takes seconds


def switch(release_dir: Path, control_url: str, live_gate: bool = False) -> dict[str, Any]:
    """Asks the sidecar at control_url (http://127.0.0.1:CONTROL_PORT) to serve release_dir (with live_gate, only if
    it also reproduces the host's captured windows); raises PipelineError with its reason when it does not."""
    return _control(f"{control_url}/control/switch", {"release_dir": str(release_dir), "live_gate": live_gate})


def remove(model: str, control_url: str) -> dict[str, Any]:
    """Asks the sidecar at control_url to stop serving `model` (its windows in flight answered first); raises
    PipelineError with its reason when it refuses."""
    return _control(f"{control_url}/control/remove", {"model": model})


def _control(url: str, doc: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(doc).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=SWITCH_TIMEOUT_S) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        refusal = json.loads(exc.read() or b"{}")
        serving = ", ".join(f"{name} {state['active']}" for name, state in (refusal.get("serving") or {}).items()) or "nothing"
        raise PipelineError(f"the sidecar still serves {serving}: {refusal.get('detail', exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PipelineError(f"no sidecar control listener at {url} ({exc}); is the sidecar running here?") from None
