"""Test-only: HEF bytes built field by field from the documented layout (header v0-v3 + ProtoHEFHef)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import xxhash

HEADER_SIZES = {0: 32, 1: 28, 2: 44, 3: 56}
ARCH_CODES = {"HAILO8": 0, "HAILO8P": 1, "HAILO8R": 2, "HAILO8L": 3}
FORMAT_CODES = {"NHWC": 0, "NHCW": 1, "NC": 2}


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
    shape: tuple[int, int, int]  # height, width, features
    output: bool = False
    fmt: str = "NHWC"
    data_bytes: int = 1
    qp_zp: float = 0.0
    qp_scale: float = 1 / 255
    limvals: tuple[float, float] = (0.0, 1.0)
    boundary: bool = True


def edge_layer(edge: EdgeSpec) -> bytes:
    base = b"".join(
        [
            field_varint(1, edge.shape[0]),
            field_varint(3, edge.shape[1]),
            field_varint(5, edge.shape[2]),
            field_varint(7, FORMAT_CODES[edge.fmt]),
            field_varint(12, edge.data_bytes),
        ]
    )
    numeric = field_float(1, edge.qp_zp) + field_float(2, edge.qp_scale) + field_float(3, edge.limvals[0]) + field_float(4, edge.limvals[1])
    info = field_bytes(1, edge.name.encode()) + field_bytes(2, base) + field_bytes(3, numeric)
    switch = field_bytes(5, field_varint(3, 0 if edge.boundary else 1))
    return field_varint(1, 1 if edge.output else 0) + field_bytes(3, info) + switch


def network_group(name: str, edges: list[EdgeSpec], fps: float = 90518.0, latency: float = 0.147, nested: bool = False) -> bytes:
    metadata = field_bytes(1, name.encode()) + field_double(4, fps) + field_double(6, latency)
    context = field_varint(1, 0) + field_bytes(3, field_bytes(1, b"context_0") + b"".join(field_bytes(2, edge_layer(e)) for e in edges))
    core = field_bytes(1, metadata) + field_bytes(3, context)
    if nested:  # newer HEFs: ops(8) -> core_op(4)
        return field_bytes(8, field_bytes(1, b"core") + field_bytes(4, core)) + field_bytes(10, name.encode())
    return core + field_bytes(10, name.encode())


def build_hef(
    edges: list[EdgeSpec],
    *,
    version: int = 2,
    hw_arch: str = "HAILO8P",
    sdk_version: str = "3.32.0",
    timestamp_ms: int = 1758500000000,
    name: str = "net",
    nested: bool = False,
    blob: bytes = b"\x00" * 64,
) -> bytes:
    header_fields = (
        field_varint(1, ARCH_CODES[hw_arch]) + field_varint(2, timestamp_ms) + field_bytes(3, sdk_version.encode()) + field_varint(4, 5)
    )
    proto = field_bytes(1, header_fields) + field_bytes(2, network_group(name, edges, nested=nested))
    body = proto + blob
    common = struct.pack(">III", 0x01484546, version, len(proto))
    if version == 0:
        tail = struct.pack(">I", 0) + hashlib.md5(body).digest()
    elif version == 1:
        tail = struct.pack(">IQI", 0, len(blob), 0)
    elif version == 2:
        tail = struct.pack(">QQQQ", xxhash.xxh3_64_intdigest(body), len(blob), 0, 0)
    else:
        tail = struct.pack(">QQIQQQ", xxhash.xxh3_64_intdigest(body), len(blob), 0, 0, 0, 0)
    header = common + tail
    assert len(header) == HEADER_SIZES[version]
    return header + body
