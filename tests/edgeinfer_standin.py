"""EdgeInfer stand-in (tests only): calls the sidecar exactly as EdgeInfer does and says whether its answer was real.

Reads EdgeInfer's settings from the environment (its .env): USE_REAL_MODEL (the string "true" or not),
MODEL_BACKEND_URL, BACKEND_TIMEOUT_MS. Like EdgeInfer (reference-repos.md section 1):
- POST MODEL_BACKEND_URL with {"x": rows}; an answer counts only with 64 latent values and 12 motif scores;
  any failure gives a random stub (latent U[-1,1] x 64, scores U[0.1,0.95] x 12).
- Its health URL is MODEL_BACKEND_URL before "/infer" plus "/healthz"; only 200 counts.
- GET /healthz: 503 when the sidecar cannot be reached at all, otherwise 200.
Test endpoint: POST /analyze {"x": rows} -> {"real": bool, "latent": [...], "motif_scores": [...]}.
Listens on 0.0.0.0:8080, standard library only.
"""

import json
import os
import random
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USE_REAL_MODEL = os.environ.get("USE_REAL_MODEL") == "true"
BACKEND_URL = os.environ.get("MODEL_BACKEND_URL", "http://hailo-inference:9000/infer")
TIMEOUT_S = int(os.environ.get("BACKEND_TIMEOUT_MS", "1500")) / 1000
HEALTH_URL = BACKEND_URL.partition("/infer")[0] + "/healthz"


def _status(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _analyze(rows: list) -> dict:
    if USE_REAL_MODEL:
        try:
            status, body = _status(BACKEND_URL, json.dumps({"x": rows}).encode())
            answer = json.loads(body) if status == 200 else {}
            if len(answer.get("latent", [])) == 64 and len(answer.get("motif_scores", [])) == 12:
                return {"real": True, "latent": answer["latent"], "motif_scores": answer["motif_scores"]}
        except (OSError, ValueError):
            pass
    return {
        "real": False,
        "latent": [random.uniform(-1, 1) for _ in range(64)],
        "motif_scores": [random.uniform(0.1, 0.95) for _ in range(12)],
    }


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != "/healthz":
            return self._reply(404, {"error": "not found"})
        try:
            backend = "healthy" if _status(HEALTH_URL)[0] == 200 else "degraded"
        except OSError:
            backend = "unhealthy"
        return self._reply(503 if backend == "unhealthy" else 200, {"hailo_backend": backend, "use_real_model": USE_REAL_MODEL})

    def do_POST(self) -> None:
        if self.path != "/analyze":
            return self._reply(404, {"error": "not found"})
        rows = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["x"]
        return self._reply(200, _analyze(rows))

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
