"""The controller's fleet commands: do bundles fit a host, is the tailnet up, the windows collected from the fleet, and a
rollout's page."""

from __future__ import annotations

import argparse
from pathlib import Path

from hailo_pipeline.cli.common import Add, emit
from hailo_pipeline.errors import PipelineError


def cmd_fit(args: argparse.Namespace) -> int:
    from hailo_pipeline.builder.image_labels import HAILORT_LABEL, tarball_labels
    from hailo_pipeline.bundle import manifest as manifest_io
    from hailo_pipeline.hailo.compat import fit_problems

    image_hailort = tarball_labels(args.image_tarball).get(HAILORT_LABEL, "") if args.image_tarball else args.image_hailort
    manifests = [manifest_io.read(release_dir) for release_dir in args.release_dirs]
    models = manifest_io.one_release_per_model((manifest["name"], manifest["release"]) for manifest in manifests)
    misfits: list[str] = []
    for manifest in manifests:
        problems = fit_problems(
            manifest["hef"],
            args.device_arch or None,
            driver=args.driver or None,
            image_hailort=None if image_hailort in ("", "none") else image_hailort,
            library=args.hailort or None,
            firmware=args.firmware or None,
        )
        if problems:
            misfits.append(f"{manifest['release']} does not fit this host: " + "; ".join(problems))
    if misfits:
        raise PipelineError("\n".join(misfits))
    emit(args, {"models": models, "fits": True}, ", ".join(models.values()) + " fit")
    return 0


def cmd_tailnet(args: argparse.Namespace) -> int:
    from hailo_pipeline.fleet.tailnet import parse_status, read_status

    tailnet = parse_status(read_status(args.tailscale, args.timeout), args.tailnet)
    online = [node.name for node in tailnet.nodes if node.online]
    offline = [node.name for node in tailnet.nodes if not node.online]
    result = {"tailnet": tailnet.domain, "self": tailnet.nodes[0].name if tailnet.nodes else None, "online": online, "offline": offline}
    emit(args, result, f"on tailnet {tailnet.domain} as {result['self']}: {len(online)} machines online, {len(offline)} offline")
    return 0


def cmd_collect_capture(args: argparse.Namespace) -> int:
    from hailo_pipeline.bundle import fleet_windows

    record = fleet_windows.collect(args.capture, args.into, args.host)
    span = f"taken {record['first']:.0f}..{record['last']:.0f}" if record["windows"] else "none"
    text = f"{args.host}: {record['added']} new windows of {record['model']}, {record['windows']} collected ({span})"
    emit(args, record, text)
    return 0


def cmd_rollout_report(args: argparse.Namespace) -> int:
    from hailo_pipeline.fleet import rollout, rollout_page

    done = rollout.read(args.folder)
    page = rollout_page.write(done)
    result = {
        "page": str(page),
        "releases": done.releases,
        "hosts": [host.host for host in done.hosts],
        "summary": rollout_page.summary(done),
    }
    emit(args, result, f"{page}: {result['summary']}")
    return 0


def register(add: Add) -> None:
    p = add("fit", cmd_fit, "do bundles and a sidecar image fit a host: HEF arch vs device, HEF vs HailoRT, HailoRT vs driver and firmware")
    p.add_argument("release_dirs", type=Path, nargs="+", metavar="RELEASE", help="every bundle the host is to serve (one per model)")
    p.add_argument("--device-arch", default="", help="hailortcli fw-control identify's Device Architecture (empty: unknown)")
    p.add_argument("--hailort", default="", help="the host's HailoRT library version (empty: unknown)")
    p.add_argument("--driver", default="", help="the host's loaded hailo_pci driver version (empty: unknown)")
    p.add_argument("--firmware", default="", help="the device's firmware: fw-control identify's Firmware Version (empty: unknown)")
    image = p.add_mutually_exclusive_group()
    image.add_argument(
        "--image-hailort", default="", help="the sidecar image's HailoRT: its label org.hailo-fleet.hailort (empty or none: ONNX Runtime)"
    )
    image.add_argument("--image-tarball", type=Path, help="read that label from a `docker save` tarball of the image")
    p = add("tailnet", cmd_tailnet, "Tailscale runs here, logged in to the fleet's tailnet with MagicDNS (the controller preflight)")
    p.add_argument("--tailnet", required=True, metavar="DOMAIN", help="the tailnet's MagicDNS suffix, e.g. tailnet-example.ts.net")
    p.add_argument("--tailscale", nargs="+", default=["tailscale"], metavar="ARG", help="the Tailscale CLI and its global flags")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds `tailscale status --json` may take")
    p = add("collect-capture", cmd_collect_capture, "merge a capture file fetched from a Pi into the controller's fleet data (collect.yml)")
    p.add_argument("capture", type=Path, metavar="FILE", help="the Pi's <model>.npz, as fetched")
    p.add_argument("--host", required=True, help="the Pi it came from")
    p.add_argument("--into", type=Path, required=True, metavar="DIR", help="the fleet data folder: <model>/<host>.npz and <host>.json")
    p = add("rollout-report", cmd_rollout_report, "the page of a rollout from the records deploy.yml wrote (artifacts/rollouts/<run>/)")
    p.add_argument("folder", type=Path, metavar="DIR", help="the run's record folder: one <host>.json per host it changed")
