"""What role hailo_sidecar reads of a host before it changes anything, as one JSON document on stdout.

state.yml runs it with ansible.builtin.script: one small file over the Pi's link and one round trip, where a
module per question ships its own AnsiballZ payload (about 180 KB each). Read-only; Python's standard library only.
argv: the deployment fact, the models folder, the sidecar container, the image to serve, hailort.service's socket,
the metrics gateway's container.
The document: {"fact": the fact's JSON or null, "container_image": the container's image or null, "image":
{"hailort", "architecture"} of the image or null, "releases": the folders under <models>/releases, "unsigned":
those of them without SHA256SUMS.sig, "links": the current-<model> links (and the single `current` of earlier
versions), "allowed_signers": <models>/allowed_signers's text or null, "service_socket": whether that socket is
there, "metrics": the gateway container's {"image", "ports" (docker's PortBindings)} or null}.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

LINK = re.compile(r"current(-.+)?")  # current-<model>, and the single `current` of earlier versions


def text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def fact(path: Path) -> Any:
    content = text(path)
    try:
        return json.loads(content) if content and content.strip() else None
    except json.JSONDecodeError as exc:
        sys.exit(f"{path} is not JSON ({exc}): it records what this host serves; put back a good copy or remove it")


def inspect(kind: str, template: str, name: str) -> Any:
    """docker KIND inspect's answer through a template of JSON fields, or None when there is no such object."""
    done = subprocess.run(["docker", kind, "inspect", "--format", template, name], capture_output=True, text=True, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def main(facts_file: str, models_dir: str, container: str, image: str, service_socket: str, metrics: str) -> None:
    releases = Path(models_dir, "releases")
    kept = [p for p in releases.iterdir() if p.is_dir()] if releases.is_dir() else []
    labels = inspect("image", '{"labels": {{json .Config.Labels}}, "architecture": {{json .Architecture}}}', image)
    state = {
        "fact": fact(Path(facts_file)),
        "container_image": inspect("container", "{{json .Config.Image}}", container),
        "image": None
        if labels is None
        else {"hailort": (labels["labels"] or {}).get("org.hailo-fleet.hailort", ""), "architecture": labels["architecture"]},
        "releases": sorted(p.name for p in kept),
        "unsigned": sorted(p.name for p in kept if not (p / "SHA256SUMS.sig").is_file()),
        "links": sorted(p.name for p in Path(models_dir).glob("current*") if p.is_symlink() and LINK.fullmatch(p.name)),
        "allowed_signers": text(Path(models_dir, "allowed_signers")),
        "service_socket": is_socket(Path(service_socket)),
        "metrics": inspect("container", '{"image": {{json .Config.Image}}, "ports": {{json .HostConfig.PortBindings}}}', metrics),
    }
    print(json.dumps(state))


if __name__ == "__main__":
    main(*sys.argv[1:])
