"""The sidecar's metrics for the fleet's Prometheus: a small HTTP server, in a container of its own on EdgeInfer's
network, that answers GET /metrics and /healthz with what the sidecar (by its network alias) answers, and
nothing else. The sidecar's port stays on EdgeInfer's network; only this one is published on the Pi.

It follows the alias, so an image change (a new sidecar container beside the old, then the alias moving)
never needs it restarted, and the host port two sidecar containers could not both publish is held by this
one alone. When the sidecar does not answer, the gateway says 503, so the fleet's `up{job="hailo-sidecar"}`
is 0 exactly when the sidecar is down (files/monitoring/alerts.yml).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATHS = ("/metrics", "/healthz")
UPSTREAM_TIMEOUT_S = 5.0  # inside Prometheus's default scrape timeout (10 s)


def fetch(url: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of GET url; 503 with the reason when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=UPSTREAM_TIMEOUT_S) as response:
            return response.status, response.headers.get("Content-Type", "text/plain"), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", "text/plain"), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 503, "text/plain; charset=utf-8", f"the sidecar at {url} does not answer: {exc}\n".encode()


def gateway(upstream: str, host: str, port: int) -> ThreadingHTTPServer:
    """The server (not yet serving): GET /metrics and /healthz from upstream (e.g. http://hailo-inference:9000)."""
    base = upstream.rstrip("/")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in PATHS:
                status, content_type, body = fetch(base + self.path)
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
