"""Read a HEF (Hailo Executable Format) without HailoRT: header, versions, network groups, I/O streams.

Layout (reference hailo-toolchain.md section 9, HailoRT's hef.proto and hef.cpp): a big-endian header
(magic 0x01484546 "\\x01HEF", header version, protobuf size, then a version-specific tail), the
ProtoHEFHef protobuf, then the compiled blob. The header guards the file as HailoRT checks it (any
mismatch is HAILO_HEF_FILE_CORRUPTED there):
  v0  md5 of the protobuf, which is all that follows the header
  v1  crc32 (zlib's) of everything after the header; length = header + protobuf + ccws_size
  v2  xxh3-64 of everything after the header; length = header + protobuf + ccws_size
  v3  as v2, with length = header + protobuf + ccws_size_with_padding + additional_info_size; its last two
      u64 are reserved in HailoRT 4.x (hailort v4.21.0-v4.23.0 hailort/libhailort/src/hef/hef_internal.hpp
      hef__header_distinct_t::v3 reserved1/reserved2), so 4.x always checks the whole-file xxh3. The
      protobuf-only xxh3 that HailoRT 5.1+ (Hailo-10/15) reads from reserved1 is no check of 4.x's.

I/O streams are the boundary edge layers of a network group's contexts:
  ProtoHEFHef.network_groups(2) -> [ops(8).core_op(4) ->] contexts(3) -> metadata(3) -> edge_layers(2)
  edge layer: direction(1) 0 = host->device (input), 1 = device->host (output); layer_info(3);
              context_switch_info(5).edge_connection_type(3) 0 = boundary
  layer_info: name(1), edge_layer_base(2) {height 1, width 3, features 5, format 7, data_bytes 12},
              numeric_info(3) {qp_zp 1, qp_scale 2, limvals_min 3, limvals_max 4: float32}, transposed(6)
Multi-layout archs (HAILO8L, HAILO15M) keep per-layout copies of that core op, which HailoRT reads instead
of the top level: core_op.partial_core_ops(7)[i].core_op(1), or in HEFs without ops(8)
network_group.partial_network_groups(7)[i].network_group(1); each copy has layout(2) beside it.
The group's name is read apart from all that (hailort v4.23.0 hailort/libhailort/src/hef/hef.cpp
HefUtils::get_network_group_name): partial_network_groups(7)[0].network_group(1).network_group_metadata(1)
.network_group_name(1) when the group has such copies, whatever the arch, else the group's own
network_group_metadata(1).network_group_name(1); never the core op's metadata nor network_group_name(10).

Besides the raw fields, what HailoRT presents: the device architecture a HEF arch belongs to
(DeviceBase::hef_arch_to_device_arch, device_internal.cpp: HAILO8P and HAILO8R HEFs are HAILO8's) and each
stream's vstream, what a user feeds and reads: its order is the stream order's default host order
(HailoRTDefaults::get_default_host_format_order, hailort_defaults.cpp: NHCW -> NHWC), its shape as the
Python binding's VStreamInfo.shape gives it (NC (F,), NHW (H, W), else (H, W, F)).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import xxhash

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.protowire import Message, WireError

MAGIC = 0x01484546
HEADER_SIZES = {0: 32, 1: 28, 2: 44, 3: 56}
HW_ARCHS = {0: "HAILO8", 1: "HAILO8P", 2: "HAILO8R", 3: "HAILO8L", 4: "HAILO15M", 5: "HAILO10H", 6: "HAILO15L", 103: "HAILO15H"}
# The device architecture HailoRT reports for a HEF arch ("Architecture HEF was compiled for: HAILO8")
DEVICE_ARCHS = {"HAILO8P": "HAILO8", "HAILO8R": "HAILO8"}
MULTI_LAYOUT_ARCHS = ("HAILO8L", "HAILO15M")
# The HEF archs a spec's `hw_arch` may compile to. A hailo8 build carries HAILO8P; HAILO8 (enum 0, also what a
# header without hw_arch reads as) is accepted by no device, so no spec may yield it.
SPEC_ARCH_TO_HEF = {"hailo8": ("HAILO8P", "HAILO8R"), "hailo8l": ("HAILO8L",)}
# HailoRT's get_device_format_order (hailort_defaults.cpp); any other code is an error there.
FORMATS = {
    0: "NHWC",
    1: "NHCW",
    2: "NC",
    3: "FCR",
    4: "BAYER_RGB",
    5: "NHW",
    6: "NMS",
    7: "F8CR",
    8: "RGB888",
    11: "YUY2",
    13: "NHWC",
    14: "HAILO_YYUV",
    15: "HAILO_YYVU",
    16: "HAILO_YYYYUV",
}
DATA_TYPES = {1: "UINT8", 2: "UINT16"}
# A stream order's vstream (host) order where it differs (DEFAULT_FORMAT_ORDER_MAP, hailort_defaults.cpp). NMS's
# vstream shape needs nms_info, which this reader does not read.
VSTREAM_FORMATS = {
    "NHCW": "NHWC",
    "RGB888": "NHWC",
    "HAILO_YYUV": "NV12",
    "HAILO_YYVU": "NV21",
    "HAILO_YYYYUV": "I420",
    "NMS": "HAILO_NMS_BY_CLASS",
}
_BOUNDARY = 0


@dataclass(frozen=True)
class Stream:
    name: str
    direction: str  # "input" | "output"
    shape: tuple[int, int, int]  # (height, width, features) as HailoRT gives them (transposed swaps H and W); NC is (1, 1, F)
    format: str
    data_type: str
    qp_scale: float
    qp_zp: float
    limvals: tuple[float, float]
    vstream_format: str  # the order HailoRT presents to a user (hailortcli's VStream infos)
    vstream_shape: tuple[int, ...]  # as HailoRT's Python VStreamInfo.shape gives it; () for NMS (not read here)


@dataclass(frozen=True)
class NetworkGroup:
    name: str
    contexts: int
    bottleneck_fps: float
    latency: float
    inputs: list[Stream] = field(default_factory=list)
    outputs: list[Stream] = field(default_factory=list)
    layouts: int = 1  # per-layout copies of a multi-layout HEF (same I/O; these fields come from the first)


@dataclass(frozen=True)
class HefInfo:
    header_version: int
    hw_arch: str  # as the header has it
    timestamp: str
    sdk_version: str
    format_version: int
    integrity: str  # "md5 verified" | "crc32 verified" | "xxh3 verified"
    size: int
    network_groups: list[NetworkGroup]
    device_arch: str  # as HailoRT presents it: the device family hw_arch belongs to

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stream(edge: Message, transposed_net: bool) -> Stream | None:
    info = edge.message(3)
    switch = edge.message(5)
    if info is None or (switch is not None and switch.uint(3) != _BOUNDARY):
        return None
    base = info.message(2) or Message(b"")
    numeric = info.message(3) or Message(b"")
    fmt = FORMATS.get(base.uint(7), f"format-{base.uint(7)}")
    height, width = base.uint(1), base.uint(3)
    if (transposed_net or info.uint(6)) and fmt != "NC":  # HailoRT swaps them for every order but NC
        height, width = width, height
    vstream_format = VSTREAM_FORMATS.get(fmt, fmt)
    vstream_shapes = {"NC": (base.uint(5),), "NHW": (height, width), "HAILO_NMS_BY_CLASS": ()}
    return Stream(
        name=info.string(1),
        direction="output" if edge.uint(1) == 1 else "input",
        shape=(height, width, base.uint(5)),
        format=fmt,
        data_type=DATA_TYPES.get(base.uint(12), f"{base.uint(12)}-byte"),
        qp_scale=numeric.float32(2),
        qp_zp=numeric.float32(1),
        limvals=(numeric.float32(3), numeric.float32(4)),
        vstream_format=vstream_format,
        vstream_shape=vstream_shapes.get(vstream_format, (height, width, base.uint(5))),
    )


def _group_name(group: Message) -> str:
    """The name HailoRT gives the group (HefUtils::get_network_group_name): its first partial_network_groups
    copy's metadata name if it has copies, else its own metadata's; "" when that is unset, as in HailoRT."""
    partials = group.messages(7)
    named = (partials[0].message(1) or Message(b"")) if partials else group
    return (named.message(1) or Message(b"")).string(1)


def _network_group(group: Message, hw_arch: str) -> NetworkGroup:
    # Newer HEFs nest the core op under ops(8).core_op(4); older ones keep its fields on the group itself.
    # Either way its per-layout copies are its field 7, each {1: the copy, 2: layout}.
    core = next((op.message(4) for op in group.messages(8) if op.message(4) is not None), None) or group
    copies = [c for c in (p.message(1) for p in core.messages(7)) if c is not None]
    # HailoRT reads the copies only when the HEF's arch is multi-layout, and then only them: the first on a
    # Hailo-8 or with no device (get_core_op_by_net_group_name), the bitmap's match on a Hailo-8L; all have the
    # same I/O. For any other arch it reads only the top level, so neither does this reader: an empty top level
    # there is refused below, as HailoRT would fail (hef.cpp fill_networks_metadata, is_multi_layout).
    multi = hw_arch in MULTI_LAYOUT_ARCHS
    name = _group_name(group)
    if multi and not copies:
        raise PipelineError(
            f"HEF network group {name!r} is {hw_arch} but has no per-layout copies: HailoRT reads a "
            f"{'/'.join(MULTI_LAYOUT_ARCHS)} HEF's I/O only from them, so it could not load it; recompile it"
        )
    source = copies[0] if multi else core
    metadata = source.message(1) or Message(b"")
    streams: dict[str, Stream] = {}
    contexts = source.messages(3)
    for context in contexts:
        for edge in (context.message(3) or Message(b"")).messages(2):
            stream = _stream(edge, bool(metadata.uint(3)))
            if stream is not None:
                streams.setdefault(f"{stream.direction}:{stream.name}", stream)
    inputs = [s for s in streams.values() if s.direction == "input"]
    outputs = [s for s in streams.values() if s.direction == "output"]
    if not inputs or not outputs:
        where = "its first per-layout copy" if multi else "its top-level core op"
        hint = (
            f"; its {len(copies)} per-layout copies are read by HailoRT only for {'/'.join(MULTI_LAYOUT_ARCHS)} HEFs, not {hw_arch}"
            if copies and not multi
            else ""
        )
        raise PipelineError(
            f"HEF network group {name!r} has no inputs/outputs ({len(inputs)} input(s), {len(outputs)} output(s) in {where}){hint}: "
            "HailoRT could not run it"
        )
    return NetworkGroup(
        name=name,
        contexts=len(contexts),
        bottleneck_fps=metadata.double(4),
        latency=metadata.double(6),
        inputs=inputs,
        outputs=outputs,
        layouts=len(copies) if multi else 1,
    )


def _corrupted(what: str, stored: int, computed: int, digits: int, hint: str = "") -> PipelineError:
    return PipelineError(
        f"HEF {what} does not match: the header says 0x{stored:0{digits}x}, the file hashes to 0x{computed:0{digits}x}; "
        f"the file is corrupted (HailoRT refuses it: HAILO_HEF_FILE_CORRUPTED){hint}"
    )


def _check_length(data: bytes, announced: int) -> None:
    if len(data) != announced:
        raise PipelineError(
            f"HEF file length does not match: {len(data)} bytes, the header announces {announced} "
            "(HailoRT refuses it: HAILO_HEF_FILE_CORRUPTED)"
        )


def _integrity(version: int, data: bytes, header_size: int, proto_size: int) -> str:
    """Checks the file as HailoRT's parse_hef_memview does for this header version."""
    header, body = data[:header_size], data[header_size:]
    if version == 0:
        _check_length(data, header_size + proto_size)
        md5 = hashlib.md5(body).digest()
        if md5 != header[16:32]:
            raise _corrupted("md5", int.from_bytes(header[16:32], "big"), int.from_bytes(md5, "big"), 32)
        return "md5 verified"
    if version == 1:
        crc, ccws_size = struct.unpack(">IQ", header[12:24])
        _check_length(data, header_size + proto_size + ccws_size)
        crc32 = zlib.crc32(body)
        if crc32 != crc:
            raise _corrupted("crc32", crc, crc32, 8)
        return "crc32 verified"
    if version == 2:
        xxh3, ccws_size = struct.unpack(">QQ", header[12:28])
        announced = header_size + proto_size + ccws_size
    else:
        xxh3, ccws_padded, padding, extra = struct.unpack(">QQIQ", header[12:40])
        if ccws_padded < padding:
            raise PipelineError(f"HEF header is corrupted: ccws size {ccws_padded} is smaller than its padding {padding}")
        announced = header_size + proto_size + ccws_padded + extra
    _check_length(data, announced)
    computed = xxhash.xxh3_64_intdigest(body)
    if computed != xxh3:
        five = version == 3 and header[40:48] == xxhash.xxh3_64_digest(data[header_size : header_size + proto_size])
        hint = (
            "; or it is a HailoRT 5.1+ (Hailo-10/15) HEF: its header's reserved bytes hold the protobuf's xxh3, which "
            "HailoRT 5.1+ checks instead, but HailoRT 4.x checks the whole file: compile it with a DFC for HailoRT 4.x"
        )
        raise _corrupted("xxh3", xxh3, computed, 16, hint if five else "")
    return "xxh3 verified"


def parse_hef(data: bytes) -> HefInfo:
    """Parses HEF bytes; anything that is not a well-formed HEF is refused with the reason."""
    if len(data) < 12:
        raise PipelineError(f"not a HEF: {len(data)} bytes is shorter than the 12-byte header")
    magic, version, proto_size = struct.unpack(">III", data[:12])
    if magic != MAGIC:
        hint = " (looks like JSON: the old prototype shipped JSON files named .hef)" if data[:1] in (b"{", b"[") else ""
        raise PipelineError(f"not a HEF: magic {data[:4]!r} is not b'\\x01HEF'{hint}")
    if version not in HEADER_SIZES:
        raise PipelineError(f"HEF header version {version} is unknown (this reader knows 0-3)")
    header_size = HEADER_SIZES[version]
    if len(data) < header_size + proto_size:
        raise PipelineError(f"HEF is truncated: {len(data)} bytes, the header announces {header_size + proto_size}+")
    integrity = _integrity(version, data, header_size, proto_size)
    try:
        root = Message(data[header_size : header_size + proto_size])
        header, group_messages = root.message(1), root.messages(2)
        if header is None or not group_messages:
            raise PipelineError("HEF has no header or no network group: not a compiled model")
        hw_arch = HW_ARCHS.get(header.uint(1), f"unknown-{header.uint(1)}")  # no hw_arch field reads as 0, HAILO8
        groups = [_network_group(g, hw_arch) for g in group_messages]
    except (WireError, UnicodeDecodeError) as exc:
        raise PipelineError(f"HEF protobuf is malformed: {exc}") from None
    stamp = header.uint(2)
    return HefInfo(
        header_version=version,
        hw_arch=hw_arch,
        device_arch=DEVICE_ARCHS.get(hw_arch, hw_arch),
        timestamp=datetime.fromtimestamp(stamp / 1000, timezone.utc).isoformat() if stamp else "",
        sdk_version=header.string(3),
        format_version=header.uint(4),
        integrity=integrity,
        size=len(data),
        network_groups=groups,
    )


def inspect_hef(path: Path) -> HefInfo:
    try:
        return parse_hef(path.read_bytes())
    except FileNotFoundError:
        raise PipelineError(f"{path} not found") from None


def _shape_str(fmt: str, shape: tuple[int, int, int]) -> str:
    """hailortcli's get_shape_str: NC(F), NHW(HxW), else ORDER(HxWxF)."""
    height, width, features = shape
    if fmt == "NC":
        return f"NC({features})"
    if fmt == "NHW":
        return f"NHW({height}x{width})"
    if fmt == "HAILO_NMS_BY_CLASS":
        return f"{fmt}(nms_info not read here)"
    return f"{fmt}({height}x{width}x{features})"


def describe(info: HefInfo) -> str:
    """What `hailortcli parse-hef --parse-streams --parse-vstreams` prints (HailoRT 4.23.0), the raw header
    fields above it and the quantization below each group."""
    lines = [
        f"HEF header v{info.header_version}, {info.size} bytes, {info.integrity}; hw_arch {info.hw_arch}, "
        f"DFC (sdk) version {info.sdk_version}, created {info.timestamp or 'unknown'}",
        f"Architecture HEF was compiled for: {info.device_arch}",
    ]
    for group in info.network_groups:
        streams = [*group.inputs, *group.outputs]
        lines += [
            f"Network group name: {group.name}, {'Multi' if group.contexts > 1 else 'Single'} Context",
            f"    Network name: {group.name}/{group.name}",  # a single-network group's default network name
            "        Stream infos:",
            *(f"            {s.direction.capitalize():6} {s.name} {s.data_type}, {_shape_str(s.format, s.shape)}" for s in streams),
            "        VStream infos:",
            *(f"            {s.direction.capitalize():6} {s.name} {s.data_type}, {_shape_str(s.vstream_format, s.shape)}" for s in streams),
            "        Quantization:",
            *(
                f"            {s.direction.capitalize():6} {s.name} qp_scale {s.qp_scale:.6g} qp_zp {s.qp_zp:g} "
                f"limvals [{s.limvals[0]:.4g}, {s.limvals[1]:.4g}]"
                for s in streams
            ),
            f"    {group.contexts} context(s), bottleneck fps {group.bottleneck_fps:.0f}, latency {group.latency:.3g} ms"
            + (f", {group.layouts} layouts (I/O of the first)" if group.layouts > 1 else ""),
        ]
    return "\n".join(lines)
