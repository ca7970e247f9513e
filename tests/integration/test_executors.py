"""deploy.yml run the two other ways a fleet runs it, each against a simulated Pi (scripts/local-edge):

- by AWX's executor, ansible-runner, with this repository as the project and inventories/local as the inventory,
  the survey's variables as extra vars: on this machine's Python, and in the execution environment AWX would run
  it in (scripts/build-execution-environment);
- in pull mode, by ansible-pull on the Pi itself, from a git checkout of this repository, with the toolchain a Pi
  installs offline from `scripts/wheelhouse deploy`.

Each deploys a release for real (EdgeInfer's stand-in then answers from the sidecar, not a stub), and a second run
changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ansible_runner
import pytest

from tests.conftest import REPO_ROOT, SAMPLES, locked_version
from tests.integration.conftest import built_sidecar_image, local_edge

pytestmark = [pytest.mark.docker]

PI_HOSTNAME = "edge-local"  # scripts/local-edge's --hostname, and the Pi's name in inventories/local
PI_VENV = "/opt/hailo-fleet"  # where the Pi's deploy toolchain goes in pull mode
PI_DATA = "/var/lib/hailo-fleet"  # what the Pi was handed: the release bundle and the image tarball


def _docker(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], input=stdin, capture_output=True)


def _on_pi(pi: str, script: str) -> str:
    done = _docker("exec", pi, "bash", "-ec", script)
    output = (done.stdout + done.stderr).decode()
    lines = output.splitlines()  # a failed task's message follows its "fatal:" line; the tail may not reach it
    failed_at = [at for at, line in enumerate(lines) if line.startswith(("fatal:", "failed:", "ERROR!"))]
    failures = "\n".join("\n".join(lines[at : at + 12]) for at in failed_at)
    assert done.returncode == 0, f"{failures}\n...\n{output[-3000:]}"
    return done.stdout.decode()


@pytest.fixture(scope="module")
def image_tarball(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A sidecar image and its gzip'd tarball, as role hailo_sidecar's load path ships it."""
    for tag in built_sidecar_image():
        tarball = tmp_path_factory.mktemp("image") / "hailo-sidecar.tar.gz"
        saved = subprocess.run(f"docker save {tag} | gzip --fast > {tarball}", shell=True, capture_output=True, text=True)
        assert saved.returncode == 0, saved.stderr
        yield tag, tarball


@pytest.fixture
def pi() -> Iterator[str]:
    name = f"local-edge-test-{uuid.uuid4().hex[:8]}"
    local_edge(name, "up")
    yield name
    local_edge(name, "down")


def _answers_for_real(pi: str) -> bool:
    """Whether EdgeInfer's stand-in on the Pi answers /analyze from the sidecar (not a stub)."""
    sample = (SAMPLES / "realistic_imu_sample.json").read_bytes()
    done = _docker(
        "exec", "-i", pi, "curl", "-sS", "-m", "10", "-X", "POST", "-H", "Content-Type: application/json",
        "--data-binary", "@-", "http://127.0.0.1:8080/analyze", stdin=sample,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return bool(json.loads(done.stdout)["real"])


def _run_as_awx_twice(pi: str, bundle: Path, image: str, tarball: Path, **runner: Any) -> list[str]:
    """deploy.yml through ansible_runner.run, with AWX's survey answers as extra vars: the first run deploys, so
    that EdgeInfer answers for real, and a second changes nothing. Returns the command ansible-runner ran."""
    survey = {"hailo_sidecar_release": bundle.name, "edge_serial": 1}
    where = {"hailo_sidecar_releases_dir": str(bundle.parent), "hailo_sidecar_image": image, "hailo_sidecar_image_tarball": str(tarball)}

    def run() -> ansible_runner.Runner:
        done = ansible_runner.run(
            playbook="deploy.yml", extravars=survey | where, envvars={"LOCAL_EDGE_NAME": pi}, quiet=True, timeout=900, **runner
        )
        assert done.status == "successful", done.stdout.read()[-4000:]
        return done

    first = run()
    assert first.stats["ok"].get(PI_HOSTNAME), first.stats
    assert first.stats["changed"].get(PI_HOSTNAME), "the first run deploys"
    assert _answers_for_real(pi)
    again = run()
    assert sum(again.stats["changed"].values()) == 0, again.stats
    return list(first.config.command)


def test_ansible_runner_deploys_from_the_repository_as_awx_does(
    pi: str, bundle: Path, image_tarball: tuple[str, Path], tmp_path: Path
) -> None:
    image, tarball = image_tarball
    (tmp_path / "runner").mkdir()
    _run_as_awx_twice(
        pi, bundle, image, tarball,
        private_data_dir=str(tmp_path / "runner"), project_dir=str(REPO_ROOT), inventory=str(REPO_ROOT / "inventories/local/hosts.yml"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def execution_environment() -> Iterator[str]:
    tag = f"hailo-fleet-ee:test-{uuid.uuid4().hex[:8]}"
    built = subprocess.run([str(REPO_ROOT / "scripts/build-execution-environment"), tag], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    yield tag
    subprocess.run(["docker", "rmi", "--no-prune", tag], capture_output=True)


def test_the_execution_environment_carries_the_locked_deploy_toolchain(execution_environment: str) -> None:
    # The collections requirements.yml pins are checked in the image itself (scripts/check_collections.py).
    mounts = [f"-v{REPO_ROOT / name}:/tmp/check/{Path(name).name}:ro" for name in ("requirements.yml", "scripts/check_collections.py")]
    report = "; ".join(
        ("ansible-playbook --version", "ansible-runner --version", "hailo-pipeline --help >/dev/null", "ssh -V",
         "python3 /tmp/check/check_collections.py /tmp/check/requirements.yml")
    )  # fmt: skip
    done = _docker("run", "--rm", *mounts, execution_environment, "bash", "-ec", report)
    output = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, output
    assert f"[core {locked_version('ansible-core')}]" in output, output
    assert locked_version("ansible-runner") in output.split(), output
    assert "OpenSSH" in output, output


def test_ansible_runner_deploys_in_the_execution_environment(
    pi: str, bundle: Path, image_tarball: tuple[str, Path], execution_environment: str, tmp_path: Path
) -> None:
    image, tarball = image_tarball
    # As AWX lays out a job: the project (here a snapshot of this working tree) and the inventory in the job's
    # private data dir, which ansible-runner mounts at /runner. The artifacts the job reads are exposed to the
    # EE at their own paths, as AWX's "Paths to expose to isolated jobs" does.
    private = tmp_path / "runner"
    (private / "project").mkdir(parents=True)
    archive = subprocess.run(["git", "archive", _working_tree_snapshot()], cwd=REPO_ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(private / "project")], input=archive.stdout, check=True)
    shutil.copytree(REPO_ROOT / "inventories/local", private / "inventory")
    # The EE has no docker CLI (a production inventory reaches the Pis over SSH): the simulated Pi is reached
    # through the Docker API, the engine's socket handed to the EE.
    (private / "inventory/host_vars").mkdir()
    (private / "inventory/host_vars" / f"{PI_HOSTNAME}.yml").write_text("ansible_connection: community.docker.docker_api\n")
    socket = "/var/run/docker.sock"
    command = _run_as_awx_twice(
        pi, bundle, image, tarball,
        private_data_dir=str(private),
        process_isolation=True, process_isolation_executable="docker", container_image=execution_environment,
        container_volume_mounts=[f"{socket}:{socket}", f"{bundle.parent}:{bundle.parent}", f"{tarball.parent}:{tarball.parent}:ro"],
        container_options=["--group-add", str(os.stat(socket).st_gid)],
    )  # fmt: skip
    assert command[:2] == ["docker", "run"], command
    assert execution_environment in command, command


def _working_tree_snapshot() -> str:
    """A commit holding this working tree's tracked files as they are now (HEAD when nothing is changed)."""
    snapshot = subprocess.run(["git", "stash", "create"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return snapshot or "HEAD"


def _checkout_of_the_working_tree(tmp_path: Path) -> Path:
    """A bare git repository holding one commit: this working tree's tracked files as they are now."""
    bare = tmp_path / "hailo-fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    pushed = subprocess.run(
        ["git", "push", "-q", str(bare), f"{_working_tree_snapshot()}:refs/heads/main"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert pushed.returncode == 0, pushed.stderr
    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], cwd=bare, check=True)
    return bare


def _recap(output: str) -> dict[str, int]:
    """The PLAY RECAP counters of the Pi's own line in a playbook's output."""
    line = re.search(rf"^{PI_HOSTNAME}\s+:(.*)$", output, re.M)
    assert line, output[-4000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def test_ansible_pull_on_the_pi_deploys_from_a_checkout(pi: str, bundle: Path, image_tarball: tuple[str, Path], tmp_path: Path) -> None:
    image, tarball = image_tarball
    # What the Pi is given: git, the deploy toolchain from a wheelhouse (no index needed), the repository, the
    # bundle and the image tarball. A real Pi fetches these itself; here they come from the controller (into
    # /var/tmp: docker cp cannot write into the Pi's tmpfs /tmp).
    wheels = subprocess.run([str(REPO_ROOT / "scripts/wheelhouse"), "deploy"], capture_output=True, text=True)
    assert wheels.returncode == 0, wheels.stderr
    own = subprocess.run([str(REPO_ROOT / "scripts/package-wheel"), str(tmp_path / "own")], capture_output=True, text=True)
    assert own.returncode == 0, own.stderr
    _on_pi(pi, f"mkdir -p /var/tmp/wheels {PI_DATA}/releases")
    for source, target in (
        (wheels.stdout.strip() + "/.", "/var/tmp/wheels"),
        (own.stdout.strip(), "/var/tmp/wheels/"),
        (str(_checkout_of_the_working_tree(tmp_path)), "/srv/hailo-fleet.git"),
        (str(bundle), f"{PI_DATA}/releases/{bundle.name}"),
        (str(tarball), f"{PI_DATA}/hailo-sidecar.tar.gz"),
    ):
        assert _docker("cp", source, f"{pi}:{target}").returncode == 0, source
    _on_pi(
        pi,
        f"""chown -R root:root /srv/hailo-fleet.git {PI_DATA}
        apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git >/dev/null
        python3 -m venv {PI_VENV}
        {PI_VENV}/bin/pip install -q --no-index --find-links /var/tmp/wheels 'hailo-pipeline[deploy]'""",
    )

    pull = f"""PATH={PI_VENV}/bin:$PATH ansible-pull -U file:///srv/hailo-fleet.git -d {PI_DATA}/checkout \\
        -i inventories/local/hosts.yml -l "$(hostname)" -e ansible_connection=local \\
        -e hailo_sidecar_release={bundle.name} -e hailo_sidecar_releases_dir={PI_DATA}/releases \\
        -e hailo_sidecar_image={image} -e hailo_sidecar_image_tarball={PI_DATA}/hailo-sidecar.tar.gz deploy.yml"""
    first = _recap(_on_pi(pi, pull))  # _on_pi asserts ansible-pull's exit status 0: no host failed
    assert first["changed"] > 0, first
    assert _answers_for_real(pi)
    again = _recap(_on_pi(pi, pull))
    assert again["changed"] == 0, again
