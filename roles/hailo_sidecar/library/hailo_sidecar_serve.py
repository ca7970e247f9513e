#!/usr/bin/python
"""Makes the sidecar container serve each release and proves it, in one module run on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hailo_sidecar_serve
short_description: Switch the sidecar container to releases and prove it serves them
description:
  - >-
    Every release is switched in (C(hailo-pipeline switch) in the container: a hot switch when its model served
    another), then the sidecar must answer /healthz 200, then each release must reproduce its golden vectors
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
  retries:
    description: How many more times to wait for the control listener, and for /healthz.
    type: int
    default: 45
  delay:
    description: Seconds between those tries.
    type: float
    default: 2
notes:
  - In check mode nothing is switched; health and golden vectors are still checked (read-only).
"""

EXAMPLES = r"""
- name: Serve the releases and prove it
  hailo_sidecar_serve:
    container: hailo-inference
    releases: [tcn-encoder-1.0.1-da8b00e926a3]
"""

RETURN = r"""
switched:
  description: The releases the sidecar moved to (those it served already are not listed).
  returned: success
  type: list
  elements: str
"""

import functools
import json
import time
from collections.abc import Callable

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


def serve(module: AnsibleModule) -> list[str]:
    """The releases switched; raises StepFailedError."""
    p = module.params

    def sidecar(*argv: str) -> Run:
        rc, out, err = module.run_command(["docker", "exec", p["container"], *argv], expand_user_and_vars=False)
        return rc, out, err

    switched = []
    for release in [] if module.check_mode else p["releases"]:
        switch = functools.partial(sidecar, f"{SIDECAR_BIN}/hailo-pipeline", "switch", "--json", f"/models/releases/{release}")
        done = waited(switch, p["retries"], p["delay"], lambda d: "no sidecar control listener" in d[2])
        if json.loads(require(f"switch to {release}", done)[1])["switched"]:
            switched.append(release)
    require("/healthz", waited(lambda: sidecar(f"{SIDECAR_BIN}/python", "-c", HEALTHZ), p["retries"], p["delay"], lambda d: True))
    for release in p["releases"]:
        require(f"golden vectors of {release}", sidecar(f"{SIDECAR_BIN}/hailo-pipeline", "probe", INFER_URL, f"/models/releases/{release}"))
    return switched


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "releases": {"type": "list", "elements": "str", "required": True},
            "retries": {"type": "int", "default": 45},
            "delay": {"type": "float", "default": 2},
        },
        supports_check_mode=True,
    )
    try:
        switched = serve(module)
    except StepFailedError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(switched), switched=switched)


if __name__ == "__main__":
    main()
