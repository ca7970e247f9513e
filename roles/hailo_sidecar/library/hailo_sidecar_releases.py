#!/usr/bin/python
"""Release bundles on a Pi, checked by the same code as `hailo-pipeline verify` (module_utils/hailo_bundle_trust)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hailo_sidecar_releases
short_description: Install or check release bundles on a Pi, trusting only whole, signed bundles
description:
  - Every bundle is checked the same way, wherever it comes from, by the very code of C(hailo-pipeline verify)
    (src/hailo_pipeline/bundle/trust.py, here as module_utils/hailo_bundle_trust.py); when I(allowed_signers) is
    given, SHA256SUMS.sig must be a good signature over SHA256SUMS by a key it lists (namespace
    hailo-fleet-release); then every file must match SHA256SUMS.
  - C(state=installed) unpacks I(folder)/RELEASE.tar.gz into RELEASE.part, checks it and renames it to RELEASE, so a
    release name on the host always holds a whole, verified bundle. The archive goes either way, and so does a copy
    that fails its check. A RELEASE already there is a copy from before signatures were required (the same bundle,
    equal SHA256SUMS), so only the signature joins it; another bundle under the same name is refused.
  - C(state=checked) checks releases already on the host, before they are served; it changes nothing.
options:
  state:
    description: C(installed) to install the one release from its archive, C(checked) to check releases on the host.
    type: str
    choices: [installed, checked]
    default: checked
  folder:
    description: The releases folder on the host.
    type: path
    required: true
  allowed_signers:
    description: The allowed-signers file; omitted or empty, signatures are not required.
    type: path
  releases:
    description: The release names (C(state=installed) takes exactly one).
    type: list
    elements: str
    required: true
notes:
  - Supports check mode; C(state=installed) then only says it would install.
"""

EXAMPLES = r"""
- name: Unpack a copied archive, check it, rename it into place
  hailo_sidecar_releases:
    state: installed
    folder: /opt/hailo-models/releases
    allowed_signers: /opt/hailo-models/allowed_signers
    releases: [tcn-encoder-1.0.1-da8b00e926a3]

- name: The releases to serve are on the host, intact
  hailo_sidecar_releases:
    folder: /opt/hailo-models/releases
    releases: [tcn-encoder-1.0.1-da8b00e926a3, fsq-0.2.0-0123456789ab]
"""

RETURN = r"""
releases:
  description: The releases installed or checked.
  returned: success
  type: list
  elements: str
"""

import filecmp
import os
import shutil
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.hailo_bundle_trust import SIGNATURE, SUMS, UntrustedBundle, check_bundle


class RefusedError(Exception):
    pass


def _place(folder: Path, release: str) -> None:
    """RELEASE.part becomes RELEASE; onto a RELEASE already here, only its signature (the same bundle)."""
    part, final = folder / f"{release}.part", folder / release
    if not final.is_dir():
        part.rename(final)
    elif filecmp.cmp(part / SUMS, final / SUMS, shallow=False):
        os.replace(part / SIGNATURE, final / SIGNATURE)
    else:
        raise RefusedError(
            f"{release} on this host is another bundle under the same name (its {SUMS} differs): remove {final} there and deploy again"
        )


def install(module: AnsibleModule, folder: Path, signers: Path | None, release: str) -> None:
    part, archive = folder / f"{release}.part", folder / f"{release}.tar.gz"
    shutil.rmtree(part, ignore_errors=True)
    try:
        part.mkdir()
        untar = ["tar", "--extract", "--gzip", "--file", str(archive), "--directory", str(part)]
        rc, out, err = module.run_command(untar, expand_user_and_vars=False)
        if rc != 0:
            raise RefusedError((err or out).strip() or f"tar exit {rc}")
        check_bundle(part, signers)
        _place(folder, release)
    except (UntrustedBundle, OSError) as exc:
        raise RefusedError(str(exc)) from exc
    finally:
        shutil.rmtree(part, ignore_errors=True)
        archive.unlink(missing_ok=True)


def check(folder: Path, signers: Path | None, releases: list[str]) -> None:
    problems = []
    for release in releases:
        if not (folder / release).is_dir():
            problems.append(f"{release}: not on this host (in {folder})")
            continue
        try:
            check_bundle(folder / release, signers)
        except UntrustedBundle as exc:
            problems.append(f"{release}: {exc}")
    if problems:
        raise RefusedError("\n".join(problems))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["installed", "checked"], "default": "checked"},
            "folder": {"type": "path", "required": True},
            "allowed_signers": {"type": "path"},
            "releases": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    folder, releases = Path(p["folder"]), p["releases"]
    signers = Path(p["allowed_signers"]) if p["allowed_signers"] else None
    try:
        if p["state"] == "checked":
            check(folder, signers, releases)
            module.exit_json(changed=False, releases=releases)
        if len(releases) != 1:
            module.fail_json(msg=f"state=installed takes one release, not {len(releases)}")
        if not module.check_mode:
            install(module, folder, signers, releases[0])
    except RefusedError as exc:
        module.fail_json(msg=str(exc), releases=releases)
    module.exit_json(changed=True, releases=releases)


if __name__ == "__main__":
    main()
