"""The monitoring playbook run for real, twice (the second must change nothing), and its output checked by promtool:
an ansible-playbook run end to end, kept out of the unit loop (tests/unit/test_monitoring.py holds the rules' tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.support.promtool import promtool

pytestmark = [pytest.mark.slow]


def test_the_monitoring_playbook_writes_a_config_prometheus_accepts_with_the_fleet_by_tailscale_name(tmp_path: Path) -> None:
    out = tmp_path / "prometheus"
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/production/hosts.yml", "playbooks/monitoring.yml",
            "-e", f"monitoring_dir={out}"]  # fmt: skip
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    runs = [subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, env=env, check=False) for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stdout[-2000:]
    second, _ = json.JSONDecoder().raw_decode(runs[1].stdout[runs[1].stdout.index("\n{") + 1 :])  # amid profile_tasks' lines
    assert second["stats"]["localhost"]["changed"] == 0
    targets = {f.stem: yaml.safe_load(f.read_text()) for f in (out / "targets").iterdir()}
    pis = ["pi-edge-01", "pi-edge-02", "pi-edge-03"]
    assert targets == {
        "hailo-sidecar": [{"targets": [f"{pi}.tailnet-example.ts.net:9101" for pi in pis]}],
        "edgeinfer": [{"targets": [f"{pi}.tailnet-example.ts.net:8080" for pi in pis]}],
    }
    checked = promtool("check", "config", "prometheus.yml", cwd=out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shipped = sum(len(group["rules"]) for group in yaml.safe_load((REPO_ROOT / "files/monitoring/alerts.yml").read_text())["groups"])
    assert f"SUCCESS: {shipped} rules found" in checked.stdout  # every shipped rule, the input alerts (#40) among them
