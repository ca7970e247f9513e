"""Signed releases: SHA256SUMS signed by ssh-keygen -Y sign, and refused when unsigned, changed after signing,
signed by a key the allowed-signers file does not list, or signed for another purpose."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hailo_pipeline.bundle.release import check_sums
from hailo_pipeline.bundle.signature import SigningKey, signed_by
from hailo_pipeline.bundle.trust import SIGNATURE, SUMS
from hailo_pipeline.bundle.verify import verify
from hailo_pipeline.cli import main
from hailo_pipeline.errors import PipelineError
from tests.conftest import ExampleBuilds
from tests.support.signers import Signer, allowed_signers, fingerprint, make_signer
from tests.support.tamper import edit_report


@pytest.fixture(scope="module")
def built(example_builds: ExampleBuilds) -> Path:
    return example_builds.tcn()


@pytest.fixture(scope="module")
def gpusrv(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return make_signer(tmp_path_factory.mktemp("keys"), "gpusrv")


@pytest.fixture
def bundle(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / built.name
    shutil.copytree(built, copy)
    return copy


@pytest.fixture
def allowed(tmp_path: Path, gpusrv: Signer) -> Path:
    return allowed_signers(tmp_path / "allowed_signers", gpusrv)


def sign(bundle: Path, signer: Signer) -> None:
    SigningKey.read(str(signer.key)).sign(bundle)


def test_a_signed_bundle_verifies_and_names_its_signer(bundle: Path, gpusrv: Signer, allowed: Path) -> None:
    signed = SigningKey.read(str(gpusrv.key)).sign(bundle)
    assert signed.written
    assert signed.key == fingerprint(gpusrv)
    assert set(check_sums(bundle, allowed)) == {p.name for p in bundle.iterdir()} - {SUMS, SIGNATURE}  # the signature is no stray file
    assert signed_by(bundle, allowed).as_dict() == {"key": signed.key, "principal": "gpusrv", "written": False}
    assert verify(bundle, allowed)["signature"]["principal"] == "gpusrv"


def test_signing_again_writes_nothing_new(bundle: Path, gpusrv: Signer) -> None:
    sign(bundle, gpusrv)
    first = (bundle / SIGNATURE).read_bytes()
    again = SigningKey.read(str(gpusrv.key)).sign(bundle)
    assert not again.written
    assert (bundle / SIGNATURE).read_bytes() == first
    assert not [p.name for p in bundle.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_an_unsigned_bundle_is_refused_when_signatures_are_required(bundle: Path, allowed: Path) -> None:
    with pytest.raises(PipelineError, match=re.escape(f"{bundle}: not signed (no {SIGNATURE}) and signatures are required")):
        check_sums(bundle, allowed)
    check_sums(bundle)  # and accepted when they are not


def test_a_bundle_changed_after_signing_is_refused_even_with_its_sums_recomputed(bundle: Path, gpusrv: Signer, allowed: Path) -> None:
    sign(bundle, gpusrv)
    edit_report(bundle)
    check_sums(bundle)  # the checksums alone no longer see it
    with pytest.raises(PipelineError, match="the signature by gpusrv does not verify: SHA256SUMS changed after signing"):
        check_sums(bundle, allowed)
    with pytest.raises(PipelineError, match="changed after signing"):
        verify(bundle, allowed)


def test_an_unknown_signer_is_refused_with_its_key(bundle: Path, allowed: Path, tmp_path: Path) -> None:
    stranger = make_signer(tmp_path, "stranger")
    sign(bundle, stranger)
    unknown = f"signed by {fingerprint(stranger)}, which {allowed} does not list: an unknown signer"
    with pytest.raises(PipelineError, match=re.escape(unknown)):
        check_sums(bundle, allowed)


def test_a_signature_made_for_another_namespace_is_refused(bundle: Path, gpusrv: Signer, allowed: Path) -> None:
    other = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", str(gpusrv.key), "-n", "git"],
        input=(bundle / SUMS).read_bytes(),
        capture_output=True,
        check=True,
    )
    (bundle / SIGNATURE).write_bytes(other.stdout)
    made_for_git = "the signature by gpusrv was made for namespace 'git', not hailo-fleet-release: not a release signature"
    with pytest.raises(PipelineError, match=re.escape(made_for_git)):
        check_sums(bundle, allowed)


def test_only_ed25519_keys_sign(tmp_path: Path) -> None:
    ecdsa = make_signer(tmp_path, "ecdsa", kind="ecdsa")
    with pytest.raises(PipelineError, match="is not ed25519 but \\(ECDSA\\): make one with ssh-keygen -t ed25519"):
        SigningKey.read(str(ecdsa.key))
    with pytest.raises(PipelineError, match="is not an OpenSSH private key"):
        SigningKey("not a key", "on stdin")
    with pytest.raises(PipelineError, match="does not exist"):
        SigningKey.read(str(tmp_path / "missing"))


def test_a_key_with_a_passphrase_cannot_sign_unattended(bundle: Path, tmp_path: Path) -> None:
    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(key)], check=True)
    expected = (
        r"could not sign with the key .*locked: Load key .*locked: incorrect passphrase .*\(a key with a passphrase cannot sign here\)"
    )
    with pytest.raises(PipelineError, match=expected):
        SigningKey.read(str(key)).sign(bundle)
    assert not (bundle / SIGNATURE).exists()


def test_cli_verify_requires_the_signature_it_is_given_signers_for(
    bundle: Path, gpusrv: Signer, allowed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(bundle), "--allowed-signers", str(allowed)]) == 1
    assert "not signed (no SHA256SUMS.sig)" in capsys.readouterr().err
    sign(bundle, gpusrv)
    assert main(["verify", str(bundle), "--allowed-signers", str(allowed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["signature"]["principal"] == "gpusrv"


def test_cli_sign_signs_a_bundle_built_before_and_refuses_one_that_fails_its_sums(
    bundle: Path, gpusrv: Signer, allowed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", str(bundle), "--key", str(gpusrv.key), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["signature"] == {"key": fingerprint(gpusrv), "principal": "", "written": True}
    check_sums(bundle, allowed)
    (bundle / "model.onnx").write_bytes(b"damaged")
    assert main(["sign", str(bundle), "--key", str(gpusrv.key)]) == 1
    assert "model.onnx does not match its sha256" in capsys.readouterr().err


def test_cli_build_signs_with_a_key_on_stdin_and_again_writes_nothing(
    write_spec: Callable[..., Path],
    tmp_path: Path,
    gpusrv: Signer,
    allowed: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec, out = write_spec(), tmp_path / "releases"
    runs = []
    for _ in range(2):
        monkeypatch.setattr("sys.stdin", io.StringIO(gpusrv.key.read_text()))
        assert main(["build", str(spec), "--out", str(out), "--sign-key", "-", "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert [(r["cached"], r["signature"]["written"]) for r in runs] == [(False, True), (True, False)]
    check_sums(Path(runs[0]["release_dir"]), allowed)
    assert signed_by(Path(runs[0]["release_dir"]), allowed).principal == "gpusrv"


def test_cli_build_refuses_a_bad_key_before_building(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "key").write_text("not a key")
    assert main(["build", str(write_spec()), "--out", str(tmp_path / "releases"), "--sign-key", str(tmp_path / "key")]) == 1
    assert "is not an OpenSSH private key" in capsys.readouterr().err
    assert not (tmp_path / "releases").exists()
