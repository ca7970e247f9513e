"""What a restart of the sidecar, of Docker and of the whole Pi costs EdgeInfer (issue #39), on a running simulated
Pi: scripts/demo's hailo-fleet-edge-local (the default) or a Molecule host, with no Ansible involved.

  sidecar   `docker restart hailo-inference` on the Pi
  dockerd   `systemctl restart docker` on the Pi: every container stops, the unless-stopped ones start again
  reboot    the Pi shuts down cleanly (SIGRTMIN+3 to its systemd, as `reboot` does) and boots again: systemd,
            docker.service, then the unless-stopped containers, EdgeInfer's stand-in included
  power-cut the Pi is killed (SIGKILL, as `docker restart` of it does after its 10 s stop timeout) and boots again
  none      nothing: what this machine's load alone costs EdgeInfer in the same minutes (slow answers)

Each run resets the EdgeInfer stand-in's counters (tests/support/edgeinfer/standin.py, on the Pi at 127.0.0.1:8080),
restarts, then polls the counters until EdgeInfer's answers are real again and stay real for SETTLE_S. It prints
the stubs by reason; the seconds from the restart until the last stub (or, after a boot, until EdgeInfer
answers again, when that is later): from then on every answer is real; the seconds EdgeInfer itself was down (a
reboot stops it too: its clients get no answer at all then); and whether the sidecar serves the same release of
each model as before with /healthz 200 and `hailo-pipeline probe` (golden vectors through EdgeInfer's route or
the Open Inference Protocol) passing for each. The stand-in needs its driver (STANDIN_DRIVE_HZ in the Pi's
/opt/edgeinfer/.env, Molecule's hosts have 20): when it has none, the run sets --hz for its duration and puts the
.env back afterwards.

Standard library only (Molecule's restarts_and_reboot story runs it with --json).

Usage: .venv/bin/python -m tests.benchmarks.bench_restarts [PI] [--runs 3] [--kinds sidecar,dockerd,reboot] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

SIDECAR = "hailo-inference"
ENV_FILE = "/opt/edgeinfer/.env"
COUNTERS = "http://127.0.0.1:8080/counters"
SETTLE_S = 5.0  # answers must stay real this long after the last stub
GIVE_UP_S = 180.0
POLL_S = 0.25


def _run(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


class Pi:
    def __init__(self, name: str) -> None:
        self.name = name

    def sh(self, *argv: str) -> str:
        return _run("docker", "exec", self.name, *argv).stdout

    def sidecar(self, *argv: str) -> str:
        return self.sh("docker", "exec", SIDECAR, *argv)

    def counters(self) -> dict[str, Any] | None:
        """The stand-in's counters, or None while the Pi or the stand-in does not answer."""
        try:
            out = _run("docker", "exec", self.name, "curl", "-sf", "--max-time", "2", COUNTERS, check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return None
        return json.loads(out.stdout) if out.returncode == 0 else None

    def reset_counters(self) -> dict[str, Any]:
        return json.loads(self.sh("curl", "-sf", "-X", "POST", f"{COUNTERS}/reset"))

    def healthz(self) -> tuple[int, dict[str, Any]]:
        """The sidecar's /healthz as its own Docker health check reads it: (status, body)."""
        code = (
            "import json, sys, urllib.error, urllib.request\n"
            "try:\n r = urllib.request.urlopen('http://127.0.0.1:9000/healthz', timeout=5)\n"
            "except urllib.error.HTTPError as e:\n r = e\n"
            "print(json.dumps([r.status, json.load(r)]))"
        )
        status, body = json.loads(self.sidecar("/opt/sidecar/bin/python", "-c", code))
        return status, body

    def served(self) -> tuple[int, dict[str, str]]:
        """The sidecar's /healthz status, and each model it serves with its release."""
        status, body = self.healthz()
        return status, {name: model.get("release") for name, model in body["models"].items()}

    def rejects(self) -> dict[str, float]:
        """The sidecar's refusals since its container started, by model and reason (from its /metrics)."""
        code = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9000/metrics', timeout=5).read().decode())"
        lines = self.sidecar("/opt/sidecar/bin/python", "-c", code).splitlines()
        found = (re.fullmatch(r"hailo_sidecar_rejects_total\{(.*)\} (\S+)", line) for line in lines)
        return {m[1]: float(m[2]) for m in found if m and float(m[2])}

    def probe(self, model: str) -> str:
        """`hailo-pipeline probe` of /models/current-<model> (golden vectors as the model's callers get them): the
        release it found live and right, or why not."""
        probe = ("/opt/sidecar/bin/hailo-pipeline", "probe", "--json", "http://127.0.0.1:9000/infer", f"/models/current-{model}")
        out = _run("docker", "exec", self.name, "docker", "exec", SIDECAR, *probe, check=False)
        return str(json.loads(out.stdout)["release"]) if out.returncode == 0 else f"probe failed: {out.stderr.strip()}"


def _restart(pi: Pi, kind: str) -> subprocess.Popen[str]:
    """The restart, started (the stand-in is polled meanwhile: a shutdown stops it, and its counters with it)."""
    inside = ["docker", "exec", pi.name]
    argv = {
        "none": ["true"],
        "sidecar": [*inside, "docker", "restart", SIDECAR],
        "dockerd": [*inside, "systemctl", "restart", "docker"],
        "reboot": ["sh", "-c", 'docker kill --signal SIGRTMIN+3 "$0" && docker wait "$0" && docker start "$0"', pi.name],
        "power-cut": ["sh", "-c", 'docker kill "$0" && docker wait "$0" && docker start "$0"', pi.name],
    }[kind]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _started_s(pi: Pi, t0: float) -> float:
    """When the sidecar's container started, in seconds after t0."""
    started = pi.sh("docker", "inspect", "--format", "{{.State.StartedAt}}", SIDECAR).strip()
    # Docker writes nanoseconds; fromisoformat takes up to microseconds
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", started).replace("Z", "+00:00")).timestamp() - t0


def _causes(counters: dict[str, Any]) -> Counter[str]:
    return Counter(f"{reason}: {re.sub(r'[0-9]+', 'N', cause)}" for _, reason, cause in counters["hidden_causes"])


def measure(pi: Pi, kind: str) -> dict[str, Any]:
    """One restart of this kind: what EdgeInfer answered until its answers were real again, and what the sidecar serves."""
    status, before = pi.served()
    if status != 200:
        raise SystemExit(f"{SIDECAR} on {pi.name} answers /healthz {status}: {before}; fix that before measuring")
    started = pi.reset_counters()["started"]
    # what stand-ins that have gone since counted (a shutdown stops the stand-in): stubs, and the causes EdgeInfer's
    # labels hide (digits dropped, so that alike ones add up)
    stubs: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    last: dict[str, Any] | None = None
    down_until: float | None = None
    t0 = time.time()
    command = _restart(pi, kind)
    while True:
        if time.time() - t0 > GIVE_UP_S:
            raise SystemExit(f"{kind}: EdgeInfer's answers not real {GIVE_UP_S:.0f} s after the restart began: {last}")
        doc = pi.counters()
        if doc is None:
            down_until = time.time()
        else:
            if doc["started"] != started:  # a new stand-in: what the old one counted up to its last poll is kept
                if last is not None and last["started"] == started:
                    stubs, causes = stubs + Counter(last["stub"]), causes + _causes(last)
                started, down_until = doc["started"], max(down_until or t0, doc["started"])
            last = doc
            real_from = max([t0, down_until or t0, *(t for t, _ in doc["stub_events"])])
            if command.poll() is not None and doc["real"] > 0 and time.time() - real_from >= SETTLE_S:
                break
        time.sleep(POLL_S)
    if command.returncode != 0:
        raise SystemExit(f"{kind}: the restart failed: {command.stderr.read() if command.stderr else ''}")
    stubs, causes = stubs + Counter(last["stub"]), causes + _causes(last)
    healthz, after = pi.served()
    probed = {model: pi.probe(model) for model in after}
    return {
        "kind": kind,
        "stubs": dict(stubs),
        "stub_total": sum(stubs.values()),
        "until_real_s": round(real_from - t0, 2),
        "edgeinfer_down_s": round(down_until - t0, 2) if down_until else 0.0,
        "sidecar_started_s": round(_started_s(pi, t0), 2),
        "causes": dict(causes),
        "sidecar_rejects": pi.rejects(),
        "healthz": healthz,
        "same_releases": after == before and probed == before,
        "served": after,
        "probed": probed,
    }


@contextmanager
def driving(pi: Pi, hz: int) -> Iterator[None]:
    """The stand-in's driver at hz for the block, when the Pi's .env has none (restored afterwards)."""
    env = pi.sh("cat", ENV_FILE)
    if "STANDIN_DRIVE_HZ=" in env:
        yield
        return
    print(f"{pi.name}: the EdgeInfer stand-in has no driver; STANDIN_DRIVE_HZ={hz} for this run", file=sys.stderr)
    pi.sh("sh", "-c", f"printf 'STANDIN_DRIVE_HZ={hz}\\n' >> {ENV_FILE} && /opt/edgeinfer/standin-up")
    try:
        yield
    finally:
        put_back = ["docker", "exec", "-i", pi.name, "sh", "-c", f"cat > {ENV_FILE} && /opt/edgeinfer/standin-up"]
        subprocess.run(put_back, input=env, text=True, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pi", nargs="?", default="hailo-fleet-edge-local", help="the Pi-like container")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind")
    parser.add_argument("--kinds", default="sidecar,dockerd,reboot", help="comma-separated: sidecar, dockerd, reboot, power-cut, none")
    parser.add_argument("--hz", type=int, default=20, help="EdgeInfer's calls a second, when the stand-in has no driver")
    parser.add_argument("--json", action="store_true", help="one JSON document at the end: each kind's runs")
    args = parser.parse_args()
    pi = Pi(args.pi)
    results: dict[str, list[dict[str, Any]]] = {}
    with driving(pi, args.hz):
        time.sleep(SETTLE_S)
        for _ in range(args.runs):
            for kind in args.kinds.split(","):
                r = measure(pi, kind)
                results.setdefault(kind, []).append(r)
                if not args.json:
                    print(
                        f"  {kind:9} real again after {r['until_real_s']:6.2f} s (EdgeInfer down {r['edgeinfer_down_s']:5.2f} s, "
                        f"sidecar started {r['sidecar_started_s']:5.2f} s)  stubs {r['stub_total']:4d} {json.dumps(r['stubs'])}  "
                        f"/healthz {r['healthz']}, same releases with their golden vectors: {r['same_releases']}\n"
                        f"            behind the stubs {json.dumps(r['causes'])}; the sidecar refused {json.dumps(r['sidecar_rejects'])}",
                        flush=True,
                    )
    if args.json:
        print(json.dumps(results))
        return
    print(f"{pi.name}, {args.runs} runs each; median [min, max]:")
    for kind, runs in results.items():
        secs, stubs = [r["until_real_s"] for r in runs], [r["stub_total"] for r in runs]
        print(
            f"  {kind:9} real again after {statistics.median(secs):6.2f} s [{min(secs):.2f}, {max(secs):.2f}]  "
            f"stubs {statistics.median(stubs):5.0f} [{min(stubs)}, {max(stubs)}]  "
            f"/healthz 200 and the same releases every time: {all(r['healthz'] == 200 and r['same_releases'] for r in runs)}"
        )


if __name__ == "__main__":
    main()
