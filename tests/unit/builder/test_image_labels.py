"""Labels of the image in a `docker save` tarball, read without Docker (role hailo_sidecar's fit input)."""

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from hailo_pipeline.builder.image_labels import tarball_labels
from hailo_pipeline.errors import PipelineError

LABELS = {"org.hailo-fleet.hailort": "4.23.0", "org.hailo-fleet.platform": "linux/arm64"}


def saved_image_tarball(path: Path, members: dict[str, object]) -> Path:
    """A `docker save`-shaped tarball of JSON members (tests elsewhere use it too)."""
    with tarfile.open(path, "w") as tar:
        for name, content in members.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("config_name", ["3f2a.json", "blobs/sha256/3f2a"])  # docker's layout, and the OCI one docker 25+ saves
def test_the_one_image_labels_are_read(tmp_path: Path, config_name: str) -> None:
    members = {config_name: {"architecture": "arm64", "config": {"Labels": LABELS}}, "manifest.json": [{"Config": config_name}]}
    assert tarball_labels(saved_image_tarball(tmp_path / "image.tar", members)) == LABELS


def test_a_gzipd_tarball_is_read_as_docker_load_takes_it(tmp_path: Path) -> None:
    members = {"c.json": {"config": {"Labels": LABELS}}, "manifest.json": [{"Config": "c.json"}]}
    plain = saved_image_tarball(tmp_path / "image.tar", members)
    packed = tmp_path / "image.tar.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert tarball_labels(packed) == LABELS


def test_an_image_without_labels_has_none(tmp_path: Path) -> None:
    members = {"c.json": {"config": {"Labels": None}}, "manifest.json": [{"Config": "c.json"}]}
    assert tarball_labels(saved_image_tarball(tmp_path / "image.tar", members)) == {}


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"index.json": {}}, "is not a `docker save` tarball: it has no manifest.json"),
        ({"manifest.json": [{"Config": "a.json"}, {"Config": "b.json"}]}, "holds 2 images: save exactly one"),
        ({"manifest.json": [{"Config": "gone.json"}]}, "is not a `docker save` tarball: it has no gone.json"),
    ],
)
def test_what_is_not_one_saved_image_is_refused(tmp_path: Path, members: dict[str, object], reason: str) -> None:
    with pytest.raises(PipelineError, match=reason):
        tarball_labels(saved_image_tarball(tmp_path / "image.tar", members))


def test_a_file_that_is_no_tarball_is_refused(tmp_path: Path) -> None:
    (tmp_path / "image.tar").write_text("not a tar")
    with pytest.raises(PipelineError, match="is not a `docker save` tarball"):
        tarball_labels(tmp_path / "image.tar")
    with pytest.raises(PipelineError, match="not found"):
        tarball_labels(tmp_path / "absent.tar")
