"""report.html: what a human checks before shipping a bundle, with inline SVG plots (no plot library)."""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
from numpy.typing import NDArray

_W, _H, _PAD = 420, 300, 40


def _axis_map(lo: float, hi: float, a: float, b: float) -> Any:
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def scatter_svg(x: NDArray[Any], y: NDArray[Any], title: str, xlabel: str, ylabel: str, limit: int = 4000) -> str:
    """y against x with the identity line: every point on the diagonal means perfect parity."""
    x, y = np.asarray(x, float)[:limit], np.asarray(y, float)[:limit]
    if not len(x):
        return "<p>(no values)</p>"
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    sx, sy = _axis_map(lo, hi, _PAD, _W - 10), _axis_map(lo, hi, _H - _PAD, 10)
    dots = "".join(f'<circle cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="1.5"/>' for a, b in zip(x, y, strict=True))
    return (
        f'<svg width="{_W}" height="{_H}" role="img" aria-label="{html.escape(title)}">'
        f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}" stroke="#bbb"/>'
        f'<g fill="#1f77b4" fill-opacity="0.5">{dots}</g>'
        f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle">{html.escape(xlabel)}</text>'
        f'<text x="12" y="{_H / 2}" transform="rotate(-90 12 {_H / 2})" text-anchor="middle">{html.escape(ylabel)}</text>'
        f'<text x="{_PAD}" y="{_H - _PAD + 14}" font-size="10">{lo:.3g}</text>'
        f'<text x="{_W - 40}" y="{_H - _PAD + 14}" font-size="10">{hi:.3g}</text></svg>'
    )


def ranges_svg(names: list[str], lows: list[float], highs: list[float], band: float) -> str:
    """One bar per channel from its normalized minimum to maximum, over the shaded [-band, band]."""
    lo, hi = min([*lows, -band]) - 0.5, max([*highs, band]) + 0.5
    sx = _axis_map(lo, hi, 50, _W - 10)
    row = (_H - 30) / max(len(names), 1)
    bars = "".join(
        f'<text x="4" y="{20 + i * row + row / 2:.1f}" font-size="11">{html.escape(n)}</text>'
        f'<rect x="{sx(a):.1f}" y="{20 + i * row + 3:.1f}" width="{max(sx(b) - sx(a), 1):.1f}" height="{row - 6:.1f}" fill="#2ca02c"/>'
        for i, (n, a, b) in enumerate(zip(names, lows, highs, strict=True))
    )
    return (
        f'<svg width="{_W}" height="{_H}" role="img" aria-label="calibration ranges">'
        f'<rect x="{sx(-band):.1f}" y="15" width="{sx(band) - sx(-band):.1f}" height="{_H - 25}" fill="#eee"/>'
        f'{bars}<text x="{sx(0):.1f}" y="12" text-anchor="middle" font-size="10">0 (normalized units; grey = ±{band:g})</text></svg>'
    )


def bars_svg(values: list[float], title: str) -> str:
    top = max([*values, 1e-9])
    width = (_W - 20) / max(len(values), 1)
    bars = "".join(
        f'<rect x="{10 + i * width:.1f}" y="{_H - 20 - v / top * (_H - 40):.1f}" width="{width - 4:.1f}" '
        f'height="{v / top * (_H - 40):.1f}" fill="#ff7f0e"><title>{i}: {v:.3g}</title></rect>'
        for i, v in enumerate(values)
    )
    return f'<svg width="{_W}" height="{_H}" role="img" aria-label="{html.escape(title)}">{bars}</svg>'


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(f'{v:.6g}' if isinstance(v, float) else str(v))}</td>" for v in r.values()) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _outputs_line(outputs: dict[str, Any]) -> str:
    if outputs.get("kind", "latent") == "latent":
        return f"latent {outputs['latent_dim']}, motif head {outputs['motif_head']['kind']}"
    return f"FSQ levels {outputs['fsq']['levels']} -> {outputs['classifier']['classes']} class probabilities (on the host)"


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
    gates = [
        {"gate": name, "output": output, "threshold": gate["threshold"], "passed": gate["passed"], **figures}
        for name, gate in m["gates"].items()
        for output, figures in gate["results"].items()
    ]
    hef = m["hef"] or {}
    hef_rows = [{"field": k, "value": v} for k, v in hef.items() if k not in ("dfc_warnings",)]
    hef_section = _table(hef_rows) + "".join(f"<p>DFC: {html.escape(w)}</p>" for w in hef.get("dfc_warnings", []))
    lint = m["calibration"]["lint"]
    sections = [
        ("Summary", _table(summary)),
        ("Gates", _table(gates) + f"<p>{html.escape(m['gates'].get('int8_preview', {}).get('label', ''))}</p>"),
        ("HEF", hef_section if hef else f"<p>{html.escape(m['hef_status'])}</p>"),
        ("Hailo preflight", _table(m["preflight"])),
        (
            "Calibration",
            f"<p>{m['calibration']['windows']} windows from {html.escape(m['calibration']['source'])}</p>"
            + _table(lint["channels"])
            + "".join(f"<p>{html.escape(t)}: {html.escape(x)}</p>" for t in ("error", "warning") for x in lint[t + "s"]),
        ),
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
        "figure{display:inline-block;margin:1em}pre{font-size:11px;max-height:30em;overflow:auto}</style></head>"
        f"<body><h1>{html.escape(m['release'])}</h1>{body}</body></html>\n"
    ).encode()
