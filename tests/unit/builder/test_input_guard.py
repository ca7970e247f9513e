"""The input guard: client windows against the calibration envelope, per channel, never changing them."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hailo_pipeline.builder.calibration import synthetic_windows
from hailo_pipeline.builder.pipeline import plan
from hailo_pipeline.builder.spec import IMU_CHANNELS, load_spec
from hailo_pipeline.bundle import input_guard, units
from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle.input_guard import BATCH, Envelope, InputGuard, envelope, read_envelope
from hailo_pipeline.bundle.sample_traffic import read_windows, verdict
from hailo_pipeline.cli import main
from hailo_pipeline.cli.bundle import FLAGGED
from hailo_pipeline.errors import PipelineError
from tests.conftest import SAMPLES, build_example

MODEL_UNITS = units.default_units(IMU_CHANNELS)


@pytest.fixture(scope="module")
def env() -> Envelope:
    """The envelope of the example's synthetic calibration (256 windows, seed 0), through release.json's JSON."""
    built = envelope(synthetic_windows(256, 100), IMU_CHANNELS, MODEL_UNITS)
    return read_envelope({"calibration": {"envelope": json.loads(json.dumps(built.as_manifest()))}})


def _judged(env: Envelope, windows: list[np.ndarray], client_units: tuple[str, ...] = MODEL_UNITS) -> dict[str, input_guard.ChannelVerdict]:
    guard = InputGuard(env, client_units)
    for window in windows:
        guard.observe(window)
    return {c.channel: c for c in guard.verdict().channels}


def _sample(name: str) -> np.ndarray:
    return read_windows(SAMPLES / name, len(IMU_CHANNELS))[0]


def test_envelope_round_trips_through_the_manifest(env: Envelope) -> None:
    assert env.channels == IMU_CHANNELS
    assert env.units == MODEL_UNITS
    assert env.quantiles.shape == (len(input_guard.QUANTILES), 9)
    assert np.all(np.diff(env.quantiles, axis=0) >= 0)  # 0.1 <= 1 <= 50 <= 99 <= 99.9 %
    assert 9 < env.quantiles[2, 2] < 10.5  # az's median: gravity, in m/s^2


def test_held_out_windows_of_the_calibration_kind_pass(env: Envelope) -> None:
    # The band's margin is set so the calibration's own kind of windows stays inside it.
    judged = _judged(env, list(synthetic_windows(300, 100, seed=7)))
    assert {c.verdict for c in judged.values()} == {"ok"}
    assert max(c.outside_share for c in judged.values()) < 0.01
    assert all(0.8 < c.scale < 1.25 for c in judged.values())


def test_gyroscope_in_deg_s_is_a_unit_mismatch_with_the_factor_and_the_unit(env: Envelope) -> None:
    judged = _judged(env, [_sample("realistic_imu_sample.json")])
    flagged = {name: c for name, c in judged.items() if c.verdict != "ok"}
    assert set(flagged) == {"gx", "gy", "gz"}
    for name, c in flagged.items():
        assert c.verdict == "unit_mismatch"
        assert c.unit_suggestion == "deg/s"
        assert c.factor == pytest.approx(57.2958, rel=1e-4)
        assert f"set client_units {name}: deg/s" in c.message
    # declared, the sidecar's conversion brings them back inside the envelope
    declared = tuple("deg/s" if c.startswith("g") else u for c, u in zip(IMU_CHANNELS, MODEL_UNITS, strict=True))
    converted = _sample("realistic_imu_sample.json") * np.asarray(units.factors(IMU_CHANNELS, declared, MODEL_UNITS))
    assert {c.verdict for c in _judged(env, [converted], declared).values()} == {"ok"}


def test_a_client_in_deg_s_is_named_while_it_is_mostly_still(env: Envelope) -> None:
    # Each window votes: the still ones do not hide the moving ones, as a scale over all windows would.
    windows = [_sample("static_imu_sample.json")] * 90 + [_sample("realistic_imu_sample.json")] * 10
    judged = _judged(env, windows)
    assert [c.channel for c in judged.values() if c.verdict != "ok"] == ["gx", "gy", "gz"]
    assert {c.unit_suggestion for c in judged.values() if c.verdict != "ok"} == {"deg/s"}
    assert "in 10% of windows" in judged["gx"].message


@pytest.mark.parametrize(
    ("sensor", "sent", "expected"),
    [
        ("a", "g", "g"),
        ("a", "mg", "mg"),
        ("g", "deg/s", "deg/s"),
        ("g", "rad/s", None),
        ("m", "gauss", "gauss"),
        ("m", "mG", "mG"),
        ("m", "nT", "nT"),
    ],
)
def test_a_sensor_sent_in_another_unit_is_named(env: Envelope, sensor: str, sent: str, expected: str | None) -> None:
    windows = list(synthetic_windows(8, 100, seed=11)[:, 0].astype(np.float64))
    for window in windows:
        for c, channel in enumerate(IMU_CHANNELS):
            if channel.startswith(sensor):
                window[:, c] *= units.factor(channel, MODEL_UNITS[c], sent)
    judged = _judged(env, windows)
    assert {judged[c].unit_suggestion for c in IMU_CHANNELS if c.startswith(sensor)} == {expected}
    assert {judged[c].verdict for c in IMU_CHANNELS if not c.startswith(sensor)} == {"ok"}


def test_static_sample_passes_clean(env: Envelope) -> None:
    for name in ("static_imu_sample.json", "static_imu_sample_105rows.json"):
        assert {c.verdict for c in _judged(env, [_sample(name)]).values()} == {"ok"}, name


def test_values_no_imu_produces_are_flagged(env: Envelope) -> None:
    judged = _judged(env, [np.full((100, 9), 1e30, np.float32)])
    assert {c.verdict for c in judged.values()} == {"impossible"}
    assert "no IMU produces more than 35 rad/s" in judged["gx"].message
    assert "156.9 m/s^2" in judged["ax"].message  # 16 g


def test_accelerometer_in_g_and_magnetometer_in_gauss_are_named(env: Envelope) -> None:
    window = _sample("static_imu_sample.json").copy()
    window[:, :3] /= units.UNITS["g"].factor
    window[:, 6:] /= 100.0
    judged = _judged(env, [window])
    assert {judged[c].unit_suggestion for c in ("ax", "ay", "az")} == {"g"}
    assert {judged[c].unit_suggestion for c in ("mx", "my", "mz")} == {"gauss"}
    assert {judged[c].verdict for c in ("gx", "gy", "gz")} == {"ok"}


def test_a_still_gyroscope_is_not_taken_for_a_unit(env: Envelope) -> None:
    # Angular rate has no floor: far less motion than the calibration's is stillness, not rad/s sent as deg/s.
    still = _sample("static_imu_sample.json").copy()
    still[:, 3:6] = np.random.default_rng(0).normal(0, 0.002, (100, 3))
    judged = _judged(env, [still], tuple("deg/s" if c.startswith("g") else u for c, u in zip(IMU_CHANNELS, MODEL_UNITS, strict=True)))
    assert {judged[c].verdict for c in ("gx", "gy", "gz")} == {"ok"}


def test_constant_and_saturated_channels(env: Envelope) -> None:
    windows = [w.copy() for w in synthetic_windows(20, 100, seed=3)[:, 0]]
    for w in windows:
        w[:, 4] = 0.25  # gy stuck
        w[:, 3] = np.where(np.arange(100) % 2, 6.0, -6.0)  # gx pinned at +-6 rad/s, past the calibration's 1..99 %
    judged = _judged(env, windows)
    assert judged["gy"].verdict == "constant"
    assert judged["gx"].verdict == "saturated"
    assert judged["ax"].verdict == "ok"


def test_out_of_envelope_without_a_unit_to_blame(env: Envelope) -> None:
    windows = [w.copy() for w in synthetic_windows(20, 100, seed=4)[:, 0]]
    for w in windows[:5]:
        w[50, 2] = 60.0  # az: one spike per window, 25 % of windows
    judged = _judged(env, windows)
    assert judged["az"].verdict == "out_of_envelope"
    assert judged["az"].outside_share == pytest.approx(0.25)
    assert judged["az"].unit_suggestion is None


def test_batched_counting_equals_one_window_at_a_time(env: Envelope) -> None:
    windows = list(synthetic_windows(BATCH + 5, 100, seed=5)[:, 0] * np.float32(3))
    whole = InputGuard(env)
    for w in windows:
        whole.observe(w)
    parts = [InputGuard(env) for _ in windows]
    for guard, w in zip(parts, windows, strict=True):
        guard.observe(w)
    assert whole.verdict().windows == BATCH + 5
    shares = np.mean([[c.outside_share for c in g.verdict().channels] for g in parts], axis=0)
    assert [c.outside_share for c in whole.verdict().channels] == pytest.approx(list(shares))


def test_a_scale_given_to_the_guard_judges_windows_as_converted_by_hand(env: Envelope) -> None:
    # The sidecar's guard takes windows as clients send them, and the client -> model scale once per batch.
    declared = tuple("deg/s" if c.startswith("g") else u for c, u in zip(IMU_CHANNELS, MODEL_UNITS, strict=True))
    scale = units.factors(IMU_CHANNELS, declared, MODEL_UNITS)
    raw = [_sample("realistic_imu_sample.json"), _sample("static_imu_sample.json")] * 40
    scaled = InputGuard(env, declared, scale)
    for window in raw:
        scaled.observe(window)
    by_hand = _judged(env, [window * np.asarray(scale) for window in raw], declared)
    assert [(c.verdict, c.scale) for c in scaled.verdict().channels] == [(c.verdict, pytest.approx(c.scale)) for c in by_hand.values()]
    assert {c.verdict for c in by_hand.values()} == {"ok"}


def test_counts_leave_the_verdict_two_rotations_after_the_client_is_fixed(env: Envelope) -> None:
    guard = InputGuard(env)
    for _ in range(BATCH + 3):
        guard.observe(_sample("realistic_imu_sample.json"))
    guard.rotate()
    fixed = _sample("realistic_imu_sample.json")
    fixed[:, 3:6] *= np.pi / 180  # the client now sends rad/s
    for _ in range(10):
        guard.observe(fixed)
    judged = guard.verdict()  # the generation before still counts
    assert (judged.windows, [c.channel for c in judged.flagged]) == (BATCH + 13, ["gx", "gy", "gz"])
    guard.rotate()
    judged = guard.verdict()
    assert (judged.windows, judged.flagged) == (10, [])
    guard.rotate()
    guard.rotate()
    assert (guard.verdict().windows, guard.verdict().channels) == (0, [])


def test_the_guard_never_changes_a_window(env: Envelope) -> None:
    window = _sample("realistic_imu_sample.json").astype(np.float32)
    before = window.copy()
    InputGuard(env).observe(window)
    assert np.array_equal(window, before)


def test_a_bundle_without_an_envelope_says_so_and_judges_nothing() -> None:
    assert read_envelope({"calibration": {"windows": 1024}}) is None
    guard = InputGuard(None)
    guard.observe(np.full((100, 9), 1e30, np.float32))
    judged = guard.verdict()
    assert (judged.envelope, judged.windows, judged.channels, judged.flagged) == (False, 1, [], [])


def test_a_malformed_envelope_is_an_error_saying_rebuild(env: Envelope) -> None:
    raw = env.as_manifest()
    raw["channels"]["gx"]["unit"] = "m/s^2"
    with pytest.raises(PipelineError, match=r"calibration.envelope is malformed .*'m/s\^2' is acceleration, not angular rate.*rebuild"):
        read_envelope({"calibration": {"envelope": raw}})


def test_sample_files_are_read_or_refused_with_the_file_named(tmp_path: Path, env: Envelope) -> None:
    np.save(tmp_path / "many.npy", synthetic_windows(3, 100)[:, 0])
    np.save(tmp_path / "one.npy", synthetic_windows(1, 100)[0, 0])
    assert len(read_windows(tmp_path / "many.npy", 9)) == 3
    assert len(read_windows(tmp_path / "one.npy", 9)) == 1
    assert verdict([tmp_path / "many.npy", tmp_path / "one.npy"], IMU_CHANNELS, MODEL_UNITS, env).windows == 4
    (tmp_path / "bad.json").write_text('{"x": [[1, 2, 3]]}')
    np.save(tmp_path / "nan.npy", np.full((100, 9), np.nan))
    np.save(tmp_path / "wide.npy", np.zeros((100, 6)))
    for name, problem in [
        ("bad.json", "an EdgeInfer request body is"),
        ("nan.npy", "NaN or infinite values"),
        ("wide.npy", "windows of 6 channels; the model reads 9"),
        ("missing.json", "not found"),
    ]:
        with pytest.raises(PipelineError, match=problem):
            read_windows(tmp_path / name, 9)


# The example encoder's bundle, as `hailo-pipeline check-input` meets it


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["check-input", *args, "--json"])
    return status, json.loads(capsys.readouterr().out)


def test_the_bundle_carries_the_envelope_of_its_calibration(bundle: Path) -> None:
    manifest = json.loads((bundle / "release.json").read_text())
    env = read_envelope(manifest)
    assert env is not None
    assert env.channels == IMU_CHANNELS
    assert env.units == manifest_io.input_units(manifest)[0]
    # the example's calibration: 256 synthetic windows, seed 0
    assert env.mean == pytest.approx(envelope(synthetic_windows(256, 100), IMU_CHANNELS, MODEL_UNITS).mean, rel=1e-5)


def test_check_input_flags_the_deg_s_gyroscope_and_exits_3(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, result = _check(capsys, str(bundle), str(SAMPLES / "realistic_imu_sample.json"))
    assert status == FLAGGED == 3
    assert (result["release"], result["envelope"], result["windows"], result["flagged"]) == (bundle.name, True, 1, ["gx", "gy", "gz"])
    assert [c["channel"] for c in result["channels"]] == list(IMU_CHANNELS)
    assert all({"channel", "verdict", "factor", "unit_suggestion", "message"} <= set(c) for c in result["channels"])
    for entry in result["channels"][3:6]:
        assert (entry["verdict"], entry["unit_suggestion"]) == ("unit_mismatch", "deg/s")
        assert entry["factor"] == pytest.approx(57.3, abs=0.01)
    assert {c["verdict"] for c in result["channels"][:3] + result["channels"][6:]} == {"ok"}


def test_declaring_the_gyroscope_in_deg_s_clears_it(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    declared = [f"--client-units={c}=deg/s" for c in ("gx", "gy", "gz")]
    status, result = _check(capsys, str(bundle), str(SAMPLES / "realistic_imu_sample.json"), *declared)
    assert (status, result["flagged"]) == (0, [])


def test_check_input_passes_the_static_sample_and_reads_npy(bundle: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check-input", str(bundle), str(SAMPLES / "static_imu_sample.json")]) == 0
    out = capsys.readouterr().out
    assert f"{bundle.name}: 1 window(s) from 1 file(s), 0 of 9 channels flagged" in out
    np.save(tmp_path / "huge.npy", np.full((2, 100, 9), 1e30))
    status, result = _check(capsys, str(bundle), str(tmp_path / "huge.npy"), str(SAMPLES / "static_imu_sample.json"))
    assert (status, result["windows"]) == (3, 3)
    assert {c["verdict"] for c in result["channels"]} == {"impossible"}


def test_check_input_on_a_bundle_without_an_envelope(bundle: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = tmp_path / bundle.name
    shutil.copytree(bundle, old)
    manifest = json.loads((old / "release.json").read_text())
    del manifest["calibration"]["envelope"]
    (old / "release.json").write_text(json.dumps(manifest))
    status, result = _check(capsys, str(old), str(SAMPLES / "realistic_imu_sample.json"))
    assert (status, result["envelope"], result["channels"], result["flagged"]) == (0, False, [], [])
    assert main(["check-input", str(old), str(SAMPLES / "realistic_imu_sample.json")]) == 0
    assert "carries no calibration envelope (built before the input guard)" in capsys.readouterr().out


def test_check_input_refuses_a_unit_it_does_not_know(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(SAMPLES / "static_imu_sample.json")
    assert main(["check-input", str(bundle), sample, "--client-units", "gx=furlongs"]) == 1
    assert "--client-units.gx: unknown unit 'furlongs'; valid units for gx (angular rate): rad/s, deg/s" in capsys.readouterr().err
    assert main(["check-input", str(bundle), sample, "--client-units", "gx"]) == 1
    assert "give CHANNEL=UNIT, for example gx=deg/s" in capsys.readouterr().err


# The build: the envelope in the report, and the verdict on the spec's sample traffic


def test_the_report_shows_the_envelope(bundle: Path) -> None:
    page = (bundle / "report.html").read_text()
    assert "<h2>Input envelope</h2>" in page
    assert "<th>99.9 %</th>" in page
    assert "The spec names no sample traffic (input.sample_traffic)." in page


def test_the_build_judges_the_specs_sample_traffic(tmp_path: Path, sources: dict[str, Path]) -> None:
    files = [SAMPLES / "realistic_imu_sample.json", SAMPLES / "static_imu_sample.json"]
    inputs = {"window": 100, "channels": list(IMU_CHANNELS), "sample_traffic": [str(f) for f in files]}
    release = build_example(tmp_path, sources["tcn_encoder"], input=inputs)
    traffic = json.loads((release / "release.json").read_text())["calibration"]["sample_traffic"]
    assert (traffic["files"], traffic["windows"]) == ([f.name for f in files], 2)
    assert [c["channel"] for c in traffic["channels"] if c["verdict"] == "unit_mismatch"] == ["gx", "gy", "gz"]
    page = (release / "report.html").read_text()
    assert "Sample traffic: 3 of 9 channels flagged" in page
    assert "set client_units gz: deg/s" in page


def test_sample_traffic_in_the_spec_is_a_list_of_files(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    inputs = {"window": 100, "channels": list(IMU_CHANNELS)}
    with pytest.raises(PipelineError, match=r"input\.sample_traffic must be a list of files"):
        load_spec(write_spec(input=inputs | {"sample_traffic": [{"x": []}]}))
    spec = load_spec(write_spec(input=inputs | {"sample_traffic": ["traffic/a.json"]}))
    assert spec.input.sample_traffic == ((tmp_path / "traffic/a.json").resolve(),)
    assert json.loads(spec.canonical_json())["input"]["sample_traffic"] == ["a.json"]  # where it lies is no input of the build
    with pytest.raises(PipelineError, match=r"input.sample_traffic file .*traffic/a.json not found"):
        plan(tmp_path / "spec.yaml", tmp_path / "out")
    (tmp_path / "traffic/a.json").mkdir(parents=True)
    with pytest.raises(PipelineError, match=r"input.sample_traffic file .*traffic/a.json cannot be read: Is a directory; name a file"):
        plan(tmp_path / "spec.yaml", tmp_path / "out")
