"""The Open Inference Protocol's binary tensor data extension on a running sidecar, called as a Triton/KServe user
calls it: tritonclient.http with its defaults (inputs and outputs as binary data) against every example model,
answering exactly what the JSON path answers; and a malformed binary body is a 400 naming the problem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from tests.support.sidecar_server import RunningSidecar, running

TCN, FSQ = "tcn-encoder", "conv2d-fsq"
MODELS = {TCN: [1, 1, 100, 9], FSQ: [1, 2, 100, 9]}
NUMPY = {"FP32": np.float32, "INT32": np.int32, "INT64": np.int64}


@pytest.fixture(scope="module")
def both(bundle: Path, fsq_bundle: Path) -> Iterator[RunningSidecar]:
    with running((fsq_bundle, bundle)) as s:
        yield s


@pytest.fixture
def client(both: RunningSidecar) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(both.url.removeprefix("http://"))
    yield c
    c.close()


def _window(model: str, seed: int) -> np.ndarray:
    """A raw window in sensor units around the examples' normalization (accelerometer ~1 g, the rest small)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.5, MODELS[model]) + np.asarray([0, 0, 9.8, 0, 0, 0, 30, 0, -40])).astype(np.float32)


def _json_answer(s: RunningSidecar, model: str, window: np.ndarray) -> dict[str, np.ndarray]:
    """The JSON path's answer to `window`, each output in its datatype."""
    tensor = {"name": "imu_window", "shape": list(window.shape), "datatype": "FP32", "data": window.ravel().tolist()}
    reply = httpx.post(f"{s.url}/v2/models/{model}/infer", content=orjson.dumps({"inputs": [tensor]}), timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    return {o["name"]: np.asarray(o["data"], NUMPY[o["datatype"]]).reshape(o["shape"]) for o in reply.json()["outputs"]}


def _triton_input(window: np.ndarray, binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("imu_window", list(window.shape), "FP32")
    return tensor.set_data_from_numpy(window, binary_data=binary)


def _assert_same(result: triton.InferResult, expected: dict[str, np.ndarray], binary: set[str]) -> None:
    """Every output in `expected` equal bit for bit, in its datatype; those in `binary` came as binary data."""
    assert [o["name"] for o in result.get_response()["outputs"]] == list(expected)
    for name, values in expected.items():
        output = result.get_output(name)
        assert ("data" not in output, output.get("parameters", {}).get("binary_data_size") is not None) == (name in binary,) * 2
        got = result.as_numpy(name)
        assert got.dtype == values.dtype
        np.testing.assert_array_equal(got, values)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_tritonclients_default_infer_answers_what_json_answers(
    both: RunningSidecar, client: triton.InferenceServerClient, model: str
) -> None:
    """infer(model, [input]): binary input; no outputs named, so the client asks binary_data_output for all."""
    window = _window(model, 1)
    expected = _json_answer(both, model, window)
    result = client.infer(model, [_triton_input(window)], request_id="r-1")
    assert (result.get_response()["id"], result.get_response()["model_name"]) == ("r-1", model)
    _assert_same(result, expected, set(expected))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_requested_outputs_with_their_default_come_as_binary_data(
    both: RunningSidecar, client: triton.InferenceServerClient, model: str
) -> None:
    window = _window(model, 2)
    expected = _json_answer(both, model, window)
    last = list(expected)[-1]
    result = client.infer(model, [_triton_input(window)], outputs=[triton.InferRequestedOutput(last)])
    _assert_same(result, {last: expected[last]}, {last})


def test_binary_and_json_mix_both_ways(both: RunningSidecar, client: triton.InferenceServerClient) -> None:
    """A JSON input with a binary output and a JSON one; and all JSON, as binary_data=False gives."""
    window = _window(FSQ, 3)
    expected = _json_answer(both, FSQ, window)
    outputs = [triton.InferRequestedOutput("probabilities"), triton.InferRequestedOutput("class_index", binary_data=False)]
    mixed = client.infer(FSQ, [_triton_input(window, binary=False)], outputs=outputs)
    _assert_same(mixed, {k: expected[k] for k in ("probabilities", "class_index")}, {"probabilities"})
    outputs = [triton.InferRequestedOutput(name, binary_data=False) for name in expected]
    plain = client.infer(FSQ, [_triton_input(window, binary=False)], outputs=outputs)
    _assert_same(plain, expected, set())


def test_a_version_is_its_release(both: RunningSidecar, client: triton.InferenceServerClient, bundle: Path) -> None:
    window = _window(TCN, 4)
    result = client.infer(TCN, [_triton_input(window)], model_version=bundle.name)
    _assert_same(result, _json_answer(both, TCN, window), {"latent", "motif_scores"})


def test_metadata_and_readiness_through_tritonclient(both: RunningSidecar, client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    for model, shape in MODELS.items():
        assert client.is_model_ready(model)
        meta = client.get_model_metadata(model)
        assert meta == httpx.get(f"{both.url}/v2/models/{model}").json()
        assert meta["inputs"] == [{"name": "imu_window", "datatype": "FP32", "shape": shape}]
    assert not client.is_model_ready("no-such-model")


def test_the_binary_answer_says_where_its_json_ends(both: RunningSidecar) -> None:
    """Triton's wire format, read without a client: JSON, then the outputs' bytes in their order."""
    window = _window(FSQ, 5)
    header = orjson.dumps(
        {
            "inputs": [{"name": "imu_window", "shape": MODELS[FSQ], "datatype": "FP32", "parameters": {"binary_data_size": window.nbytes}}],
            "parameters": {"binary_data_output": True},
        }
    )
    reply = httpx.post(
        f"{both.url}/v2/models/{FSQ}/infer",
        content=header + window.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/octet-stream"
    length = int(reply.headers["inference-header-content-length"])
    doc = orjson.loads(reply.content[:length])
    sizes = [o["parameters"]["binary_data_size"] for o in doc["outputs"]]
    assert sizes == [10 * 4, 5 * 4, 1 * 8]  # probabilities FP32, code INT32, class_index INT64
    assert len(reply.content) == length + sum(sizes)
    expected = _json_answer(both, FSQ, window)
    start = length
    for output, size in zip(doc["outputs"], sizes, strict=True):
        raw = np.frombuffer(reply.content[start : start + size], np.dtype(NUMPY[output["datatype"]]).newbyteorder("<"))
        np.testing.assert_array_equal(raw.reshape(output["shape"]), expected[output["name"]])
        start += size


def _binary_request(size: int | str = 3600, shape: list[int] | None = None) -> bytes:
    tensor = {"name": "imu_window", "shape": shape or MODELS[TCN], "datatype": "FP32", "parameters": {"binary_data_size": size}}
    return orjson.dumps({"inputs": [tensor]})


HEADER = _binary_request()
WINDOW_BYTES = _window(TCN, 6).tobytes()


@pytest.mark.parametrize(
    ("body", "header_length", "message"),
    [
        (HEADER + WINDOW_BYTES[:-4], len(HEADER), "the inputs' binary_data_size add up to 3600 bytes but 3596 bytes follow the JSON"),
        (HEADER + WINDOW_BYTES + b"\x00", len(HEADER), "the inputs' binary_data_size add up to 3600 bytes but 3601 bytes follow the JSON"),
        (HEADER, len(HEADER), "the inputs' binary_data_size add up to 3600 bytes but 0 bytes follow the JSON"),
        (HEADER + WINDOW_BYTES, len(HEADER) + 3601, f"Inference-Header-Content-Length is {len(HEADER) + 3601}, longer than the "),
        (
            HEADER + WINDOW_BYTES,
            "12a",
            "Inference-Header-Content-Length must be the JSON's length in bytes (a whole number >= 0), not '12a'",
        ),
        (HEADER + WINDOW_BYTES, "-3", "Inference-Header-Content-Length must be the JSON's length in bytes (a whole number >= 0), not '-3'"),
        (
            _binary_request(3596) + WINDOW_BYTES[:-4],
            len(_binary_request(3596)),
            "input imu_window has 3596 bytes of binary data; shape [1, 1, 100, 9] of FP32 needs 3600",
        ),
        (
            _binary_request(-4) + WINDOW_BYTES,
            len(_binary_request(-4)),
            "input 'imu_window': binary_data_size must be a whole number >= 0, not -4",
        ),
        (
            _binary_request(shape=[1, 1, 50, 9]) + WINDOW_BYTES,
            len(_binary_request(shape=[1, 1, 50, 9])),
            "input imu_window has shape [1, 1, 100, 9] ([1, H, T, 9]), not [1, 1, 50, 9]",
        ),
        (HEADER + WINDOW_BYTES, len(HEADER) - 1, "body is not valid JSON: "),
    ],
    ids=[
        "short",
        "long",
        "no-bytes",
        "header-beyond-body",
        "header-not-a-number",
        "header-negative",
        "bytes-not-the-shape",
        "negative-size",
        "wrong-shape",
        "header-cuts-the-json",
    ],
)
def test_a_malformed_binary_body_is_a_400_naming_the_problem(
    both: RunningSidecar, body: bytes, header_length: object, message: str
) -> None:
    reply = httpx.post(f"{both.url}/v2/models/{TCN}/infer", content=body, headers={"Inference-Header-Content-Length": str(header_length)})
    assert reply.status_code == 400
    assert reply.json()["error"].startswith(message)


def test_binary_data_without_the_header_or_in_another_content_type_is_refused(both: RunningSidecar) -> None:
    url = f"{both.url}/v2/models/{TCN}/infer"
    without = httpx.post(url, content=HEADER + WINDOW_BYTES)
    assert without.status_code == 400
    assert without.json()["error"].startswith("body is not valid JSON: ")
    in_json_only = httpx.post(url, content=HEADER)
    assert (in_json_only.status_code, in_json_only.json()["error"]) == (
        400,
        "the inputs' binary_data_size add up to 3600 bytes but 0 bytes follow the JSON (Inference-Header-Content-Length gives its length)",
    )
    octets = httpx.post(url, content=HEADER + WINDOW_BYTES, headers={"Content-Type": "application/octet-stream"})
    assert (octets.status_code, octets.json()["error"]) == (
        415,
        "Content-Type must be application/json (or none), or application/octet-stream with Inference-Header-Content-Length",
    )
