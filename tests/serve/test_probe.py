"""`hailo-pipeline probe`: the deploy's post-start check, against a real sidecar on loopback."""

from pathlib import Path

import pytest

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.probe import health_url, probe
from tests.conftest import SMALL_CALIBRATION, build_example
from tests.serve.test_app import _tampered_goldens
from tests.sidecar_server import running


@pytest.fixture(scope="module")
def url(server: str) -> str:
    return server + "/infer"


def test_health_url_is_derived_as_edgeinfer_does() -> None:
    assert health_url("http://hailo-inference:9000/infer") == "http://hailo-inference:9000/healthz"
    with pytest.raises(PipelineError, match="must end in /infer"):
        health_url("http://hailo-inference:9000/")


def test_live_release_reproduces_its_goldens_through_http(url: str, bundle: Path) -> None:
    result = probe(url, bundle)
    assert result["release"] == bundle.name
    assert result["backend"] == "onnxruntime"
    assert result["windows"] == 16
    assert result["latent"]["cosine_min"] > 0.9999
    assert (result["model"], result["route"]) == ("tcn-encoder", "edgeinfer")


def test_another_release_than_the_live_one_is_refused(url: str, bundle: Path, tmp_path: Path, sources: dict[str, Path]) -> None:
    other = build_example(tmp_path, sources["tcn_encoder"], calibration=SMALL_CALIBRATION | {"seed": 7})
    with pytest.raises(PipelineError, match=f"serves '{bundle.name}', expected '{other.name}'"):
        probe(url, other)


def test_answers_that_differ_from_the_goldens_fail(url: str, bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"golden latent of tcn-encoder through edgeinfer: worst cosine -"):
        probe(url, _tampered_goldens(bundle, tmp_path))


def test_a_sidecar_that_is_down_is_named(bundle: Path) -> None:
    with pytest.raises(PipelineError, match="no answer"):
        probe("http://127.0.0.1:9/infer", bundle, timeout=1)


def test_a_model_beside_edgeinfers_is_probed_over_the_protocol(bundle: Path, fsq_bundle: Path) -> None:
    with running((bundle, fsq_bundle)) as s:
        result = probe(f"{s.url}/infer", fsq_bundle)
        assert (result["model"], result["route"], result["windows"]) == ("conv2d-fsq", "oip", 16)
        assert result["probabilities"]["max_abs"] < 1e-5
        assert probe(f"{s.url}/infer", bundle)["route"] == "edgeinfer"


def test_a_model_the_sidecar_does_not_serve_is_named(url: str, fsq_bundle: Path) -> None:
    with pytest.raises(PipelineError, match="the sidecar serves no model 'conv2d-fsq' \\(it serves tcn-encoder\\)"):
        probe(url, fsq_bundle)
