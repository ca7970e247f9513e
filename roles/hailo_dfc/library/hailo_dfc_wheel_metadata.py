#!/usr/bin/python
"""What a wheel declares, for role hailo_dfc's checks before anything is installed. Read-only."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hailo_dfc_wheel_metadata
short_description: Read what a wheel declares (name, version, Requires-Python, Requires-Dist)
description:
  - Reads the METADATA of a wheel on the host, before anything is installed. Standard library only. Changes nothing.
options:
  path:
    description: The wheel.
    type: path
    required: true
notes:
  - Supports check mode; it only reads.
"""

EXAMPLES = r"""
- name: What the DFC wheel declares
  hailo_dfc_wheel_metadata:
    path: /opt/hailo-pipeline/stage/hailo_dataflow_compiler-3.33.0-py3-none-linux_x86_64.whl
  register: wheel
"""

RETURN = r"""
name:
  description: The distribution's name.
  returned: success
  type: str
version:
  description: Its version.
  returned: success
  type: str
requires_python:
  description: Its Requires-Python, "" without one.
  returned: success
  type: str
requires_dist:
  description: Its Requires-Dist lines.
  returned: success
  type: list
  elements: str
"""

import email.parser
import zipfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule


def wheel_metadata(path: str) -> dict[str, Any]:
    with zipfile.ZipFile(path) as wheel:
        name = next(n for n in wheel.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(wheel.read(name).decode())
    return {
        "name": metadata["Name"],
        "version": metadata["Version"],
        "requires_python": metadata.get("Requires-Python", ""),
        "requires_dist": metadata.get_all("Requires-Dist") or [],
    }


def main() -> None:
    module = AnsibleModule(argument_spec={"path": {"type": "path", "required": True}}, supports_check_mode=True)
    path = module.params["path"]
    try:
        declared = wheel_metadata(path)
    except (OSError, zipfile.BadZipFile, StopIteration) as error:
        module.fail_json(msg=f"{path} is not a wheel with a METADATA: {error!r}")
    module.exit_json(changed=False, **declared)


if __name__ == "__main__":
    main()
