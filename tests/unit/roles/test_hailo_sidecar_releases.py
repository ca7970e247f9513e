"""Role hailo_sidecar's module hailo_sidecar_releases: release bundles installed from their archive and checked on
a Pi by the trust check of `hailo-pipeline verify` (the role's module_utils/hailo_bundle_trust.py is
src/hailo_pipeline/bundle/trust.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hailo_pipeline.bundle.signature import SigningKey
from tests.conftest import REPO_ROOT
from tests.support.ansible_module import role_module, run
from tests.support.signers import Signer, allowed_signers, fingerprint, make_signer

UNSIGNED = (
    "not signed (no SHA256SUMS.sig) and signatures are required on this host: build it with "
    "`hailo-pipeline build --sign-key KEY` (build.yml: model_build_sign_key) or sign it with `hailo-pipeline sign`"
)
RELEASE = "tcn-encoder-1.0.1-da8b00e926a3"


@pytest.fixture(scope="module")
def module() -> ModuleType:
    return role_module("hailo_sidecar", "hailo_sidecar_releases")


def test_the_role_checks_with_the_very_code_of_hailo_pipeline_verify() -> None:
    used = REPO_ROOT / "roles/hailo_sidecar/module_utils/hailo_bundle_trust.py"
    assert used.is_symlink()
    assert used.resolve() == REPO_ROOT / "src/hailo_pipeline/bundle/trust.py"
    assert os.readlink(used) == "../../../src/hailo_pipeline/bundle/trust.py"  # relative: holds in any checkout


def archive(tmp_path: Path, tamper: bool = False, signer: Signer | None = None, after_signing: bool = False) -> Path:
    """A bundle packed as upload.yml packs it, beside its place in releases/. tamper changes a file after SHA256SUMS;
    signer signs SHA256SUMS (ssh-keygen -Y sign, as hailo-pipeline build --sign-key does); after_signing then
    changes a file and writes SHA256SUMS again."""
    source = tmp_path / "source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    (source / "model.onnx").write_bytes(b"weights" * 100)
    (source / "release.json").write_text('{"name": "tcn-encoder"}')
    write_sums(source)
    if signer is not None:
        SigningKey.read(str(signer.key)).sign(source)
    if tamper:
        (source / "model.onnx").write_bytes(b"other weights")
    if after_signing:
        (source / "model.onnx").write_bytes(b"other weights")
        write_sums(source)
    releases = tmp_path / "releases"
    releases.mkdir(exist_ok=True)
    with tarfile.open(releases / f"{RELEASE}.tar.gz", "w:gz") as tar:
        tar.add(source, arcname=".")
    return releases


def write_sums(folder: Path) -> None:
    sums = "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in ("model.onnx", "release.json"))
    (folder / "SHA256SUMS").write_text(sums)


def releases(module: ModuleType, state: str, folder: Path, signers: Path | str, *names: str, check_mode: bool = False) -> dict[str, Any]:
    return run(module, check_mode=check_mode, state=state, folder=str(folder), allowed_signers=str(signers), releases=list(names))


def test_install_puts_a_verified_bundle_in_its_place(tmp_path: Path, module: ModuleType) -> None:
    folder = archive(tmp_path)
    (folder / f"{RELEASE}.part").mkdir()  # left by a run that was cut off
    done = releases(module, "installed", folder, "", RELEASE)
    assert (done.get("failed"), done["changed"]) == (None, True), done
    assert sorted(p.name for p in folder.iterdir()) == [RELEASE]
    assert (folder / RELEASE / "model.onnx").read_bytes() == b"weights" * 100
    assert releases(module, "checked", folder, "", RELEASE)["changed"] is False


def test_install_in_check_mode_changes_nothing(tmp_path: Path, module: ModuleType) -> None:
    folder = archive(tmp_path)
    assert releases(module, "installed", folder, "", RELEASE, check_mode=True)["changed"] is True
    assert sorted(p.name for p in folder.iterdir()) == [f"{RELEASE}.tar.gz"]


def test_install_refuses_a_bundle_changed_after_its_sums_and_leaves_nothing(tmp_path: Path, module: ModuleType) -> None:
    folder = archive(tmp_path, tamper=True)
    done = releases(module, "installed", folder, "", RELEASE)
    assert done["failed"] is True
    assert done["msg"] == "model.onnx does not match its sha256 in SHA256SUMS: the bundle is corrupted"
    assert list(folder.iterdir()) == [], "neither the archive nor the .part folder is left"


def test_install_takes_one_release(tmp_path: Path, module: ModuleType) -> None:
    done = releases(module, "installed", archive(tmp_path), "", RELEASE, "other")
    assert (done["failed"], done["msg"]) == (True, "state=installed takes one release, not 2")


@pytest.mark.parametrize("damage", ["changed", "missing"])
def test_check_names_each_release_that_differs_from_its_sums(tmp_path: Path, module: ModuleType, damage: str) -> None:
    folder = archive(tmp_path)
    assert releases(module, "installed", folder, "", RELEASE)["changed"] is True
    shutil.copytree(folder / RELEASE, folder / "other")  # a good one beside it
    if damage == "changed":
        (folder / RELEASE / "model.onnx").write_bytes(b"swapped")
    else:
        (folder / RELEASE / "model.onnx").unlink()
    done = releases(module, "checked", folder, "", "other", RELEASE)
    assert done["failed"] is True
    reason = "does not match its sha256 in SHA256SUMS" if damage == "changed" else "is listed in SHA256SUMS but missing"
    assert done["msg"] == f"{RELEASE}: model.onnx {reason}" + (": the bundle is corrupted" if damage == "changed" else "")
    assert releases(module, "checked", folder, "", "absent", "other")["msg"] == f"absent: not on this host (in {folder})"


@pytest.fixture
def gpusrv(tmp_path: Path) -> Signer:
    return make_signer(tmp_path, "gpusrv")


@pytest.fixture
def signers(tmp_path: Path, gpusrv: Signer) -> Path:
    return allowed_signers(tmp_path / "allowed_signers", gpusrv)


def test_with_signers_a_bundle_signed_by_an_allowed_key_is_installed_and_checked(
    tmp_path: Path, module: ModuleType, gpusrv: Signer, signers: Path
) -> None:
    folder = archive(tmp_path, signer=gpusrv)
    done = releases(module, "installed", folder, signers, RELEASE)
    assert done["changed"] is True, done
    assert (folder / RELEASE / "SHA256SUMS.sig").is_file()
    assert "failed" not in releases(module, "checked", folder, signers, RELEASE)


@pytest.mark.parametrize("case", ["unsigned", "stranger", "after_signing"])
def test_with_signers_install_refuses_and_leaves_nothing(
    tmp_path: Path, module: ModuleType, gpusrv: Signer, signers: Path, case: str
) -> None:
    stranger = make_signer(tmp_path, "stranger")
    reasons = {
        "unsigned": (None, UNSIGNED),
        "stranger": (stranger, f"signed by {fingerprint(stranger)}, which {signers} does not list: an unknown signer"),
        "after_signing": (gpusrv, "the signature by gpusrv does not verify: SHA256SUMS changed after signing"),
    }
    signer, reason = reasons[case]
    folder = archive(tmp_path, signer=signer, after_signing=case == "after_signing")
    done = releases(module, "installed", folder, signers, RELEASE)
    assert (done["failed"], done["msg"]) == (True, reason)
    assert list(folder.iterdir()) == []


def test_a_copy_from_before_signatures_gets_its_signature_and_another_bundle_under_its_name_is_refused(
    tmp_path: Path, module: ModuleType, gpusrv: Signer, signers: Path
) -> None:
    folder = archive(tmp_path)
    assert releases(module, "installed", folder, "", RELEASE)["changed"] is True
    done = releases(module, "checked", folder, signers, RELEASE)
    assert (done["failed"], done["msg"]) == (True, f"{RELEASE}: {UNSIGNED}")
    archive(tmp_path, signer=gpusrv)  # the same bundle, signed: upload.yml sends it again
    assert releases(module, "installed", folder, signers, RELEASE)["changed"] is True
    assert sorted(p.name for p in (folder / RELEASE).iterdir()) == ["SHA256SUMS", "SHA256SUMS.sig", "model.onnx", "release.json"]
    assert "failed" not in releases(module, "checked", folder, signers, RELEASE)
    (folder / RELEASE / "SHA256SUMS.sig").unlink()
    archive(tmp_path, signer=gpusrv, after_signing=True)
    (tmp_path / "source" / "SHA256SUMS.sig").unlink()
    SigningKey.read(str(gpusrv.key)).sign(tmp_path / "source")  # a different bundle, well signed, under the same name
    with tarfile.open(folder / f"{RELEASE}.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "source", arcname=".")
    done = releases(module, "installed", folder, signers, RELEASE)
    assert done["failed"] is True
    assert "is another bundle under the same name (its SHA256SUMS differs)" in done["msg"]
    assert (folder / RELEASE / "model.onnx").read_bytes() == b"weights" * 100
    assert sorted(p.name for p in folder.iterdir()) == [RELEASE]
