"""A model's host tail: what runs on the host after the accelerator, fixed by the architecture (issue #17).

latent          tcn_encoder and imported ONNX graphs. The device output is the latent itself; 12 motif
                prototypes score it (motif_head.py). Answers: latent, motif_scores.
fsq_classifier  conv2d_fsq. The device output is the 5 bounded FSQ values (the Hailo parser rejects Round);
                the host rounds each to its level, code = round(bounded) (integers in [-(L//2), (L-1)//2]),
                scales it by 1 / (L // 2) and runs the classifier (Linear -> ReLU -> Linear) and a softmax.
                Answers: probabilities (one per class, summing to 1), code, class_index.

Each head computes its answers from the device output in numpy (the sidecar has no torch), writes itself into
the manifest's `outputs` section and reads itself back from it. Answers are float32 vectors in a fixed order
(`answers`), so that the device process sends one flat vector and the sidecar splits it by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.bundle.motif_head import PrototypeHead
from hailo_pipeline.errors import PipelineError

LATENT, FSQ_CLASSIFIER = "latent", "fsq_classifier"
Arrays = dict[str, NDArray[np.float32]]


@dataclass(frozen=True)
class Answer:
    """One named answer: its size per window and the Open Inference Protocol datatype it is sent as."""

    name: str
    size: int
    datatype: str  # FP32 | INT32 | INT64


class Head(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def device_output(self) -> str: ...  # the name the device output goes by in golden.npz and the gates

    @property
    def device_dim(self) -> int: ...

    @property
    def answers(self) -> tuple[Answer, ...]: ...

    @property
    def gated(self) -> tuple[str, ...]: ...  # what the quantization gate compares, FP32 vs quantized

    def outputs(self, device: NDArray[Any]) -> Arrays: ...  # (N, device_dim) -> every answer (and the device output)

    def to_manifest(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LatentHead:
    motifs: PrototypeHead
    kind: str = LATENT
    device_output: str = "latent"

    @property
    def device_dim(self) -> int:
        return int(self.motifs.centroids.shape[1])

    @property
    def answers(self) -> tuple[Answer, ...]:
        return Answer("latent", self.device_dim, "FP32"), Answer("motif_scores", len(self.motifs.centroids), "FP32")

    @property
    def gated(self) -> tuple[str, ...]:
        return "latent", "motif_scores"

    def outputs(self, device: NDArray[Any]) -> Arrays:
        latent = np.asarray(device, np.float32).reshape(len(device), -1)
        return {"latent": latent, "motif_scores": self.motifs.scores(latent)}

    def to_manifest(self) -> dict[str, Any]:
        return {"kind": LATENT, "latent_dim": self.device_dim, "motif_head": self.motifs.to_manifest()}


@dataclass(frozen=True)
class FsqClassifierHead:
    levels: tuple[int, ...]
    layers: tuple[tuple[NDArray[np.float32], NDArray[np.float32]], ...]  # (weight (out, in), bias (out,)), ReLU between
    kind: str = FSQ_CLASSIFIER
    device_output: str = "bounded"

    def __post_init__(self) -> None:
        widths = [len(self.levels)] + [int(w.shape[0]) for w, _ in self.layers]
        for (weight, bias), width_in, width_out in zip(self.layers, widths, widths[1:], strict=False):
            if weight.shape != (width_out, width_in) or bias.shape != (width_out,):
                raise PipelineError(
                    f"the classifier's layers do not chain from the {len(self.levels)} FSQ values: weight {list(weight.shape)}, "
                    f"bias {list(bias.shape)} where ({width_out}, {width_in}) and ({width_out},) were expected"
                )

    @property
    def device_dim(self) -> int:
        return len(self.levels)

    @property
    def classes(self) -> int:
        return int(self.layers[-1][0].shape[0])

    @property
    def answers(self) -> tuple[Answer, ...]:
        return Answer("probabilities", self.classes, "FP32"), Answer("code", len(self.levels), "INT32"), Answer("class_index", 1, "INT64")

    @property
    def gated(self) -> tuple[str, ...]:
        return "bounded", "probabilities"

    def outputs(self, device: NDArray[Any]) -> Arrays:
        bounded = np.asarray(device, np.float32).reshape(len(device), -1)
        code = np.round(bounded)
        x = (code / (np.asarray(self.levels, np.float32) // 2)).astype(np.float32)
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight.T + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0)
        shifted = np.exp(x - x.max(axis=1, keepdims=True))
        probabilities = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
        class_index = probabilities.argmax(axis=1).astype(np.float32)[:, None]
        return {"bounded": bounded, "probabilities": probabilities, "code": code.astype(np.float32), "class_index": class_index}

    def to_manifest(self) -> dict[str, Any]:
        return {
            "kind": FSQ_CLASSIFIER,
            "fsq": {"levels": list(self.levels), "code": "round(bounded); classifier input round(bounded) / (level // 2)"},
            "classifier": {
                "activation": "relu",
                "classes": self.classes,
                "layers": [{"weight": w.tolist(), "bias": b.tolist()} for w, b in self.layers],
            },
        }


def from_manifest(outputs: dict[str, Any]) -> Head:
    """The head a manifest's `outputs` section describes (a section without `kind` is a latent model's)."""
    kind = outputs.get("kind", LATENT)
    if kind == LATENT:
        return LatentHead(PrototypeHead.from_manifest(outputs["motif_head"]))
    layers = tuple(
        (np.asarray(layer["weight"], np.float32), np.asarray(layer["bias"], np.float32)) for layer in outputs["classifier"]["layers"]
    )
    return FsqClassifierHead(tuple(int(level) for level in outputs["fsq"]["levels"]), layers)


def flat(answers: Arrays, head: Head) -> NDArray[np.float32]:
    """One window's answers as one float32 vector, in the head's order (what the device process sends)."""
    return np.concatenate([answers[a.name].reshape(-1) for a in head.answers]).astype(np.float32)
