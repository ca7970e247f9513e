#!/usr/bin/env python3
"""Where hailort.service would be, for tests: a listening Unix socket at HailoRT's service address.

A Molecule host has no Hailo device for HailoRT's multi-process service to own, so this is only the socket the
sidecar container is given and checks for: made at start-up as hailort_service makes it (an old one removed, then
bound, then chmod 0606), and accepting connections that it closes at once. No gRPC; no HailoRT client can use it.
A restart makes a new socket (a new inode), as a restart of hailort.service does. The hailort package double
(tests/support/doubles/build_hailort_debs.py) ships it as what its hailort_service starts.

Usage: hailort_service_standin.py [PATH]   (default /tmp/hailort_uds.sock)
"""

from __future__ import annotations

import os
import socket
import stat
import sys

DEFAULT_PATH = "/tmp/hailort_uds.sock"


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IROTH | stat.S_IWOTH)
    server.listen()
    while True:
        connection, _ = server.accept()
        connection.close()


if __name__ == "__main__":
    main()
