"""Frames between the sidecar's event loop and its device process, over one Unix socketpair.

A frame is a fixed header (kind, job, engine key, payload length) and a payload: a window's float32 bytes,
an answer's float32 bytes, or a small JSON document. Windows are 3.6 kB; nothing larger crosses.
"""

from __future__ import annotations

import enum
import socket
import struct
from typing import NamedTuple

HEADER = struct.Struct("<BIII")


class Kind(enum.IntEnum):
    # event loop -> device process
    LOAD = 1  # payload: JSON LoadRequest (messages.py)
    INFER = 2  # payload: float32 window rows
    UNLOAD = 3
    STOP = 4
    # device process -> event loop
    LOADED = 10  # payload: JSON engine description
    LOAD_FAILED = 11  # payload: JSON {reason, device_full}
    ANSWER = 12  # payload: float32 [seconds, answers...] (the engine's head's answers, in its order)
    FAILED = 13  # payload: UTF-8 reason
    HEALTH = 14  # payload: UTF-8 failure, empty when the engine recovered
    PARITY = 15  # payload: float32 [cosine, threshold] of one sampled window (device/parity.py)


class Frame(NamedTuple):
    kind: Kind
    job: int
    key: int
    payload: bytes


def encode(kind: Kind, job: int = 0, key: int = 0, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, job, key, len(payload)) + payload


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = sock.recv(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket) -> Frame | None:
    """The next frame from a blocking socket; None when the other side closed it."""
    head = _exactly(sock, HEADER.size)
    if head is None:
        return None
    kind, job, key, length = HEADER.unpack(head)
    payload = _exactly(sock, length) if length else b""
    return None if payload is None else Frame(Kind(kind), job, key, payload)


class Frames:
    """Frames out of a byte stream as it arrives (the event loop's side, fed from Protocol.data_received)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames, offset = [], 0
        while len(self.buffer) - offset >= HEADER.size:
            kind, job, key, length = HEADER.unpack_from(self.buffer, offset)
            end = offset + HEADER.size + length
            if len(self.buffer) < end:
                break
            frames.append(Frame(Kind(kind), job, key, bytes(self.buffer[offset + HEADER.size : end])))
            offset = end
        del self.buffer[:offset]
        return frames
