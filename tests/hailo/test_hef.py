"""inspect-hef reads real-format HEFs (built here field by field) and refuses everything else."""

import json
import subprocess
from pathlib import Path

import pytest

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.hef import describe, parse_hef
from tests.conftest import CLI
from tests.doubles.hef_builder import EdgeSpec, build_hef

FSQ_LIKE = [
    EdgeSpec("fsq_m13/input_layer1", (2, 100, 9), qp_scale=0.0039215, limvals=(0.0, 0.99999)),
    EdgeSpec("fsq_m13/normalization1", (1, 1, 5), output=True, fmt="NC", qp_zp=128, qp_scale=0.023646, limvals=(-3.03, 3.0)),
]


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_every_header_version_parses(version: int) -> None:
    info = parse_hef(build_hef(FSQ_LIKE, version=version, name="fsq_m13"))
    assert info.header_version == version
    assert info.hw_arch == "HAILO8P"
    assert info.sdk_version == "3.32.0"
    assert info.timestamp.startswith("2025-09-22")
    assert info.integrity == {0: "md5 verified", 1: "not checked (v1 CRC)", 2: "xxh3 verified", 3: "xxh3 verified"}[version]


@pytest.mark.parametrize("nested", [False, True])
def test_streams_names_shapes_and_quantization(nested: bool) -> None:
    group = parse_hef(build_hef(FSQ_LIKE, name="fsq_m13", nested=nested)).network_groups[0]
    assert (group.name, group.contexts) == ("fsq_m13", 1)
    assert group.bottleneck_fps == pytest.approx(90518.0)
    (inp,) = group.inputs
    (out,) = group.outputs
    assert (inp.name, inp.shape, inp.format, inp.data_type) == ("fsq_m13/input_layer1", (2, 100, 9), "NHWC", "UINT8")
    assert inp.qp_scale == pytest.approx(0.0039215)
    assert inp.limvals == pytest.approx((0.0, 0.99999))
    assert (out.shape, out.format, out.qp_zp) == ((1, 1, 5), "NC", 128)
    assert out.limvals == pytest.approx((-3.03, 3.0))


def test_intermediate_edges_are_not_streams() -> None:
    edges = [*FSQ_LIKE, EdgeSpec("fsq_m13/ctx_link", (1, 50, 32), output=True, boundary=False)]
    group = parse_hef(build_hef(edges)).network_groups[0]
    assert [s.name for s in group.outputs] == ["fsq_m13/normalization1"]


def test_hailo8l_arch_is_read_from_the_header() -> None:
    assert parse_hef(build_hef(FSQ_LIKE, hw_arch="HAILO8L")).hw_arch == "HAILO8L"


def test_describe_reads_like_parse_hef() -> None:
    text = describe(parse_hef(build_hef(FSQ_LIKE, name="fsq_m13")))
    assert "Architecture HEF was compiled for: HAILO8P" in text
    assert "Input  fsq_m13/input_layer1 UINT8, NHWC(2x100x9)" in text
    assert "Output fsq_m13/normalization1 UINT8, NC(5)" in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than the 12-byte header"),
        (b"DUMMY", "shorter than the 12-byte header"),
        (b"DUMMY HEF FILE PLACEHOLDER", "not a HEF: magic b'DUMM'"),
        (json.dumps({"mock_hef": True, "model": "tcn"}).encode(), "looks like JSON"),
        (b"\x01HEF\x00\x00\x00\x09" + b"\x00" * 40, "header version 9 is unknown"),
    ],
)
def test_non_hefs_are_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        parse_hef(data)


def test_truncated_and_corrupted_hefs_are_refused() -> None:
    good = build_hef(FSQ_LIKE)
    with pytest.raises(PipelineError, match="HEF is truncated"):
        parse_hef(good[:60])
    with pytest.raises(PipelineError, match="file length does not match"):
        parse_hef(good[:-1])
    flipped = bytearray(good)
    flipped[-10] ^= 0x01
    with pytest.raises(PipelineError, match="HEF xxh3 does not match"):
        parse_hef(bytes(flipped))


def test_inspect_hef_cli(tmp_path: Path) -> None:
    (tmp_path / "m.hef").write_bytes(build_hef(FSQ_LIKE, name="fsq_m13"))
    out = subprocess.run([CLI, "inspect-hef", str(tmp_path / "m.hef"), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["network_groups"][0]["inputs"][0]["shape"] == [2, 100, 9]
    (tmp_path / "fake.hef").write_text("DUMMY")
    bad = subprocess.run([CLI, "inspect-hef", str(tmp_path / "fake.hef")], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: not a HEF")
