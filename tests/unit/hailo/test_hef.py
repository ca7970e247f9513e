"""inspect-hef reads real-format HEFs (built here field by field) and refuses everything else."""

import hashlib
import json
import re
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import xxhash

from hailo_pipeline.builder.pipeline import build
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.compat import DEVICE_RUNS, fit_problems
from hailo_pipeline.hailo.hef import Stream, describe, parse_hef
from tests.conftest import CLI, DfcDoubleRun
from tests.support.doubles.hef_builder import HEADER_SIZES, EdgeSpec, build_hef

FSQ_LIKE = [
    EdgeSpec("fsq_m13/input_layer1", (2, 100, 9), qp_scale=0.0039215, limvals=(0.0, 0.99999)),
    EdgeSpec("fsq_m13/normalization1", (1, 1, 5), output=True, fmt="NC", qp_zp=128, qp_scale=0.023646, limvals=(-3.03, 3.0)),
]
OTHER_IO = [EdgeSpec("other/in", (4, 4, 3)), EdgeSpec("other/out", (1, 1, 7), output=True, fmt="NC")]
# The DFC 3.32 hailo8 HEF of hailo-toolchain.md section 11: its input stream is NHCW, its output NC(5)
SECTION_11 = [
    EdgeSpec("fsq_m13_behavioral_analysis/input_layer1", (2, 100, 9), fmt="NHCW", qp_scale=0.003921532537788153, limvals=(0.0, 0.9999908)),
    EdgeSpec(
        "fsq_m13_behavioral_analysis/normalization1",
        (1, 1, 5),
        output=True,
        fmt="NC",
        qp_zp=128,
        qp_scale=0.02364622801542282,
        limvals=(-3.026717185974121, 3.0030710697174072),
    ),
]


def _names(streams: list[Stream]) -> list[str]:
    return [s.name for s in streams]


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_every_header_version_parses(version: int) -> None:
    info = parse_hef(build_hef(FSQ_LIKE, version=version, name="fsq_m13"))
    assert info.header_version == version
    assert info.hw_arch == "HAILO8P"
    assert info.sdk_version == "3.32.0"
    assert info.timestamp.startswith("2025-09-22")
    assert info.integrity == {0: "md5 verified", 1: "crc32 verified", 2: "xxh3 verified", 3: "xxh3 verified"}[version]
    assert info.network_groups[0].layouts == 1


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


@pytest.mark.parametrize("nested", [False, True])
def test_the_name_is_the_groups_metadata_name_never_its_field_10_nor_its_core_ops(nested: bool) -> None:
    """hailort v4.23.0 hef.cpp HefUtils::get_network_group_name reads network_group_metadata(1) of the group
    itself: not ops(8).core_op(4)'s metadata, and never network_group_name(10), even when the metadata's is unset."""
    named = parse_hef(build_hef(FSQ_LIKE, name="group_field_10", metadata_name="fsq_m13", core_op_name="core_op", nested=nested))
    assert named.network_groups[0].name == "fsq_m13"
    unnamed = parse_hef(build_hef(FSQ_LIKE, name="group_field_10", metadata_name="", core_op_name="core_op", nested=nested))
    assert unnamed.network_groups[0].name == ""


@pytest.mark.parametrize("arch", ["HAILO8P", "HAILO8L"])
def test_a_group_with_partial_network_groups_is_named_by_the_first_whatever_the_arch(arch: str) -> None:
    """get_network_group_name takes partial_network_groups(0)'s metadata name whenever the group has such copies
    (it does not ask the arch, unlike the I/O, which only multi-layout archs read from the copies)."""
    data = build_hef(FSQ_LIKE, hw_arch=arch, metadata_name="top_level", layout_edges=[FSQ_LIKE] * 2, layout_names=["first", "second"])
    assert parse_hef(data).network_groups[0].name == "first"


def test_partial_core_ops_do_not_name_the_group() -> None:
    """Net-flow HEFs keep their copies under ops(8).core_op(4).partial_core_ops(7), which get_network_group_name
    does not read: the group's own metadata names it."""
    data = build_hef(FSQ_LIKE, hw_arch="HAILO8L", nested=True, metadata_name="fsq_m13", layout_edges=[FSQ_LIKE], layout_names=["copy"])
    group = parse_hef(data).network_groups[0]
    assert (group.name, group.layouts) == ("fsq_m13", 1)


@pytest.mark.parametrize("arch", ["HAILO8L", "HAILO15M"])
@pytest.mark.parametrize("nested", [False, True], ids=["partial_network_groups", "partial_core_ops"])
def test_multi_layout_hefs_are_read_from_their_per_layout_copies(arch: str, nested: bool) -> None:
    data = build_hef(FSQ_LIKE, hw_arch=arch, name="fsq_m13", nested=nested, layout_edges=[FSQ_LIKE] * 3, top_level=False)
    info = parse_hef(data)
    assert info.hw_arch == arch
    (group,) = info.network_groups
    assert (group.name, group.layouts, group.contexts) == ("fsq_m13", 3, 1)
    assert group.bottleneck_fps == pytest.approx(90518.0)
    assert _names(group.inputs) == ["fsq_m13/input_layer1"]
    assert _names(group.outputs) == ["fsq_m13/normalization1"]
    assert group.inputs[0].shape == (2, 100, 9)
    assert ", 3 layouts" in describe(info)


@pytest.mark.parametrize("nested", [False, True])
def test_a_multi_layout_hef_takes_the_first_copy_over_the_top_level(nested: bool) -> None:
    data = build_hef(OTHER_IO, hw_arch="HAILO8L", nested=nested, layout_edges=[FSQ_LIKE, OTHER_IO])
    group = parse_hef(data).network_groups[0]
    assert (_names(group.inputs), group.layouts) == (["fsq_m13/input_layer1"], 2)


@pytest.mark.parametrize("nested", [False, True])
def test_other_archs_read_only_the_top_level_as_hailort_does(nested: bool) -> None:
    group = parse_hef(build_hef(OTHER_IO, hw_arch="HAILO8P", nested=nested, layout_edges=[FSQ_LIKE])).network_groups[0]
    assert (_names(group.inputs), group.layouts) == (["other/in"], 1)
    with pytest.raises(PipelineError, match=r"per-layout copies are read by HailoRT only for HAILO8L/HAILO15M HEFs, not HAILO8P"):
        parse_hef(build_hef(FSQ_LIKE, hw_arch="HAILO8P", nested=nested, layout_edges=[FSQ_LIKE], top_level=False))


@pytest.mark.parametrize("nested", [False, True])
def test_a_hef_without_streams_is_refused(nested: bool) -> None:
    with pytest.raises(PipelineError, match=r"has no inputs/outputs \(0 input\(s\), 0 output\(s\) in its top-level core op\)"):
        parse_hef(build_hef(FSQ_LIKE, hw_arch="HAILO8P", nested=nested, top_level=False))
    with pytest.raises(PipelineError, match=r"0 input\(s\), 1 output\(s\) in its first per-layout copy"):
        parse_hef(build_hef(FSQ_LIKE, hw_arch="HAILO8L", nested=nested, layout_edges=[FSQ_LIKE[1:]], top_level=False))


@pytest.mark.parametrize("arch", ["HAILO8L", "HAILO15M"])
@pytest.mark.parametrize("nested", [False, True])
def test_a_multi_layout_hef_without_per_layout_copies_is_refused(arch: str, nested: bool) -> None:
    """hef.cpp fill_networks_metadata reads a multi-layout HEF's core ops only from its per-layout copies (and
    get_core_op_by_net_group_name takes partial_core_ops[0] for HAILO8L): without them HailoRT cannot load it,
    whatever its top level holds."""
    with pytest.raises(PipelineError, match=f"HEF network group 'net' is {arch} but has no per-layout copies: HailoRT reads"):
        parse_hef(build_hef(FSQ_LIKE, hw_arch=arch, nested=nested, layout_edges=[]))


@pytest.mark.parametrize(("hw_arch", "read_as"), [(None, "HAILO8"), ("HAILO8", "HAILO8"), (42, "unknown-42"), ("HAILO8L", "HAILO8L")])
def test_arch_is_read_from_the_header(hw_arch: str | int | None, read_as: str) -> None:
    assert parse_hef(build_hef(FSQ_LIKE, hw_arch=hw_arch)).hw_arch == read_as


@pytest.mark.parametrize("device", sorted(DEVICE_RUNS))
def test_a_hailo8_arch_hef_is_read_but_no_device_takes_it(device: str) -> None:
    info = parse_hef(build_hef(FSQ_LIKE, hw_arch=None, sdk_version="3.33.0"))
    hef = {"hw_arch": info.hw_arch, "sdk_version": info.sdk_version, "requires_hailort": "4.23.0"}
    (problem,) = fit_problems(hef, device, "4.23.0", "4.23.0", "4.23.0")
    assert f"a {device} device refuses this HEF: HEF arch HAILO8 (enum 0, also what a header without hw_arch reads as)" in problem
    assert "a hailo8 build carries HAILO8P — rebuild it" in problem


def test_the_compile_stage_refuses_a_hailo8_arch_hef(dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path) -> None:
    dfc_run.set(_ARCH_IN_HEF={"hailo8": "HAILO8"})
    with pytest.raises(PipelineError, match=re.escape("compiled for HAILO8, the spec asks for hailo8 (HEF arch HAILO8P or HAILO8R)")):
        build(write_spec(calibration={"windows": 256, "min_windows": 256}), tmp_path / "out")


@pytest.mark.parametrize(
    ("code", "name"),
    [
        *[(0, "NHWC"), (1, "NHCW"), (3, "FCR"), (4, "BAYER_RGB"), (6, "NMS"), (7, "F8CR"), (8, "RGB888"), (11, "YUY2")],
        *[(9, "format-9"), (10, "format-10"), (12, "format-12"), (99, "format-99")],
    ],
)
def test_format_codes_are_hailorts_and_others_show_by_number(code: int, name: str) -> None:
    edges = [EdgeSpec("in", (2, 3, 4), fmt=code), FSQ_LIKE[1]]
    info = parse_hef(build_hef(edges))
    assert info.network_groups[0].inputs[0].format == name
    assert f"Input  in UINT8, {name}(2x3x4)" in describe(info)


@pytest.mark.parametrize(
    ("fmt", "shape", "vstream_format", "vstream_shape", "line"),
    [
        ("NHCW", (2, 100, 9), "NHWC", (2, 100, 9), "NHWC(2x100x9)"),
        ("NHWC", (2, 100, 9), "NHWC", (2, 100, 9), "NHWC(2x100x9)"),
        ("RGB888", (4, 4, 3), "NHWC", (4, 4, 3), "NHWC(4x4x3)"),
        ("NC", (1, 1, 5), "NC", (5,), "NC(5)"),
        ("NHW", (2, 3, 1), "NHW", (2, 3), "NHW(2x3)"),
        ("FCR", (2, 3, 4), "FCR", (2, 3, 4), "FCR(2x3x4)"),
        ("NMS", (1, 1, 160), "HAILO_NMS_BY_CLASS", (), "HAILO_NMS_BY_CLASS(nms_info not read here)"),
    ],
)
def test_vstreams_are_what_hailort_presents_to_a_user(
    fmt: str, shape: tuple[int, int, int], vstream_format: str, vstream_shape: tuple[int, ...], line: str
) -> None:
    """The vstream order is the stream order's default host order (hailort_defaults.cpp DEFAULT_FORMAT_ORDER_MAP),
    the shape as the Python binding's VStreamInfo.shape gives it (NC: (F,), NHW: (H, W))."""
    info = parse_hef(build_hef([FSQ_LIKE[0], EdgeSpec("out", shape, output=True, fmt=fmt)]))
    (out,) = info.network_groups[0].outputs
    assert (out.format, out.shape) == (fmt, shape)  # the stream's, as before
    assert (out.vstream_format, out.vstream_shape) == (vstream_format, vstream_shape)
    assert describe(info).splitlines()[-2].startswith("            Output out qp_scale")
    vstreams = describe(info).split("        VStream infos:\n")[1]
    assert f"            Output out UINT8, {line}\n" in vstreams


@pytest.mark.parametrize(
    ("hw_arch", "device_arch"),
    [("HAILO8P", "HAILO8"), ("HAILO8R", "HAILO8"), (None, "HAILO8"), ("HAILO8L", "HAILO8L"), ("HAILO15M", "HAILO15M"), (42, "unknown-42")],
)
def test_the_device_architecture_is_the_family_hailort_reports(hw_arch: str | int | None, device_arch: str) -> None:
    """DeviceBase::hef_arch_to_device_arch (device_internal.cpp): HAILO8P/HAILO8R HEFs are HAILO8's."""
    info = parse_hef(build_hef(FSQ_LIKE, hw_arch=hw_arch))
    assert info.device_arch == device_arch
    assert f"Architecture HEF was compiled for: {device_arch}\n" in describe(info)


def test_transposed_edges_and_nets_swap_height_and_width_except_nc() -> None:
    edges = [EdgeSpec("in", (2, 100, 9), transposed=True), EdgeSpec("plain", (2, 100, 9)), FSQ_LIKE[1]]
    group = parse_hef(build_hef(edges)).network_groups[0]
    assert [s.shape for s in group.inputs] == [(100, 2, 9), (2, 100, 9)]
    net = parse_hef(build_hef([EdgeSpec("in", (2, 100, 9)), EdgeSpec("nc", (1, 1, 5), output=True, fmt="NC")], transposed_net=True))
    assert net.network_groups[0].inputs[0].shape == (100, 2, 9)
    assert net.network_groups[0].outputs[0].shape == (1, 1, 5)


def test_describe_presents_what_hailortcli_parse_hef_prints_beside_the_raw_fields() -> None:
    """hailo-toolchain.md section 11: `hailortcli parse-hef` (HailoRT 4.23.0) on a DFC 3.32 hailo8 HEF (header v2,
    HwArch HAILO8P), with --parse-streams' stream infos before the vstream infos, as hailortcli prints them."""
    info = parse_hef(build_hef(SECTION_11, version=2, hw_arch="HAILO8P", name="fsq_m13_behavioral_analysis"))
    parse_hef_output = """\
Architecture HEF was compiled for: HAILO8
Network group name: fsq_m13_behavioral_analysis, Single Context
    Network name: fsq_m13_behavioral_analysis/fsq_m13_behavioral_analysis
        Stream infos:
            Input  fsq_m13_behavioral_analysis/input_layer1 UINT8, NHCW(2x100x9)
            Output fsq_m13_behavioral_analysis/normalization1 UINT8, NC(5)
        VStream infos:
            Input  fsq_m13_behavioral_analysis/input_layer1 UINT8, NHWC(2x100x9)
            Output fsq_m13_behavioral_analysis/normalization1 UINT8, NC(5)
"""
    text = describe(info)
    assert parse_hef_output in text
    raw, rest = text.split("\n", 1)
    assert raw.startswith(f"HEF header v2, {info.size} bytes, xxh3 verified; hw_arch HAILO8P, DFC (sdk) version 3.32.0, created 2025-09-22")
    assert rest.startswith(parse_hef_output)
    assert rest[len(parse_hef_output) :].splitlines() == [
        "        Quantization:",
        "            Input  fsq_m13_behavioral_analysis/input_layer1 qp_scale 0.00392153 qp_zp 0 limvals [0, 1]",
        "            Output fsq_m13_behavioral_analysis/normalization1 qp_scale 0.0236462 qp_zp 128 limvals [-3.027, 3.003]",
        "    1 context(s), bottleneck fps 90518, latency 0.147 ms",
    ]
    (inp,), (out,) = info.network_groups[0].inputs, info.network_groups[0].outputs
    assert (inp.format, inp.shape, inp.vstream_format, inp.vstream_shape) == ("NHCW", (2, 100, 9), "NHWC", (2, 100, 9))
    assert (out.format, out.shape, out.vstream_format, out.vstream_shape) == ("NC", (1, 1, 5), "NC", (5,))


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


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_truncated_and_wrong_length_hefs_are_refused(version: int) -> None:
    good = build_hef(FSQ_LIKE, version=version)
    with pytest.raises(PipelineError, match="HEF is truncated"):
        parse_hef(good[: HEADER_SIZES[version] + 10])
    length = r"file length does not match: .* \(HailoRT refuses it: HAILO_HEF_FILE_CORRUPTED\)"
    with pytest.raises(PipelineError, match=length):
        parse_hef(good + b"\x00")
    with pytest.raises(PipelineError, match="HEF is truncated" if version == 0 else length):  # v0 is all protobuf
        parse_hef(good[:-1])


def _stored_and_computed(version: int, data: bytes) -> tuple[str, str]:
    body = data[HEADER_SIZES[version] :]
    if version == 0:
        return f"0x{data[16:32].hex()}", f"0x{hashlib.md5(body).hexdigest()}"
    if version == 1:
        return f"0x{struct.unpack('>I', data[12:16])[0]:08x}", f"0x{zlib.crc32(body):08x}"
    return f"0x{struct.unpack('>Q', data[12:20])[0]:016x}", f"0x{xxhash.xxh3_64_intdigest(body):016x}"


@pytest.mark.parametrize(("version", "what"), [(0, "md5"), (1, "crc32"), (2, "xxh3"), (3, "xxh3")])
def test_a_flipped_byte_is_refused_naming_both_hashes(version: int, what: str) -> None:
    flipped = bytearray(build_hef(FSQ_LIKE, version=version))
    flipped[-10] ^= 0x01
    stored, computed = _stored_and_computed(version, bytes(flipped))
    assert stored != computed
    with pytest.raises(PipelineError, match=f"HEF {what} does not match") as err:
        parse_hef(bytes(flipped))
    assert f"the header says {stored}, the file hashes to {computed}" in str(err.value)
    assert "HAILO_HEF_FILE_CORRUPTED" in str(err.value)


def test_a_v1_crc_is_zlibs_crc32_of_everything_after_the_header() -> None:
    data = bytearray(build_hef(FSQ_LIKE, version=1))
    assert parse_hef(bytes(data)).integrity == "crc32 verified"
    data[12:16] = struct.pack(">I", zlib.crc32(bytes(data[28:])) ^ 1)
    with pytest.raises(PipelineError, match="HEF crc32 does not match"):
        parse_hef(bytes(data))


def test_a_v3_header_is_checked_as_hailort_4x_does_its_last_bytes_reserved() -> None:
    """hailort v4.21.0-v4.23.0 hef_internal.hpp: v3 is xxh3, ccws_size_with_padding, hef_padding_size,
    additional_info_size, reserved1, reserved2, so 4.x checks the whole-file xxh3 whatever reserved1 holds; only
    HailoRT 5.1+ (Hailo-10/15) reads a protobuf-only xxh3 there and leaves the rest to the firmware."""
    five = build_hef(FSQ_LIKE, version=3, proto_xxh3_in_reserved=True)
    assert parse_hef(five).integrity == "xxh3 verified"
    anything = bytearray(build_hef(FSQ_LIKE, version=3))
    anything[40:56] = b"\x5a" * 16  # reserved1, reserved2
    assert parse_hef(bytes(anything)).integrity == "xxh3 verified"
    blob_flipped = bytearray(five)
    blob_flipped[-10] ^= 0x01  # in the blob, which 5.1+ leaves to the firmware and 4.x checks
    with pytest.raises(PipelineError, match=r"HEF xxh3 does not match: the header says 0x[0-9a-f]{16}, the file hashes to") as err:
        parse_hef(bytes(blob_flipped))
    assert "or it is a HailoRT 5.1+ (Hailo-10/15) HEF" in str(err.value)
    plain = bytearray(build_hef(FSQ_LIKE, version=3))
    plain[-10] ^= 0x01
    with pytest.raises(PipelineError, match="HEF xxh3 does not match") as err:
        parse_hef(bytes(plain))
    assert "5.1+" not in str(err.value)


def test_inspect_hef_cli(tmp_path: Path) -> None:
    (tmp_path / "m.hef").write_bytes(build_hef(FSQ_LIKE, name="fsq_m13"))
    out = subprocess.run([CLI, "inspect-hef", str(tmp_path / "m.hef"), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["hw_arch"], info["device_arch"]) == ("HAILO8P", "HAILO8")
    inp, out_ = info["network_groups"][0]["inputs"][0], info["network_groups"][0]["outputs"][0]
    assert (inp["shape"], inp["format"], inp["vstream_shape"], inp["vstream_format"]) == ([2, 100, 9], "NHWC", [2, 100, 9], "NHWC")
    assert (out_["shape"], out_["format"], out_["vstream_shape"], out_["vstream_format"]) == ([1, 1, 5], "NC", [5], "NC")
    assert info["network_groups"][0]["layouts"] == 1
    (tmp_path / "fake.hef").write_text("DUMMY")
    bad = subprocess.run([CLI, "inspect-hef", str(tmp_path / "fake.hef")], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: not a HEF")
