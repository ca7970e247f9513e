"""golden.npz: a bundle's golden vectors, and what reproducing them means.

The file holds the raw windows (N, H, T, 9) and, per window, the device output and every answer the head
makes of it (heads.py). They are checked in two parts:
  device part  what a backend computes for the windows, against the recorded device output;
  host part    the manifest's head applied to the recorded device output, against the recorded answers: the host
               tail the sidecar runs is the one the build measured.
Split so that a quantized device is judged on its own output: FSQ values a little off can round to another
level, which says nothing about the host tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.bundle.heads import Arrays, Head
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.parity import Parity, compare

GOLDEN = "golden.npz"


@dataclass(frozen=True)
class Golden:
    windows: NDArray[np.float32]
    expected: Arrays  # the device output and every answer, by name
    device_output: str

    @classmethod
    def read(cls, release_dir: Path, head: Head) -> Golden:
        names = (head.device_output, *(a.name for a in head.answers))
        try:
            with np.load(release_dir / GOLDEN, allow_pickle=False) as npz:
                return cls(npz["windows"], {name: npz[name] for name in names}, head.device_output)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise PipelineError(f"{release_dir}/{GOLDEN} is unreadable or incomplete: {exc}") from None

    def device_parity(self, got: NDArray[Any]) -> Parity:
        expected = self.expected[self.device_output]
        return compare(expected, np.asarray(got, np.float32).reshape(expected.shape))

    def host_parity(self, head: Head) -> dict[str, Parity]:
        answers = head.outputs(self.expected[self.device_output])
        return {a.name: compare(self.expected[a.name], answers[a.name]) for a in head.answers if a.name != self.device_output}


def failures(parities: dict[str, Parity], tolerance: dict[str, Any]) -> list[str]:
    """The parities outside the bundle's golden tolerance, each said with its figures."""
    return [
        f"{name}: worst cosine {p.cosine_min:.6f} (needs >= {tolerance['cosine_min']}), max abs error {p.max_abs:.3g} "
        f"(needs <= {tolerance['max_abs']})"
        for name, p in parities.items()
        if p.cosine_min < tolerance["cosine_min"] or p.max_abs > tolerance["max_abs"]
    ]
