"""Test-only: HEF bytes built field by field as HailoRT 4.x reads them (header v0-v3 + ProtoHEFHef).

Checked against HailoRT's source: the header layouts in hailort/libhailort/src/hef/hef_internal.hpp
(hef__header_distinct_t; in 4.21-4.23 v3's last two u64 are reserved1/reserved2), where HailoRT reads the
group's name (hailort v4.23.0 hailort/libhailort/src/hef/hef.cpp HefUtils::get_network_group_name) and the
messages' field numbers in hailort/libhailort/hef.proto."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

import xxhash

HEADER_SIZES = {0: 32, 1: 28, 2: 44, 3: 56}
ARCH_CODES = {"HAILO8": 0, "HAILO8P": 1, "HAILO8R": 2, "HAILO8L": 3, "HAILO15M": 4, "HAILO10H": 5, "HAILO15L": 6, "HAILO15H": 103}
FORMAT_CODES = {"NHWC": 0, "NHCW": 1, "NC": 2, "FCR": 3, "BAYER_RGB": 4, "NHW": 5, "NMS": 6, "F8CR": 7, "RGB888": 8, "YUY2": 11}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def field_float(number: int, value: float) -> bytes:
    return varint(number << 3 | 5) + struct.pack("<f", value)


def field_double(number: int, value: float) -> bytes:
    return varint(number << 3 | 1) + struct.pack("<d", value)


@dataclass(frozen=True)
class EdgeSpec:
    name: str
    shape: tuple[int, int, int]  # height, width, features as stored in the HEF
    output: bool = False
    fmt: str | int = "NHWC"  # a name of FORMAT_CODES or any code
    data_bytes: int = 1
    qp_zp: float = 0.0
    qp_scale: float = 1 / 255
    limvals: tuple[float, float] = (0.0, 1.0)
    boundary: bool = True
    transposed: bool = False


def edge_layer(edge: EdgeSpec) -> bytes:
    base = b"".join(
        [
            field_varint(1, edge.shape[0]),
            field_varint(3, edge.shape[1]),
            field_varint(5, edge.shape[2]),
            field_varint(7, FORMAT_CODES[edge.fmt] if isinstance(edge.fmt, str) else edge.fmt),
            field_varint(12, edge.data_bytes),
        ]
    )
    numeric = field_float(1, edge.qp_zp) + field_float(2, edge.qp_scale) + field_float(3, edge.limvals[0]) + field_float(4, edge.limvals[1])
    info = field_bytes(1, edge.name.encode()) + field_bytes(2, base) + field_bytes(3, numeric)
    if edge.transposed:
        info += field_varint(6, 1)
    switch = field_bytes(5, field_varint(3, 0 if edge.boundary else 1))
    return field_varint(1, 1 if edge.output else 0) + field_bytes(3, info) + switch


def core_op(name: str, edges: list[EdgeSpec], fps: float = 90518.0, latency: float = 0.147, transposed_net: bool = False) -> bytes:
    """The fields a ProtoHEFCoreOp shares with a legacy ProtoHEFNetworkGroup: metadata(1), contexts(3)."""
    metadata = (field_bytes(1, name.encode()) if name else b"") + field_double(4, fps) + field_double(6, latency)
    if transposed_net:
        metadata += field_varint(3, 1)
    context = field_varint(1, 0) + field_bytes(3, field_bytes(1, b"context_0") + b"".join(field_bytes(2, edge_layer(e)) for e in edges))
    return field_bytes(1, metadata) + field_bytes(3, context)


def network_group(
    name: str,
    edges: list[EdgeSpec],
    fps: float = 90518.0,
    latency: float = 0.147,
    nested: bool = False,
    *,
    metadata_name: str | None = None,
    core_op_name: str | None = None,
    layout_edges: list[list[EdgeSpec]] | None = None,
    layout_names: list[str] | None = None,
    top_level: bool = True,
    transposed_net: bool = False,
) -> bytes:
    """name is the group's network_group_name(10), which HailoRT never reads; metadata_name (default: name) the
    name in the group's own network_group_metadata(1); core_op_name (default: metadata_name) the one in a
    nested core op's metadata. layout_edges gives one per-layout copy per entry, as multi-layout archs carry
    them, layout_names their metadata's names (default: metadata_name); top_level=False leaves the top-level
    core op empty."""
    meta_name = name if metadata_name is None else metadata_name
    op_name = meta_name if core_op_name is None or not nested else core_op_name
    core = core_op(op_name, edges, fps, latency, transposed_net) if top_level else b""
    copies = layout_edges or []
    for i, (copy_edges, copy_name) in enumerate(zip(copies, layout_names or [meta_name] * len(copies), strict=True)):
        layout = field_varint(1, (1 << (i + 1)) - 1)  # partial_clusters_layout_bitmap: a distinct bitmap per copy
        copy = core_op(copy_name, copy_edges, fps, latency, transposed_net)
        if not nested:  # a ProtoHEFPartialNetworkGroup holds a whole network group
            copy += field_bytes(10, name.encode())
        core += field_bytes(7, field_bytes(1, copy) + field_bytes(2, layout))
    if nested:  # newer HEFs: ops(8) -> core_op(4), its copies are partial_core_ops(7); the group keeps its metadata(1)
        metadata = field_bytes(1, field_bytes(1, meta_name.encode())) if meta_name else b""
        return metadata + field_bytes(8, field_bytes(1, b"core") + field_bytes(4, core)) + field_bytes(10, name.encode())
    return core + field_bytes(10, name.encode())


def build_hef(
    edges: list[EdgeSpec],
    *,
    version: int = 2,
    hw_arch: str | int | None = "HAILO8P",
    sdk_version: str = "3.32.0",
    timestamp_ms: int = 1758500000000,
    name: str = "net",
    metadata_name: str | None = None,
    core_op_name: str | None = None,
    nested: bool = False,
    layout_edges: list[list[EdgeSpec]] | None = None,
    layout_names: list[str] | None = None,
    top_level: bool = True,
    transposed_net: bool = False,
    proto_xxh3_in_reserved: bool = False,
    blob: bytes = b"\x00" * 64,
) -> bytes:
    """hw_arch: a name of ARCH_CODES, any code, or None for a header without the field. layout_edges: the
    per-layout copies; by default one with `edges` for a multi-layout arch (HAILO8L, HAILO15M), whose I/O
    HailoRT reads only from them, none otherwise; [] for none. proto_xxh3_in_reserved:
    a v3 header with the protobuf's xxh3 in reserved1, where HailoRT 5.1+ (Hailo-10/15) reads it and 4.x does
    not. v0 carries no blob: HailoRT wants only the protobuf."""
    arch = b"" if hw_arch is None else field_varint(1, ARCH_CODES[hw_arch] if isinstance(hw_arch, str) else hw_arch)
    header_fields = arch + field_varint(2, timestamp_ms) + field_bytes(3, sdk_version.encode()) + field_varint(4, 5)
    if layout_edges is None and hw_arch in ("HAILO8L", "HAILO15M"):
        layout_edges = [edges]
    group = network_group(
        name,
        edges,
        nested=nested,
        metadata_name=metadata_name,
        core_op_name=core_op_name,
        layout_edges=layout_edges,
        layout_names=layout_names,
        top_level=top_level,
        transposed_net=transposed_net,
    )
    proto = field_bytes(1, header_fields) + field_bytes(2, group)
    blob = b"" if version == 0 else blob
    body = proto + blob
    common = struct.pack(">III", 0x01484546, version, len(proto))
    if version == 0:
        tail = struct.pack(">I", 0) + hashlib.md5(body).digest()
    elif version == 1:
        tail = struct.pack(">IQI", zlib.crc32(body), len(blob), 0)
    elif version == 2:
        tail = struct.pack(">QQQQ", xxhash.xxh3_64_intdigest(body), len(blob), 0, 0)
    else:  # xxh3 of all after the header, ccws_size_with_padding, hef_padding_size, additional_info_size, reserved1, reserved2
        reserved1 = xxhash.xxh3_64_intdigest(proto) if proto_xxh3_in_reserved else 0
        tail = struct.pack(">QQIQQQ", xxhash.xxh3_64_intdigest(body), len(blob), 0, 0, reserved1, 0)
    header = common + tail
    assert len(header) == HEADER_SIZES[version]
    return header + body
