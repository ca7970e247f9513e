"""Inventory plugin `tailnet`: the fleet from `tailscale status --json` on the controller (ansible.cfg's
inventory_plugins points here). The reading and checking is hailo_pipeline.fleet.tailnet; this adds its hosts,
groups and host vars to the inventory, then the `constructed` options (compose, groups, keyed_groups)."""

from __future__ import annotations

import sys
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

DOCUMENTATION = r"""
name: tailnet
short_description: Hosts from the tailnet, by MagicDNS name, grouped by ACL tag
description:
  - Runs C(tailscale status --json) on the controller and refuses the inventory unless Tailscale is running,
    logged in to O(tailnet_domain), with MagicDNS on.
  - Each machine of the tailnet whose tags map to a group becomes a host named by its MagicDNS short name, with
    C(ansible_host) its MagicDNS name and host vars C(tailscale_ips), C(tailscale_os), C(tailscale_online),
    C(tailscale_last_seen), C(tailscale_tags), C(tailscale_hostname), C(tailscale_self).
  - An offline machine goes to C(<group><offline_suffix>) instead of its group, and to C(tailnet_offline); the
    machine that ran the command is also in C(tailnet_self). Untagged machines are left out.
  - The file's name must end in C(tailnet.yml) or C(tailnet.yaml).
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: Marks the file as this plugin's.
    required: true
    choices: [tailnet]
  tailnet_domain:
    description: The tailnet's MagicDNS suffix the controller must be logged in to, e.g. C(tailnet-example.ts.net).
    required: true
    type: str
  tag_groups:
    description: ACL tag to inventory group.
    type: dict
    default: {"tag:edge": edge, "tag:gpusrv": gpusrv}
  offline_suffix:
    description: What an offline machine's groups are suffixed with.
    type: str
    default: _offline
  tailscale_command:
    description: The Tailscale CLI and any global flags, e.g. C([tailscale, --socket=/run/tailscale/tailscaled.sock]).
    type: list
    elements: str
    default: [tailscale]
  timeout:
    description: Seconds C(tailscale status --json) may take.
    type: float
    default: 10
"""


class InventoryModule(BaseInventoryPlugin, Constructable):  # type: ignore[misc]  # ansible-core ships no type hints
    NAME = "tailnet"

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and path.endswith(("tailnet.yml", "tailnet.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            from hailo_pipeline.fleet.tailnet import TailnetError, parse_status, read_status
        except ImportError as exc:
            raise AnsibleParserError(
                f"{path}: the tailnet inventory needs the hailo-pipeline package in the Python that runs Ansible "
                f"({sys.executable}): scripts/bootstrap, or pip install 'hailo-pipeline[deploy]'"
            ) from exc
        try:
            document = read_status(self.get_option("tailscale_command"), self.get_option("timeout"))
            tailnet = parse_status(document, self.get_option("tailnet_domain"))
        except TailnetError as exc:
            raise AnsibleParserError(f"{path}: {exc}") from exc
        strict = self.get_option("strict")
        for name, (groups, host_vars) in tailnet.hosts(self.get_option("tag_groups"), self.get_option("offline_suffix")).items():
            self.inventory.add_host(name)
            for group in groups:
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            for key, value in host_vars.items():
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), host_vars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), host_vars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, name, strict=strict)
