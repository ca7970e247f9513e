"""release.json: the schema-versioned manifest of a release bundle, and its validation."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hailo_pipeline.bundle import units as units_io
from hailo_pipeline.errors import PipelineError

SCHEMA_VERSION = 1
MANIFEST = "release.json"

# key -> type(s) every manifest must carry at the top level
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "name": str,
    "version": str,
    "build_id": str,
    "release": str,
    "created": str,
    "source": dict,
    "input": dict,
    "normalization": dict,
    "outputs": dict,
    "hw_arch": str,
    "hef": (dict, type(None)),
    "hef_status": str,
    "toolchain": dict,
    "calibration": dict,
    "preflight": list,
    "gates": dict,
    "golden": dict,
    "files": dict,
}
_NESTED: dict[str, tuple[str, ...]] = {
    "input": ("name", "shape", "layout", "window", "height", "channels"),
    "normalization": ("mean", "std"),
    "outputs": ("name", "shape"),
    "golden": ("windows", "cosine_min", "max_abs"),
}


def validate(manifest: Any, where: str = MANIFEST) -> dict[str, Any]:
    """Returns the manifest when it has every required key with the right type, else says what is wrong."""
    if not isinstance(manifest, dict):
        raise PipelineError(f"{where}: not a JSON object")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise PipelineError(f"{where}: schema_version {manifest.get('schema_version')!r}, this tool reads {SCHEMA_VERSION}")
    problems = [
        f"'{key}' missing" if key not in manifest else f"'{key}' is {type(manifest[key]).__name__}"
        for key, kind in _REQUIRED.items()
        if not isinstance(manifest.get(key), kind) or key not in manifest
    ]
    for section, keys in _NESTED.items():
        if isinstance(manifest.get(section), dict):
            problems += [f"'{section}.{k}' missing" for k in keys if k not in manifest[section]]
    if problems:
        raise PipelineError(f"{where}: invalid manifest: {'; '.join(problems)}")
    _validate_outputs(manifest["outputs"], where)
    try:
        input_units(manifest)
    except PipelineError as exc:
        raise PipelineError(f"{where}: invalid manifest: {exc}") from None
    return manifest


def input_units(manifest: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the model's units, the clients' units), one per input channel: input.units and input.client_units, each a
    {channel: unit} mapping. A bundle made before issue #40 names units by group ({acc, gyro, mag}), always the
    contract's defaults, and has no client_units: the model's units are then the defaults and clients send them."""
    section, channels = manifest["input"], manifest["input"]["channels"]
    declared = section.get("units") if "client_units" in section else None
    model = units_io.parse_units(declared, channels, units_io.default_units(channels), "input.units")
    return model, units_io.parse_units(section.get("client_units"), channels, model, "input.client_units")


# outputs.kind (issue #17; bundles made before it have none and are latent models) -> the keys it needs
_OUTPUT_KINDS: dict[str, dict[str, type]] = {
    "latent": {"latent_dim": int, "motif_head": dict},
    "fsq_classifier": {"fsq": dict, "classifier": dict},
}


def _validate_outputs(outputs: dict[str, Any], where: str) -> None:
    kind = outputs.get("kind", "latent")
    if kind not in _OUTPUT_KINDS:
        raise PipelineError(f"{where}: outputs.kind {kind!r} is not one this tool serves: {sorted(_OUTPUT_KINDS)}")
    missing = [f"'outputs.{key}' missing" for key, type_ in _OUTPUT_KINDS[kind].items() if not isinstance(outputs.get(key), type_)]
    if missing:
        raise PipelineError(f"{where}: invalid manifest: {'; '.join(missing)} (outputs.kind {kind})")
    if kind == "latent" and outputs["motif_head"].get("kind") not in ("prototypes", "model"):
        raise PipelineError(f"{where}: outputs.motif_head.kind must be 'prototypes' or 'model'")
    if kind == "fsq_classifier":
        levels, layers = outputs["fsq"].get("levels"), outputs["classifier"].get("layers")
        if not isinstance(levels, list) or not levels or not all(type(v) is int and v >= 2 for v in levels):
            raise PipelineError(f"{where}: outputs.fsq.levels must be a list of integers >= 2, got {levels!r}")
        if not isinstance(layers, list) or not layers or not all(isinstance(x, dict) and {"weight", "bias"} <= set(x) for x in layers):
            raise PipelineError(f"{where}: outputs.classifier.layers must be a list of {{weight, bias}}")


def read(release_dir: Path) -> dict[str, Any]:
    if not release_dir.is_dir():
        raise PipelineError(f"release dir {release_dir} does not exist")
    path = release_dir / MANIFEST
    try:
        return validate(json.loads(path.read_text(encoding="utf-8")), str(path))
    except FileNotFoundError:
        raise PipelineError(f"{release_dir} has no {MANIFEST}: not a release bundle") from None
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path}: not valid JSON: {exc}") from None


def dumps(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def one_release_per_model(releases: Iterable[tuple[str, str]]) -> dict[str, str]:
    """model -> release for the (model name, release) pairs a host is to serve: a host serves one release of each
    model (`hailo-pipeline fit` before a deploy, the sidecar at start-up)."""
    models: dict[str, str] = {}
    for model, release in releases:
        if model in models:
            raise PipelineError(f"{models[model]} and {release} are both model {model}: a host serves one release of each model")
        models[model] = release
    return models
