#!/usr/bin/env python3
"""A read-only container registry for tests: serves the images of one `docker save` tarball.

Docker Hub is out of reach here, and so is the registry image; this is enough of the Distribution API for
`docker pull HOST:PORT/NAME:TAG` (and community.docker's pull) to fetch an image: GET /v2/, manifests by
tag or digest (Docker image manifest v2, schema 2) and blobs, streamed straight out of the tarball.
Layers are served uncompressed (Docker detects that), so a layer's digest is its diff id.

Usage: registry_standin.py TARBALL [--port 5000]   (Docker trusts plain HTTP on 127.0.0.0/8)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import tarfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    offset: int
    size: int


class Store:
    """Manifests by (name, reference) and blobs by digest, all pointing into the tarball."""

    def __init__(self, tarball: Path) -> None:
        self.tarball = tarball
        self.blobs: dict[str, Blob] = {}
        self.manifests: dict[tuple[str, str], bytes] = {}
        with tarfile.open(tarball) as tar:
            saved = json.loads(_read(tar, _resolve(tar, "manifest.json")))
            for image in saved:
                self._add_image(tar, image)

    def _add_image(self, tar: tarfile.TarFile, image: dict) -> None:
        config_member = _resolve(tar, image["Config"])
        config = _read(tar, config_member)
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self.blobs[config_digest] = Blob(config_member.offset_data, config_member.size)
        layers = []
        for path, diff_id in zip(image["Layers"], json.loads(config)["rootfs"]["diff_ids"], strict=True):
            member = _resolve(tar, path)
            self.blobs[diff_id] = Blob(member.offset_data, member.size)
            layers.append({"mediaType": LAYER_TYPE, "size": member.size, "digest": diff_id})
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": config_digest},
                "layers": layers,
            }
        ).encode()
        manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        for tag in image.get("RepoTags") or []:
            name, _, reference = tag.rpartition(":")
            self.manifests[(name, reference)] = manifest
            self.manifests[(name, manifest_digest)] = manifest


def _resolve(tar: tarfile.TarFile, path: str) -> tarfile.TarInfo:
    member = tar.getmember(path)
    while member.issym():  # docker save links a layer it already wrote
        member = tar.getmember(posixpath.normpath(posixpath.join(posixpath.dirname(member.name), member.linkname)))
    return member


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    extracted = tar.extractfile(member)
    if extracted is None:
        raise SystemExit(f"{member.name} in the tarball is not a file")
    return extracted.read()


ROUTE = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<reference>[^/]+)$")


def handler_for(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def _answer(self, send_body: bool) -> None:
            if self.path == "/v2/":
                self._send(200, "application/json", b"{}", send_body)
                return
            route = ROUTE.match(self.path)
            if route is None:
                self._send(404, "application/json", b'{"errors":[{"code":"UNSUPPORTED"}]}', send_body)
            elif route["kind"] == "manifests":
                manifest = store.manifests.get((route["name"], route["reference"]))
                if manifest is None:
                    self._send(404, "application/json", b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', send_body)
                else:
                    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
                    self._send(200, MANIFEST_TYPE, manifest, send_body, digest)
            else:
                self._send_blob(route["reference"], send_body)

        def _send(self, status: int, content_type: str, body: bytes, send_body: bool, digest: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def _send_blob(self, digest: str, send_body: bool) -> None:
            blob = store.blobs.get(digest)
            if blob is None:
                self._send(404, "application/json", b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', send_body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(blob.size))
            self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            if not send_body:
                return
            with store.tarball.open("rb") as tarball:
                tarball.seek(blob.offset)
                left = blob.size
                while left:
                    chunk = tarball.read(min(CHUNK, left))
                    self.wfile.write(chunk)
                    left -= len(chunk)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path)
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    store = Store(args.tarball)
    ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(store)).serve_forever()


if __name__ == "__main__":
    main()
