"""The fleet's windows (issue #41): capture files merged on the controller with their provenance, a second collection
adding only what is new, and calibration on them, with a share held out for the gates."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hailo_pipeline.builder.spec import load_spec
from hailo_pipeline.bundle import fleet_windows
from hailo_pipeline.bundle.fleet_windows import Captured
from hailo_pipeline.cli import main
from hailo_pipeline.errors import PipelineError
from tests.conftest import SMALL_CALIBRATION, build_example
from tests.support.fleet_data import CHANNELS, MODEL_UNITS, capture, fleet_data, physical


def test_a_collection_adds_only_new_windows_and_says_where_they_came_from(tmp_path: Path) -> None:
    pi_file, into = tmp_path / "tcn-encoder.npz", tmp_path / "fleet-data"
    windows = physical(6, 1)
    fleet_windows.write(pi_file, capture(windows[:4], 1000.0, "tcn-encoder-1.0.0-a"))
    first = fleet_windows.collect(pi_file, into, "edge-01")
    assert (first["added"], first["windows"], first["first"], first["last"]) == (4, 4, 1000.0, 1003.0)
    assert first["releases"] == {"tcn-encoder-1.0.0-a": 4}
    assert first["sha256"] == hashlib.sha256((into / "tcn-encoder/edge-01.npz").read_bytes()).hexdigest()
    assert json.loads((into / "tcn-encoder/edge-01.json").read_text())["host"] == "edge-01"

    written = (into / "tcn-encoder/edge-01.npz").stat().st_mtime_ns
    assert fleet_windows.collect(pi_file, into, "edge-01")["added"] == 0  # nothing new: nothing written
    assert (into / "tcn-encoder/edge-01.npz").stat().st_mtime_ns == written

    # the Pi's sample moved on: two windows replaced by newer ones under release b; the collected ones stay
    later = Captured(
        np.concatenate([windows[:2], windows[4:]]).astype(np.float32),
        np.asarray([1000.0, 1001.0, 2000.0, 2001.0]),
        np.asarray(["tcn-encoder-1.0.0-a"] * 2 + ["tcn-encoder-1.0.0-b"] * 2),
        CHANNELS,
        MODEL_UNITS,
    )
    fleet_windows.write(pi_file, later)
    second = fleet_windows.collect(pi_file, into, "edge-01")
    assert (second["added"], second["windows"], second["last"]) == (2, 6, 2001.0)
    assert second["releases"] == {"tcn-encoder-1.0.0-a": 4, "tcn-encoder-1.0.0-b": 2}
    merged = fleet_windows.read(into / "tcn-encoder/edge-01.npz")
    np.testing.assert_array_equal(merged.windows, windows.astype(np.float32))


def test_a_collection_refuses_windows_of_another_layout(tmp_path: Path) -> None:
    into = tmp_path / "fleet-data"
    fleet_windows.write(tmp_path / "tcn-encoder.npz", capture(physical(2, 1), 0.0, "a"))
    fleet_windows.collect(tmp_path / "tcn-encoder.npz", into, "edge-01")
    fleet_windows.write(tmp_path / "tcn-encoder.npz", capture(physical(2, 1)[:, :50], 10.0, "b"))
    with pytest.raises(PipelineError, match=r"cannot join the collected ones .* the model's input changed"):
        fleet_windows.collect(tmp_path / "tcn-encoder.npz", into, "edge-01")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(PipelineError, match=r"junk.npz is not a capture file \(.npz\)"):
        fleet_windows.collect(tmp_path / "junk.npz", into, "edge-01")


def test_the_cli_collects_and_calibrates_on_the_fleet_with_a_share_held_out(
    tmp_path: Path, write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    into, windows = fleet_data(tmp_path)
    assert json.loads(capsys.readouterr().out)["added"] == 200
    spec = write_spec(calibration=SMALL_CALIBRATION)
    out, held = tmp_path / "calibration.npy", tmp_path / "holdout.npy"
    argv = ["calibrate", str(spec), "--from-fleet", str(into), "--holdout-share", "0.1", "--out", str(out), "--holdout-out", str(held)]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["windows"], report["fleet"]["held_out"], report["errors"]) == (270, 30, [])
    assert [f["file"] for f in report["fleet"]["files"]] == ["edge-01.npz", "recorded-elsewhere.npy"]
    calibration, holdout = np.load(out), np.load(held)
    assert (calibration.shape, holdout.shape) == ((270, 1, 100, 9), (30, 1, 100, 9))
    everything = np.concatenate([calibration, holdout])[:, 0]
    by_first_value = everything[np.argsort(everything[:, 0, 0])]
    np.testing.assert_allclose(by_first_value, windows[np.argsort(windows[:, 0, 0])], rtol=1e-5, atol=1e-5)  # rad/s again
    assert main(["calibrate", str(spec), "--from-fleet", str(tmp_path / "empty")]) == 1
    assert "holds no windows (.npz capture files, .npy arrays): collect.yml fetches the fleet's there" in capsys.readouterr().err
    assert main([*argv[:4], "--holdout-share", "1.5"]) == 1
    assert "--holdout-share must be between 0 and 1, got 1.5" in capsys.readouterr().err


def test_a_build_calibrated_on_the_fleet_gates_on_its_held_out_windows(tmp_path: Path, sources: dict[str, Path]) -> None:
    into, _ = fleet_data(tmp_path, gyro_gain=6.0)  # the fleet turns faster than the synthetic windows do
    calibration = SMALL_CALIBRATION | {"source": "fleet", "fleet_dir": str(into), "holdout_share": 0.1}
    release = build_example(tmp_path, sources["tcn_encoder"], calibration=calibration)
    manifest = json.loads((release / "release.json").read_text())
    record = manifest["calibration"]
    assert (record["source"], record["windows"], record["fleet"]["held_out"]) == ("fleet", 270, 30)
    assert record["fleet"]["files"][0] == {"file": "edge-01.npz", "windows": 200, "releases": ["tcn-encoder-1.0.0-a"]}
    judged = {result["windows"] for result in manifest["gates"]["int8_preview"]["results"].values()}
    assert judged == {30}  # the INT8 preview judged the fleet's held-out windows
    against = {c["channel"]: c for c in record["fleet"]["against_synthetic"]}
    assert [ch for ch, c in against.items() if c["verdict"] != "ok"] == ["gx", "gy", "gz"]  # where synthetic data misses
    assert all(against[ch]["fleet_std"] > 4 * against[ch]["synthetic_std"] for ch in ("gx", "gy", "gz"))
    page = (release / "report.html").read_text()
    assert "<h2>Fleet calibration</h2>" in page
    assert "Against synthetic calibration: it misses the fleet&#x27;s input on gx, gy, gz" in page


def test_a_fleet_spec_names_its_folder(write_spec: Callable[..., Path]) -> None:
    with pytest.raises(PipelineError, match=r"calibration\.source fleet needs calibration\.fleet_dir"):
        load_spec(write_spec(calibration={"source": "fleet"}))
    with pytest.raises(PipelineError, match=r"calibration\.holdout_share must be between 0 and 1, got 0"):
        load_spec(write_spec(calibration={"source": "fleet", "fleet_dir": "data", "holdout_share": 0}))
