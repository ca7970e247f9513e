"""Reading PyTorch checkpoints as training code saved them: CUDA tensors, wrappers, weight norm."""

from __future__ import annotations

from pathlib import Path

import torch

from hailo_pipeline.errors import PipelineError

_WRAPPERS = ("state_dict", "model_state_dict", "model")


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Loads tensors only (weights_only), mapping CUDA-saved tensors to the CPU."""
    if not path.is_file():
        raise PipelineError(f"checkpoint {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PipelineError(f"{path} is not a loadable PyTorch checkpoint: {first_line}") from None
    for key in _WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PipelineError(f"{path} holds no state_dict of tensors")
    return {k: v.float() if v.is_floating_point() else v for k, v in obj.items()}


class StateReader:
    """Takes tensors out of a state_dict by key and reports every missing and unexpected key at once."""

    def __init__(self, state: dict[str, torch.Tensor], prefix_to_strip: str = "") -> None:
        if prefix_to_strip and all(k.startswith(prefix_to_strip) for k in state):
            state = {k[len(prefix_to_strip) :]: v for k, v in state.items()}
        self.state = state
        self.used: set[str] = set()
        self.missing: list[str] = []

    def has(self, key: str) -> bool:
        return key in self.state

    def get(self, key: str) -> torch.Tensor:
        """A required tensor; a zero placeholder stands in for a missing one until finish() reports it."""
        if key not in self.state:
            self.missing.append(key)
            return torch.zeros(0)
        self.used.add(key)
        return self.state[key]

    def optional(self, key: str) -> torch.Tensor | None:
        return self.get(key) if key in self.state else None

    def _weight_norm_pair(self, prefix: str) -> tuple[str, str] | None:
        for g_key, v_key in (
            (f"{prefix}.weight_g", f"{prefix}.weight_v"),
            (f"{prefix}.parametrizations.weight.original0", f"{prefix}.parametrizations.weight.original1"),
        ):
            if g_key in self.state and v_key in self.state:
                return g_key, v_key
        return None

    def conv_weight(self, prefix: str) -> torch.Tensor:
        """A conv weight stored plain, as weight_g/weight_v, or as a weight-norm parametrization (dim 0)."""
        pair = self._weight_norm_pair(prefix)
        if pair is None:
            return self.get(f"{prefix}.weight")
        g, v = self.get(pair[0]), self.get(pair[1])
        return g * v / v.flatten(1).norm(dim=1).reshape(g.shape)

    def optional_conv_weight(self, prefix: str) -> torch.Tensor | None:
        present = self._weight_norm_pair(prefix) is not None or f"{prefix}.weight" in self.state
        return self.conv_weight(prefix) if present else None

    def finish(self, path: Path, arch: str) -> None:
        unexpected = sorted(set(self.state) - self.used)
        if self.missing or unexpected:
            parts = []
            if self.missing:
                parts.append(f"missing keys: {', '.join(self.missing)}")
            if unexpected:
                parts.append(f"unexpected keys: {', '.join(unexpected)}")
            raise PipelineError(f"checkpoint {path} does not fit {arch}: {'; '.join(parts)}")
