"""How much quantization changed a model's answers: latent and motif scores, FP32 vs quantized,
on windows the calibration never saw. Used by the DFC gate and by the INT8 preview alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from hailo_pipeline.build.model_io import to_latents
from hailo_pipeline.build.motif_head import PrototypeHead
from hailo_pipeline.model.parity import Parity, compare


@dataclass(frozen=True)
class QuantizedParity:
    latent: Parity
    motif_scores: Parity
    threshold: float  # minimum worst-window cosine, for each of the two

    @property
    def passed(self) -> bool:
        return min(self.latent.cosine_min, self.motif_scores.cosine_min) >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "passed": self.passed,
            "results": {"latent": self.latent.as_dict(), "motif_scores": self.motif_scores.as_dict()},
        }

    def summary(self) -> str:
        return (
            f"latent worst cosine {self.latent.cosine_min:.4f} (max abs {self.latent.max_abs:.3g}), "
            f"motif scores worst cosine {self.motif_scores.cosine_min:.4f} (max abs {self.motif_scores.max_abs:.3g}), "
            f"threshold {self.threshold}"
        )


def measure(fp_outputs: NDArray[Any], quantized_outputs: NDArray[Any], head: PrototypeHead, threshold: float) -> QuantizedParity:
    fp, q = to_latents(fp_outputs), to_latents(quantized_outputs)
    return QuantizedParity(compare(fp, q), compare(head.scores(fp), head.scores(q)), threshold)
