"""Deploy refuses a bundle that cannot run on a host, before copying it (hailo-toolchain.md section 8).

The facts: the device's arch, the loaded hailo_pci driver, the sidecar image's HailoRT (which opens the
HEF) and the host's own hailortcli. HailoRT wants its driver at exactly its own major.minor.revision."""

import json
import subprocess
from pathlib import Path

import pytest

from hailo_pipeline.hailo.compat import fit_problems
from tests.conftest import CLI
from tests.unit.builder.test_image_labels import saved_image_tarball

HEF_8P_333 = {"hw_arch": "HAILO8P", "sdk_version": "3.33.0", "requires_hailort": "4.23.0"}


def test_a_matching_host_fits() -> None:
    assert fit_problems(HEF_8P_333, "HAILO8", "4.23.0", "4.23.0", "4.23.0") == []
    assert fit_problems({**HEF_8P_333, "hw_arch": "HAILO8L"}, "HAILO8", driver="4.23.0", image_hailort="4.23.0") == []
    assert fit_problems({**HEF_8P_333, "hw_arch": "HAILO8L"}, "HAILO8L", driver="4.23.0", image_hailort="4.23") == [], "4.23 is 4.23.0"


@pytest.mark.parametrize(
    ("device", "driver", "image", "library", "named"),
    [
        (
            "HAILO8L",
            "4.23.0",
            "4.23.0",
            "4.23.0",
            ["the HEF is for HAILO8P; a HAILO8L device accepts only HAILO8L HEFs: rebuild the bundle for a HAILO8L"],
        ),
        (
            "HAILO8",
            "4.22.0",
            "4.22.0",
            "4.22.0",
            ["needs HailoRT >= 4.23.0; the sidecar image has HailoRT 4.22.0: use an image with HailoRT >= 4.23.0"],
        ),
        (
            "HAILO8",
            "4.22.0",
            "4.23.0",
            "4.22.0",
            [
                "the sidecar image's HailoRT 4.23.0 differs from the loaded hailo_pci driver 4.22.0",
                "HAILO_INVALID_DRIVER_VERSION, 76",
                "use an image with HailoRT 4.22.0 or install and load driver 4.23.0",
            ],
        ),
        (
            "HAILO8",
            "4.23.0",
            "4.23.0",
            "4.23.1",
            [
                "the host's HailoRT library (hailortcli) 4.23.1 differs from the loaded hailo_pci driver 4.23.0",
                "install HailoRT 4.23.0 on the host or load driver 4.23.1",
            ],
        ),
    ],
)
def test_each_misfit_is_named_with_both_sides_and_the_fix(device: str, driver: str, image: str, library: str, named: list[str]) -> None:
    (problem,) = fit_problems(HEF_8P_333, device, driver=driver, image_hailort=image, library=library)
    for text in named:
        assert text in problem


def test_hailort_older_than_4_18_is_refused_with_the_reason() -> None:
    """Python's InferModel (VDevice.create_infer_model), which the sidecar runs, first appears in HailoRT v4.18.0's
    pyhailort.py (hailo-toolchain.md section 7): an image, or a host whose driver it must equal, at 4.17 cannot serve."""
    (image,) = fit_problems(None, "HAILO8", driver="4.17.0", image_hailort="4.17.0")
    assert image == (
        "the sidecar image's HailoRT 4.17.0 is older than 4.18.0: HailoRT's Python binding has InferModel "
        "(VDevice.create_infer_model), which the sidecar runs, only from 4.18.0; use an image with HailoRT >= 4.18.0 "
        "(and the driver to match)"
    )
    (host,) = fit_problems(None, "HAILO8", driver="4.17.0", image_hailort=None, library="4.17.0")
    assert host.startswith("the host's HailoRT library (hailortcli) 4.17.0 is older than 4.18.0")
    assert "install HailoRT >= 4.18.0 on the host (role hailort)" in host
    assert fit_problems(None, "HAILO8", driver="4.18.0", image_hailort="4.18.0", library="4.18.0") == []


@pytest.mark.parametrize(("firmware", "fits"), [("4.23.0", True), ("4.23.2", True), ("4.22.0", False), ("5.23.0", False)])
def test_a_firmware_of_another_major_minor_is_refused_naming_both_versions(firmware: str, fits: bool) -> None:
    """HailoRT compares its own firmware major.minor with the device's and then answers HAILO_UNSUPPORTED_FW_VERSION
    (16) to every non-critical control; the revision may differ (hailort v4.23.0 device_common/device.cpp)."""
    problems = fit_problems(HEF_8P_333, "HAILO8", "4.23.0", "4.23.0", "4.23.0", firmware=firmware)
    if fits:
        assert problems == []
        return
    image, host = problems
    assert image.startswith(f"the device's firmware {firmware} and the sidecar image's HailoRT 4.23.0 differ in major.minor")
    assert host.startswith(f"the device's firmware {firmware} and the host's HailoRT library (hailortcli) 4.23.0 differ")
    for problem in problems:
        assert "HAILO_UNSUPPORTED_FW_VERSION, 16" in problem
        assert "install the firmware of HailoRT 4.23.0" in problem


def test_the_runtime_that_opens_the_hef_is_the_images_not_the_hosts() -> None:
    old_host = fit_problems(HEF_8P_333, "HAILO8", driver="4.23.0", image_hailort="4.23.0", library="4.20.0")
    assert len(old_host) == 1
    assert "needs HailoRT" not in old_host[0], "the host library only has to match the driver"
    assert fit_problems(HEF_8P_333, "HAILO8", driver="4.20.0", image_hailort=None, library="4.20.0") == [], (
        "an image without HailoRT serves with ONNX Runtime: the HEF's HailoRT does not matter"
    )


@pytest.mark.parametrize("device", ["HAILO8", "HAILO8L"])
def test_a_hailo8_arch_hef_fits_no_device(device: str) -> None:
    (problem,) = fit_problems({**HEF_8P_333, "hw_arch": "HAILO8"}, device, "4.23.0", "4.23.0")
    assert problem == (
        f"a {device} device refuses this HEF: HEF arch HAILO8 (enum 0, also what a header without hw_arch reads as) "
        "is accepted by no device; a hailo8 build carries HAILO8P — rebuild it"
    )


def test_unknown_archs_stay_visible() -> None:
    (problem,) = fit_problems({**HEF_8P_333, "hw_arch": "unknown-42"}, "HAILO8", "4.23.0", "4.23.0")
    assert "the HEF is for unknown-42; a HAILO8 device accepts only HAILO8P/HAILO8R/HAILO8L HEFs" in problem
    (problem,) = fit_problems(HEF_8P_333, "HAILO15H", "4.23.0", "4.23.0")
    assert "a HAILO15H device accepts only none this tool knows HEFs" in problem


def test_several_misfits_are_all_named() -> None:
    problems = fit_problems({**HEF_8P_333, "hw_arch": "HAILO8"}, "HAILO8L", driver="4.20.0", image_hailort="4.21.0", library="4.19.0")
    assert [p.split(" ")[:3] for p in problems] == [
        ["the", "sidecar", "image's"],
        ["the", "host's", "HailoRT"],
        ["a", "HAILO8L", "device"],
        ["the", "HEF", "(DFC"],
    ]


def test_unknown_facts_skip_their_checks_and_onnx_bundles_need_only_a_sane_driver() -> None:
    assert fit_problems(HEF_8P_333, None, None, None) == []
    assert fit_problems({**HEF_8P_333, "hw_arch": "HAILO8"}, None, None, None) == [], "no accelerator: the HEF is not opened"
    assert fit_problems(HEF_8P_333, "HAILO8", None, "4.22.0") != [], "no driver fact still checks the image against the HEF"
    assert fit_problems(None, "HAILO8L", "4.23.0", "4.23.0", "4.23.0") == []
    assert fit_problems(None, None, "4.20.0", "4.23.0") != []
    assert fit_problems(None, None, "4.20.0", None, library="4.23.0") != []


def test_the_fit_cli_passes_each_fact_to_its_check(bundle: Path) -> None:
    def fit(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "fit", str(bundle), *flags], capture_output=True, text=True)

    assert fit("--driver", "4.23.0", "--image-hailort", "4.23.0", "--hailort", "4.23.0").returncode == 0
    image = fit("--driver", "4.23.0", "--image-hailort", "4.22.0")
    assert image.returncode == 1
    assert "the sidecar image's HailoRT 4.22.0 differs from the loaded hailo_pci driver 4.23.0" in image.stderr
    host = fit("--driver", "4.23.0", "--hailort", "4.22.0")
    assert host.returncode == 1
    assert "the host's HailoRT library (hailortcli) 4.22.0 differs from the loaded hailo_pci driver 4.23.0" in host.stderr
    firmware = fit("--driver", "4.23.0", "--image-hailort", "4.23.0", "--firmware", "4.22.0")
    assert firmware.returncode == 1
    assert "the device's firmware 4.22.0 and the sidecar image's HailoRT 4.23.0 differ in major.minor" in firmware.stderr


def test_the_fit_cli_reads_the_image_hailort_from_a_saved_image_and_none_means_onnx_runtime(bundle: Path, tmp_path: Path) -> None:
    def fit(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "fit", str(bundle), "--driver", "4.23.0", *flags], capture_output=True, text=True)

    members = {"c.json": {"config": {"Labels": {"org.hailo-fleet.hailort": "4.22.0"}}}, "manifest.json": [{"Config": "c.json"}]}
    saved = fit("--image-tarball", str(saved_image_tarball(tmp_path / "image.tar", members)))
    assert saved.returncode == 1
    assert "the sidecar image's HailoRT 4.22.0 differs from the loaded hailo_pci driver 4.23.0" in saved.stderr
    assert fit("--image-hailort", "none").returncode == 0
    assert "not allowed with argument" in fit("--image-hailort", "4.23.0", "--image-tarball", "x.tar").stderr


def test_the_fit_cli_checks_every_model_of_a_host_and_refuses_two_releases_of_one(bundle: Path, fsq_bundle: Path) -> None:
    def fit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "fit", "--json", *args], capture_output=True, text=True)

    both = fit(str(bundle), str(fsq_bundle), "--driver", "4.23.0", "--image-hailort", "4.23.0")
    assert both.returncode == 0, both.stderr
    assert json.loads(both.stdout) == {"models": {"tcn-encoder": bundle.name, "conv2d-fsq": fsq_bundle.name}, "fits": True}
    misfit = fit(str(bundle), str(fsq_bundle), "--driver", "4.20.0", "--image-hailort", "4.23.0")
    assert misfit.returncode == 1
    assert f"{bundle.name} does not fit this host" in misfit.stderr
    assert f"\n{fsq_bundle.name} does not fit this host" in misfit.stderr, "each misfit on its own line"
    twice = fit(str(bundle), str(bundle))
    assert twice.returncode == 1
    assert f"{bundle.name} and {bundle.name} are both model tcn-encoder: a host serves one release of each model" in twice.stderr
