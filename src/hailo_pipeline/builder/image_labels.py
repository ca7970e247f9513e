"""The labels of the image in a `docker save` tarball, read where the tarball is (the controller) before it is
copied anywhere: role hailo_sidecar decides with them whether an image fits a host."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from hailo_pipeline.errors import PipelineError

HAILORT_LABEL = "org.hailo-fleet.hailort"


def _member_json(tar: tarfile.TarFile, name: str, path: Path) -> Any:
    try:
        member = tar.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise PipelineError(f"{path} is not a `docker save` tarball: it has no {name}")
    return json.load(member)


def tarball_labels(path: Path) -> dict[str, str]:
    """Labels of the one image a `docker save IMAGE` tarball holds (docker and OCI layouts both carry manifest.json)."""
    try:
        with tarfile.open(path) as tar:
            manifest = _member_json(tar, "manifest.json", path)
            if not isinstance(manifest, list) or len(manifest) != 1:
                raise PipelineError(f"{path} holds {len(manifest) if isinstance(manifest, list) else 'no'} images: save exactly one")
            config = _member_json(tar, manifest[0]["Config"], path)
    except FileNotFoundError:
        raise PipelineError(f"{path} not found") from None
    except (tarfile.TarError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PipelineError(f"{path} is not a `docker save` tarball: {exc}") from None
    return dict((config.get("config") or {}).get("Labels") or {})
