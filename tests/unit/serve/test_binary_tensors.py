"""The binary tensor data extension's codec (serve/http/binary_tensors.py): what tritonclient sends decodes to its
arrays, what the sidecar answers decodes in tritonclient to the values, and every malformed body is a 400 saying
what does not add up."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from hypothesis import given
from hypothesis import strategies as st

from hailo_pipeline.serve.http import binary_tensors
from hailo_pipeline.serve.http.binary_tensors import binary_outputs, decode, encode, slice_inputs, split_body
from hailo_pipeline.serve.http.refusal import Refused

NUMPY = {"FP32": np.float32, "INT32": np.int32, "INT64": np.int64}


def _refusal(call: Any, *args: Any) -> tuple[int, str]:
    with pytest.raises(Refused) as refused:
        call(*args)
    return refused.value.status, refused.value.message


def test_what_tritonclient_sends_decodes_to_its_arrays_in_every_datatype() -> None:
    """Three inputs in one body, as tritonclient's own serializer lays them out: each comes back bit for bit."""
    rng = np.random.default_rng(0)
    arrays = {
        "FP32": rng.normal(0, 1e3, (1, 2, 5, 9)).astype(np.float32),
        "INT32": rng.integers(-(2**31), 2**31, (1, 7), dtype=np.int32),
        "INT64": rng.integers(-(2**63), 2**63 - 1, (3, 1), dtype=np.int64),
    }
    inputs = []
    for datatype, array in arrays.items():
        inputs.append(triton.InferInput(f"in_{datatype}", list(array.shape), datatype))
        inputs[-1].set_data_from_numpy(array)  # binary_data=True, the client's default
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs)
    header, binary = split_body(body, str(json_size))
    tensors = orjson.loads(header)["inputs"]
    for tensor, raw in zip(tensors, slice_inputs(tensors, binary), strict=True):
        assert "data" not in tensor
        assert raw is not None
        decoded = decode(raw, tensor["name"], tensor["datatype"], tensor["shape"])
        np.testing.assert_array_equal(decoded, arrays[tensor["datatype"]])
        assert decoded.dtype == NUMPY[tensor["datatype"]]


def test_a_json_input_beside_a_binary_one_takes_no_bytes() -> None:
    tensors = [{"name": "a", "data": [1.0]}, {"name": "b", "parameters": {"binary_data_size": 4}}]
    assert slice_inputs(tensors, b"\x00\x00\x80?") == [None, b"\x00\x00\x80?"]


@pytest.mark.parametrize("datatype", sorted(NUMPY))
def test_an_answer_decodes_in_tritonclient_to_the_values(datatype: str) -> None:
    """The answer vector is float32 (integer outputs held exactly); tritonclient reads back the datatype's values,
    the integers truncated toward zero as the JSON answer's int() does."""
    values = np.asarray([3.0, -2.0, 7.5, -7.5, 2.0**24, -0.0], np.float32)
    raw = encode(values, datatype)
    doc = {"outputs": [{"name": "out", "datatype": datatype, "shape": [1, 6], "parameters": {"binary_data_size": len(raw)}}]}
    content, headers = binary_tensors.body(orjson.dumps(doc), [raw])
    result = triton.InferenceServerClient.parse_response_body(content, header_length=int(headers[binary_tensors.HEADER]))
    got = result.as_numpy("out")
    assert got.dtype == NUMPY[datatype]
    expected = values if datatype == "FP32" else [int(v) for v in values.tolist()]
    np.testing.assert_array_equal(got, np.asarray(expected, NUMPY[datatype]).reshape(1, 6))


@pytest.mark.parametrize(
    ("header_length", "message"),
    [
        ("abc", "Inference-Header-Content-Length must be the JSON's length in bytes (a whole number >= 0), not 'abc'"),
        ("-5", "Inference-Header-Content-Length must be the JSON's length in bytes (a whole number >= 0), not '-5'"),
        ("2.0", "Inference-Header-Content-Length must be the JSON's length in bytes (a whole number >= 0), not '2.0'"),
        ("", "Inference-Header-Content-Length must be the JSON's length in bytes (a whole number >= 0), not ''"),
        ("²", "Inference-Header-Content-Length must be the JSON's length in bytes (a whole number >= 0), not '²'"),
        ("10", "Inference-Header-Content-Length is 10, longer than the 2-byte body"),
    ],
)
def test_a_header_length_that_is_not_a_count_within_the_body_is_refused(header_length: str, message: str) -> None:
    assert _refusal(split_body, b"{}", header_length) == (400, message)


def test_the_header_length_splits_the_body_where_it_says() -> None:
    assert split_body(b'{"a":1}xyz', "7") == (b'{"a":1}', b"xyz")
    assert split_body(b"{}", "2") == (b"{}", b"")


@pytest.mark.parametrize(
    ("sizes", "binary", "message"),
    [
        ([8], b"1234", "the inputs' binary_data_size add up to 8 bytes but 4 bytes follow the JSON"),
        ([4], b"12345678", "the inputs' binary_data_size add up to 4 bytes but 8 bytes follow the JSON"),
        ([4, 4], b"1234", "the inputs' binary_data_size add up to 8 bytes but 4 bytes follow the JSON"),
        ([None], b"1234", "the inputs' binary_data_size add up to 0 bytes but 4 bytes follow the JSON"),
    ],
)
def test_sizes_that_do_not_add_up_to_the_bytes_after_the_json_are_refused(sizes: list[int | None], binary: bytes, message: str) -> None:
    tensors = [{"name": f"in{i}"} | ({} if s is None else {"parameters": {"binary_data_size": s}}) for i, s in enumerate(sizes)]
    assert _refusal(slice_inputs, tensors, binary) == (400, message + " (Inference-Header-Content-Length gives its length)")


@pytest.mark.parametrize("size", [-1, "4", 4.0, True, None])
def test_a_binary_data_size_that_is_not_a_whole_number_is_refused(size: object) -> None:
    tensor = {"name": "x", "parameters": {"binary_data_size": size}}
    assert _refusal(slice_inputs, [tensor], b"1234") == (400, f"input 'x': binary_data_size must be a whole number >= 0, not {size!r}")


def test_an_input_with_data_and_binary_data_is_refused() -> None:
    tensor = {"name": "x", "data": [1.0], "parameters": {"binary_data_size": 4}}
    assert _refusal(slice_inputs, [tensor], b"1234") == (400, "input 'x' has both \"data\" and binary_data_size; send one")


@pytest.mark.parametrize(
    ("raw", "datatype", "shape", "message"),
    [
        (b"\x00" * 12, "INT64", [1, 2], "input x has 12 bytes of binary data; shape [1, 2] of INT64 needs 16"),
        (b"\x00" * 16, "INT32", [1, 2], "input x has 16 bytes of binary data; shape [1, 2] of INT32 needs 8"),
        (b"\x00" * 3596, "FP32", [1, 1, 100, 9], "input x has 3596 bytes of binary data; shape [1, 1, 100, 9] of FP32 needs 3600"),
        (b"\x00" * 2, "FP16", [1], "input x: binary data of datatype 'FP16' is not taken here; ['FP32', 'INT32', 'INT64'] are"),
    ],
)
def test_bytes_that_do_not_fit_the_shape_and_datatype_are_refused(raw: bytes, datatype: str, shape: list[int], message: str) -> None:
    assert _refusal(decode, raw, "x", datatype, shape) == (400, message)


def test_which_outputs_go_as_binary_data() -> None:
    """An output's own binary_data wins; the request's binary_data_output is the default; neither: JSON."""
    names = ["a", "b", "c"]
    assert binary_outputs({}, names) == {"a": False, "b": False, "c": False}
    assert binary_outputs({"parameters": {"binary_data_output": True}}, names) == {"a": True, "b": True, "c": True}
    doc = {"parameters": {"binary_data_output": True}, "outputs": [{"name": "a", "parameters": {"binary_data": False}}, {"name": "b"}]}
    assert binary_outputs(doc, ["a", "b"]) == {"a": False, "b": True}
    assert binary_outputs({"outputs": [{"name": "a", "parameters": {"binary_data": True}}, {"name": "b"}]}, ["a", "b"]) == {
        "a": True,
        "b": False,
    }


def test_a_binary_flag_that_is_not_a_boolean_is_refused() -> None:
    assert _refusal(binary_outputs, {"parameters": {"binary_data_output": 1}}, ["a"]) == (
        400,
        "parameters.binary_data_output must be true or false, not 1",
    )
    assert _refusal(binary_outputs, {"outputs": [{"name": "a", "parameters": {"binary_data": "yes"}}]}, ["a"]) == (
        400,
        "output a: parameters.binary_data must be true or false, not 'yes'",
    )


def _split_and_slice(body: bytes, header_length: str, sizes: list[int | None]) -> tuple[bytes, list[bytes | None]] | Refused:
    """The bytes after the JSON and their cuts, or the refusal; any other exception escapes and fails the test."""
    try:
        _, binary = split_body(body, header_length)
        return binary, slice_inputs([{} if s is None else {"parameters": {"binary_data_size": s}} for s in sizes], binary)
    except Refused as refused:
        return refused


@given(st.binary(max_size=64), st.text(max_size=6), st.lists(st.integers(-3, 40) | st.none(), max_size=3))
def test_arbitrary_bodies_split_and_slice_or_are_refused_with_a_400(body: bytes, header_length: str, sizes: list[int | None]) -> None:
    outcome = _split_and_slice(body, header_length, sizes)
    if isinstance(outcome, Refused):
        assert outcome.status == 400
    else:
        binary, cuts = outcome
        assert b"".join(c for c in cuts if c is not None) == binary
