"""The sidecar image, built with the local engine from files/sidecar/, runs a bundle hardened as on a Pi:
for this host's platform, and for the fleet's (arm64, Debian 13) under emulation (scripts/enable-arm64)."""

from __future__ import annotations

import json
import subprocess
import sysconfig
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT, SAMPLES, build_compiled_example, build_example, locked_version
from tests.integration.conftest import built_sidecar_image
from tests.support.doubles.build_hailort_debs import build_deb
from tests.support.doubles.pyhailort_ext.build import HAILO_REQUIRES, wheel
from tests.support.sidecar_server import free_port

pytestmark = [pytest.mark.docker, pytest.mark.emulated]

# The Pi 5's core: qemu emulates its "max" CPU unless told.
EMULATED_PI = ("--platform", "linux/arm64", "-e", "QEMU_CPU=cortex-a76")
HARDENED = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    yield from built_sidecar_image()


@pytest.fixture(scope="module")
def arm64_image() -> Iterator[str]:
    emulation = subprocess.run([str(REPO_ROOT / "scripts/enable-arm64"), "--check"], capture_output=True, text=True)
    assert emulation.returncode == 0, f"the fleet's platform cannot run here: {emulation.stderr.strip()}"
    yield from built_sidecar_image("--platform", "linux/arm64")


@pytest.fixture(scope="module")
def hailort_debs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The package doubles of trixie's hailort and python3-hailort 4.23.0 (tests/support/doubles/build_hailort_debs.py)."""
    folder = tmp_path_factory.mktemp("hailort-debs")
    return build_deb("hailort", "4.23.0", folder), build_deb("python3-hailort", "4.23.0", folder)


@pytest.fixture(scope="module")
def hailort_image(hailort_debs: tuple[Path, Path]) -> Iterator[str]:
    yield from built_sidecar_image("--hailort", str(hailort_debs[0]), "--hailort-binding", str(hailort_debs[1]))


@pytest.fixture(scope="module")
def numpy1_binding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hailo's binding wheel for the bookworm amd64 image's Python 3.11, as Hailo builds it: the compiled _pyhailort
    (pybind11 2.10.1, tests/support/doubles/pyhailort_ext) and Requires-Dist numpy<2. Built for this host's Python, which must
    be that image's."""
    assert (sysconfig.get_python_version(), sysconfig.get_platform()) == ("3.11", "linux-x86_64"), "the wheel is built for this host"
    return wheel(tmp_path_factory.mktemp("numpy1-binding"))


@pytest.fixture(scope="module")
def numpy1_image(hailort_debs: tuple[Path, Path], numpy1_binding: Path) -> Iterator[str]:
    yield from built_sidecar_image("--hailort", str(hailort_debs[0]), "--hailort-binding", str(numpy1_binding))


def _wait_healthy(name: str, seconds: float) -> float:
    started = time.monotonic()
    while _docker("inspect", "-f", "{{.State.Health.Status}}", name) != "healthy":
        assert time.monotonic() - started < seconds, _docker("logs", name)
        time.sleep(0.5)
    return time.monotonic() - started


def test_image_serves_a_bundle_read_only_as_non_root(image: str, sources: dict[str, Path], tmp_path: Path) -> None:
    bundle = build_example(tmp_path, sources["tcn_encoder"])
    port, name = free_port(), f"sidecar-test-{uuid.uuid4().hex[:8]}"
    _docker(
        "run", "-d", "--name", name, *HARDENED,
        "--health-interval", "1s", "-v", f"{bundle}:/models/current:ro", "-p", f"127.0.0.1:{port}:9000", image,
    )  # fmt: skip
    try:
        _wait_healthy(name, 60)
        assert _docker("inspect", "-f", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", name) == "1000:1000 true"
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert health["release"] == bundle.name
        answer = httpx.post(
            f"http://127.0.0.1:{port}/infer",
            content=(SAMPLES / "realistic_imu_sample.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        ).json()
        assert (len(answer["latent"]), len(answer["motif_scores"]), answer["backend"]) == (64, 12, "onnxruntime")
        _docker("stop", "-t", "20", name)
        assert _docker("inspect", "-f", "{{.State.ExitCode}}", name) == "0", "SIGTERM drains and exits cleanly"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_context_mode_writes_what_a_host_build_needs_and_is_rerunnable(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for _ in range(2):
        made = subprocess.run([str(REPO_ROOT / "scripts/build-sidecar-image"), "--context", str(context)], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip() == str(context)
    assert (context / "Dockerfile").read_text() == (REPO_ROOT / "files/sidecar/Dockerfile").read_text()
    wheels = {p.name.split("-")[0].lower() for p in (context / "wheels").iterdir()}
    assert {"hailo_pipeline", "fastapi", "onnxruntime", "uvicorn"} <= wheels


def test_context_mode_refuses_a_folder_that_is_not_a_context(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    made = subprocess.run([str(REPO_ROOT / "scripts/build-sidecar-image"), "--context", str(tmp_path)], capture_output=True, text=True)
    assert made.returncode != 0
    assert "holds more than a build context" in made.stderr
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_labels_name_the_platform_python_and_locked_runtime(image: str, arm64_image: str) -> None:
    for tag, platform, arch, python in ((image, "linux/amd64", "amd64", "3.11"), (arm64_image, "linux/arm64", "arm64", "3.13")):
        labels = json.loads(_docker("image", "inspect", "-f", "{{json .Config.Labels}}", tag))
        assert _docker("image", "inspect", "-f", "{{.Architecture}}", tag) == arch
        assert labels["org.hailo-fleet.platform"] == platform
        assert labels["org.hailo-fleet.python"] == python
        assert labels["org.hailo-fleet.onnxruntime"] == locked_version("onnxruntime")
        assert labels["org.hailo-fleet.numpy"] == locked_version("numpy")


def test_an_image_without_hailort_says_so(image: str) -> None:
    assert _docker("image", "inspect", "-f", '{{index .Config.Labels "org.hailo-fleet.hailort"}}', image) == "none"
    assert _docker("image", "inspect", "-f", '{{index .Config.Labels "org.hailo-fleet.hailort-numpy"}}', image) == "none"
    found = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", "ls /usr/lib/libhailort* /usr/bin/hailortcli"],
                           capture_output=True, text=True)  # fmt: skip
    assert found.returncode != 0
    assert found.stdout == ""


def test_an_image_with_hailort_carries_its_library_cli_and_binding_at_one_version(hailort_image: str) -> None:
    assert _docker("image", "inspect", "-f", '{{index .Config.Labels "org.hailo-fleet.hailort"}}', hailort_image) == "4.23.0"
    probe = "import os, hailo_platform; print(hailo_platform.__version__, os.environ['HAILORT_LOGGER_PATH'])"
    found = _docker("run", "--rm", *HARDENED, "--entrypoint", "sh", hailort_image, "-c",
                    f"ls /usr/lib/libhailort.so.* && hailortcli --version && /opt/sidecar/bin/python -c \"{probe}\"")  # fmt: skip
    assert found.splitlines() == ["/usr/lib/libhailort.so.4.23.0", "HailoRT-CLI version 4.23.0", "4.23.0 NONE"]
    labels = json.loads(_docker("image", "inspect", "-f", "{{json .Config.Labels}}", hailort_image))
    # The .deb double declares no NumPy and its _pyhailort reads NumPy 2's arrays right: the lock's NumPy stays.
    assert (labels["org.hailo-fleet.hailort-numpy"], labels["org.hailo-fleet.numpy"]) == ("any", locked_version("numpy"))


# What the image's build runs, and the mask it reads back through the binding's own DetectionWithByteMask.mask().
_BUFFERS = (
    "import numpy; from hailo_pipeline.hailo import hailort_backend as b; print(numpy.__version__, b.buffer_problem(), b.import_problem())"
)


def test_a_binding_built_for_numpy_1_gets_numpy_1_and_its_buffers_come_back_right(
    numpy1_image: str, sources: dict[str, Path], tmp_path: Path
) -> None:
    """Hailo's wheel declares numpy<2 (its pybind11 2.10.1 predates NumPy 2): the bookworm image gets numpy 1.26.4,
    the labels say so, the probe passes in the image, and the sidecar serves a HEF through the compiled binding (its
    golden vectors reproduce through InferModel's set_buffer/get_buffer before anything is served)."""
    labels = json.loads(_docker("image", "inspect", "-f", "{{json .Config.Labels}}", numpy1_image))
    assert (labels["org.hailo-fleet.hailort-numpy"], labels["org.hailo-fleet.numpy"]) == ("<2", "1.26.4")
    found = _docker("run", "--rm", *HARDENED, "--entrypoint", "/opt/sidecar/bin/python", numpy1_image, "-c", _BUFFERS)
    assert found.splitlines()[-1] == "1.26.4 None None"
    bundle = build_compiled_example(tmp_path, sources["tcn_encoder"])
    (tmp_path / "hailo0").touch()
    health = _serve(numpy1_image, bundle, "-v", f"{tmp_path / 'hailo0'}:/dev/hailo0")
    assert (health["backend"], health["backend_reason"]) == ("hailo", "auto: HailoRT, device and HEF present")


def test_a_numpy_1_binding_that_does_not_say_so_fails_the_image_build_with_the_reason(
    hailort_debs: tuple[Path, Path], tmp_path: Path
) -> None:
    """The same compiled binding without its numpy<2 requirement meets the lock's NumPy 2 in the image: the build
    pushes buffers through it, gets element 0 repeated, and stops saying why and what to do."""
    silent = wheel(tmp_path, requires=tuple(r for r in HAILO_REQUIRES if not r.startswith("numpy")))
    script = str(REPO_ROOT / "scripts/build-sidecar-image")
    made = subprocess.run([script, "--hailort", str(hailort_debs[0]), "--hailort-binding", str(silent), "hailo-sidecar:never-built"],
                          capture_output=True, text=True)  # fmt: skip
    assert made.returncode != 0
    assert (
        f"refused: HailoRT's binding reads buffers wrong under numpy {locked_version('numpy')}: an array it builds over "
        f"bytes 1..16 (DetectionWithByteMask.mask()) reads back {[1] * 16}"
    ) in made.stderr
    assert "scripts/build-sidecar-image --hailort-numpy1 gives it numpy<2" in made.stderr
    assert subprocess.run(["docker", "image", "inspect", "hailo-sidecar:never-built"], capture_output=True).returncode != 0
    for fixed in built_sidecar_image("--hailort", str(hailort_debs[0]), "--hailort-binding", str(silent), "--hailort-numpy1"):
        labels = json.loads(_docker("image", "inspect", "-f", "{{json .Config.Labels}}", fixed))
        assert (labels["org.hailo-fleet.hailort-numpy"], labels["org.hailo-fleet.numpy"]) == ("<2", "1.26.4")


def test_a_numpy_1_binding_is_refused_for_python_3_13_naming_what_to_use(hailort_debs: tuple[Path, Path], tmp_path: Path) -> None:
    """NumPy 1 has no wheels for 3.13 (trixie's Python): refused before anything is built."""
    emulation = subprocess.run([str(REPO_ROOT / "scripts/enable-arm64"), "--check"], capture_output=True, text=True)
    assert emulation.returncode == 0, f"the fleet's platform cannot run here: {emulation.stderr.strip()}"
    binding = tmp_path / "hailort-4.23.0-cp313-cp313-linux_aarch64.whl"
    with zipfile.ZipFile(binding, "w") as archive:
        archive.writestr(
            "hailort-4.23.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: hailort\nVersion: 4.23.0\nRequires-Dist: numpy<2\n"
        )
    script = str(REPO_ROOT / "scripts/build-sidecar-image")
    made = subprocess.run([script, "--platform", "linux/arm64", "--hailort", str(hailort_debs[0]), "--hailort-binding", str(binding),
                           "--context", str(tmp_path / "context")], capture_output=True, text=True)  # fmt: skip
    assert made.returncode != 0
    assert "needs numpy<2, and NumPy 1 has no wheel for Python 3.13 on linux/arm64" in made.stderr
    assert "or a binding built with pybind11 >= 2.12 for NumPy 2" in made.stderr
    assert not (tmp_path / "context").exists()


def _serve(image: str, bundle: Path, *extra: str) -> dict[str, object]:
    """/healthz of `image` serving `bundle` hardened, once healthy (extra: more docker run arguments)."""
    name = f"sidecar-test-{uuid.uuid4().hex[:8]}"
    _docker("run", "-d", "--name", name, *HARDENED, "--health-interval", "1s", "-v", f"{bundle}:/models/current:ro", *extra, image)
    try:
        _wait_healthy(name, 90)
        return dict(json.loads(_docker("exec", name, "/opt/sidecar/bin/python", "-c", _HEALTHZ)))
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_auto_imports_the_binding_and_serves_a_hef_on_the_device(hailort_image: str, sources: dict[str, Path], tmp_path: Path) -> None:
    bundle = build_compiled_example(tmp_path, sources["tcn_encoder"])
    (tmp_path / "hailo0").touch()  # stands in for the device node
    health = _serve(hailort_image, bundle, "-v", f"{tmp_path / 'hailo0'}:/dev/hailo0")
    assert (health["backend"], health["backend_reason"]) == ("hailo", "auto: HailoRT, device and HEF present")
    assert health["versions"] == {"hailort": "4.23.0", "hef_sdk": "3.33.0"}


def test_a_binding_without_its_libhailort_falls_back_to_onnxruntime_saying_why(
    hailort_image: str, sources: dict[str, Path], tmp_path: Path
) -> None:
    bundle = build_compiled_example(tmp_path, sources["tcn_encoder"])
    (tmp_path / "hailo0").touch()
    without = f"{hailort_image}-without-libhailort"
    recipe = f"FROM {hailort_image}\nUSER root\nRUN rm /usr/lib/libhailort.so.4.23.0\nUSER 1000:1000\n"
    subprocess.run(["docker", "build", "--quiet", "--tag", without, "-"], input=recipe, check=True, capture_output=True, text=True)
    try:
        health = _serve(without, bundle, "-v", f"{tmp_path / 'hailo0'}:/dev/hailo0")
    finally:
        subprocess.run(["docker", "rmi", "--no-prune", without], capture_output=True)
    assert health["backend"] == "onnxruntime"
    assert health["backend_reason"] == (
        "auto: onnxruntime because import hailo_platform failed "
        "(ImportError: libhailort.so.4.23.0: cannot open shared object file: No such file or directory)"
    )


def test_a_binding_of_another_version_is_refused_before_anything_is_built(hailort_debs: tuple[Path, Path], tmp_path: Path) -> None:
    binding = build_deb("python3-hailort", "4.22.0", tmp_path)
    script = str(REPO_ROOT / "scripts/build-sidecar-image")
    made = subprocess.run([script, "--hailort", str(hailort_debs[0]), "--hailort-binding", str(binding), "hailo-sidecar:never-built"],
                          capture_output=True, text=True)  # fmt: skip
    assert made.returncode != 0
    assert "is HailoRT 4.22.0, the hailort .deb 4.23.0: an image carries exactly one version" in made.stderr
    assert subprocess.run(["docker", "image", "inspect", "hailo-sidecar:never-built"], capture_output=True).returncode != 0


def test_arm64_image_runs_the_locked_wheels_on_an_emulated_pi(arm64_image: str) -> None:
    probe = "import platform, sys, numpy, onnxruntime; print(platform.machine(), sys.version_info[:2], "
    probe += "onnxruntime.__version__, numpy.__version__)"
    found = _docker("run", "--rm", *EMULATED_PI, "--entrypoint", "/opt/sidecar/bin/python", arm64_image, "-c", probe)
    assert found.splitlines()[-1] == f"aarch64 (3, 13) {locked_version('onnxruntime')} {locked_version('numpy')}"


def test_arm64_image_serves_and_verifies_a_bundle_under_emulation(arm64_image: str, sources: dict[str, Path], tmp_path: Path) -> None:
    bundle = build_example(tmp_path, sources["tcn_encoder"])
    name = f"sidecar-arm64-test-{uuid.uuid4().hex[:8]}"
    models = f"{bundle}:/models/current:ro"
    _docker("run", "-d", "--name", name, *EMULATED_PI, *HARDENED, "--health-interval", "2s", "-v", models, arm64_image)
    try:
        healthy_after = _wait_healthy(name, 300)
        health = json.loads(_docker("exec", name, "/opt/sidecar/bin/python", "-c", _HEALTHZ))
        assert (health["release"], health["backend"]) == (bundle.name, "onnxruntime")
        print(f"arm64 sidecar healthy after {healthy_after:.1f} s under emulation")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    started = time.monotonic()
    verified = _docker("run", "--rm", *EMULATED_PI, *HARDENED, "-v", models, "--entrypoint", "/opt/sidecar/bin/hailo-pipeline", arm64_image,
                       "verify", "/models/current")  # fmt: skip
    assert verified.splitlines()[-1].startswith(f"{bundle.name}: ok (")
    assert "golden latent cosine" in verified
    print(f"arm64 verify took {time.monotonic() - started:.1f} s under emulation")


_HEALTHZ = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9000/healthz', timeout=5).read().decode())"
