"""Prints what a wheel declares (name, version, Requires-Python, Requires-Dist) as JSON: python3 wheel_metadata.py WHEEL

Standard library only: it runs on GPUSrv with the interpreter that will create the DFC venv, before anything is
installed.
"""

import email.parser
import json
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
    metadata = email.parser.Parser().parsestr(wheel.read(name).decode())
print(
    json.dumps(
        {
            "name": metadata["Name"],
            "version": metadata["Version"],
            "requires_python": metadata.get("Requires-Python", ""),
            "requires_dist": metadata.get_all("Requires-Dist") or [],
        }
    )
)
