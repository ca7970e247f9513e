"""The fleet's inventory from the tailnet: recorded `tailscale status --json` documents (tests/fixtures/tailscale,
ipnstate.Status's published shape), printed by a double of the `tailscale` command (tests/support/doubles/tailscale), read
by hailo_pipeline.fleet.tailnet, by the inventory plugin (inventories/plugins/tailnet.py) under ansible-inventory,
ansible-playbook and ansible-runner, and by the controller preflight (playbooks/preflight.yml)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

from hailo_pipeline.fleet.tailnet import DEFAULT_TAG_GROUPS, TailnetError, parse_status, read_status
from tests.conftest import REPO_ROOT

RECORDED = REPO_ROOT / "tests/fixtures/tailscale"
DOMAIN = "tailnet-example.ts.net"
TAILNET = "inventories/production/tailnet.yml"
BIN = Path(sys.executable).parent


def recorded(name: str = "status-gpusrv.json") -> dict[str, Any]:
    return json.loads((RECORDED / name).read_text())


def peer(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in document["Peer"].values() if p["DNSName"].startswith(name + "."))


def tailscale_env(status: Path, **extra: str) -> dict[str, str]:
    """The environment of a controller whose `tailscale status --json` prints `status`."""
    return {
        **os.environ,
        "PATH": f"{REPO_ROOT / 'tests/support/doubles'}:{BIN}:{os.environ['PATH']}",
        "TAILSCALE_DOUBLE_STATUS": str(status),
        **extra,
    }


def ansible(tool: str, *args: str, status: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / tool), *args], cwd=REPO_ROOT, env=tailscale_env(status, **extra), capture_output=True, text=True, check=False
    )


def written(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "status.json"
    path.write_text(json.dumps(document))
    return path


def test_tagged_machines_become_groups_offline_ones_their_own_and_untagged_ones_are_left_out() -> None:
    tailnet = parse_status(recorded(), DOMAIN)
    assert tailnet.summary(DEFAULT_TAG_GROUPS, "_offline") == {
        "edge": ["pi-edge-01", "pi-edge-02", "pi-edge-04"],
        "edge_offline": ["pi-edge-03"],
        "gpusrv": ["gpusrv-01"],
        "tailnet_offline": ["pi-edge-03"],
        "tailnet_self": ["gpusrv-01"],
    }  # not alice-laptop or alice-phone (untagged), ci-runner (tag:ci maps to no group), nas (shared in from another tailnet)
    assert [node.name for node in tailnet.nodes][:1] == ["gpusrv-01"]  # this machine first


def test_host_vars_name_the_machine_by_magicdns_and_carry_what_the_tailnet_knows() -> None:
    hosts = parse_status(recorded(), DOMAIN).hosts(DEFAULT_TAG_GROUPS, "_offline")
    assert hosts["pi-edge-03"][1] == {
        "ansible_host": "pi-edge-03.tailnet-example.ts.net",
        "tailscale_hostname": "pi-edge-03",
        "tailscale_os": "linux",
        "tailscale_ips": ["100.101.0.13", "fd7a:115c:a1e0::d"],
        "tailscale_tags": ["tag:edge"],
        "tailscale_online": False,
        "tailscale_last_seen": "2026-12-05T21:14:09Z",
        "tailscale_self": False,
    }
    assert hosts["pi-edge-04"][1]["tailscale_last_seen"] is None  # online: Go's zero time, no "last seen"
    assert hosts["gpusrv-01"][1]["tailscale_self"] is True


def test_the_tag_mapping_and_offline_suffix_are_the_operators() -> None:
    summary = parse_status(recorded(), DOMAIN).summary({"tag:edge": "pis", "tag:ci": "runners"}, "_down")
    assert summary == {"pis": ["pi-edge-01", "pi-edge-02", "pi-edge-04"], "pis_down": ["pi-edge-03"], "runners": ["ci-runner"],
                       "tailnet_offline": ["pi-edge-03"]}  # fmt: skip


def test_a_tailnet_without_peers_is_this_machine_alone() -> None:
    document = recorded() | {"Peer": None}
    assert [node.name for node in parse_status(document, DOMAIN).nodes] == ["gpusrv-01"]


def _mutated(change: str) -> Any:
    document = recorded()
    pi = peer(document, "pi-edge-01")
    if change == "online not a boolean":
        pi["Online"] = "yes"
    elif change == "tags not a list of strings":
        pi["Tags"] = "tag:edge"
    elif change == "no DNSName":
        del pi["DNSName"]
    elif change == "Peer not a map":
        document["Peer"] = list(document["Peer"].values())
    elif change == "no Self":
        del document["Self"]
    elif change == "a list":
        return [document]
    elif change == "twice":
        twin = copy.deepcopy(pi) | {"PublicKey": "nodekey:" + "f" * 64}
        document["Peer"][twin["PublicKey"]] = twin
    return document


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("online not a boolean", r"Peer\[nodekey:[0-9a-f]{64}\]\.Online is 'yes', not true or false"),
        ("tags not a list of strings", r"Peer\[nodekey:[0-9a-f]{64}\]\.Tags is 'tag:edge', not a list or null"),
        ("no DNSName", r"Peer\[nodekey:[0-9a-f]{64}\] has no DNSName"),
        ("Peer not a map", r"the status\.Peer is \[.*\], not an object or null"),
        ("no Self", r"the status has no Self"),
        ("a list", r"it is list, not an object"),
        ("twice", r"pi-edge-01 appear more than once"),
    ],
)
def test_a_malformed_document_is_refused_with_the_reason(change: str, reason: str) -> None:
    with pytest.raises(TailnetError, match=r"^the status document is malformed: .*" + reason):
        parse_status(_mutated(change), DOMAIN)


def test_a_controller_logged_out_is_told_to_log_in() -> None:
    with pytest.raises(TailnetError, match=r"not running here \(BackendState NeedsLogin\): .*sudo tailscale up"):
        parse_status(recorded("status-logged-out.json"), DOMAIN)


def test_another_tailnet_is_refused_with_both_names() -> None:
    expected = r"logged in to tailnet fleet-ops@example.com \(MagicDNS tailnet-example.ts.net\), but the inventory expects fleet-b.ts.net"
    with pytest.raises(TailnetError, match=expected):
        parse_status(recorded(), "fleet-b.ts.net")


def test_magicdns_off_is_refused() -> None:
    document = recorded()
    document["CurrentTailnet"]["MagicDNSEnabled"] = False
    with pytest.raises(TailnetError, match=re.escape("MagicDNS is off in tailnet fleet-ops@example.com")):
        parse_status(document, DOMAIN)


def test_the_cli_is_run_and_each_way_it_fails_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{REPO_ROOT / 'tests/support/doubles'}:{os.environ['PATH']}")
    monkeypatch.setenv("TAILSCALE_DOUBLE_STATUS", str(RECORDED / "status-gpusrv.json"))
    assert read_status(["tailscale", "--socket=/run/tailscale/tailscaled.sock"], 10) == recorded()
    with pytest.raises(TailnetError, match="there is no tailscale-nowhere command on this machine; install Tailscale"):
        read_status(["tailscale-nowhere"], 10)
    down = "failed to connect to local tailscaled; it doesn't appear to be running (sudo systemctl start tailscaled ?)"
    monkeypatch.setenv("TAILSCALE_DOUBLE_FAIL", down)
    with pytest.raises(TailnetError, match=re.escape(f"tailscale status --json failed (exit 1): {down}")):
        read_status(["tailscale"], 10)
    monkeypatch.delenv("TAILSCALE_DOUBLE_FAIL")
    (tmp_path / "text").write_text("Health check:\n    - not logged in\n")
    monkeypatch.setenv("TAILSCALE_DOUBLE_STATUS", str(tmp_path / "text"))
    with pytest.raises(TailnetError, match=r"printed no JSON document"):
        read_status(["tailscale"], 10)
    (tmp_path / "slow").write_text("#!/bin/sh\nexec sleep 5\n")
    (tmp_path / "slow").chmod(0o755)
    with pytest.raises(TailnetError, match=r"did not answer in 0\.3 s"):
        read_status([str(tmp_path / "slow")], 0.3)


def test_ansible_inventory_graph_is_the_one_the_docs_show() -> None:
    graph = ansible("ansible-inventory", "-i", TAILNET, "--graph", status=RECORDED / "status-gpusrv.json")
    assert graph.returncode == 0, graph.stderr
    page = (REPO_ROOT / "docs" / "deploy" / "tailnet.md").read_text()
    shown = re.search(r"```text\n(@all:\n.*?)```", page, re.S)
    assert shown, "docs/deploy/tailnet.md shows the tailnet inventory's graph in a ```text block"
    assert shown.group(1) == graph.stdout


def test_the_production_tailnet_file_expects_the_tailnet_the_group_vars_name() -> None:
    group_vars = yaml.safe_load((REPO_ROOT / "inventories/production/group_vars/all/ansible.yml").read_text())
    assert yaml.safe_load((REPO_ROOT / TAILNET).read_text())["tailnet_domain"] == group_vars["tailnet_domain"]


def test_a_tailnet_that_cannot_be_read_stops_the_run_with_the_reason(tmp_path: Path) -> None:
    bad = written(tmp_path, _mutated("online not a boolean"))
    for run in (ansible("ansible-inventory", "-i", TAILNET, "--graph", status=bad),
                ansible("ansible-playbook", "-i", TAILNET, "-i", "inventories/production/hosts.yml", "playbooks/deploy.yml",
                        "--list-hosts", status=bad)):  # fmt: skip
        assert run.returncode != 0, run.stdout  # not a rollout to the static file's hosts only
        assert "Online is 'yes', not true or false" in run.stderr


def _play_hosts(listing: str) -> dict[str, list[str]]:
    """ansible-playbook --list-hosts's output: {play name: [host, ...]}."""
    plays: dict[str, list[str]] = {}
    for line in listing.splitlines():
        if match := re.match(r"\s+play #\d+ \([^)]*\): (.+?)\tTAGS", line):
            current = plays.setdefault(match.group(1), [])
        elif re.match(r"\s{6}\S", line) and plays:
            current.append(line.strip())
    return {play: sorted(hosts) for play, hosts in plays.items()}


def test_deploy_and_rollback_reach_the_online_pis_and_leave_the_offline_one_out_even_where_a_static_file_lists_it() -> None:
    for playbook, play in (("deploy.yml", "Deploy | edge hosts, canary first"), ("rollback.yml", "Rollback | edge hosts, canary first")):
        for inventories in ([TAILNET], [TAILNET, "inventories/production/hosts.yml"]):  # hosts.yml lists pi-edge-01..03
            listed = ansible("ansible-playbook", *(f"-i{i}" for i in inventories), f"playbooks/{playbook}", "--list-hosts",
                             status=RECORDED / "status-gpusrv.json")  # fmt: skip
            assert listed.returncode == 0, listed.stderr
            assert _play_hosts(listed.stdout)[play] == ["pi-edge-01", "pi-edge-02", "pi-edge-04"]


def test_a_static_file_and_the_tailnet_combine() -> None:
    graph = ansible("ansible-inventory", "-i", TAILNET, "-i", "inventories/production/hosts.yml", "--graph", "edge",
                    status=RECORDED / "status-gpusrv.json")  # fmt: skip
    assert graph.returncode == 0, graph.stderr
    assert re.findall(r"--(\S+)", graph.stdout) == ["pi-edge-01", "pi-edge-02", "pi-edge-04", "pi-edge-03"]


def test_the_preflight_checks_the_tailnet_and_reports_the_offline_pi(tmp_path: Path) -> None:
    ran = ansible("ansible-playbook", "-i", TAILNET, "playbooks/preflight.yml", status=RECORDED / "status-gpusrv.json")
    assert ran.returncode == 0, ran.stdout[-3000:]
    assert "on tailnet tailnet-example.ts.net as gpusrv-01: 6 machines online, 2 offline" in ran.stdout
    assert re.search(
        r"pi-edge-03 \(tag:edge\) is offline on the tailnet, last seen 2026-12-05T21:14:09Z:\s+left out of this run", ran.stdout
    )
    # the static inventory addresses the same fleet over the tailnet: the same check, the controller logged out
    ran = ansible("ansible-playbook", "-i", "inventories/production/hosts.yml", "playbooks/preflight.yml",
                  status=RECORDED / "status-logged-out.json")  # fmt: skip
    assert ran.returncode != 0
    assert (
        "Tailscale is not running here (BackendState NeedsLogin): this machine is logged out of its tailnet: sudo tailscale up"
        in ran.stdout
    )


def test_the_preflight_refuses_unchecked_host_keys() -> None:
    ran = ansible("ansible-playbook", "-i", "inventories/production/hosts.yml", "playbooks/preflight.yml",
                  status=RECORDED / "status-gpusrv.json", ANSIBLE_HOST_KEY_CHECKING="False")  # fmt: skip
    assert ran.returncode != 0
    assert "SSH host key checking is off" in ran.stdout


def test_in_pull_mode_a_pi_limits_itself_to_its_own_name() -> None:
    listed = ansible("ansible-playbook", "-i", TAILNET, "-l", "tailnet_self", "playbooks/deploy.yml", "--list-hosts",
                     status=RECORDED / "status-pi-edge-02.json")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert _play_hosts(listed.stdout) == {"Preflight | controller": [], "Deploy | edge hosts, canary first": ["pi-edge-02"]}


def test_awx_syncs_the_inventory_source_from_the_project(tmp_path: Path) -> None:
    """As AWX's inventory update runs it: ansible-inventory through ansible-runner, in the project's folder."""
    out, err, rc = ansible_runner.run_command(
        executable_cmd=str(BIN / "ansible-inventory"),
        cmdline_args=["--list", "--export", "-i", str(REPO_ROOT / TAILNET), "--playbook-dir", str(REPO_ROOT)],
        host_cwd=str(REPO_ROOT),
        private_data_dir=str(tmp_path),
        envvars={k: v for k, v in tailscale_env(RECORDED / "status-gpusrv.json").items() if k in ("PATH", "TAILSCALE_DOUBLE_STATUS")},
        runner_mode="subprocess",
        quiet=True,
    )
    assert rc == 0, out + err
    listed = json.loads(out)
    assert listed["edge"]["hosts"] == ["pi-edge-01", "pi-edge-02", "pi-edge-04"]
    assert listed["edge_offline"]["hosts"] == ["pi-edge-03"]
    # --export marks what the plugin read from the tailnet as untrusted text (never templated), as AWX stores it
    assert listed["_meta"]["hostvars"]["pi-edge-01"]["ansible_host"] == {"__ansible_unsafe": "pi-edge-01.tailnet-example.ts.net"}
