"""How much quantization changed a model's answers: its gated outputs (the latent and motif scores, or the
bounded FSQ values and class probabilities: heads.py), FP32 vs quantized, on windows the calibration never
saw. Used by the DFC gate and by the INT8 preview alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from hailo_pipeline.bundle.heads import Head
from hailo_pipeline.model.parity import Parity, compare


@dataclass(frozen=True)
class QuantizedParity:
    results: dict[str, Parity]  # gated output -> FP32 vs quantized
    threshold: float  # minimum worst-window cosine, for each of them

    @property
    def passed(self) -> bool:
        return min(p.cosine_min for p in self.results.values()) >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "passed": self.passed, "results": {name: p.as_dict() for name, p in self.results.items()}}

    def summary(self) -> str:
        figures = ", ".join(f"{name} worst cosine {p.cosine_min:.4f} (max abs {p.max_abs:.3g})" for name, p in self.results.items())
        return f"{figures}, threshold {self.threshold}"


def measure(fp_outputs: NDArray[Any], quantized_outputs: NDArray[Any], head: Head, threshold: float) -> QuantizedParity:
    fp, q = head.outputs(fp_outputs), head.outputs(quantized_outputs)
    return QuantizedParity({name: compare(fp[name], q[name]) for name in head.gated}, threshold)
