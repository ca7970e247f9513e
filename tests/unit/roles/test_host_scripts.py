"""The programs roles run on a Pi in place of a module per question: hailo_sidecar's host_state.py,
releases.sh, and hailort's probe (an executable local fact). Each runs here as it
runs there, with doubles of docker and hailortcli on PATH."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import jinja2
import pytest

from hailo_pipeline.build.signature import SigningKey
from tests.conftest import REPO_ROOT
from tests.support.signers import Signer, allowed_signers, fingerprint, make_signer

FILES = REPO_ROOT / "roles/hailo_sidecar/files"
RELEASE = "tcn-encoder-1.0.1-da8b00e926a3"

# docker as the host sees it: one container (hailo-inference, on image hailo-sidecar:1) and that image
DOCKER_DOUBLE = """#!/bin/sh
case "$1 $2 $5" in
  "container inspect hailo-inference") echo '"hailo-sidecar:1"' ;;
  "image inspect hailo-sidecar:1") echo '{"labels": {"org.hailo-fleet.hailort": "4.23.0"}, "architecture": "arm64"}' ;;
  "image inspect unlabelled:1") echo '{"labels": null, "architecture": "amd64"}' ;;
  "container inspect hailo-metrics") echo '{"image": "hailo-sidecar:1", "ports": {"9101/tcp": [{"HostIp": "", "HostPort": "9101"}]}}' ;;
  *) echo "Error: No such object: $5" >&2; exit 1 ;;
esac
"""


def on_path(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    (folder / name).chmod(0o755)


def host_state(
    tmp_path: Path, image: str = "hailo-sidecar:1", container: str = "hailo-inference", metrics: str = "hailo-metrics"
) -> subprocess.CompletedProcess[str]:
    on_path(tmp_path / "bin", "docker", DOCKER_DOUBLE)
    argv = [sys.executable, str(FILES / "host_state.py"), str(tmp_path / "hailo_model.fact"), str(tmp_path / "models"),
            container, image, str(tmp_path / "hailort.sock"), metrics]  # fmt: skip
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)


def test_host_state_on_a_host_without_the_sidecar(tmp_path: Path) -> None:
    done = host_state(tmp_path, image="hailo-sidecar:2", container="none", metrics="none")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "fact": None, "container_image": None, "image": None, "releases": [], "unsigned": [], "links": [],
        "allowed_signers": None, "service_socket": False, "metrics": None,
    }  # fmt: skip


def test_host_state_reports_the_fact_the_container_the_image_and_the_releases(tmp_path: Path) -> None:
    fact = {"models": {"tcn-encoder": {"current": RELEASE, "previous": None, "history": [RELEASE]}}, "last_changed": ["tcn-encoder"]}
    (tmp_path / "hailo_model.fact").write_text(json.dumps(fact))
    for name in (RELEASE, "tcn-encoder-1.0.0-0123456789ab", f"{RELEASE}.part"):
        (tmp_path / "models/releases" / name).mkdir(parents=True)
    (tmp_path / "models/releases" / f"{RELEASE}.tar.gz").write_bytes(b"")  # an archive is no release
    for link in ("current", "current-tcn-encoder", "current-fsq"):
        (tmp_path / "models" / link).symlink_to(f"releases/{RELEASE}")
    (tmp_path / "models/currently").symlink_to("releases")  # not a model's link
    (tmp_path / "models/current-notes").write_text("a file, not a link")
    (tmp_path / "models/releases" / RELEASE / "SHA256SUMS.sig").write_text("signed")
    (tmp_path / "models/allowed_signers").write_text("gpusrv ssh-ed25519 AAAA\n")
    with socket.socket(socket.AF_UNIX) as service:
        service.bind(str(tmp_path / "hailort.sock"))
        done = host_state(tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "fact": fact,
        "container_image": "hailo-sidecar:1",
        "image": {"hailort": "4.23.0", "architecture": "arm64"},
        "releases": ["tcn-encoder-1.0.0-0123456789ab", RELEASE, f"{RELEASE}.part"],
        "unsigned": ["tcn-encoder-1.0.0-0123456789ab", f"{RELEASE}.part"],
        "links": ["current", "current-fsq", "current-tcn-encoder"],
        "allowed_signers": "gpusrv ssh-ed25519 AAAA\n",
        "service_socket": True,
        "metrics": {"image": "hailo-sidecar:1", "ports": {"9101/tcp": [{"HostIp": "", "HostPort": "9101"}]}},
    }
    assert json.loads(host_state(tmp_path, image="unlabelled:1").stdout)["image"] == {"hailort": "", "architecture": "amd64"}


def test_host_state_refuses_a_fact_that_is_not_json_and_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "hailo_model.fact").write_text('{"models": ')
    (tmp_path / "hailort.sock").write_text("a file, not a socket")
    done = host_state(tmp_path)
    assert done.returncode == 1
    assert "hailo_model.fact is not JSON" in done.stderr
    assert "put back a good copy or remove it" in done.stderr
    assert done.stdout == ""


def archive(tmp_path: Path, tamper: bool = False, signer: Signer | None = None, after_signing: bool = False) -> Path:
    """A bundle packed as upload.yml packs it, beside its place in releases/. tamper changes a file after SHA256SUMS;
    signer signs SHA256SUMS (ssh-keygen -Y sign, as hailo-pipeline build --sign-key does); after_signing then
    changes a file and writes SHA256SUMS again."""
    source = tmp_path / "source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    (source / "model.onnx").write_bytes(b"weights" * 100)
    (source / "release.json").write_text('{"name": "tcn-encoder"}')
    write_sums(source)
    if signer is not None:
        SigningKey.read(str(signer.key)).sign(source)
    if tamper:
        (source / "model.onnx").write_bytes(b"other weights")
    if after_signing:
        (source / "model.onnx").write_bytes(b"other weights")
        write_sums(source)
    releases = tmp_path / "releases"
    releases.mkdir(exist_ok=True)
    with tarfile.open(releases / f"{RELEASE}.tar.gz", "w:gz") as tar:
        tar.add(source, arcname=".")
    return releases


def write_sums(folder: Path) -> None:
    sums = "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in ("model.onnx", "release.json"))
    (folder / "SHA256SUMS").write_text(sums)


def releases_sh(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FILES / "releases.sh"), *map(str, argv)], capture_output=True, text=True, check=False)


def test_install_puts_a_verified_bundle_in_its_place(tmp_path: Path) -> None:
    releases = archive(tmp_path)
    (releases / f"{RELEASE}.part").mkdir()  # left by a run that was cut off
    done = releases_sh("install", releases, "", RELEASE)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in releases.iterdir()) == [RELEASE]
    assert (releases / RELEASE / "model.onnx").read_bytes() == b"weights" * 100
    assert releases_sh("check", releases, "", RELEASE).returncode == 0


def test_install_refuses_a_bundle_changed_after_its_sums_and_leaves_nothing(tmp_path: Path) -> None:
    releases = archive(tmp_path, tamper=True)
    done = releases_sh("install", releases, "", RELEASE)
    assert done.returncode == 1
    assert "model.onnx: FAILED" in done.stderr
    assert list(releases.iterdir()) == [], "neither the archive nor the .part folder is left"


@pytest.mark.parametrize("damage", ["changed", "missing"])
def test_check_names_each_release_that_differs_from_its_sums(tmp_path: Path, damage: str) -> None:
    releases = archive(tmp_path)
    assert releases_sh("install", releases, "", RELEASE).returncode == 0
    shutil.copytree(releases / RELEASE, releases / "other")  # a good one beside it
    if damage == "changed":
        (releases / RELEASE / "model.onnx").write_bytes(b"swapped")
    else:
        (releases / RELEASE / "model.onnx").unlink()
    done = releases_sh("check", releases, "", "other", RELEASE)
    assert done.returncode == 1
    assert done.stderr.startswith(f"{RELEASE}: ")
    assert "model.onnx: FAILED" in done.stderr
    assert "other" not in done.stderr
    assert releases_sh("check", releases, "", "absent").stderr == f"absent: not on this host (in {releases})\n"


@pytest.fixture
def gpusrv(tmp_path: Path) -> Signer:
    return make_signer(tmp_path, "gpusrv")


@pytest.fixture
def signers(tmp_path: Path, gpusrv: Signer) -> Path:
    return allowed_signers(tmp_path / "allowed_signers", gpusrv)


def test_with_signers_a_bundle_signed_by_an_allowed_key_is_installed_and_checked(tmp_path: Path, gpusrv: Signer, signers: Path) -> None:
    releases = archive(tmp_path, signer=gpusrv)
    done = releases_sh("install", releases, signers, RELEASE)
    assert done.returncode == 0, done.stderr
    assert (releases / RELEASE / "SHA256SUMS.sig").is_file()
    assert releases_sh("check", releases, signers, RELEASE).returncode == 0


@pytest.mark.parametrize("case", ["unsigned", "stranger", "after_signing"])
def test_with_signers_install_refuses_and_leaves_nothing(tmp_path: Path, gpusrv: Signer, signers: Path, case: str) -> None:
    stranger = make_signer(tmp_path, "stranger")
    reasons = {
        "unsigned": (None, "not signed (no SHA256SUMS.sig) and signatures are required on this host"),
        "stranger": (stranger, f"signed by {fingerprint(stranger)}, which {signers} does not list: an unknown signer"),
        "after_signing": (gpusrv, "the signature by gpusrv does not verify: SHA256SUMS changed after signing"),
    }
    signer, reason = reasons[case]
    releases = archive(tmp_path, signer=signer, after_signing=case == "after_signing")
    done = releases_sh("install", releases, signers, RELEASE)
    assert (done.returncode, done.stderr) == (1, reason + "\n")
    assert list(releases.iterdir()) == []


def test_a_copy_from_before_signatures_gets_its_signature_and_another_bundle_under_its_name_is_refused(
    tmp_path: Path, gpusrv: Signer, signers: Path
) -> None:
    releases = archive(tmp_path)
    assert releases_sh("install", releases, "", RELEASE).returncode == 0
    done = releases_sh("check", releases, signers, RELEASE)
    assert (done.returncode, done.stderr) == (1, f"{RELEASE}: not signed (no SHA256SUMS.sig) and signatures are required on this host\n")
    archive(tmp_path, signer=gpusrv)  # the same bundle, signed: upload.yml sends it again
    done = releases_sh("install", releases, signers, RELEASE)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (releases / RELEASE).iterdir()) == ["SHA256SUMS", "SHA256SUMS.sig", "model.onnx", "release.json"]
    assert releases_sh("check", releases, signers, RELEASE).returncode == 0
    (releases / RELEASE / "SHA256SUMS.sig").unlink()
    archive(tmp_path, signer=gpusrv, after_signing=True)
    (tmp_path / "source" / "SHA256SUMS.sig").unlink()
    SigningKey.read(str(gpusrv.key)).sign(tmp_path / "source")  # a different bundle, well signed, under the same name
    with tarfile.open(releases / f"{RELEASE}.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "source", arcname=".")
    done = releases_sh("install", releases, signers, RELEASE)
    assert done.returncode == 1
    assert "is another bundle under the same name (its SHA256SUMS differs)" in done.stderr
    assert (releases / RELEASE / "model.onnx").read_bytes() == b"weights" * 100


def probe(tmp_path: Path, loaded: str | None, firmware: str | None = None) -> dict[str, object]:
    """Role hailort's probe, rendered as the role renders it, run with hailortcli's double on PATH (its device's
    firmware `firmware`, else the double's 4.23.0)."""
    template = (REPO_ROOT / "roles/hailort/templates/hailort.fact.j2").read_text()
    version_file = tmp_path / "hailo_pci_version"
    if loaded is not None:
        version_file.write_text(loaded)
    script = tmp_path / "hailort.fact"
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.filters["quote"] = shlex.quote  # what Ansible's quote filter is
    script.write_text(
        environment.from_string(template).render(ansible_managed="test", hailort_driver_loaded_version_file=str(version_file))
    )
    script.chmod(0o755)
    bin_dir = tmp_path / "bin"
    if not (bin_dir / "hailortcli").exists():
        on_path(bin_dir, "hailortcli", (REPO_ROOT / "tests/support/doubles/hailortcli").read_text())
    standin = tmp_path / "standin"
    standin.mkdir(exist_ok=True)
    if firmware is not None:
        (standin / "firmware-version").write_text(firmware)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HAILO_STANDIN_DIR": str(standin)}
    done = subprocess.run([str(script)], capture_output=True, text=True, env=env, check=True)
    return dict(json.loads(done.stdout))


def test_the_probe_reports_the_loaded_driver_the_library_and_the_device_architecture(tmp_path: Path) -> None:
    found = probe(tmp_path, "4.23.0\n")
    assert found == {
        "device_present": Path("/dev/hailo0").exists(),
        "driver_loaded_version": "4.23.0",
        "driver_installed_version": None,  # no hailo_pci module on this machine's disk
        "library_version": "4.23.0",
        "device_architecture": "HAILO8L",
        "firmware_version": "4.23.0",
    }


def test_the_probe_reports_the_devices_firmware_version(tmp_path: Path) -> None:
    """HailoRT refuses a firmware of another major.minor (HAILO_UNSUPPORTED_FW_VERSION): fit needs the device's."""
    assert probe(tmp_path, "4.23.0", firmware="4.22.0\n")["firmware_version"] == "4.22.0"


def test_the_probe_says_null_for_what_is_absent_and_stays_json_whatever_a_file_holds(tmp_path: Path) -> None:
    assert probe(tmp_path, None)["driver_loaded_version"] is None
    assert probe(tmp_path, '4.20.0"}, "x": "\n')["driver_loaded_version"] == "4.20.0x"
    (tmp_path / "bin/hailortcli").write_text("#!/bin/sh\nexit 127\n")
    found = probe(tmp_path, "4.23.0")
    assert found["library_version"] is None
    assert found["device_architecture"] is None
    assert found["firmware_version"] is None


# docker exec as a sidecar container answers: the control listener opens after $LISTEN_AFTER calls, a release whose
# name holds "served" is already served, /healthz fails with $HEALTHZ_FAILS if set, a release holding "drifts"
# fails its golden vectors
SIDECAR_DOUBLE = """#!/bin/sh
shift 2
echo "$1 $2" >> "$CALLS"
case "$1 $2" in
  */hailo-pipeline\\ switch)
    n=$(grep -c ' switch$' "$CALLS")
    if [ "$n" -le "${LISTEN_AFTER:-0}" ]; then echo "no sidecar control listener at /models/.control" >&2; exit 1; fi
    case "$4" in *served*) echo '{"switched": false}' ;; *) echo '{"switched": true}' ;; esac ;;
  */python\\ -c) if [ -n "${HEALTHZ_FAILS:-}" ]; then echo "$HEALTHZ_FAILS" >&2; exit 1; fi ;;
  */hailo-pipeline\\ probe) case "$4" in *drifts*) echo "golden vectors differ: cosine 0.71 < 0.99" >&2; exit 1 ;; esac ;;
esac
"""


def serve_releases(tmp_path: Path, mode: str, *releases: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    on_path(tmp_path / "bin", "docker", SIDECAR_DOUBLE)
    calls = tmp_path / "calls"
    calls.write_text("")
    environment = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "CALLS": str(calls), **env}
    argv = [sys.executable, str(FILES / "serve_releases.py"), mode, "hailo-inference", "3", "0", *releases]
    done = subprocess.run(argv, capture_output=True, text=True, env=environment, check=False)
    return done, calls.read_text().splitlines()


def test_serve_releases_waits_for_the_control_listener_then_switches_checks_health_and_goldens(tmp_path: Path) -> None:
    done, calls = serve_releases(tmp_path, "switch", "tcn-2", "fsq-1-served", LISTEN_AFTER="2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"switched": ["tcn-2"]}
    bin_dir = "/opt/sidecar/bin"
    assert calls == [f"{bin_dir}/hailo-pipeline switch"] * 4 + [f"{bin_dir}/python -c"] + [f"{bin_dir}/hailo-pipeline probe"] * 2


def test_serve_releases_in_prove_mode_switches_nothing(tmp_path: Path) -> None:
    done, calls = serve_releases(tmp_path, "prove", "tcn-2")
    assert (done.returncode, json.loads(done.stdout)) == (0, {"switched": []})
    assert not any("switch" in call for call in calls)


@pytest.mark.parametrize(
    ("releases", "env", "reason"),
    [
        (["tcn-2"], {"LISTEN_AFTER": "9"}, "switch to tcn-2: no sidecar control listener"),
        (["tcn-2"], {"HEALTHZ_FAILS": "golden vectors on onnxruntime differ"}, "/healthz: golden vectors on onnxruntime differ"),
        (["tcn-2", "fsq-drifts"], {}, "golden vectors of fsq-drifts: golden vectors differ: cosine 0.71 < 0.99"),
    ],
)
def test_serve_releases_stops_at_the_step_that_fails_and_says_why(
    tmp_path: Path, releases: list[str], env: dict[str, str], reason: str
) -> None:
    done, _ = serve_releases(tmp_path, "switch", *releases, **env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().startswith(reason)
