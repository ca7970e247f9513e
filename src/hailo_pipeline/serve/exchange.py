"""What the sidecar's inference routes share: the request body within its limit, and JSON answers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from hailo_pipeline.serve.request_parser import RequestError


def json_response(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status, headers, media_type="application/json")


def is_json(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == "application/json"


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused (413) once it is larger than MAX_BODY_BYTES: by its Content-Length before reading, or
    while reading a chunked one."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        if int(declared) > max_bytes:
            raise RequestError(413, "body_too_large", f"body of {declared} bytes exceeds MAX_BODY_BYTES={max_bytes}")
        return await request.body()
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > max_bytes:
            raise RequestError(413, "body_too_large", f"body exceeds MAX_BODY_BYTES={max_bytes}")
    return bytes(chunks)
