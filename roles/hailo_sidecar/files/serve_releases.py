"""Makes the sidecar container serve each release and proves it, in one run on the host (container.yml), where a
task per step would each ship a module: every release switched in (`hailo-pipeline switch`: a hot switch when its
model served another), then /healthz 200, then each release reproducing its golden vectors (`hailo-pipeline probe`: EdgeInfer's
model through /infer, the others through /v2). A container just (re)started opens its control listener once it has loaded its models
and answers /healthz once it is ready: both are waited for, `retries` times `delay` seconds. Mode `prove` (check
mode) switches nothing. Prints {"switched": [the releases that moved]}; on a failure the step and the sidecar's
reason go to stderr (exit 1). Python's standard library only. argv: switch|prove, the container, retries, delay,
the releases.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable

SIDECAR_BIN = "/opt/sidecar/bin"
INFER_URL = "http://127.0.0.1:9000/infer"
# Exit 0 on /healthz 200; otherwise exit 1 printing the sidecar's reason (e.g. failed golden vectors).
HEALTHZ = """
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:9000/healthz", timeout=2)
except urllib.error.HTTPError as exc:
    sys.exit(exc.read().decode())
except OSError as exc:
    sys.exit(f"no answer: {exc}")
"""
Run = subprocess.CompletedProcess[str]


def waited(attempt: Callable[[], Run], retries: int, delay: float, not_yet: Callable[[Run], bool]) -> Run:
    """attempt() again while it fails with what not_yet() calls not ready yet, at most `retries` more times."""
    done = attempt()
    for _ in range(retries):
        if done.returncode == 0 or not not_yet(done):
            break
        time.sleep(delay)
        done = attempt()
    return done


def main(mode: str, container: str, retries: str, delay: str, *releases: str) -> None:
    def sidecar(*argv: str) -> Run:
        return subprocess.run(["docker", "exec", container, *argv], capture_output=True, text=True, check=False)

    def require(step: str, done: Run) -> Run:
        if done.returncode != 0:
            sys.exit(f"{step}: {(done.stderr or done.stdout).strip() or f'exit {done.returncode}'}")
        return done

    tries, pause = int(retries), float(delay)
    switched = []
    for release in releases if mode == "switch" else ():
        switch = functools.partial(sidecar, f"{SIDECAR_BIN}/hailo-pipeline", "switch", "--json", f"/models/releases/{release}")
        done = waited(switch, tries, pause, lambda d: "no sidecar control listener" in d.stderr)
        if json.loads(require(f"switch to {release}", done).stdout)["switched"]:
            switched.append(release)
    require("/healthz", waited(lambda: sidecar(f"{SIDECAR_BIN}/python", "-c", HEALTHZ), tries, pause, lambda d: True))
    for release in releases:
        require(f"golden vectors of {release}", sidecar(f"{SIDECAR_BIN}/hailo-pipeline", "probe", INFER_URL, f"/models/releases/{release}"))
    print(json.dumps({"switched": switched}))


if __name__ == "__main__":
    main(*sys.argv[1:])
