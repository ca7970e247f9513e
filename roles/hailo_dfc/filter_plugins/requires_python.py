"""Filter: does a Python version satisfy a wheel's Requires-Python (a PEP 440 specifier set, "" = any)?"""

from __future__ import annotations

from typing import Any

from packaging.specifiers import SpecifierSet


def python_accepted(version: str, requires_python: str) -> bool:
    """'3.11.2' | python_accepted('>=3.10,<3.13') -> True."""
    return SpecifierSet(requires_python or "").contains(version, prereleases=True)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hailo_dfc_python_accepted": python_accepted}
