"""The report's figures, drawn with matplotlib and inlined as SVG (text stays text, ids are stable)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

_STYLE: Any = {
    "svg.fonttype": "none",
    "svg.hashsalt": "hailo-pipeline-report",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
PASS, FAIL, NEUTRAL, AFTER = "#2ca02c", "#d62728", "#1f77b4", "#ff7f0e"
_OUTPUT_COLOURS = ("#1f77b4", "#9467bd", "#8c564b")  # one per gated output (two at most today)
_SCATTER_POINTS = 4000  # enough to see the spread; keeps the page light


@contextmanager
def _figure(width: float = 5.2, height: float = 3.6) -> Iterator[tuple[Figure, Axes]]:
    with mpl.rc_context(_STYLE):
        figure = Figure(figsize=(width, height), layout="constrained")
        yield figure, figure.subplots()


def _svg(figure: Figure) -> str:
    with mpl.rc_context(_STYLE):
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def parity_scatter(
    reference: NDArray[Any], candidate: NDArray[Any], title: str, xlabel: str, ylabel: str, after: NDArray[Any] | None = None
) -> str:
    """Candidate against reference, element by element, with the y = x line every point would sit on."""
    x = np.asarray(reference, float).reshape(-1)[:_SCATTER_POINTS]
    with _figure() as (figure, ax):
        series = [(np.asarray(candidate, float).reshape(-1)[:_SCATTER_POINTS], NEUTRAL, "as built")]
        if after is not None:
            series.append((np.asarray(after, float).reshape(-1)[:_SCATTER_POINTS], AFTER, "with the advice"))
        for y, colour, label in series:
            ax.scatter(x, y, s=3, alpha=0.4, color=colour, label=label, linewidths=0)
        values = np.concatenate([x, *(y for y, _, _ in series)])
        lo, hi = float(values.min()), float(values.max())
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8, label="y = x")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.legend(loc="upper left")
        return _svg(figure)


def layer_errors(rows: Sequence[dict[str, Any]], threshold: float, advised: Sequence[str]) -> str:
    """Per layer, 1 - worst cosine of each gated output when that layer alone is at 8 bits; the gate as a line."""
    names = [row["layer"] for row in rows][::-1]  # most sensitive on top
    outputs = list(rows[0]["errors"]) if rows else []
    with _figure(6.4, max(2.4, 0.32 * len(names) + 1.2)) as (figure, ax):
        height = 0.8 / max(len(outputs), 1)
        for i, output in enumerate(outputs):
            errors = [max(1 - row["errors"][output]["cosine_min"], 1e-7) for row in rows][::-1]
            ax.barh(np.arange(len(names)) + i * height, errors, height, label=output, color=_OUTPUT_COLOURS[i % len(_OUTPUT_COLOURS)])
        ax.axvline(1 - threshold, color=FAIL, linestyle="--", label=f"gate: 1 - {threshold}")
        ax.set_yticks(np.arange(len(names)) + height * (len(outputs) - 1) / 2, names)
        for label in ax.get_yticklabels():
            if label.get_text() in advised:
                label.set_color(AFTER)
                label.set_fontweight("bold")
        ax.set_xscale("log")
        ax.set(title="each layer alone at 8 bits (the rest at 16): its error", xlabel="1 - worst window's cosine (log)")
        ax.legend(loc="lower right")
        return _svg(figure)


def calibration_coverage(channels: Sequence[str], lows: Sequence[float], highs: Sequence[float], band: float) -> str:
    """Each channel's normalized calibration range against the band the lint expects to be covered."""
    with _figure() as (figure, ax):
        y = np.arange(len(channels))
        ax.axvspan(-band, band, color="#dddddd", label=f"±{band:g} (z-score)")
        ax.barh(y, np.subtract(highs, lows), left=lows, color=NEUTRAL, height=0.6, label="calibration min..max")
        ax.set_yticks(y, channels)
        ax.invert_yaxis()
        ax.set(title="calibration coverage per channel", xlabel="normalized value (z-score, standard deviations)")
        ax.legend(loc="lower right")
        return _svg(figure)


def error_distribution(errors: NDArray[Any], after: NDArray[Any] | None, xlabel: str) -> str:
    """Histogram of quantized minus FP32, element by element, before and after the advice."""
    with _figure() as (figure, ax):
        series = [(np.asarray(errors, float).reshape(-1), NEUTRAL, "as built")]
        if after is not None:
            series.append((np.asarray(after, float).reshape(-1), AFTER, "with the advice"))
        bins = np.histogram_bin_edges(np.concatenate([s for s, _, _ in series]), bins=60).tolist()
        for values, colour, label in series:
            ax.hist(values, bins=bins, color=colour, alpha=0.6, label=label)
        ax.set_yscale("log")
        ax.set(title="INT8 preview error distribution", xlabel=xlabel, ylabel="elements (log)")
        ax.legend(loc="upper right")
        return _svg(figure)


def score_distribution(scores: NDArray[Any]) -> str:
    """Motif scores of the calibration windows: every score, and each window's highest."""
    with _figure() as (figure, ax):
        values = np.asarray(scores, float)
        bins = np.linspace(0, 1, 41).tolist()
        ax.hist(values.reshape(-1), bins=bins, color=NEUTRAL, alpha=0.6, label="all 12 scores of each window")
        ax.hist(values.max(axis=1), bins=bins, color=AFTER, alpha=0.6, label="each window's highest")
        ax.set(title="motif scores on the calibration windows", xlabel="score (0..1)", ylabel="count")
        ax.legend(loc="upper center")
        return _svg(figure)
