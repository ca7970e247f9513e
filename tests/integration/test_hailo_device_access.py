"""The sidecar's user (uid 1000, no groups of its own) opens /dev/hailo0 on a Pi whose hailofw ships Raspberry Pi's
/lib/udev/rules.d/60-hailofw.rules beside role hailort's rule.

udev runs the rules files of all its folders together, sorted by file name, and a later MODE= or GROUP= replaces an
earlier one (udev(7)). The node's owner and mode are what those rules leave; Docker's --device gives the container a
node with the host's owner and mode, and the user opens it or gets EACCES. The stand-in node is a real character
device (/dev/null's numbers, so opening it touches nothing) made with those owner and mode.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.support.doubles.build_hailort_debs import package_files

pytestmark = [pytest.mark.docker]

ROLE_DEFAULTS = yaml.safe_load((REPO_ROOT / "roles/hailort/defaults/main.yml").read_text())
# The hailofw double's rule (its real contents were not seen: it gives root:hailo 0660, what one Pi showed).
HAILOFW_RULES = ("60-hailofw.rules", package_files("hailofw", "4.20.0")["lib/udev/rules.d/60-hailofw.rules"][0])
# Role hailort's rule, under the name it installs it.
OURS = (
    Path(ROLE_DEFAULTS["hailort_udev_rules_dest"]).name,
    (REPO_ROOT / "roles/hailort/files" / ROLE_DEFAULTS["hailort_udev_rules_src"]).read_text(),
)
HAILO_GID = 989  # the hailo group hailofw's postinst makes (a system group: any gid below 1000)
SIDECAR_USER = "1000:1000"  # role hailo_sidecar's container user


def udev_node(*rules_files: tuple[str, str]) -> tuple[str, int]:
    """(group, mode) udev leaves a hailo_chardev node with: the kernel's root 0600, then each file's assignments in
    file-name order."""
    group, mode = "root", 0o600
    for _, text in sorted(rules_files):
        for line in text.splitlines():
            if not re.match(r'\s*SUBSYSTEM=="hailo_chardev"', line):
                continue
            if found := re.search(r'GROUP="([^"]+)"', line):
                group = found.group(1)
            if found := re.search(r'MODE="([0-7]+)"', line):
                mode = int(found.group(1), 8)
    return group, mode


def sidecar_opens(tmp_path: Path, group: str, mode: int, *docker_args: str) -> subprocess.CompletedProcess[str]:
    """Open a stand-in of /dev/hailo0 with that group and mode read-write as the sidecar's user, in a container."""
    image = next((i for i in ("hailo-fleet/debian-slim:bookworm-amd64", "hailo-fleet/debian-systemd:bookworm-amd64") if _has(i)), None)
    if image is None:
        pytest.fail("no local Debian base image (hailo-fleet/debian-slim:bookworm-amd64): run scripts/bootstrap")
    node = tmp_path / f"hailo0-{len(list(tmp_path.iterdir()))}"
    subprocess.run(["mknod", str(node), "c", "1", "3"], check=True)
    shutil.chown(node, 0, HAILO_GID if group == "hailo" else 0)
    node.chmod(mode)
    docker = ["docker", "run", "--rm", "--user", SIDECAR_USER, "--device", f"{node}:/dev/hailo0", *docker_args]
    return subprocess.run([*docker, image, "sh", "-c", ": <> /dev/hailo0"], capture_output=True, text=True)


def _has(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0


def test_the_hailofw_double_leaves_the_node_to_root_and_the_hailo_group() -> None:
    assert udev_node(HAILOFW_RULES) == ("hailo", 0o660)


def test_role_hailorts_rule_applies_after_raspberry_pis_and_the_sidecar_opens_the_node(tmp_path: Path) -> None:
    """Role hailort's rule was 51-hailo-udev.rules: 60-hailofw.rules came after it and the sidecar got EACCES."""
    assert OURS[0] > HAILOFW_RULES[0], f"{OURS[0]} runs before {HAILOFW_RULES[0]}"
    group, mode = udev_node(HAILOFW_RULES, OURS)
    assert mode == 0o666
    opened = sidecar_opens(tmp_path, group, mode)
    assert opened.returncode == 0, opened.stderr


def test_with_raspberry_pis_rule_alone_the_sidecar_opens_the_node_through_its_group(tmp_path: Path) -> None:
    """Role hailo_sidecar gives the container the node's group (docker's --group-add), whatever mode udev left."""
    group, mode = udev_node(HAILOFW_RULES)
    refused = sidecar_opens(tmp_path, group, mode)
    assert refused.returncode != 0, "uid 1000 without the group is refused"
    assert "Permission denied" in refused.stderr
    opened = sidecar_opens(tmp_path, group, mode, "--group-add", str(HAILO_GID))
    assert opened.returncode == 0, opened.stderr
