"""report.html: what a human checks before shipping a bundle; its figures come from report_plots (matplotlib SVG)."""

from __future__ import annotations

import html
import json
from typing import Any

from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle import units as units_io


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(f'{v:.6g}' if isinstance(v, float) else str(v))}</td>" for v in r.values()) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _gate(name: str, gate: dict[str, Any]) -> str:
    """One gate as a coloured box: passed or failed, and why, in words, over its figures."""
    worst_output, worst = min(((o, f["cosine_min"]) for o, f in gate["results"].items()), key=lambda item: item[1])
    relation = ">=" if gate["passed"] else "<"
    reason = f"worst window's cosine of {worst_output} {worst:.6g} {relation} {gate['threshold']}"
    if not gate["passed"] and name == "int8_preview":
        reason += ": the advice below names the layers to keep at 16 bits"
    rows = [{"output": output, **figures} for output, figures in gate["results"].items()]
    label = f"<p>{html.escape(gate['label'])}</p>" if "label" in gate else ""
    return (
        f"<div class='gate {'pass' if gate['passed'] else 'fail'}'><h3>{html.escape(name)}: {'passed' if gate['passed'] else 'FAILED'}</h3>"
        f"<p>{html.escape(reason)}</p>{label}{_table(rows)}</div>"
    )


def _advice(advice: dict[str, Any] | None) -> str:
    if advice is None:
        return "<p>no INT8 preview in this bundle</p>"
    if not advice["layers"] and advice["passed_after"]:
        return "<p>The INT8 preview passes as built: no layer needs 16 bits. The figure below ranks the layers anyway.</p>"
    if not advice["layers"]:
        return "<p>No layer kept at 16 bits lifts the INT8 preview: raise the DFC's optimization level, or calibrate on in-domain data.</p>"
    verdict = (
        "lifts the preview over its gate"
        if advice["passed_after"]
        else "does not lift the preview over its gate: raise the DFC's optimization level"
    )
    lines = "\n".join(advice["alls"])
    return (
        f"<p>Keeping {len(advice['layers'])} layer(s) at 16 bits {verdict} (emulated: {html.escape(advice['sixteen_bit'])}). "
        + (
            "This build applied it."
            if advice["applied"]
            else "Copy these lines into the spec's dfc.quantization_overrides, or build with --apply-advice:"
        )
        + "</p>"
        f"<pre class='alls'>{html.escape(lines)}</pre><p>{html.escape(advice['names'])}</p>"
        + _table([{"after: output": o, **f} for o, f in advice["after"]["results"].items()])
    )


def _outputs_line(outputs: dict[str, Any]) -> str:
    if outputs.get("kind", "latent") == "latent":
        return f"latent {outputs['latent_dim']}, motif head {outputs['motif_head']['kind']}"
    return f"FSQ levels {outputs['fsq']['levels']} -> {outputs['classifier']['classes']} class probabilities (on the host)"


def _units(manifest: dict[str, Any]) -> str:
    """Per channel: what the model was trained on, what clients send, and the factor the sidecar multiplies by."""
    model, client = manifest_io.input_units(manifest)
    rows = [
        {"channel": c, "model (input.units)": m, "clients (input.client_units)": u, "factor": units_io.factor(c, u, m)}
        for c, m, u in zip(manifest["input"]["channels"], model, client, strict=True)
    ]
    note = "<p>A host can override client_units without a rebuild (hailo_sidecar_client_units).</p>"
    return _table(rows) + note


def _envelope(calibration: dict[str, Any]) -> str:
    """The calibration envelope the input guard judges client traffic against, and its verdict on the spec's sample traffic."""
    envelope = calibration.get("envelope")
    if envelope is None:
        return "<p>none: this bundle was built before the input guard</p>"
    quantiles = [f"{q:g} %" for q in envelope["quantiles"]]
    rows = [
        {"channel": c, "unit": e["unit"], "mean": e["mean"], "std": e["std"], **dict(zip(quantiles, e["quantiles"], strict=True))}
        for c, e in envelope["channels"].items()
    ]
    intro = (
        "<p>The calibration windows per channel, in the model's units: what the sidecar's input guard and "
        "<code>hailo-pipeline check-input</code> compare client traffic with.</p>"
    )
    traffic = calibration.get("sample_traffic")
    if traffic is None:
        return intro + _table(rows) + "<p>The spec names no sample traffic (input.sample_traffic).</p>"
    flagged = [c for c in traffic["channels"] if c["verdict"] != "ok"]
    verdicts = [{key: c[key] for key in ("channel", "verdict", "factor", "unit_suggestion", "message")} for c in traffic["channels"]]
    files = html.escape(", ".join(traffic["files"]))
    return (
        intro
        + _table(rows)
        + f"<div class='gate {'fail' if flagged else 'pass'}'><h3>Sample traffic: {len(flagged)} of {len(verdicts)} channels flagged</h3>"
        f"<p>{traffic['windows']} window(s) from {files}, in the clients' units</p>{_table(verdicts)}</div>"
    )


def _fleet(calibration: dict[str, Any]) -> str:
    """Calibration on the fleet's windows: their files, and per channel the coverage synthetic calibration would have
    had beside theirs, with the input guard's verdict on them against the synthetic envelope."""
    fleet = calibration["fleet"]
    files = [{"file": f["file"], "windows": f["windows"], "releases": ", ".join(f["releases"]) or "-"} for f in fleet["files"]]
    missed = [c["channel"] for c in fleet["against_synthetic"] if c["verdict"] != "ok"]
    said = f"it misses the fleet's input on {', '.join(missed)}" if missed else "it covers the fleet's input"
    return (
        f"<p>{calibration['windows']} windows calibrated on and {fleet['held_out']} held out for the gates, from "
        f"{html.escape(fleet['folder'])}/:</p>"
        + _table(files)
        + f"<div class='gate {'fail' if missed else 'pass'}'><h3>Against synthetic calibration: {html.escape(said)}</h3>"
        + _table(fleet["against_synthetic"])
        + "</div>"
    )


def render(manifest: dict[str, Any], plots: dict[str, str]) -> bytes:
    """The report page: summary, gates, preflight, calibration lint, plots, and the full manifest."""
    m = manifest
    summary = [
        {"field": "release", "value": m["release"]},
        {"field": "build_id", "value": m["build_id"]},
        {"field": "source", "value": f"{m['source']['kind']}: {m['source']['file']} ({m['source']['sha256'][:12]})"},
        {"field": "input", "value": f"{m['input']['shape']} {m['input']['layout']}"},
        {"field": "outputs", "value": _outputs_line(m["outputs"])},
        {"field": "hw_arch", "value": m["hw_arch"]},
        {"field": "HEF", "value": m["hef_status"]},
    ]
    gates = "".join(_gate(name, gate) for name, gate in m["gates"].items())
    hef = m["hef"] or {}
    hef_rows = [{"field": k, "value": v} for k, v in hef.items() if k not in ("dfc_warnings",)]
    hef_section = _table(hef_rows) + "".join(f"<p>DFC: {html.escape(w)}</p>" for w in hef.get("dfc_warnings", []))
    lint = m["calibration"]["lint"]
    sections = [
        ("Summary", _table(summary)),
        ("Units", _units(m)),
        ("Gates", gates),
        ("INT8 advice", _advice(m["gates"].get("int8_preview", {}).get("advice"))),
        ("HEF", hef_section if hef else f"<p>{html.escape(m['hef_status'])}</p>"),
        ("Hailo preflight", _table(m["preflight"])),
        (
            "Calibration",
            f"<p>{m['calibration']['windows']} windows from {html.escape(m['calibration']['source'])}</p>"
            + _table(lint["channels"])
            + "".join(f"<p>{html.escape(t)}: {html.escape(x)}</p>" for t in ("error", "warning") for x in lint[t + "s"]),
        ),
        *([("Fleet calibration", _fleet(m["calibration"]))] if "fleet" in m["calibration"] else []),
        ("Input envelope", _envelope(m["calibration"])),
        (
            "Plots",
            "".join(f"<figure>{svg}<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, svg in plots.items()),
        ),
        ("Manifest", f"<pre>{html.escape(json.dumps(m, indent=2, sort_keys=True))}</pre>"),
    ]
    body = "".join(f"<h2>{html.escape(t)}</h2>{c}" for t, c in sections)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(m['release'])}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
        ".gate{border-left:6px solid;padding:2px 10px;margin:8px 0}.pass{border-color:#2ca02c;background:#eef8ee}"
        ".fail{border-color:#d62728;background:#fbeeee}pre.alls{background:#f4f4f4;padding:6px;font-size:13px}"
        "figure{display:inline-block;margin:1em}pre{font-size:11px;max-height:30em;overflow:auto}</style></head>"
        f"<body><h1>{html.escape(m['release'])}</h1>{body}</body></html>\n"
    ).encode()
