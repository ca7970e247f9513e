"""The sidecar's one refusal: every way a route says no is a `Refused`, and `response` is the one place it
becomes an HTTP answer, in the dialect of the route that refuses.

EdgeInfer's routes and the control routes answer {"error": kind, "detail": message}; the Open Inference
Protocol answers its error object {"error": message}. A refusal that trying again later can cure (not ready,
overloaded) carries Retry-After.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

EDGEINFER_ROUTE = "edgeinfer"
OIP_ROUTE = "oip"
CONTROL_ROUTE = "control"


class Refused(Exception):  # noqa: N818 (a refusal, not an error of the sidecar's)
    """A refused request: HTTP status, a short kind for the metrics label, the message for the client, and the
    seconds after which to try again (None: no Retry-After); `extra` adds fields to the answer."""

    def __init__(self, status: int, kind: str, message: str, retry_after: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.retry_after, self.extra = status, kind, message, retry_after, extra or {}


def response(route: str, refused: Refused) -> Response:
    doc = {"error": refused.message} if route == OIP_ROUTE else {"error": refused.kind, "detail": refused.message}
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after is not None else None
    return Response(
        orjson.dumps(doc | refused.extra, option=orjson.OPT_SERIALIZE_NUMPY), refused.status, headers, media_type="application/json"
    )
