"""The promises the repository layout makes to operators and CI."""

import configparser
import os
import re
import subprocess
from pathlib import Path


def test_ci_runs_exactly_the_readme_test_command(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert first_block, "README must open with a sh code block"
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["scripts/demo", "scripts/test"]
    ci = [line for line in (repo_root / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci == ['exec "$(dirname "$0")/../scripts/test"']


def test_host_key_checking_stays_on(repo_root: Path) -> None:
    cfg = configparser.ConfigParser()
    cfg.read(repo_root / "ansible.cfg")
    assert cfg.getboolean("defaults", "host_key_checking") is True
    assert "StrictHostKeyChecking=no" not in cfg.get("ssh_connection", "ssh_args")


def test_pinned_collections_are_the_installed_ones(repo_root: Path) -> None:
    result = subprocess.run(
        ["python", str(repo_root / "scripts/check_collections.py"), str(repo_root / "requirements.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def _ansible_host(repo_root: Path, inventory: str, host: str, **env: str) -> str:
    # The edge group's become password comes from the vault; any value lets the inventory template here.
    command = ["ansible", "-i", inventory, host, "-e", "vault_edge_become_password=unused"]
    out = subprocess.run(
        [*command, "-m", "ansible.builtin.debug", "-a", "var=ansible_host"],
        cwd=repo_root,
        env={k: v for k, v in os.environ.items() if k != "LOCAL_EDGE_NAME"} | env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"ansible_host: (\S+)", out)
    assert match, out
    return match.group(1)


def test_production_hosts_are_reached_by_magicdns_names(repo_root: Path) -> None:
    for host in ("gpusrv-01", "pi-edge-01", "pi-edge-03"):
        assert _ansible_host(repo_root, "inventories/production/hosts.yml", host) == f"{host}.tailnet-example.ts.net"


def test_inventories_define_the_two_groups(repo_root: Path) -> None:
    for inventory in ("inventories/production/hosts.yml", "inventories/local/hosts.yml"):
        graph = subprocess.run(
            ["ansible-inventory", "-i", inventory, "--graph"], cwd=repo_root, capture_output=True, text=True, check=True
        ).stdout
        assert "@gpusrv:" in graph
        assert "@edge:" in graph


def test_local_edge_is_the_container_local_edge_starts(repo_root: Path) -> None:
    assert _ansible_host(repo_root, "inventories/local/hosts.yml", "edge-local") == "hailo-fleet-edge-local"
    assert _ansible_host(repo_root, "inventories/local/hosts.yml", "edge-local", LOCAL_EDGE_NAME="pi-of-a-test") == "pi-of-a-test"
    assert "NAME=${LOCAL_EDGE_NAME:-hailo-fleet-edge-local}" in (repo_root / "scripts/local-edge").read_text()
