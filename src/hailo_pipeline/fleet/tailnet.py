"""The fleet as the tailnet knows it: `tailscale status --json`, checked against the tailnet the inventory
expects, becomes Ansible hosts named by their MagicDNS short names and grouped by their ACL tags.

The document's shape is tailscale's ipnstate.Status: `BackendState`, `CurrentTailnet` (`Name`, `MagicDNSSuffix`,
`MagicDNSEnabled`), `Self` and the `Peer` map of PeerStatus (`DNSName`, `HostName`, `OS`, `TailscaleIPs`, `Tags`,
`Online`, `LastSeen`). Used by the inventory plugin (inventories/plugins/tailnet.py) and by the controller
preflight (`hailo-pipeline tailnet`, playbooks/preflight.yml).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hailo_pipeline.errors import PipelineError

DEFAULT_TAG_GROUPS = {"tag:edge": "edge", "tag:gpusrv": "gpusrv"}
OFFLINE_GROUP = "tailnet_offline"  # every offline peer, whatever its tags: the preflight reports them
SELF_GROUP = "tailnet_self"  # the machine that read the status: a Pi in pull mode limits itself to it
NEVER = "0001-01-01T00:00:00Z"  # Go's zero time: the tailnet holds no "last seen" for the peer

# what to do about each BackendState other than Running
BACKEND_STATES = {
    "NoState": "tailscaled has no state yet: start it (sudo systemctl start tailscaled) and log in (sudo tailscale up)",
    "NeedsLogin": "this machine is logged out of its tailnet: sudo tailscale up",
    "NeedsMachineAuth": "this machine waits for an admin of the tailnet to approve it (admin console, Machines)",
    "Stopped": "Tailscale is stopped on this machine: sudo tailscale up",
    "Starting": "Tailscale is still starting on this machine: wait a few seconds and run again",
}


class TailnetError(PipelineError):
    """The tailnet cannot be read, is not the one expected, or its status document is malformed."""


@dataclass(frozen=True)
class Node:
    """One machine of the tailnet, as an Ansible host."""

    name: str  # the MagicDNS short name: the inventory name
    dns_name: str  # the full MagicDNS name, without the trailing dot: ansible_host
    hostname: str
    os: str
    ips: tuple[str, ...]
    tags: tuple[str, ...]
    online: bool
    last_seen: str | None  # RFC 3339; None when the tailnet holds none (peers online now, this machine)
    is_self: bool = False

    def host_vars(self) -> dict[str, Any]:
        return {
            "ansible_host": self.dns_name,
            "tailscale_hostname": self.hostname,
            "tailscale_os": self.os,
            "tailscale_ips": list(self.ips),
            "tailscale_tags": list(self.tags),
            "tailscale_online": self.online,
            "tailscale_last_seen": self.last_seen,
            "tailscale_self": self.is_self,
        }

    def groups(self, tag_groups: Mapping[str, str], offline_suffix: str) -> list[str]:
        """The tags' groups; an offline node goes to `<group><offline_suffix>` instead, and to OFFLINE_GROUP."""
        mapped = sorted({tag_groups[tag] for tag in self.tags if tag in tag_groups})
        if not mapped:
            return []
        groups = mapped if self.online else [group + offline_suffix for group in mapped] + [OFFLINE_GROUP]
        return [*groups, SELF_GROUP] if self.is_self else groups


@dataclass(frozen=True)
class Tailnet:
    domain: str  # the MagicDNS suffix, e.g. tailnet-example.ts.net
    nodes: tuple[Node, ...]  # this machine first, then the peers by name

    def hosts(self, tag_groups: Mapping[str, str], offline_suffix: str) -> dict[str, tuple[list[str], dict[str, Any]]]:
        """{inventory name: (groups, host vars)} for every node a tag maps to a group; untagged nodes (laptops,
        phones) and nodes whose tags map to no group are left out."""
        hosts = {}
        for node in self.nodes:
            groups = node.groups(tag_groups, offline_suffix)
            if groups:
                hosts[node.name] = (groups, node.host_vars())
        return hosts

    def summary(self, tag_groups: Mapping[str, str], offline_suffix: str) -> dict[str, list[str]]:
        """{group: [host, ...]} of hosts()."""
        members: dict[str, list[str]] = {}
        for name, (groups, _) in self.hosts(tag_groups, offline_suffix).items():
            for group in groups:
                members.setdefault(group, []).append(name)
        return dict(sorted(members.items()))


def read_status(tailscale: Sequence[str], timeout: float) -> Any:
    """Runs `<tailscale> status --json` on this machine and returns the decoded document."""
    argv = [*tailscale, "status", "--json"]
    shown = " ".join(argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise TailnetError(
            f"{shown}: there is no {tailscale[0]} command on this machine; install Tailscale, or name the command "
            "(tailscale_command in the inventory file)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise TailnetError(f"{shown} did not answer in {timeout:g} s: is tailscaled running? sudo systemctl status tailscaled") from exc
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise TailnetError(f"{shown} failed (exit {done.returncode}): {said}; is tailscaled running? sudo systemctl status tailscaled")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise TailnetError(f"{shown} printed no JSON document ({exc}); is {tailscale[0]} Tailscale's own CLI?") from exc


_REQUIRED = object()


def _field(where: str, record: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
    """record[key], of `kind`; `default` when it is absent, a refusal when it is absent and has none."""
    if key not in record:
        if default is _REQUIRED:
            raise TailnetError(f"the status document is malformed: {where} has no {key}; is the CLI's output complete?")
        return default
    value = record[key]
    if not isinstance(value, kind):
        raise TailnetError(f"the status document is malformed: {where}.{key} is {value!r}, not {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", bool: "true or false", list: "a list", dict: "an object", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _strings(where: str, record: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _field(where, record, key, (list, type(None)), None) or ()  # absent, or Go's nil slice
    if not all(isinstance(value, str) for value in values):
        raise TailnetError(f"the status document is malformed: {where}.{key} is {values!r}, not a list of strings")
    return tuple(values)


def _node(where: str, record: Any, domain: str, is_self: bool) -> Node | None:
    """The node, or None when it lies outside the tailnet (a machine shared in from another tailnet)."""
    if not isinstance(record, dict):
        raise TailnetError(f"the status document is malformed: {where} is {record!r}, not an object")
    dns_name = _field(where, record, "DNSName", str).rstrip(".")
    if not dns_name.endswith("." + domain):
        return None
    last_seen = _field(where, record, "LastSeen", str, NEVER)
    return Node(
        name=dns_name.removesuffix("." + domain),
        dns_name=dns_name,
        hostname=_field(where, record, "HostName", str),
        os=_field(where, record, "OS", str, ""),
        ips=_strings(where, record, "TailscaleIPs"),
        tags=_strings(where, record, "Tags"),
        # this machine is reachable from itself whatever the coordination server last heard of it
        online=True if is_self else _field(where, record, "Online", bool),
        last_seen=None if is_self or last_seen == NEVER else last_seen,
        is_self=is_self,
    )


def parse_status(document: Any, expected_domain: str) -> Tailnet:
    """The tailnet in `document`, refused unless it is running and logged in to `expected_domain` with MagicDNS."""
    if not isinstance(document, dict):
        raise TailnetError(f"the status document is malformed: it is {type(document).__name__}, not an object")
    state = _field("the status", document, "BackendState", str)
    if state != "Running":
        advice = BACKEND_STATES.get(state, "see sudo tailscale status")
        raise TailnetError(f"Tailscale is not running here (BackendState {state}): {advice}")
    current = _field("the status", document, "CurrentTailnet", dict)
    domain = _field("CurrentTailnet", current, "MagicDNSSuffix", str)
    name = current.get("Name", domain)
    if domain != expected_domain:
        raise TailnetError(
            f"this machine is logged in to tailnet {name} (MagicDNS {domain}), but the inventory expects {expected_domain}: "
            f"switch with sudo tailscale switch <account>, or correct tailnet_domain"
        )
    if not _field("CurrentTailnet", current, "MagicDNSEnabled", bool):
        raise TailnetError(f"MagicDNS is off in tailnet {name}: the fleet is addressed by MagicDNS names; turn it on (admin console, DNS)")
    this = _node("Self", _field("the status", document, "Self", dict), domain, is_self=True)
    peers = _field("the status", document, "Peer", (dict, type(None)), None) or {}  # no peers: absent or null
    found = [node for key, record in peers.items() if (node := _node(f"Peer[{key}]", record, domain, is_self=False))]
    nodes = ([this] if this else []) + sorted(found, key=lambda node: node.name)
    names = [node.name for node in nodes]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise TailnetError(f"the status document is malformed: {', '.join(twice)} appear more than once")
    return Tailnet(domain=domain, nodes=tuple(nodes))
