"""`hailo-pipeline build SPEC --out DIR`: one model spec -> one verified, content-addressed release bundle.

Stages: source (export a checkpoint, or import and rewrite an ONNX) -> export parity gate -> Hailo
preflight -> calibration + lint -> host tail (motif prototypes over the calibration latents, or the FSQ
classifier the checkpoint carries: heads.py) -> golden vectors -> HEF status -> report -> bundle. The build id is computed first from the
inputs alone; when that bundle already exists and its checksums verify, it is returned without doing any
of the work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from hailo_pipeline.builder import compile_stage, int8_preview, quant_advisor, report, report_plots
from hailo_pipeline.builder.calibration import COVERAGE_Z, CalibrationLint, FleetSplit, fleet_split, lint, spec_windows, synthetic_windows
from hailo_pipeline.builder.quant_gate import QuantizedParity
from hailo_pipeline.builder.spec import ModelSpec, QuantOverride, load_spec
from hailo_pipeline.bundle import input_guard, sample_traffic
from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle.heads import FsqClassifierHead, Head, LatentHead
from hailo_pipeline.bundle.model_io import to_latents, to_model_input
from hailo_pipeline.bundle.motif_head import fit_prototypes
from hailo_pipeline.bundle.release import build_id, check_sums, release_name, sha256_bytes, write_bundle
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo import dfc
from hailo_pipeline.hailo.model_script import quantization_line
from hailo_pipeline.model import preflight as hailo_preflight
from hailo_pipeline.model.architectures import INPUT_HEIGHT
from hailo_pipeline.model.onnx_model import OnnxModel
from hailo_pipeline.model.parity import Parity, compare

if TYPE_CHECKING:
    from hailo_pipeline.model.export import TailReference

GOLDEN_SEED_OFFSET = 1_000_003  # golden and held-out windows are drawn apart from the calibration windows
HOLDOUT_SEED_OFFSET = 2_000_003
GOLDEN_TOLERANCE = {"cosine_min": 0.9999, "max_abs": 1e-3}
_TOOLCHAIN = ("hailo-pipeline", "torch", "onnx", "onnxruntime", "numpy")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    release_dir: Path
    build_id: str
    cached: bool
    hef_status: str


def toolchain_versions(found: dfc.Dfc) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for dist in _TOOLCHAIN:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    versions[dfc.DISTRIBUTION] = found.version  # the DFC's own venv, not this one (hailo/dfc.py)
    return versions


# The installed hailo_pipeline package, every subpackage of it.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_CODE_SUFFIXES = (".py", ".j2")


def code_digest(package: Path) -> bytes:
    """This package's own source, every stage and template: a fix anywhere in it changes the build id."""
    sources = sorted(p for p in package.rglob("*") if p.suffix in _CODE_SUFFIXES and p.is_file())
    return hashlib.sha256(b"".join(p.relative_to(package).as_posix().encode() + b"\0" + p.read_bytes() for p in sources)).digest()


def source_bytes(spec: ModelSpec) -> tuple[bytes, Path]:
    path = spec.source.checkpoint or spec.source.onnx
    assert path is not None  # parse_spec guarantees one of them
    try:
        return path.read_bytes(), path
    except FileNotFoundError:
        raise PipelineError(f"source file {path} not found (spec source.{'checkpoint' if spec.source.checkpoint else 'onnx'})") from None


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PipelineError(f"{key} file {path} not found") from None
    except OSError as exc:  # a folder, no permission
        raise PipelineError(f"{key} file {path} cannot be read: {exc.strerror}; name a file") from None


def input_height(spec: ModelSpec, source: bytes) -> int:
    """Rows (H) of the model input: fixed by the architecture, or read from an ONNX source
    (1 for a rank-3 (1, T, C) input, dim 2 of an NCHW one)."""
    if spec.source.arch is not None:
        return INPUT_HEIGHT[spec.source.arch]
    try:
        dims = [d.dim_value for d in onnx.load_from_string(source).graph.input[0].type.tensor_type.shape.dim]
    except Exception:
        raise PipelineError("source.onnx is not an ONNX model (protobuf parse failed)") from None
    return dims[2] if len(dims) == 4 else 1


@dataclass(frozen=True)
class Converted:
    onnx: bytes
    parity: Parity  # the converted graph against the source
    changes: list[str]  # the rewrite log
    kind: str  # checkpoint | onnx
    host_tail: TailReference | None = None


def _convert(spec: ModelSpec, source: bytes, progress: Progress) -> Converted:
    """The Hailo-friendly graph, its parity with the source, the rewrite log, and the source kind."""
    if spec.source.checkpoint is not None:
        from hailo_pipeline.model.export import export_onnx  # torch loads only when there is something to export

        progress(f"export: {spec.source.arch} checkpoint -> ONNX (opset 11)")
        exported = export_onnx(str(spec.source.arch), spec.source.checkpoint, spec.input.window)
        return Converted(exported.onnx, exported.parity, [], "checkpoint", exported.host_tail)
    from hailo_pipeline.model.onnx_rewrite import import_onnx

    progress("import-onnx: rewriting the source graph into the Hailo-friendly form")
    imported = import_onnx(source)
    return Converted(imported.onnx, imported.parity, imported.changes, "onnx")


def _check_input(spec: ModelSpec, model: OnnxModel, height: int) -> None:
    want = (1, len(spec.input.channels), height, spec.input.window)
    if tuple(model.input_shape) != want:
        raise PipelineError(
            f"the model input is {list(model.input_shape)}, the spec implies {list(want)} (input.window {spec.input.window})"
        )


# The host tail's numpy copy against PyTorch's (max abs difference of any class probability).
HOST_TAIL_MAX_ABS = 1e-5


def _latent_head(spec: ModelSpec, latents: np.ndarray, progress: Progress) -> LatentHead:
    """A latent model's head: its motif prototypes over the calibration latents."""
    if latents.shape[1] != spec.outputs.latent_dim:
        hint = " (a TCN checkpoint without fc_mu yields its pooled features)" if spec.source.arch == "tcn_encoder" else ""
        raise PipelineError(
            f"the model produces {latents.shape[1]}-d latents{hint}, the spec requires outputs.latent_dim {spec.outputs.latent_dim}"
        )
    if spec.motif_head.kind != "prototypes":
        raise PipelineError(
            "motif_head.kind 'model' needs a model with its own motif output; tcn_encoder and conv2d_fsq have none: use 'prototypes'"
        )
    progress(f"motif head: {spec.motif_head.count} prototypes (k-means over calibration latents)")
    return LatentHead(fit_prototypes(latents, spec.motif_head.count, spec.motif_head.seed))


def _exported_head(converted: Converted, progress: Progress) -> tuple[FsqClassifierHead, Parity]:
    """The host tail the checkpoint carries, and its parity with PyTorch's."""
    reference = converted.host_tail
    assert reference is not None, "an architecture with a host tail exports it"
    head = FsqClassifierHead(reference.tail.levels, reference.tail.layers)
    progress(f"host tail: FSQ levels {list(head.levels)} -> classifier of {head.classes} classes (from the checkpoint)")
    parity = compare(reference.probabilities, head.outputs(reference.device)["probabilities"])
    if parity.max_abs > HOST_TAIL_MAX_ABS:
        raise PipelineError(
            f"export parity gate failed: the host tail's class probabilities differ from PyTorch's by up to {parity.max_abs:.3g} "
            f"(allowed {HOST_TAIL_MAX_ABS})"
        )
    return head, parity


def _npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@dataclass(frozen=True)
class BuildPlan:
    """Everything known before any work: the inputs, their build id, and where the bundle goes."""

    spec: ModelSpec
    source: bytes
    source_path: Path
    height: int
    calibration: np.ndarray
    fleet: FleetSplit | None  # calibration.source fleet: its windows held out for the gates, and their files
    toolchain: dict[str, str | None]
    build_id: str
    release_dir: Path
    dfc: dfc.Dfc  # the DFC the build id names, which the compile stage then runs


def plan(spec_path: Path, out_dir: Path, apply_advice: bool = False) -> BuildPlan:
    """Reads the inputs and computes the build id; builds nothing (`build --dry-run`)."""
    spec = load_spec(spec_path)
    source, source_path = source_bytes(spec)
    height = input_height(spec, source)
    fleet = fleet_split(spec, height) if spec.calibration.source == "fleet" else None
    calibration = fleet.calibration if fleet is not None else spec_windows(spec, height)
    found = dfc.locate()
    toolchain = toolchain_versions(found)
    bid = build_id(
        {
            "source": source,
            "spec": spec.canonical_json().encode(),
            "calibration": calibration.tobytes() + str(calibration.shape).encode(),
            "holdout": b"" if fleet is None else fleet.holdout.tobytes(),
            "sample_traffic": b"".join(_read(path, "input.sample_traffic") for path in spec.input.sample_traffic),
            "toolchain": json.dumps(toolchain, sort_keys=True).encode(),
            "code": code_digest(PACKAGE_ROOT),
            "apply_advice": b"apply-advice" if apply_advice else b"",
        }
    )
    release_dir = out_dir / release_name(spec.name, spec.version, bid)
    return BuildPlan(spec, source, source_path, height, calibration, fleet, toolchain, bid, release_dir, found)


def _with_advice(spec: ModelSpec, advice: dict[str, Any]) -> ModelSpec:
    """The spec with the advised layers added to its quantization overrides (`build --apply-advice`)."""
    have = {o.layer for o in spec.dfc.quantization_overrides}
    added = tuple(QuantOverride(layer, quant_advisor.PRECISION_MODE) for layer in advice["layers"] if layer not in have)
    return dataclasses.replace(spec, dfc=dataclasses.replace(spec.dfc, quantization_overrides=spec.dfc.quantization_overrides + added))


@dataclass(frozen=True)
class PreviewGate:
    record: dict[str, Any]  # release.json gates.int8_preview
    result: QuantizedParity  # as built (with the spec's 16-bit layers)
    after: QuantizedParity  # with the advice


def _int8_preview(
    spec: ModelSpec, onnx_bytes: bytes, calibration: np.ndarray, holdout: np.ndarray, fp_holdout: np.ndarray, head: Head, progress: Progress
) -> PreviewGate:
    """The preview gate: the spec's 16-bit overrides emulated, and the advisor's advice. calibration and holdout
    are model inputs (normalized NCHW)."""
    progress("INT8 preview: ONNX Runtime static quantization (not the Hailo quantizer)")
    with tempfile.TemporaryDirectory() as work:
        preview = int8_preview.Preview(onnx_bytes, calibration, holdout, fp_holdout, head, spec.gates.quantized_cosine_min, Path(work))
        names = {layer.name for layer in preview.layers}
        kept = [
            preview.layer(o.layer)
            for o in spec.dfc.quantization_overrides
            if o.precision_mode == quant_advisor.PRECISION_MODE and o.layer in names
        ]
        result = preview.run(kept)
        progress(f"quantization advisor: {len(preview.layers)} layers, one at a time" + ("" if result.passed else ", then 16-bit advice"))
        advice, after = quant_advisor.advise(preview, result, kept)
    record = {"label": int8_preview.LABEL, **result.as_dict(), "sixteen_bit_in_spec": [x.name for x in kept], "advice": advice}
    return PreviewGate(record, result, after)


def build(spec_path: Path, out_dir: Path, progress: Progress = lambda _: None, apply_advice: bool = False) -> BuildResult:
    planned = plan(spec_path, out_dir, apply_advice)
    spec, source, source_path, height, calibration = planned.spec, planned.source, planned.source_path, planned.height, planned.calibration
    bid, release = planned.build_id, planned.release_dir.name
    if planned.release_dir.exists():
        check_sums(planned.release_dir)
        stored = manifest_io.read(planned.release_dir)
        progress(f"unchanged inputs: {release} already built")
        return BuildResult(planned.release_dir, bid, cached=True, hef_status=stored["hef_status"])

    converted = _convert(spec, source, progress)
    onnx_bytes, parity = converted.onnx, converted.parity
    if parity.cosine_min < spec.gates.export_cosine_min:
        raise PipelineError(
            f"export parity gate failed: worst cosine {parity.cosine_min:.7f} < {spec.gates.export_cosine_min} "
            f"(max abs error {parity.max_abs:.3g}); the converted graph does not compute what the source computes"
        )
    progress("preflight: checking every node against what the Hailo parser accepts")
    findings = hailo_preflight.preflight(onnx.load_from_string(onnx_bytes))
    blocking = hailo_preflight.errors(findings)
    if blocking:
        raise PipelineError("Hailo preflight failed: " + "; ".join(f.line() for f in blocking))

    progress(f"calibration: {len(calibration)} windows, lint")
    calib_lint = lint(calibration, spec.normalization, spec.calibration.min_windows)
    if calib_lint.errors:
        raise PipelineError("calibration lint failed: " + "; ".join(calib_lint.errors))
    envelope = input_guard.envelope(calibration, spec.input.channels, spec.input.units)
    traffic = _sample_traffic(spec, envelope, progress)
    model = OnnxModel(onnx_bytes)
    _check_input(spec, model, height)
    head: Head
    tail_parity: Parity | None = None
    calibration_latents: np.ndarray | None = None
    calibration_input = to_model_input(calibration, spec.normalization)
    if spec.output_kind == "latent":
        progress("latents of the calibration windows (ONNX Runtime, FP32)")
        calibration_latents = to_latents(model.run(calibration_input))
        head = _latent_head(spec, calibration_latents, progress)
    else:
        head, tail_parity = _exported_head(converted, progress)

    golden_raw = synthetic_windows(
        spec.gates.golden_windows, spec.input.window, height, spec.calibration.seed + GOLDEN_SEED_OFFSET, spec.input.units
    )
    golden = _npz(windows=golden_raw, **head.outputs(model.run(to_model_input(golden_raw, spec.normalization))))
    # the gates judge on the fleet's held-out windows when the spec calibrates on the fleet's
    if planned.fleet is not None:
        holdout_raw = planned.fleet.holdout
    else:
        holdout_raw = synthetic_windows(
            spec.gates.holdout_windows, spec.input.window, height, spec.calibration.seed + HOLDOUT_SEED_OFFSET, spec.input.units
        )
    holdout = to_model_input(holdout_raw, spec.normalization)
    fp_holdout = model.run(holdout)
    preview = _int8_preview(spec, onnx_bytes, calibration_input, holdout, fp_holdout, head, progress)
    advice = preview.record["advice"]
    compile_spec = spec
    if apply_advice:
        compile_spec = _with_advice(spec, advice)
        advice["applied"] = True
        progress(f"apply advice: {len(advice['layers'])} layer(s) at a16_w16 in the model script")

    gates: dict[str, Any] = {
        "export": {
            "threshold": spec.gates.export_cosine_min,
            "passed": True,
            "results": {head.device_output: parity.as_dict()} | ({"host_tail": tail_parity.as_dict()} if tail_parity else {}),
        },
        "int8_preview": preview.record,
    }
    with tempfile.TemporaryDirectory() as work:
        onnx_path = Path(work) / "model.onnx"
        onnx_path.write_bytes(onnx_bytes)
        stage = compile_stage.run(
            compile_spec, planned.dfc, onnx_path, model, calibration, holdout_raw, fp_holdout, head, height, Path(work), progress
        )
        files = {"model.onnx": onnx_bytes, "golden.npz": golden}
        if stage.hef is not None and stage.model_script is not None and stage.gate is not None:
            files["model.hef"] = stage.hef
            files["model.alls"] = stage.model_script.encode()
            gates["quantized"] = stage.gate.as_dict()
        manifest = _manifest(compile_spec, bid, release, converted, source, source_path, model, height, head)
        manifest.update(
            hef=stage.manifest,
            hef_status=stage.status,
            calibration={
                "source": spec.calibration.source
                if spec.calibration.source in ("synthetic", "fleet")
                else Path(spec.calibration.source).name,
                "windows": len(calibration),
                "sha256": sha256_bytes(calibration.tobytes()),
                "lint": calib_lint.as_dict(),
                "envelope": envelope.as_manifest(),
            }
            | traffic
            | _fleet_record(spec, planned.fleet, calib_lint, height),
            preflight=hailo_preflight.as_dicts(findings),
            gates=gates,
            files={name: sha256_bytes(data) for name, data in files.items()},
            toolchain=planned.toolchain,
        )
        files["report.html"] = report.render(manifest, _plots(spec, parity, calib_lint, head, preview, calibration_latents))
        manifest["files"]["report.html"] = sha256_bytes(files["report.html"])
        files[manifest_io.MANIFEST] = manifest_io.dumps(manifest)
        release_dir = write_bundle(out_dir, release, files)
        if stage.hars:
            write_bundle(out_dir, f"{release}.har", {p.name: p.read_bytes() for p in stage.hars.values() if p.is_file()})
    progress(f"wrote {release_dir}")
    return BuildResult(release_dir, bid, cached=False, hef_status=stage.status)


def _fleet_record(spec: ModelSpec, fleet: FleetSplit | None, fleet_lint: CalibrationLint, height: int) -> dict[str, Any]:
    """release.json calibration.fleet: the files of the fleet's windows, how many were held out for the gates, and per
    channel the coverage of synthetic calibration (what the build would have used) beside the fleet's, with the input
    guard's verdict on the fleet's windows against the synthetic envelope: where invented data would have missed."""
    if fleet is None:
        return {}
    c = spec.calibration
    synthetic = synthetic_windows(c.windows, spec.input.window, height, c.seed, spec.input.units)
    synthetic_lint = lint(synthetic, spec.normalization, 0)
    guard = input_guard.InputGuard(input_guard.envelope(synthetic, spec.input.channels, spec.input.units))
    for window in np.concatenate([fleet.calibration, fleet.holdout]):
        guard.observe(window)
    verdict = guard.verdict()
    comparison = [
        {
            "channel": judged.channel,
            "synthetic_coverage": synthetic_stats.coverage,
            "fleet_coverage": fleet_stats.coverage,
            "synthetic_std": synthetic_stats.std,
            "fleet_std": fleet_stats.std,
            "verdict": judged.verdict,
            "message": judged.message,
        }
        for synthetic_stats, fleet_stats, judged in zip(synthetic_lint.channels, fleet_lint.channels, verdict.channels, strict=True)
    ]
    record = {"folder": fleet.folder.name, "files": fleet.sources, "held_out": len(fleet.holdout), "against_synthetic": comparison}
    return {"fleet": record}


def _sample_traffic(spec: ModelSpec, envelope: input_guard.Envelope, progress: Progress) -> dict[str, Any]:
    """The input guard's verdict on the spec's sample traffic (release.json calibration.sample_traffic), if it names some."""
    if not spec.input.sample_traffic:
        return {}
    verdict = sample_traffic.verdict(spec.input.sample_traffic, spec.input.channels, spec.input.client_units, envelope)
    flagged = ", ".join(f"{c.channel} {c.verdict}" for c in verdict.flagged) or "none"
    progress(f"input guard: {verdict.windows} sample traffic window(s) against the calibration envelope; flagged: {flagged}")
    return {"sample_traffic": {"files": [path.name for path in spec.input.sample_traffic], **verdict.as_dict()}}


def _manifest(
    spec: ModelSpec,
    bid: str,
    release: str,
    converted: Converted,
    source: bytes,
    source_path: Path,
    model: OnnxModel,
    height: int,
    head: Head,
) -> dict[str, Any]:
    return {
        "schema_version": manifest_io.SCHEMA_VERSION,
        "name": spec.name,
        "version": spec.version,
        "build_id": bid,
        "release": release,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "source": {
            "kind": converted.kind,
            "arch": spec.source.arch,
            "file": source_path.name,
            "sha256": sha256_bytes(source),
            "rewrite": converted.changes,
        },
        "input": {
            "name": model.input_name,
            "shape": list(model.input_shape),
            "layout": "NCHW",
            "window": spec.input.window,
            "height": height,
            "channels": list(spec.input.channels),
            "units": dict(zip(spec.input.channels, spec.input.units, strict=True)),
            "client_units": dict(zip(spec.input.channels, spec.input.client_units, strict=True)),
        },
        "normalization": {"mean": list(spec.normalization.mean), "std": list(spec.normalization.std), "applied": "host"},
        "outputs": {"name": model.output_names[0], "shape": [1, head.device_dim, 1, 1], **head.to_manifest()},
        "hw_arch": spec.hw_arch,
        "golden": {"windows": spec.gates.golden_windows, **GOLDEN_TOLERANCE},
        "quantization_overrides": [quantization_line(o.layer, o.precision_mode) for o in spec.dfc.quantization_overrides],
    }


def _plots(
    spec: ModelSpec, parity: Parity, calib_lint: CalibrationLint, head: Head, preview: PreviewGate, calibration_latents: np.ndarray | None
) -> dict[str, str]:
    """The report's figures, by caption."""
    channels = calib_lint.channels
    mean, std = spec.normalization.mean, spec.normalization.std
    output = head.device_output
    before, after = preview.result.results[output], preview.after.results[output]
    advised = preview.record["advice"]["layers"]
    with_advice = after.candidate if advised else None
    plots = {
        "Export parity: every output value of the converted graph against the source's (on y = x when they agree)": (
            report_plots.parity_scatter(parity.reference, parity.candidate, "export parity", "source output", "converted graph output")
        ),
        f"INT8 preview parity: {output} values, quantized against FP32, on {before.windows} held-out windows": report_plots.parity_scatter(
            before.reference, before.candidate, "INT8 preview parity", f"FP32 {output}", f"INT8 {output}", with_advice
        ),
        f"INT8 preview error: quantized minus FP32, every {output} value": report_plots.error_distribution(
            before.candidate - before.reference,
            None if with_advice is None else with_advice - after.reference,
            f"{output} error (INT8 - FP32)",
        ),
        "Per-layer sensitivity (advised layers in bold orange)": report_plots.layer_errors(
            preview.record["advice"]["per_layer"], spec.gates.quantized_cosine_min, advised
        ),
        f"Calibration coverage: each channel's normalized range over the ±{COVERAGE_Z:g} band the lint expects": (
            report_plots.calibration_coverage(
                [c.channel for c in channels],
                [(c.min - m) / s for c, m, s in zip(channels, mean, std, strict=True)],
                [(c.max - m) / s for c, m, s in zip(channels, mean, std, strict=True)],
                COVERAGE_Z,
            )
        ),
    }
    if isinstance(head, LatentHead) and calibration_latents is not None:
        plots[f"Motif scores on the calibration windows (temperature {head.motifs.temperature:.3g})"] = report_plots.score_distribution(
            head.motifs.scores(calibration_latents)
        )
    return plots
