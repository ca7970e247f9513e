"""The Open Inference Protocol's binary tensor data extension (`binary_tensor_data`), as Triton defines it and
KServe adopts it (Triton's docs/protocol/extension_binary_data.md; tritonclient.http's _get_inference_request and
InferResult are the client side of it):

- a body is the JSON request or answer followed by the tensors' raw bytes, in the order the JSON lists the tensors;
  the header `Inference-Header-Content-Length` gives the JSON's length in bytes, Content-Length the whole body's;
- an input sent so carries `parameters.binary_data_size` (its bytes) and no `data`; an output is answered so when
  its request entry says `parameters.binary_data: true`, or, when it says nothing, when the request's
  `parameters.binary_data_output` is true; the answer's entry then carries `binary_data_size` instead of `data`;
- the bytes are little-endian, row-major, without padding, in the datatype's own size.

Here: FP32, INT32 and INT64, the datatypes the sidecar's models take and give. Every malformed body is a 400
saying what does not add up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.serve.http.refusal import Refused

HEADER = "Inference-Header-Content-Length"
EXTENSION = "binary_tensor_data"
CONTENT_TYPE = "application/octet-stream"  # Triton's, for a body that holds binary tensors
DTYPES: dict[str, np.dtype[Any]] = {"FP32": np.dtype("<f4"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8")}


def split_body(body: bytes, header_length: str) -> tuple[bytes, bytes]:
    """The JSON at the head of `body` and the bytes after it, as the header `Inference-Header-Content-Length` says."""
    if not (header_length.isascii() and header_length.isdigit()):
        raise Refused(
            400, "bad_header_length", f"{HEADER} must be the JSON's length in bytes (a whole number >= 0), not {header_length[:40]!r}"
        )
    length = int(header_length)
    if length > len(body):
        raise Refused(400, "header_too_long", f"{HEADER} is {length}, longer than the {len(body)}-byte body")
    return body[:length], body[length:]


def binary_size(tensor: dict[str, Any]) -> int | None:
    """The tensor's `parameters.binary_data_size` (None: its data is JSON), refused unless a whole number >= 0."""
    parameters = tensor.get("parameters")
    if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
        return None
    size = parameters["binary_data_size"]
    if type(size) is not int or size < 0:
        raise Refused(400, "bad_binary_size", f"input {tensor.get('name')!r}: binary_data_size must be a whole number >= 0, not {size!r}")
    if "data" in tensor:
        raise Refused(400, "data_and_binary", f'input {tensor.get("name")!r} has both "data" and binary_data_size; send one')
    return size


def slice_inputs(tensors: list[Any], binary: bytes) -> list[bytes | None]:
    """Each input's raw bytes (None for one whose data is JSON), cut from `binary` in the inputs' order; refused
    unless their binary_data_size add up to exactly the bytes after the JSON."""
    sizes = [binary_size(t) if isinstance(t, dict) else None for t in tensors]
    total = sum(s for s in sizes if s is not None)
    if total != len(binary):
        raise Refused(
            400,
            "binary_length_mismatch",
            f"the inputs' binary_data_size add up to {total} bytes but {len(binary)} bytes follow the JSON ({HEADER} gives its length)",
        )
    cuts: list[bytes | None] = []
    start = 0
    for size in sizes:
        cuts.append(None if size is None else binary[start : start + size])
        start += size or 0
    return cuts


def decode(raw: bytes, name: str, datatype: str, shape: list[int]) -> NDArray[Any]:
    """An input's raw bytes as an array of `shape`, refused unless they are exactly shape x datatype's size."""
    dtype = DTYPES.get(datatype)
    if dtype is None:
        raise Refused(400, "bad_datatype", f"input {name}: binary data of datatype {datatype!r} is not taken here; {sorted(DTYPES)} are")
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise Refused(
            400, "bad_binary_size", f"input {name} has {len(raw)} bytes of binary data; shape {shape} of {datatype} needs {expected}"
        )
    return np.frombuffer(raw, dtype).reshape(shape)


def encode(values: NDArray[Any], datatype: str) -> bytes:
    """An output's values as the datatype's little-endian bytes (integers from the float answer vector truncate
    toward zero, as the JSON answer's int() does)."""
    return values.astype(DTYPES[datatype]).tobytes()


def binary_outputs(doc: dict[str, Any], names: list[str]) -> dict[str, bool]:
    """Whether each of `names` (the outputs to answer) goes as binary data: its request entry's
    parameters.binary_data, else the request's parameters.binary_data_output, else not."""
    parameters = doc.get("parameters")
    default = parameters.get("binary_data_output", False) if isinstance(parameters, dict) else False
    if type(default) is not bool:
        raise Refused(400, "bad_binary_flag", f"parameters.binary_data_output must be true or false, not {default!r}")
    asked = {o["name"]: o.get("parameters") for o in doc.get("outputs", ()) if isinstance(o, dict)}
    flags = {}
    for name in names:
        given = asked.get(name)
        flag = given.get("binary_data", default) if isinstance(given, dict) else default
        if type(flag) is not bool:
            raise Refused(400, "bad_binary_flag", f"output {name}: parameters.binary_data must be true or false, not {flag!r}")
        flags[name] = flag
    return flags


def body(header: bytes, tensors: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """An answer's body (its JSON, then the tensors' bytes) and the headers that say where the JSON ends."""
    return header + b"".join(tensors), {HEADER: str(len(header))}
