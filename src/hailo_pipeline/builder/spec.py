"""The model spec: the single YAML description of one model build, validated into dataclasses.

Keys beyond name, version, source, input and normalization are optional; their defaults:

  input:       {units: {ax..az: m/s^2, gx..gz: rad/s, mx..mz: uT},    what the model was trained on, per channel
                client_units: input.units}                            what clients send (the sidecar converts);
               each a mapping of only the channels it changes, in bundle/units.py's vocabulary;
               sample_traffic: []: client traffic files (EdgeInfer request bodies, .npy windows) the report judges
  outputs:     {latent_dim: 64}                          EdgeInfer requires 64
  motif_head:  {kind: prototypes, count: 12, seed: 0}    k-means prototypes over calibration latents
               (outputs and motif_head belong to latent models: tcn_encoder, an imported ONNX; a conv2d_fsq
               model defines its own outputs, the FSQ values its checkpoint's classifier reads: see bundle/heads.py)
  calibration: {source: synthetic, windows: 1024, seed: 0, min_windows: 1024}
               source: an .npy of raw windows, or fleet: the windows collect.yml fetched from the fleet, in
               fleet_dir (its <name>/ when there is one), holdout_share of them (0.2) held out for the gates
  hw_arch:     hailo8
  require_hef: false                                     true: a build without a compiled HEF fails
  gates:       {export_cosine_min: 0.99999, quantized_cosine_min: 0.98, golden_windows: 16,
                holdout_windows: 64, max_clip_share: 0.01}
  dfc:         {optimization_level: 2, compression_level: 0, calibset_size: 0 (= all calibration windows),
                batch_size: 8, normalization_on_chip: false, performance: false,
                quantization_overrides: [] ({layer, precision_mode: a8_w8|a8_w4|a16_w16}, or a model-script
                line as the build's advice gives it: "quantization_param(<layer>, precision_mode=a16_w16)";
                a layer is a Hailo layer name or a model.onnx node name, which the build resolves),
                start_node_names: [], end_node_names: [] (= the graph's input and output)}

Relative paths are taken from the spec file's folder.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hailo_pipeline.bundle import units as units_io
from hailo_pipeline.bundle.model_io import Normalization
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.architectures import ARCHITECTURES, OUTPUT_KIND

IMU_CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz")
HW_ARCHS = ("hailo8", "hailo8l")
MOTIF_HEAD_KINDS = ("prototypes", "model")
PRECISION_MODES = ("a8_w8", "a8_w4", "a16_w16")


@dataclass(frozen=True)
class Source:
    arch: str | None = None
    checkpoint: Path | None = None
    onnx: Path | None = None


@dataclass(frozen=True)
class InputSpec:
    window: int
    channels: tuple[str, ...]
    units: tuple[str, ...] = field(default_factory=tuple)  # the model's, one per channel (parse_spec fills them in)
    client_units: tuple[str, ...] = field(default_factory=tuple)  # what clients send; the sidecar converts to units
    sample_traffic: tuple[Path, ...] = ()  # files the report gives the input guard's verdict on (bundle/sample_traffic.py)


@dataclass(frozen=True)
class Outputs:
    latent_dim: int = 64


@dataclass(frozen=True)
class MotifHeadSpec:
    kind: str = "prototypes"
    count: int = 12
    seed: int = 0


@dataclass(frozen=True)
class CalibrationSpec:
    source: str = "synthetic"  # "synthetic", the path of an .npy of raw windows, or "fleet" (fleet_dir's windows)
    windows: int = 1024
    seed: int = 0
    min_windows: int = 1024
    fleet_dir: str = ""  # with source fleet: collect.yml's folder (artifacts/fleet-data) or one model's
    holdout_share: float = 0.2  # with source fleet: the share of its windows held out for the gates, not calibrated on


@dataclass(frozen=True)
class Gates:
    export_cosine_min: float = 0.99999
    quantized_cosine_min: float = 0.98  # latent and motif scores, FP32 ONNX vs the quantized model
    golden_windows: int = 16
    holdout_windows: int = 64  # windows the quantization gate measures on, apart from calibration
    max_clip_share: float = 0.01  # share of normalized calibration values the HEF input range may clip


@dataclass(frozen=True)
class QuantOverride:
    layer: str
    precision_mode: str


@dataclass(frozen=True)
class DfcSpec:
    optimization_level: int = 2
    compression_level: int = 0
    calibset_size: int = 0  # 0: all calibration windows
    batch_size: int = 8
    normalization_on_chip: bool = False
    performance: bool = False
    quantization_overrides: tuple[QuantOverride, ...] = ()
    start_node_names: tuple[str, ...] = ()
    end_node_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    source: Source
    input: InputSpec
    normalization: Normalization
    outputs: Outputs = field(default_factory=Outputs)
    motif_head: MotifHeadSpec = field(default_factory=MotifHeadSpec)
    calibration: CalibrationSpec = field(default_factory=CalibrationSpec)
    hw_arch: str = "hailo8"
    require_hef: bool = False
    gates: Gates = field(default_factory=Gates)
    dfc: DfcSpec = field(default_factory=DfcSpec)

    @property
    def output_kind(self) -> str:
        """latent or fsq_classifier (bundle/heads.py): fixed by the architecture."""
        return OUTPUT_KIND.get(self.source.arch or "", "latent")

    def canonical_json(self) -> str:
        """What the spec means, independent of YAML formatting: one input of the build id."""
        data = dataclasses.asdict(self)
        data["source"] = {k: (Path(v).name if v else None) for k, v in data["source"].items()}
        if self.calibration.source not in ("synthetic", "fleet"):
            data["calibration"]["source"] = Path(self.calibration.source).name
        data["calibration"]["fleet_dir"] = Path(self.calibration.fleet_dir).name  # its windows are the build's input
        data["input"]["sample_traffic"] = [path.name for path in self.input.sample_traffic]
        return json.dumps(data, sort_keys=True, default=str)


_TOP_KEYS = {f.name for f in dataclasses.fields(ModelSpec)}
_REQUIRED = ("name", "version", "source", "input", "normalization")


def _section(raw: dict[str, Any], key: str, cls: type[Any], where: str) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise PipelineError(f"{where}: '{key}' must be a mapping, got {type(value).__name__}")
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise PipelineError(f"{where}: unknown key(s) {', '.join(f'{key}.{u}' for u in unknown)}; allowed: {sorted(allowed)}")
    for f in dataclasses.fields(cls):
        if f.name in value and f.default is not dataclasses.MISSING and f.default is not None:
            _check_type(value[f.name], type(f.default), f"{key}.{f.name}", where)
    return value


def _check_type(value: Any, expected: type, what: str, where: str) -> None:
    if expected is tuple:
        expected = list
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise PipelineError(f"{where}: {what} must be {expected.__name__}, got {value!r}")


def _number_list(values: Any, what: str, where: str, length: int) -> tuple[float, ...]:
    if not isinstance(values, list) or len(values) != length:
        raise PipelineError(f"{where}: {what} must be a list of {length} numbers (one per input channel)")
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise PipelineError(f"{where}: {what} must contain only numbers, got {values}") from None


def parse_spec(raw: Any, base_dir: Path, where: str = "spec") -> ModelSpec:
    """Validates a loaded YAML document; every problem is reported with the key it concerns."""
    if not isinstance(raw, dict):
        raise PipelineError(f"{where}: the spec must be a YAML mapping")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise PipelineError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise PipelineError(f"{where}: missing required key(s) {', '.join(missing)}")

    src = _section(raw, "source", Source, where)
    if bool(src.get("onnx")) == bool(src.get("checkpoint") or src.get("arch")):
        raise PipelineError(f"{where}: source needs either 'onnx' or both 'arch' and 'checkpoint'")
    if src.get("checkpoint") or src.get("arch"):
        if src.get("arch") not in ARCHITECTURES:
            raise PipelineError(f"{where}: source.arch must be one of {list(ARCHITECTURES)}, got {src.get('arch')!r}")
        if not src.get("checkpoint"):
            raise PipelineError(f"{where}: source.arch '{src['arch']}' needs source.checkpoint")
    source = Source(
        arch=src.get("arch"),
        checkpoint=(base_dir / src["checkpoint"]).resolve() if src.get("checkpoint") else None,
        onnx=(base_dir / src["onnx"]).resolve() if src.get("onnx") else None,
    )

    inp = _section(raw, "input", InputSpec, where)
    channels = tuple(inp.get("channels") or IMU_CHANNELS)
    if channels != IMU_CHANNELS:
        raise PipelineError(f"{where}: input.channels must be EdgeInfer's order {list(IMU_CHANNELS)}, got {list(channels)}")
    window = inp.get("window")
    if not isinstance(window, int) or window < 8:
        raise PipelineError(f"{where}: input.window must be an integer >= 8 (EdgeInfer sends 100), got {window!r}")
    try:
        model_units = units_io.parse_units(inp.get("units"), channels, units_io.default_units(channels), "input.units")
        client_units = units_io.parse_units(inp.get("client_units"), channels, model_units, "input.client_units")
    except PipelineError as exc:
        raise PipelineError(f"{where}: {exc}") from None
    if not all(isinstance(path, str) for path in inp.get("sample_traffic", [])):
        raise PipelineError(f"{where}: input.sample_traffic must be a list of files (EdgeInfer request bodies, .npy windows)")
    sample_traffic = tuple((base_dir / path).resolve() for path in inp.get("sample_traffic", []))

    norm = _section(raw, "normalization", Normalization, where)
    mean = _number_list(norm.get("mean"), "normalization.mean", where, len(channels))
    std = _number_list(norm.get("std"), "normalization.std", where, len(channels))
    if any(s <= 0 for s in std):
        raise PipelineError(f"{where}: normalization.std must be positive, got {list(std)}")

    if src.get("arch") and OUTPUT_KIND[src["arch"]] != "latent":
        given = [key for key in ("outputs", "motif_head") if key in raw]
        if given:
            raise PipelineError(
                f"{where}: source.arch {src['arch']} defines its own outputs (the FSQ values, rounded and classified on the "
                f"host by its checkpoint's classifier); remove {' and '.join(given)} from the spec"
            )
    outputs = Outputs(**_section(raw, "outputs", Outputs, where))
    motif = MotifHeadSpec(**_section(raw, "motif_head", MotifHeadSpec, where))
    if motif.kind not in MOTIF_HEAD_KINDS:
        raise PipelineError(f"{where}: motif_head.kind must be one of {list(MOTIF_HEAD_KINDS)}, got {motif.kind!r}")
    calib_raw = _section(raw, "calibration", CalibrationSpec, where)
    calibration = CalibrationSpec(**calib_raw)
    if calibration.source == "fleet":
        if not calibration.fleet_dir:
            raise PipelineError(f"{where}: calibration.source fleet needs calibration.fleet_dir (collect.yml's artifacts/fleet-data)")
        if not 0 < calibration.holdout_share < 1:
            raise PipelineError(f"{where}: calibration.holdout_share must be between 0 and 1, got {calibration.holdout_share}")
        calibration = dataclasses.replace(calibration, fleet_dir=str((base_dir / calibration.fleet_dir).resolve()))
    elif calibration.source != "synthetic":
        calibration = dataclasses.replace(calibration, source=str((base_dir / calibration.source).resolve()))
    gates = Gates(**_section(raw, "gates", Gates, where))
    dfc = _dfc(_section(raw, "dfc", DfcSpec, where), where)
    hw_arch = raw.get("hw_arch", "hailo8")
    if hw_arch not in HW_ARCHS:
        raise PipelineError(f"{where}: hw_arch must be one of {list(HW_ARCHS)}, got {hw_arch!r}")
    name, version = str(raw["name"]), str(raw["version"])
    for label, value in (("name", name), ("version", version)):
        if not value or any(c in value for c in "/\\ \t"):
            raise PipelineError(f"{where}: {label} must be a non-empty word without spaces or slashes, got {value!r}")
    return ModelSpec(
        name=name,
        version=version,
        source=source,
        input=InputSpec(window=window, channels=channels, units=model_units, client_units=client_units, sample_traffic=sample_traffic),
        normalization=Normalization(mean=mean, std=std),
        outputs=outputs,
        motif_head=motif,
        calibration=calibration,
        hw_arch=hw_arch,
        require_hef=bool(raw.get("require_hef", False)),
        gates=gates,
        dfc=dfc,
    )


_ALLS_LINE = re.compile(r"\s*quantization_param\(\s*([^,\s]+)\s*,\s*precision_mode\s*=\s*(\w+)\s*\)\s*")


def _override(entry: Any, where: str) -> QuantOverride:
    """One dfc.quantization_overrides entry: {layer, precision_mode}, or the advice's model-script line."""
    if isinstance(entry, str) and (line := _ALLS_LINE.fullmatch(entry)):
        layer, mode = line.groups()
    elif isinstance(entry, dict) and set(entry) == {"layer", "precision_mode"}:
        layer, mode = str(entry["layer"]), entry["precision_mode"]
    else:
        raise PipelineError(
            f"{where}: each dfc.quantization_overrides entry needs exactly 'layer' and 'precision_mode', or is a line "
            f"'quantization_param(<layer>, precision_mode=<mode>)' as gates.int8_preview.advice.alls gives it; got {entry!r}"
        )
    if mode not in PRECISION_MODES:
        raise PipelineError(f"{where}: dfc precision_mode must be one of {list(PRECISION_MODES)}, got {mode!r}")
    return QuantOverride(layer, mode)


def _dfc(raw: dict[str, Any], where: str) -> DfcSpec:
    overrides = [_override(entry, where) for entry in raw.get("quantization_overrides", [])]
    if not 0 <= raw.get("optimization_level", 2) <= 4 or not 0 <= raw.get("compression_level", 0) <= 5:
        raise PipelineError(f"{where}: dfc.optimization_level must be 0-4 and dfc.compression_level 0-5")
    return DfcSpec(
        **{k: v for k, v in raw.items() if k not in ("quantization_overrides", "start_node_names", "end_node_names")},
        quantization_overrides=tuple(overrides),
        start_node_names=tuple(str(n) for n in raw.get("start_node_names", [])),
        end_node_names=tuple(str(n) for n in raw.get("end_node_names", [])),
    )


def load_spec(path: Path) -> ModelSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"spec file {path} not found") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    return parse_spec(raw, path.parent, where=str(path))
