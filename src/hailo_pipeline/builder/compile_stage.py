"""The HEF stage of a build: compile with the DFC when it is installed (in its own venv: hailo/dfc.py), gate the quantized model,
then read the HEF back and check it against the spec before it may enter a bundle.

Checks on the compiled HEF: hw_arch fits the spec, the DFC version is the one that compiled it, one
network group with one input (H, T, 9) and one output of the device output's size (the latent, or the FSQ values), and the input's
quantization range holds the (normalized) data: limvals [0, 1] for z-scored input clip every negative
value, the failure seen on the FSQ HEF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.builder.calibration import Windows
from hailo_pipeline.builder.quant_gate import QuantizedParity, measure
from hailo_pipeline.builder.spec import ModelSpec
from hailo_pipeline.bundle.heads import Head
from hailo_pipeline.bundle.model_io import normalize
from hailo_pipeline.bundle.release import sha256_bytes
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo import dfc, model_script
from hailo_pipeline.hailo.compat import requires_hailort
from hailo_pipeline.hailo.hef import SPEC_ARCH_TO_HEF, HefInfo, Stream, parse_hef
from hailo_pipeline.model.onnx_model import OnnxModel


@dataclass(frozen=True)
class HefStage:
    status: str
    hef: bytes | None = None
    model_script: str | None = None
    manifest: dict[str, Any] | None = None
    gate: QuantizedParity | None = None
    hars: dict[str, Path] = field(default_factory=dict)


def _check(spec: ModelSpec, info: HefInfo, dfc_version: str, height: int, device_dim: int) -> tuple[Stream, Stream]:
    problems = []
    if info.hw_arch not in SPEC_ARCH_TO_HEF[spec.hw_arch]:
        problems.append(
            f"compiled for {info.hw_arch}, the spec asks for {spec.hw_arch} (HEF arch {' or '.join(SPEC_ARCH_TO_HEF[spec.hw_arch])})"
        )
    if info.sdk_version != dfc_version:
        problems.append(f"made by DFC {info.sdk_version}, but DFC {dfc_version} compiled it")
    if len(info.network_groups) != 1 or len(info.network_groups[0].inputs) != 1 or len(info.network_groups[0].outputs) != 1:
        problems.append("expected one network group with one input and one output")
        raise PipelineError("the compiled HEF does not match the spec: " + "; ".join(problems))
    group = info.network_groups[0]
    inp, out = group.inputs[0], group.outputs[0]
    if inp.shape != (height, spec.input.window, len(spec.input.channels)):
        problems.append(f"input {inp.name} is {inp.shape}, expected {(height, spec.input.window, len(spec.input.channels))} (H, W, C)")
    if int(np.prod(out.shape)) != device_dim:
        problems.append(f"output {out.name} has {int(np.prod(out.shape))} values, expected {device_dim}")
    if problems:
        raise PipelineError("the compiled HEF does not match the spec: " + "; ".join(problems))
    return inp, out


def clip_share(stream: Stream, values: NDArray[Any]) -> float:
    """Share of input values outside the stream's quantization range (half a step of slack)."""
    lo, hi = stream.limvals
    slack = abs(stream.qp_scale) / 2
    return float(np.mean((values < lo - slack) | (values > hi + slack)))


def run(
    spec: ModelSpec,
    found: dfc.Dfc,
    onnx_path: Path,
    model: OnnxModel,
    calibration: Windows,
    holdout: Windows,
    fp_holdout: NDArray[Any],
    head: Head,
    height: int,
    work_dir: Path,
    progress: Callable[[str], None],
) -> HefStage:
    """found: the DFC (dfc.locate()); calibration/holdout are raw windows (N, H, T, 9) - which is NHWC; fp_holdout
    the FP32 outputs."""
    version = found.version
    if version is None:
        if spec.require_hef:
            raise PipelineError(f"spec requires a HEF (require_hef: true) but it was {found.not_installed}")
        return HefStage(status=found.not_installed)
    on_chip = spec.dfc.normalization_on_chip

    def feed(raw: Windows) -> NDArray[np.float32]:
        return raw.astype(np.float32) if on_chip else normalize(raw, spec.normalization)

    def script(layer_name: Callable[[str], str]) -> str:
        return model_script.render(spec.dfc, spec.normalization.mean, spec.normalization.std, len(calibration), layer_name)

    request = dfc.CompileRequest(
        onnx_path=onnx_path,
        net_name=spec.name.replace("-", "_"),
        hw_arch=spec.hw_arch,
        model_script=script,
        input_name=model.input_name,
        output_name=model.output_names[0],
        input_shape=list(model.input_shape),
        calibration=feed(calibration),
        holdout=feed(holdout),
        start_node_names=spec.dfc.start_node_names,
        end_node_names=spec.dfc.end_node_names,
    )
    progress(f"compile: DFC {version}, {spec.hw_arch}: parse -> optimize ({len(calibration)} windows) -> emulate -> compile")
    out = dfc.compile_onnx(request, work_dir, found)
    gate = measure(fp_holdout, out.quantized, head, spec.gates.quantized_cosine_min)
    if not gate.passed:
        raise PipelineError(f"quantization gate failed on {len(holdout)} held-out windows: {gate.summary()}")
    info = parse_hef(out.hef)
    inp, outp = _check(spec, info, version, height, head.device_dim)
    clipped = clip_share(inp, request.calibration)
    if clipped > spec.gates.max_clip_share:
        values = request.calibration
        raise PipelineError(
            f"the HEF input range [{inp.limvals[0]:.4g}, {inp.limvals[1]:.4g}] cannot hold the "
            f"{'raw' if on_chip else 'normalized'} data [{values.min():.3g}, {values.max():.3g}]: {clipped:.1%} of calibration values "
            f"would clip (gate {spec.gates.max_clip_share:.1%}); calibrate on in-domain data in the units the network receives"
        )
    group = info.network_groups[0]
    manifest = {
        "file": "model.hef",
        "sha256": sha256_bytes(out.hef),
        "hw_arch": info.hw_arch,
        "sdk_version": info.sdk_version,
        "header_version": info.header_version,
        "requires_hailort": requires_hailort(info.sdk_version, info.header_version),
        "integrity": info.integrity,
        "network_group": group.name,
        "bottleneck_fps": group.bottleneck_fps,
        "input": _stream_dict(inp),
        "output": _stream_dict(outp),
        "normalization_on_chip": on_chip,
        "input_clip_share": clipped,
        "model_script": "model.alls",
        "dfc_warnings": out.warnings,
    }
    return HefStage(
        status=f"compiled: DFC {version}, {info.hw_arch}",
        hef=out.hef,
        model_script=out.model_script,
        manifest=manifest,
        gate=gate,
        hars=out.hars,
    )


def _stream_dict(stream: Stream) -> dict[str, Any]:
    return {
        "name": stream.name,
        "shape": list(stream.shape),
        "format": stream.format,
        "data_type": stream.data_type,
        "qp_scale": stream.qp_scale,
        "qp_zp": stream.qp_zp,
        "limvals": list(stream.limvals),
    }
