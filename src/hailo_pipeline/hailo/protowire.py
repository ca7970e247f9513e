"""A minimal protobuf wire-format reader: enough to walk a message tree without its .proto compiled."""

from __future__ import annotations

import struct
from collections import defaultdict

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


class Message:
    """Fields by number; each value is an int (varint, fixed) or bytes (length-delimited)."""

    def __init__(self, data: bytes) -> None:
        self.fields: dict[int, list[tuple[int, int | bytes]]] = defaultdict(list)
        pos = 0
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise WireError("field number 0")
            value: int | bytes
            if wire == VARINT:
                value, pos = _varint(data, pos)
            elif wire == FIXED64:
                value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
            elif wire == FIXED32:
                value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
            elif wire == LENGTH:
                size, pos = _varint(data, pos)
                value, pos = data[pos : pos + size], pos + size
            else:
                raise WireError(f"unsupported wire type {wire}")
            if pos > len(data):
                raise WireError("field runs past the end of the message")
            self.fields[number].append((wire, value))

    def _last(self, number: int, wire: int) -> int | bytes | None:
        values = [v for w, v in self.fields.get(number, []) if w == wire]
        return values[-1] if values else None

    def uint(self, number: int, default: int = 0) -> int:
        value = self._last(number, VARINT)
        return value if isinstance(value, int) else default

    def string(self, number: int) -> str:
        value = self._last(number, LENGTH)
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""

    def float32(self, number: int) -> float:
        value = self._last(number, FIXED32)
        return struct.unpack("<f", value.to_bytes(4, "little"))[0] if isinstance(value, int) else 0.0

    def double(self, number: int) -> float:
        value = self._last(number, FIXED64)
        return struct.unpack("<d", value.to_bytes(8, "little"))[0] if isinstance(value, int) else 0.0

    def message(self, number: int) -> Message | None:
        value = self._last(number, LENGTH)
        return Message(value) if isinstance(value, bytes) else None

    def messages(self, number: int) -> list[Message]:
        return [Message(v) for w, v in self.fields.get(number, []) if w == LENGTH and isinstance(v, bytes)]

    def strings(self, number: int) -> list[str]:
        return [v.decode("utf-8", "replace") for w, v in self.fields.get(number, []) if w == LENGTH and isinstance(v, bytes)]
