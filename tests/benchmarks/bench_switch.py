"""What each kind of release switch costs EdgeInfer (issue #16), on this machine, in one run.

The EdgeInfer stand-in (tests/support/edgeinfer/standin.py: Vapor's 45 ms read timeout, the BACKEND_TIMEOUT_MS race,
the health breaker, random stubs) calls `hailo-pipeline serve` on loopback STANDIN_DRIVE_HZ times a second
while the sidecar switches, and its counters give the stubs each switch cost; the outage is the span from the
first to the last stub of that switch (0 when there was none).

  model      a new release on the same sidecar: `hailo-pipeline switch` (loaded beside, then moved)
  rollback   back to the release the sidecar kept loaded (N-1)
  restart    what an image change costs where the container must be recreated (the device passed in and no
             HailoRT multi-process service): the sidecar stopped (SIGTERM, drained), a new one started on the port

Molecule's default scenario prints the figure for an image change beside the old container (docker's alias).

Usage: .venv/bin/python -m tests.benchmarks.bench_switch [--hz 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.benchmarks.benchlib import CLI, REPO, example_release, free_port, serving

SETTLE_S = 3  # calls before and after each switch


def _standin(port: int, sidecar_url: str, hz: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STANDIN_PORT": str(port), "USE_REAL_MODEL": "true", "MODEL_BACKEND_URL": sidecar_url}
    env |= {"BACKEND_TIMEOUT_MS": "1500", "STANDIN_DRIVE_HZ": str(hz)}
    standin = subprocess.Popen([sys.executable, str(REPO / "tests/support/edgeinfer/standin.py")], env=env)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/counters")
            return standin
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the EdgeInfer stand-in did not start")


def _measure(counters: str, act: Callable[[], None]) -> dict[str, object]:
    httpx.post(f"{counters}/reset")
    time.sleep(SETTLE_S)
    act()
    time.sleep(SETTLE_S)
    doc = httpx.get(counters).json()
    times = [t for t, _ in doc["stub_events"]]
    return {"real": doc["real"], "stubs": doc["stub"], "outage_s": round(max(times) - min(times), 3) if times else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hz", type=int, default=100, help="EdgeInfer's calls per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as cleanup:
        a, b = (example_release(Path(tmp) / v, v) for v in ("1.0.0", "1.1.0"))
        port, control, standin_port = free_port(), free_port(), free_port()
        counters = f"http://127.0.0.1:{standin_port}/counters"
        env = {**os.environ, "CONTROL_PORT": str(control)}
        old, new = cleanup.enter_context(ExitStack()), cleanup.enter_context(ExitStack())
        url, _ = old.enter_context(serving(a, port=port, CONTROL_PORT=str(control)))
        standin = _standin(standin_port, url, args.hz)
        cleanup.callback(standin.terminate)

        def switch(release: Path) -> None:
            subprocess.run([CLI, "switch", str(release)], env=env, check=True, capture_output=True)

        def restart() -> None:
            old.close()
            new.enter_context(serving(a, port=port, CONTROL_PORT=str(control)))

        results = {
            "model": _measure(counters, lambda: switch(b)),
            "rollback": _measure(counters, lambda: switch(a)),
            "restart": _measure(counters, restart),
        }
    print(f"EdgeInfer calling {args.hz}/s; stubs and outage per switch kind:")
    for kind, r in results.items():
        stubs = r["stubs"]
        assert isinstance(stubs, dict)
        print(f"  {kind:9} outage {r['outage_s']:6.3f} s  stubs {sum(stubs.values()):5d} {json.dumps(stubs)}  real {r['real']}")


if __name__ == "__main__":
    main()
