#!/usr/bin/python
"""Makes the sidecar container serve each release and proves it, in one module run on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hailo_sidecar_serve
short_description: Switch the sidecar container to releases, remove models, and prove it serves them
description:
  - >-
    Every release is switched in (C(hailo-pipeline switch) in the container: a hot switch when its model served
    another, a hot add when the sidecar did not serve its model), then every model of I(remove) is removed
    (C(hailo-pipeline switch --remove): its routes go, its windows in flight finish, its releases unload), then
    the sidecar must answer /healthz 200, then each release must reproduce its golden vectors
    (C(hailo-pipeline probe): EdgeInfer's model through /infer, the others through /v2).
  - A container just (re)started opens its control listener once it has loaded its models and answers /healthz
    once it is ready; both are waited for, I(retries) times I(delay) seconds.
  - On a failure the message names the step and gives the sidecar's reason.
options:
  container:
    description: The sidecar container.
    type: str
    required: true
  releases:
    description: The releases (folder names under /models/releases in the container) it is to serve.
    type: list
    elements: str
    required: true
  remove:
    description: Models (manifest names) it is to serve no longer; one it does not serve is left as it is.
    type: list
    elements: str
    default: []
  live_gate:
    description:
      - >-
        A release loaded now must also reproduce this host's captured windows of its model (the sidecar's capture)
        against its FP32 ONNX, to the quantization gate, before it serves (C(hailo-pipeline switch --live-gate));
        below it the switch is refused with the figures and nothing moves. Without captured windows the gate says
        it judged the golden windows only.
    type: bool
    default: false
  retries:
    description: How many more times to wait for the control listener, and for /healthz.
    type: int
    default: 45
  delay:
    description: Seconds between those tries.
    type: float
    default: 2
notes:
  - >-
    In check mode nothing is switched or removed: what would be is read from the container's
    /models/current-<model> links (the sidecar serves what they name); health and the golden vectors of the
    releases served already are still checked (read-only).
"""

EXAMPLES = r"""
- name: Serve the releases, remove a model, and prove it
  hailo_sidecar_serve:
    container: hailo-inference
    releases: [tcn-encoder-1.0.1-da8b00e926a3]
    remove: [conv2d-fsq]
"""

RETURN = r"""
switched:
  description: The releases the sidecar moved to or added (those it served already are not listed).
  returned: success
  type: list
  elements: str
removed:
  description: The models of I(remove) the sidecar served and no longer does.
  returned: success
  type: list
  elements: str
live_gate:
  description: With I(live_gate), what the gate judged for each release switched in, by release.
  returned: success
  type: dict
"""

import functools
import json
import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule

SIDECAR_BIN = "/opt/sidecar/bin"
INFER_URL = "http://127.0.0.1:9000/infer"
# Exit 0 on /healthz 200; otherwise exit 1 printing the sidecar's reason (e.g. failed golden vectors).
HEALTHZ = """
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:9000/healthz", timeout=2)
except urllib.error.HTTPError as exc:
    sys.exit(exc.read().decode())
except OSError as exc:
    sys.exit(f"no answer: {exc}")
"""
# {model: release} of the /models/current-<model> links, as JSON: what the sidecar serves (check mode reads it).
LINKS = """
import json, os, pathlib
print(json.dumps({p.name.removeprefix("current-"): os.path.basename(os.readlink(p)) for p in pathlib.Path("/models").glob("current-*")}))
"""
Run = tuple[int, str, str]  # rc, stdout, stderr


class StepFailedError(Exception):
    pass


def waited(attempt: Callable[[], Run], retries: int, delay: float, not_yet: Callable[[Run], bool]) -> Run:
    """attempt() again while it fails with what not_yet() calls not ready yet, at most `retries` more times."""
    done = attempt()
    for _ in range(retries):
        if done[0] == 0 or not not_yet(done):
            break
        time.sleep(delay)
        done = attempt()
    return done


def require(step: str, done: Run) -> Run:
    rc, out, err = done
    if rc != 0:
        raise StepFailedError(f"{step}: {(err or out).strip() or f'exit {rc}'}")
    return done


def serve(module: AnsibleModule) -> tuple[list[str], list[str], dict[str, str]]:
    """The releases switched, the models removed and what the live-window gate said; raises StepFailedError."""
    p = module.params

    def sidecar(*argv: str) -> Run:
        rc, out, err = module.run_command(["docker", "exec", p["container"], *argv], expand_user_and_vars=False)
        return rc, out, err

    def control(step: str, *argv: str) -> dict[str, Any]:
        """`hailo-pipeline switch --json ARGV` once the control listener answers; its answer."""
        command = functools.partial(sidecar, f"{SIDECAR_BIN}/hailo-pipeline", "switch", "--json", *argv)
        done = waited(command, p["retries"], p["delay"], lambda d: "no sidecar control listener" in d[2])
        return dict(json.loads(require(step, done)[1]))

    if module.check_mode:
        linked = json.loads(require("current-<model> links", sidecar(f"{SIDECAR_BIN}/python", "-c", LINKS))[1])
        switched = [release for release in p["releases"] if release not in linked.values()]
        removed = [model for model in p["remove"] if model in linked]
        proven = [release for release in p["releases"] if release in linked.values()]
        gated: dict[str, str] = {}
    else:
        gate = ["--live-gate"] if p["live_gate"] else []
        answers = {release: control(f"switch to {release}", f"/models/releases/{release}", *gate) for release in p["releases"]}
        switched = [release for release, answer in answers.items() if answer["switched"] or answer.get("added")]
        gated = {release: answers[release]["live_gate"]["said"] for release in switched if answers[release].get("live_gate")}
        removed = [model for model in p["remove"] if control(f"remove {model}", "--remove", model)["removed"]]
        proven = p["releases"]
    require("/healthz", waited(lambda: sidecar(f"{SIDECAR_BIN}/python", "-c", HEALTHZ), p["retries"], p["delay"], lambda d: True))
    for release in proven:
        require(f"golden vectors of {release}", sidecar(f"{SIDECAR_BIN}/hailo-pipeline", "probe", INFER_URL, f"/models/releases/{release}"))
    return switched, removed, gated


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "releases": {"type": "list", "elements": "str", "required": True},
            "remove": {"type": "list", "elements": "str", "default": []},
            "live_gate": {"type": "bool", "default": False},
            "retries": {"type": "int", "default": 45},
            "delay": {"type": "float", "default": 2},
        },
        supports_check_mode=True,
    )
    try:
        switched, removed, gated = serve(module)
    except StepFailedError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(switched or removed), switched=switched, removed=removed, live_gate=gated)


if __name__ == "__main__":
    main()
