"""Exit 0 when every collection pinned in requirements.yml is installed at exactly that version.

The `ansible` PyPI package bundles the collections we use, so an offline machine has them without
Galaxy. This check keeps requirements.yml honest: a pin that differs from what is installed fails.
"""

import json
import subprocess
import sys

import yaml


def main(requirements_path: str) -> int:
    with open(requirements_path, encoding="utf-8") as fh:
        wanted = {c["name"]: str(c["version"]) for c in yaml.safe_load(fh)["collections"]}
    listing = subprocess.run(
        ["ansible-galaxy", "collection", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    installed: dict[str, str] = {}
    for collections in json.loads(listing).values():
        for name, info in collections.items():
            installed.setdefault(name, info["version"])
    wrong = [f"{n} wants {v}, found {installed.get(n, 'none')}" for n, v in wanted.items() if installed.get(n) != v]
    for line in wrong:
        print(f"collections: {line}", file=sys.stderr)
    if not wrong:
        print(f"==> collections: {', '.join(f'{n}=={v}' for n, v in wanted.items())} present")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
