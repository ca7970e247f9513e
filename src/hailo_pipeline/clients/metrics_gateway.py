"""The sidecar's metrics for the fleet's Prometheus: a small HTTP server, in a container of its own on EdgeInfer's
network, that answers GET /metrics and /healthz with what the sidecar (by its network alias) answers, and
nothing else. The sidecar's port stays on EdgeInfer's network; only this one is published on the Pi.

To the sidecar's metrics it adds the Pi's own that a Pi's Prometheus job needs and the sidecar cannot see from its
container: the firmware's throttling bits (what `vcgencmd get_throttled` reads, from the Raspberry Pi firmware
driver's get_throttled file in sysfs) and the SoC's temperature, when the Pi has them.

It follows the alias, so an image change (a new sidecar container beside the old, then the alias moving)
never needs it restarted, and the host port two sidecar containers could not both publish is held by this
one alone. When the sidecar does not answer, the gateway says 503, so the fleet's `up{job="hailo-sidecar"}`
is 0 exactly when the sidecar is down (files/monitoring/alerts.yml).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PATHS = ("/metrics", "/healthz")
UPSTREAM_TIMEOUT_S = 5.0  # inside Prometheus's default scrape timeout (10 s)
# The firmware driver's get_throttled, under the SoC bus the device tree names: `soc` on a Pi 4 (bcm2711) and
# earlier, `soc@107c000000` on a Pi 5 (bcm2712, its firmware node `soc@107c000000:firmware`); and thermal zone 0
THROTTLED = (
    "devices/platform/soc/soc:firmware/get_throttled",
    "devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled",
)
SOC_TEMPERATURE = "class/thermal/thermal_zone0/temp"
# vcgencmd get_throttled's bits: condition -> bit now (bit + 16: since boot)
CONDITIONS = {"under_voltage": 0, "frequency_capped": 1, "throttled": 2, "soft_temperature_limit": 3}


def _integer(path: Path, base: int = 10) -> int | None:
    """The integer a sysfs file holds, or None when it is missing or holds something else."""
    try:
        return int(path.read_text().strip(), base)
    except (OSError, ValueError):
        return None


def pi_metrics(sysfs: Path = Path("/sys")) -> bytes:
    """The Pi's throttling bits and SoC temperature in Prometheus text, or nothing for what this host lacks."""
    lines = []
    bits = next((b for b in (_integer(sysfs / path, 16) for path in THROTTLED) if b is not None), None)
    if bits is not None:
        lines += [
            "# HELP hailo_pi_throttled The Pi firmware's get_throttled bits: 1 while (now) or once since boot (since_boot).",
            "# TYPE hailo_pi_throttled gauge",
        ]
        for condition, bit in CONDITIONS.items():
            lines.append(f'hailo_pi_throttled{{condition="{condition}",when="now"}} {bits >> bit & 1}')
            lines.append(f'hailo_pi_throttled{{condition="{condition}",when="since_boot"}} {bits >> (bit + 16) & 1}')
    millidegrees = _integer(sysfs / SOC_TEMPERATURE)
    if millidegrees is not None:
        celsius = millidegrees / 1000
        lines += [
            "# HELP hailo_pi_soc_temperature_celsius The Pi's SoC temperature (thermal zone 0).",
            "# TYPE hailo_pi_soc_temperature_celsius gauge",
            f"hailo_pi_soc_temperature_celsius {celsius:g}",
        ]
    return "".join(f"{line}\n" for line in lines).encode()


def fetch(url: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of GET url; 503 with the reason when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=UPSTREAM_TIMEOUT_S) as response:
            return response.status, response.headers.get("Content-Type", "text/plain"), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", "text/plain"), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 503, "text/plain; charset=utf-8", f"the sidecar at {url} does not answer: {exc}\n".encode()


def gateway(upstream: str, host: str, port: int, sysfs: Path = Path("/sys")) -> ThreadingHTTPServer:
    """The server (not yet serving): GET /metrics and /healthz from upstream (e.g. http://hailo-inference:9000), the
    Pi's own metrics after the sidecar's."""
    base = upstream.rstrip("/")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in PATHS:
                status, content_type, body = fetch(base + self.path)
                if self.path == "/metrics" and status == 200:
                    body += pi_metrics(sysfs)
            else:
                status, content_type, body = 404, "text/plain; charset=utf-8", b"only GET /metrics and /healthz here\n"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """One scrape every few seconds: no access log."""

    return ThreadingHTTPServer((host, port), Handler)
