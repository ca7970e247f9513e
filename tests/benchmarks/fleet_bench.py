"""Rollout time and bytes per Pi against fleet size (issue #19), on this machine; run as `scripts/fleet-bench N`.

Stands up N simulated Pis: scripts/local-edge's Pi-like container (systemd, its own Docker engine, the EdgeInfer
stand-in) with sshd, each reached over SSH as a Pi is over Tailscale, with host keys checked. deploy.yml first
puts release A on image 1 on every Pi (set-up, not measured), then is measured twice:
- model_release: release B of the same model, same image;
- image_change: the same releases on image 2, a new tag shipped by the default `load` path (the gzip'd tarball).
Seconds are the playbook's wall time (preflight included, serial [1, "25%"], ansible.cfg's forks and SSH
settings). Bytes are measured, not estimated: each Pi container's eth0 receive counter (all that came over its
link, SSH's framing included), averaged over the Pis. CPU seconds say where the time went on this machine, where
the Pis share the controller's cores: the whole machine's busy time (/proc/stat) and, of it, the controller's
(ansible-playbook and the processes it waited for, SSH included); the rest is the Pis' (their systemd, engine,
sidecar and Ansible's modules). Prints one JSON line, then removes what it started.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.benchmarks.benchlib import REPO, example_release

BASE_IMAGE = "hailo-fleet/debian-systemd:bookworm-amd64"
PI_IMAGE = "hailo-fleet/fleet-bench-pi:bookworm-amd64"  # the base with sshd, built once
PI_DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update && apt-get install --yes --no-install-recommends openssh-server && rm -rf /var/lib/apt/lists/*
RUN systemctl enable ssh
"""
NAME = "fleet-bench-pi-{:02d}"
SECOND_TAG = "fleet-bench-image-change"
PARALLEL_SETUP = 4  # Pis booted at once


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def run(*argv: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({done.returncode}): {done.stderr.decode().strip()[-2000:]}")
    return str(done.stdout.decode())


def pi_image() -> None:
    if subprocess.run(["docker", "image", "inspect", PI_IMAGE], capture_output=True, check=False).returncode == 0:
        return
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, check=False).returncode != 0:
        raise SystemExit(f"image {BASE_IMAGE} missing: run scripts/bootstrap")
    log(f"building {PI_IMAGE} ({BASE_IMAGE} with openssh-server)")
    run("docker", "build", "--quiet", "--tag", PI_IMAGE, "-", stdin=PI_DOCKERFILE.encode())


def busy_seconds() -> float:
    """CPU seconds this machine has spent busy since boot, all cores: /proc/stat's user, nice, system, irq, softirq."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def saved_image(image: str, path: Path) -> Path:
    """docker save IMAGE | gzip, as the README ships it."""
    with path.open("wb") as out:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        subprocess.run(["gzip"], stdin=save.stdout, stdout=out, check=True)
        if save.wait() != 0:
            raise SystemExit(f"docker save {image} failed")
    return path


class Fleet:
    def __init__(self, size: int, work: Path) -> None:
        self.names = [NAME.format(i + 1) for i in range(size)]
        self.work = work
        self.key = work / "id_ed25519"
        self.known_hosts = work / "known_hosts"
        self.inventory = work / "inventory"

    def _local_edge(self, name: str, action: str) -> None:
        env = {**os.environ, "LOCAL_EDGE_NAME": name, "LOCAL_EDGE_IMAGE": PI_IMAGE}
        run(str(REPO / "scripts/local-edge"), action, env=env)

    def _ready(self, name: str) -> str:
        """Boots one Pi with the EdgeInfer stand-in, lets our key in; returns its address."""
        self._local_edge(name, "up")
        run(
            "docker",
            "exec",
            "-i",
            name,
            "sh",
            "-c",
            "mkdir -p -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys",
            stdin=self.key.with_suffix(".pub").read_bytes(),
        )
        run("docker", "exec", name, "systemctl", "start", "ssh")
        return run("docker", "inspect", "--format", "{{.NetworkSettings.IPAddress}}", name).strip()

    def up(self) -> None:
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        with concurrent.futures.ThreadPoolExecutor(PARALLEL_SETUP) as pool:
            addresses = dict(zip(self.names, pool.map(self._ready, self.names), strict=True))
        self.known_hosts.write_text("".join(run("ssh-keyscan", "-t", "ed25519", ip) for ip in addresses.values()))
        group_vars = self.inventory / "group_vars" / "edge"
        group_vars.mkdir(parents=True)
        for name in ("deploy.yml", "hailort.yml"):  # the local Pi's: no accelerator, the stand-in EdgeInfer
            shutil.copy(REPO / "inventories/local/group_vars/edge" / name, group_vars / name)
        ssh = {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts}",
        }
        (group_vars / "ssh.yml").write_text(yaml.safe_dump(ssh))
        hosts = {name: {"ansible_host": ip} for name, ip in addresses.items()}
        (self.inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"edge": {"hosts": hosts}}}}))

    def received(self) -> dict[str, int]:
        return {name: int(run("docker", "exec", name, "cat", "/sys/class/net/eth0/statistics/rx_bytes")) for name in self.names}

    def down(self) -> None:
        for name in self.names:
            self._local_edge(name, "down")

    def deploy(self, extra_vars: dict[str, object]) -> dict[str, object]:
        """deploy.yml on the whole fleet: its seconds, the mean bytes each Pi received and the CPU seconds spent."""
        before, machine = self.received(), busy_seconds()
        controller = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [str(REPO / ".venv/bin/ansible-playbook"), "-i", str(self.inventory / "hosts.yml"), "deploy.yml", "-e", json.dumps(extra_vars)],
            cwd=REPO,
            # JSON on stdout, and ansible.cfg's profile_tasks (which writes there too) replaced by junit's files
            env={
                **os.environ,
                "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit",
                "JUNIT_OUTPUT_DIR": str(self.work / "junit"),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        controller_cpu = children.ru_utime + children.ru_stime - controller.ru_utime - controller.ru_stime
        machine = busy_seconds() - machine
        after = self.received()
        try:
            stats = json.loads(done.stdout)["stats"]
        except (json.JSONDecodeError, KeyError):
            raise SystemExit(f"deploy.yml gave no result ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}") from None
        failed = {h: s for h, s in stats.items() if s["failures"] or s["unreachable"]}
        if done.returncode != 0 or failed or set(self.names) - set(stats):
            raise SystemExit(f"deploy.yml failed ({done.returncode}) on {failed or 'some host'}: {done.stdout[-3000:]}")
        return {
            "seconds": round(seconds, 1),
            "bytes_per_host": round(sum(after[n] - before[n] for n in self.names) / len(self.names)),
            "cpu_seconds": {"machine": round(machine, 1), "controller": round(controller_cpu, 1)},
        }


@contextmanager
def fleet(size: int, work: Path) -> Iterator[Fleet]:
    pis = Fleet(size, work)
    try:
        pis.up()
        yield pis
    finally:
        log(f"removing the {size} simulated Pis")
        pis.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hosts", type=int, help="simulated Pis")
    args = parser.parse_args()
    if args.hosts < 1:
        raise SystemExit("fleet-bench needs at least 1 host")
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        log("releases A and B of the example TCN, the sidecar image under two tags, the Pi image")
        release_a, release_b = example_release(work / "models", "1.0.0"), example_release(work / "models", "1.0.1")
        image = run(str(REPO / "scripts/build-sidecar-image")).strip().splitlines()[-1]
        second = f"{image.rpartition(':')[0]}:{SECOND_TAG}"
        run("docker", "tag", image, second)
        images = work / "images"
        images.mkdir()
        try:
            tarballs = {tag: saved_image(tag, images / f"{i}.tar.gz") for i, tag in enumerate((image, second))}
            pi_image()
            common = {"hailo_sidecar_releases_dir": str(release_a.parent), "hailo_sidecar_image_source": "load"}

            def on(release: Path, tag: str) -> dict[str, object]:
                return common | {
                    "hailo_sidecar_models": [{"release": release.name}],
                    "hailo_sidecar_image": tag,
                    "hailo_sidecar_image_tarball": str(tarballs[tag]),
                }

            log(f"{args.hosts} simulated Pis")
            with fleet(args.hosts, work) as pis:
                log("set-up: release A on the first image everywhere")
                pis.deploy(on(release_a, image))
                log("measured: a model-only release (B)")
                model_release = pis.deploy(on(release_b, image))
                log("measured: an image change (B on the second tag)")
                image_change = pis.deploy(on(release_b, second))
        finally:
            subprocess.run(["docker", "rmi", second], capture_output=True, check=False)
    print(json.dumps({"hosts": args.hosts, "model_release": model_release, "image_change": image_change}))


if __name__ == "__main__":
    main()
