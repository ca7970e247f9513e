"""Read a HEF (Hailo Executable Format) without HailoRT: header, versions, network groups, I/O streams.

Layout (reference hailo-toolchain.md section 9 and HailoRT's hef.proto): a big-endian header
(magic 0x01484546 "\\x01HEF", header version, protobuf size, then a version-specific tail), the
ProtoHEFHef protobuf, then the compiled blob. In header v2/v3 an xxh3-64 of everything after the header
guards the file (HailoRT: HAILO_HEF_FILE_CORRUPTED); v0 carries an md5; v1's CRC is not checked here.

I/O streams are the boundary edge layers of a network group's contexts:
  ProtoHEFHef.network_groups(2) -> [ops(8).core_op(4) ->] contexts(3) -> metadata(3) -> edge_layers(2)
  edge layer: direction(1) 0 = host->device (input), 1 = device->host (output); layer_info(3);
              context_switch_info(5).edge_connection_type(3) 0 = boundary
  layer_info: name(1), edge_layer_base(2) {height 1, width 3, features 5, format 7, data_bytes 12},
              numeric_info(3) {qp_zp 1, qp_scale 2, limvals_min 3, limvals_max 4: float32}
"""

from __future__ import annotations

import hashlib
import struct
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
# What `hw_arch` in a spec compiles to: a hailo8 build is observed to carry HAILO8P, which HailoRT maps to Hailo-8.
SPEC_ARCH_TO_HEF = {"hailo8": ("HAILO8", "HAILO8P", "HAILO8R"), "hailo8l": ("HAILO8L",)}
FORMATS = {0: "NHWC", 1: "NHCW", 2: "NC"}
DATA_TYPES = {1: "UINT8", 2: "UINT16"}
_BOUNDARY = 0


@dataclass(frozen=True)
class Stream:
    name: str
    direction: str  # "input" | "output"
    shape: tuple[int, int, int]  # (height, width, features); NC outputs are (1, 1, F)
    format: str
    data_type: str
    qp_scale: float
    qp_zp: float
    limvals: tuple[float, float]


@dataclass(frozen=True)
class NetworkGroup:
    name: str
    contexts: int
    bottleneck_fps: float
    latency: float
    inputs: list[Stream] = field(default_factory=list)
    outputs: list[Stream] = field(default_factory=list)


@dataclass(frozen=True)
class HefInfo:
    header_version: int
    hw_arch: str
    timestamp: str
    sdk_version: str
    format_version: int
    integrity: str  # "xxh3 verified" | "md5 verified" | "not checked (v1 CRC)"
    size: int
    network_groups: list[NetworkGroup]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stream(edge: Message) -> Stream | None:
    info = edge.message(3)
    switch = edge.message(5)
    if info is None or (switch is not None and switch.uint(3) != _BOUNDARY):
        return None
    base = info.message(2) or Message(b"")
    numeric = info.message(3) or Message(b"")
    return Stream(
        name=info.string(1),
        direction="output" if edge.uint(1) == 1 else "input",
        shape=(base.uint(1), base.uint(3), base.uint(5)),
        format=FORMATS.get(base.uint(7), f"format-{base.uint(7)}"),
        data_type=DATA_TYPES.get(base.uint(12), f"{base.uint(12)}-byte"),
        qp_scale=numeric.float32(2),
        qp_zp=numeric.float32(1),
        limvals=(numeric.float32(3), numeric.float32(4)),
    )


def _network_group(group: Message) -> NetworkGroup:
    # Newer HEFs nest the core op under ops(8).core_op(4); older ones keep its fields on the group itself.
    core = next((op.message(4) for op in group.messages(8) if op.message(4) is not None), None) or group
    metadata = core.message(1) or Message(b"")
    contexts = core.messages(3)
    streams: dict[str, Stream] = {}
    for context in contexts:
        for edge in (context.message(3) or Message(b"")).messages(2):
            stream = _stream(edge)
            if stream is not None:
                streams.setdefault(f"{stream.direction}:{stream.name}", stream)
    return NetworkGroup(
        name=group.string(10) or metadata.string(1),
        contexts=len(contexts),
        bottleneck_fps=metadata.double(4),
        latency=metadata.double(6),
        inputs=[s for s in streams.values() if s.direction == "input"],
        outputs=[s for s in streams.values() if s.direction == "output"],
    )


def _integrity(version: int, header: bytes, body: bytes) -> str:
    if version in (2, 3):
        stored = struct.unpack(">Q", header[12:20])[0]
        if xxhash.xxh3_64_intdigest(body) != stored:
            raise PipelineError("HEF xxh3 does not match: the file is corrupted (HailoRT would refuse it: HAILO_HEF_FILE_CORRUPTED)")
        return "xxh3 verified"
    if version == 0:
        if hashlib.md5(body).digest() != header[16:32]:
            raise PipelineError("HEF md5 does not match: the file is corrupted")
        return "md5 verified"
    return "not checked (v1 CRC)"


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
    if version == 2:
        ccws_size = struct.unpack(">Q", data[20:28])[0]
        if len(data) != header_size + proto_size + ccws_size:
            raise PipelineError(
                f"HEF file length does not match: {len(data)} bytes, the header announces {header_size + proto_size + ccws_size}"
            )
    integrity = _integrity(version, data[:header_size], data[header_size:])
    try:
        root = Message(data[header_size : header_size + proto_size])
        header = root.message(1)
        groups = [_network_group(g) for g in root.messages(2)]
    except (WireError, UnicodeDecodeError) as exc:
        raise PipelineError(f"HEF protobuf is malformed: {exc}") from None
    if header is None or not groups:
        raise PipelineError("HEF has no header or no network group: not a compiled model")
    stamp = header.uint(2)
    return HefInfo(
        header_version=version,
        hw_arch=HW_ARCHS.get(header.uint(1), f"unknown-{header.uint(1)}"),
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


def describe(info: HefInfo) -> str:
    """A parse-hef-like text summary."""
    lines = [
        f"HEF v{info.header_version}, {info.size} bytes, {info.integrity}",
        f"Architecture HEF was compiled for: {info.hw_arch}",
        f"DFC (sdk) version: {info.sdk_version}, created {info.timestamp or 'unknown'}",
    ]
    for group in info.network_groups:
        lines.append(f"Network group name: {group.name}, {group.contexts} context(s), bottleneck fps {group.bottleneck_fps:.0f}")
        for s in [*group.inputs, *group.outputs]:
            shape = f"NC({s.shape[2]})" if s.format == "NC" else f"{s.format}({s.shape[0]}x{s.shape[1]}x{s.shape[2]})"
            lines.append(
                f"    {s.direction.capitalize():6} {s.name} {s.data_type}, {shape}, "
                f"scale {s.qp_scale:.6g} zp {s.qp_zp:g} range [{s.limvals[0]:.4g}, {s.limvals[1]:.4g}]"
            )
    return "\n".join(lines)
