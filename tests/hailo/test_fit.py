"""Deploy refuses a bundle that cannot run on a host, before copying it (hailo-toolchain.md section 8)."""

import pytest

from hailo_pipeline.hailo.compat import fit_problems

HEF_8P_333 = {"hw_arch": "HAILO8P", "sdk_version": "3.33.0", "requires_hailort": "4.23.0"}


def test_a_matching_host_fits() -> None:
    assert fit_problems(HEF_8P_333, "HAILO8", "4.23.0", "4.23.0") == []
    assert fit_problems({**HEF_8P_333, "hw_arch": "HAILO8L"}, "HAILO8", "4.23.0", "4.23.0") == []


@pytest.mark.parametrize(
    ("device", "library", "driver", "problem"),
    [
        ("HAILO8L", "4.23.0", "4.23.0", "the HEF is for HAILO8P; a HAILO8L device cannot run it"),
        ("HAILO8", "4.22.0", "4.22.0", "needs HailoRT >= 4.23.0; the host has 4.22.0"),
        ("HAILO8", "4.23.0", "4.22.0", "hailo_pci driver 4.22.0 differs from HailoRT library 4.23.0"),
    ],
)
def test_each_misfit_is_named(device: str, library: str, driver: str, problem: str) -> None:
    problems = fit_problems(HEF_8P_333, device, library, driver)
    assert len(problems) == 1
    assert problem in problems[0]


def test_unknown_facts_skip_their_checks_and_onnx_bundles_need_only_a_sane_driver() -> None:
    assert fit_problems(HEF_8P_333, None, None, None) == []
    assert fit_problems(None, "HAILO8L", "4.23.0", "4.23.0") == []
    assert fit_problems(None, None, "4.23.0", "4.20.0") != []
