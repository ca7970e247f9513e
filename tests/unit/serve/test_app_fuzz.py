"""Schemathesis generates requests from the sidecar's own OpenAPI schema (valid and invalid ones)
against the real server: none may answer 5xx. The backend is healthy, so a 503 would be a bug too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from tests.support.sidecar_server import RunningSidecar, running


@pytest.fixture(scope="module")
def fuzzed(bundle: Path) -> Iterator[RunningSidecar]:
    with running(bundle, queue_limit=256) as s:
        yield s


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_from_the_schema_gets_a_5xx(fuzzed: RunningSidecar, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {("POST", "/infer"), ("GET", "/healthz"), ("GET", "/metrics")}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # GET routes take no input to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=fuzzed.url, checks=[not_a_server_error])

        check()
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in httpx.get(f"{fuzzed.url}/metrics").text.splitlines()
        if line.startswith("hailo_sidecar_requests_total{")
    )
    assert counted >= 50, f"the fuzzer reached /infer only {counted:.0f} times"
    assert not any(code.startswith("5") for code in _status_codes(fuzzed.url)), "no 5xx of any kind"


def _status_codes(url: str) -> list[str]:
    return [
        line.split('status="', 1)[1].split('"', 1)[0]
        for line in httpx.get(f"{url}/metrics").text.splitlines()
        if line.startswith("hailo_sidecar_requests_total{")
    ]
