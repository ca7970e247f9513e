"""report.html in a real browser (Debian's headless Chromium, driven by Playwright): the page loads with no
console error or failed request, every figure is drawn with its axes labelled, and a failing INT8 preview shows
why and the lines to copy."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from hailo_pipeline.builder.pipeline import build
from tests.conftest import SMALL_CALIBRATION, build_example, example_spec_dict
from tests.support.browser import open_page
from tests.support.fleet_data import fleet_data

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> Path:
    folder = tmp_path_factory.mktemp("report")
    spec = example_spec_dict() | {"calibration": SMALL_CALIBRATION, "source": {"onnx": str(sources["tcn_encoder_outliers_onnx"])}}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    return build(folder / "spec.yaml", folder / "out").release_dir / "report.html"


def _open(report: Path, screenshot: Path) -> dict[str, Any]:
    return open_page(
        report,
        screenshot,
        """() => ({
            figures: [...document.querySelectorAll('figure')].map(f => {
                const svg = f.querySelector('svg'), box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                return {caption: f.querySelector('figcaption').textContent, width: box.width, height: box.height,
                        text: svg ? svg.textContent : ''};
            }),
            brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length,
            gates: [...document.querySelectorAll('.gate')].map(g => ({cls: g.className, text: g.textContent})),
            alls: [...document.querySelectorAll('pre.alls')].map(p => p.textContent),
        })""",
    )


def test_the_report_renders_in_chromium_with_labelled_figures(failing_report: Path, tmp_path: Path) -> None:
    page = _open(failing_report, tmp_path / "report.png")
    assert page["problems"] == []
    assert page["brokenImages"] == 0
    assert (tmp_path / "report.png").stat().st_size > 50_000
    captions = [f["caption"] for f in page["figures"]]
    assert len(captions) == 6, captions
    for figure in page["figures"]:
        assert figure["width"] > 200, figure["caption"]
        assert figure["height"] > 150, figure["caption"]
    texts = {f["caption"].split(":")[0]: f["text"] for f in page["figures"]}
    assert "FP32 latent" in texts["INT8 preview parity"]
    assert "y = x" in texts["INT8 preview parity"]
    assert "1 - worst window's cosine (log)" in texts["Per-layer sensitivity (advised layers in bold orange)"]
    assert "z-score" in texts["Calibration coverage"]


def test_a_failing_preview_is_red_says_why_and_gives_the_lines_to_copy(failing_report: Path, tmp_path: Path) -> None:
    page = _open(failing_report, tmp_path / "report.png")
    gates = {g["text"].split(":")[0]: g for g in page["gates"]}
    assert "fail" in gates["int8_preview"]["cls"]
    assert "< 0.98" in gates["int8_preview"]["text"]
    assert "pass" in gates["export"]["cls"]
    assert page["alls"] == [
        "quantization_param(/blocks.0/conv1/Conv, precision_mode=a16_w16)\nquantization_param(/blocks.1/conv1/Conv, precision_mode=a16_w16)"
    ]


def test_a_failing_preview_no_layer_lifts_does_not_read_as_passing() -> None:
    from hailo_pipeline.builder.report import _advice

    text = _advice({"layers": [], "alls": [], "passed_after": False})
    assert "passes as built" not in text
    assert "No layer kept at 16 bits lifts the INT8 preview" in text


def test_a_fleet_calibrated_report_shows_where_synthetic_calibration_misses(tmp_path: Path, sources: dict[str, Path]) -> None:
    into, _ = fleet_data(tmp_path, gyro_gain=6.0)
    calibration = SMALL_CALIBRATION | {"source": "fleet", "fleet_dir": str(into), "holdout_share": 0.1}
    report = build_example(tmp_path, sources["tcn_encoder"], calibration=calibration) / "report.html"
    page = _open(report, tmp_path / "fleet-report.png")
    assert page["problems"] == []
    gates = {g["text"].split(":")[0]: g for g in page["gates"]}
    fleet = gates["Against synthetic calibration"]
    assert "fail" in fleet["cls"]
    assert "it misses the fleet's input on gx, gy, gz" in fleet["text"]
    assert "out_of_envelope" in fleet["text"]
