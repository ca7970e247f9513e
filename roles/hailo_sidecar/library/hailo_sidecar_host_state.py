#!/usr/bin/python
"""What role hailo_sidecar reads of a host before it changes anything, in one module run (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hailo_sidecar_host_state
short_description: What a Pi has for the sidecar, before anything changes
description:
  - Reads, in one round trip, the deployment fact, the sidecar and metrics containers, the image to serve, the
    release bundles and the allowed-signers file under the models folder, and whether hailort.service's socket is
    there. Changes nothing.
options:
  facts_file:
    description: The deployment fact (JSON) rollback trusts.
    type: path
    required: true
  models_dir:
    description: The models folder (releases/, current-<model> links, allowed_signers).
    type: path
    required: true
  container:
    description: The sidecar container.
    type: str
    required: true
  image:
    description: The image the sidecar is to run.
    type: str
    required: true
  service_socket:
    description: hailort.service's socket.
    type: path
    required: true
  metrics_container:
    description: The metrics gateway's container.
    type: str
    required: true
notes:
  - Supports check mode; it only reads.
  - Fails when the fact is there but not JSON, saying what to do.
"""

EXAMPLES = r"""
- name: What the host has
  hailo_sidecar_host_state:
    facts_file: /etc/ansible/facts.d/hailo_model.fact
    models_dir: /opt/hailo-models
    container: hailo-inference
    image: hailo-sidecar:0.1.0
    service_socket: /tmp/hailort_uds.sock
    metrics_container: hailo-metrics
  register: found
"""

RETURN = r"""
state:
  description: What the host has.
  returned: success
  type: dict
  contains:
    fact:
      description: The fact's JSON, or null when there is none.
      type: dict
    container_image:
      description: The image the sidecar container runs, or null without a container.
      type: str
    image:
      description: The image's HailoRT (label org.hailo-fleet.hailort, "" without it) and architecture, or null when absent.
      type: dict
    releases:
      description: The folders under <models_dir>/releases, sorted.
      type: list
      elements: str
    unsigned:
      description: Those of them without SHA256SUMS.sig.
      type: list
      elements: str
    links:
      description: The current-<model> links in models_dir, sorted.
      type: list
      elements: str
    allowed_signers:
      description: The text of <models_dir>/allowed_signers, or null.
      type: str
    service_socket:
      description: Whether service_socket is a socket.
      type: bool
    metrics:
      description: The metrics container's image and ports (docker's PortBindings), or null without it.
      type: dict
"""

import json
import re
import stat
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

LINK = re.compile(r"current-.+")  # current-<model>
METRICS = '{"image": {{json .Config.Image}}, "ports": {{json .HostConfig.PortBindings}}}'  # docker inspect's template


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


class FactNotJsonError(Exception):
    pass


def _fact(path: Path) -> Any:
    content = _text(path)
    try:
        return json.loads(content) if content and content.strip() else None
    except json.JSONDecodeError as exc:
        raise FactNotJsonError(f"{path} is not JSON ({exc}): it records what this host serves; put back a good copy or remove it") from exc


def host_state(module: AnsibleModule) -> dict[str, Any]:
    """The state document (RETURN's state); raises FactNotJsonError."""
    p = module.params

    def inspect(kind: str, template: str, name: str) -> Any:
        """docker KIND inspect's answer through a template of JSON fields, or None when there is no such object."""
        rc, out, _ = module.run_command(["docker", kind, "inspect", "--format", template, name], expand_user_and_vars=False)
        return json.loads(out) if rc == 0 else None

    models = Path(p["models_dir"])
    releases = models / "releases"
    kept = [d for d in releases.iterdir() if d.is_dir()] if releases.is_dir() else []
    labels = inspect("image", '{"labels": {{json .Config.Labels}}, "architecture": {{json .Architecture}}}', p["image"])
    return {
        "fact": _fact(Path(p["facts_file"])),
        "container_image": inspect("container", "{{json .Config.Image}}", p["container"]),
        "image": None
        if labels is None
        else {"hailort": (labels["labels"] or {}).get("org.hailo-fleet.hailort", ""), "architecture": labels["architecture"]},
        "releases": sorted(d.name for d in kept),
        "unsigned": sorted(d.name for d in kept if not (d / "SHA256SUMS.sig").is_file()),
        "links": sorted(q.name for q in models.glob("current-*") if q.is_symlink() and LINK.fullmatch(q.name)),
        "allowed_signers": _text(models / "allowed_signers"),
        "service_socket": _is_socket(Path(p["service_socket"])),
        "metrics": inspect("container", METRICS, p["metrics_container"]),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "facts_file": {"type": "path", "required": True},
            "models_dir": {"type": "path", "required": True},
            "container": {"type": "str", "required": True},
            "image": {"type": "str", "required": True},
            "service_socket": {"type": "path", "required": True},
            "metrics_container": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    try:
        state = host_state(module)
    except FactNotJsonError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, state=state)


if __name__ == "__main__":
    main()
