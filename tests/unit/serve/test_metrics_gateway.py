"""The metrics gateway: the sidecar's /metrics and /healthz for the fleet's Prometheus, nothing else, and 503 with
the reason while the sidecar does not answer (so the fleet's up{job="hailo-sidecar"} is 0)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hailo_pipeline.clients.metrics_gateway import gateway, pi_metrics
from tests.conftest import CLI, SAMPLES
from tests.support.sidecar_server import free_port, post, running

# Where the Raspberry Pi firmware driver's node sits: the device tree's SoC bus is `soc` on a Pi 4 (bcm2711),
# `soc@107c000000` on a Pi 5 (bcm2712)
FIRMWARE_NODES = {
    "pi4": "devices/platform/soc/soc:firmware",
    "pi5": "devices/platform/soc@107c000000/soc@107c000000:firmware",
}


def pi_sysfs(root: Path, throttled: str = "50005", millidegrees: str = "61500", pi: str = "pi4") -> Path:
    """A Pi's sysfs as far as the gateway reads it: the firmware's get_throttled and thermal zone 0."""
    (root / FIRMWARE_NODES[pi]).mkdir(parents=True)
    (root / FIRMWARE_NODES[pi] / "get_throttled").write_text(throttled + "\n")
    (root / "class/thermal/thermal_zone0").mkdir(parents=True)
    (root / "class/thermal/thermal_zone0/temp").write_text(millidegrees + "\n")
    return root


@contextmanager
def gateway_to(upstream: str, sysfs: Path = Path("/nonexistent")) -> Iterator[str]:
    server = gateway(upstream, "127.0.0.1", free_port(), sysfs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_gateway_answers_the_sidecars_metrics_and_health_and_nothing_else(bundle: Path) -> None:
    with running(bundle) as sidecar, gateway_to(sidecar.url) as url:
        assert post(sidecar.url, (SAMPLES / "static_imu_sample.json").read_bytes()).status_code == 200
        metrics = httpx.get(f"{url}/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "hailo_sidecar_ready 1.0" in metrics.text  # set by the scrape itself, not only by a /healthz call
        assert 'hailo_sidecar_requests_total{model="tcn-encoder",route="edgeinfer",status="200"} 1.0' in metrics.text
        assert httpx.get(f"{url}/healthz").json()["release"] == bundle.name
        assert httpx.get(f"{url}/infer").status_code == 404
        assert httpx.post(f"{url}/infer", json={"x": []}).status_code == 501  # no inference through it
        assert httpx.get(f"{url}/docs").status_code == 404


def test_after_the_sidecars_metrics_come_the_pis_throttling_bits_and_soc_temperature(bundle: Path, tmp_path: Path) -> None:
    with running(bundle) as sidecar, gateway_to(sidecar.url, pi_sysfs(tmp_path, pi="pi5")) as url:
        text = httpx.get(f"{url}/metrics").text
    pi = text[text.index("# HELP hailo_pi_throttled") :].splitlines()
    assert [line for line in pi if not line.startswith("#")] == [
        'hailo_pi_throttled{condition="under_voltage",when="now"} 1',
        'hailo_pi_throttled{condition="under_voltage",when="since_boot"} 1',
        'hailo_pi_throttled{condition="frequency_capped",when="now"} 0',
        'hailo_pi_throttled{condition="frequency_capped",when="since_boot"} 0',
        'hailo_pi_throttled{condition="throttled",when="now"} 1',
        'hailo_pi_throttled{condition="throttled",when="since_boot"} 1',
        'hailo_pi_throttled{condition="soft_temperature_limit",when="now"} 0',
        'hailo_pi_throttled{condition="soft_temperature_limit",when="since_boot"} 0',
        "hailo_pi_soc_temperature_celsius 61.5",
    ]
    assert "hailo_sidecar_ready 1.0" in text[: text.index("# HELP hailo_pi_throttled")]


@pytest.mark.parametrize("pi", sorted(FIRMWARE_NODES))
def test_the_throttling_bits_are_read_on_a_pi_4_and_on_a_pi_5(pi: str, tmp_path: Path) -> None:
    text = pi_metrics(pi_sysfs(tmp_path, throttled="60002", pi=pi)).decode()
    assert 'hailo_pi_throttled{condition="frequency_capped",when="now"} 1' in text
    assert 'hailo_pi_throttled{condition="throttled",when="since_boot"} 1' in text
    assert 'hailo_pi_throttled{condition="under_voltage",when="now"} 0' in text


def test_a_host_without_the_pis_files_adds_nothing(tmp_path: Path) -> None:
    assert pi_metrics(tmp_path) == b""
    (tmp_path / "devices/platform/soc/soc:firmware").mkdir(parents=True)
    (tmp_path / "devices/platform/soc/soc:firmware/get_throttled").write_text("not hex\n")
    assert pi_metrics(tmp_path) == b""


def test_the_gateway_says_503_and_why_while_the_sidecar_does_not_answer() -> None:
    upstream = f"http://127.0.0.1:{free_port()}"
    with gateway_to(upstream) as url:
        answer = httpx.get(f"{url}/metrics")
        assert answer.status_code == 503
        assert answer.text.startswith(f"the sidecar at {upstream}/metrics does not answer: ")


def test_the_gateway_exits_at_once_on_sigterm_as_docker_stop_sends_it() -> None:
    """Exit status 0, not death by the signal: as its container's PID 1 it would otherwise ignore SIGTERM, and
    `docker stop` (a dockerd restart, a reboot) wait 10 s before killing it."""
    port = free_port()
    argv = [CLI, "metrics-gateway", "--upstream", f"http://127.0.0.1:{free_port()}", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 503:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the gateway did not listen within 10 s")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
