"""EdgeInfer's request body -> one model window, fast on good input and precise on bad input.

Body: {"x": [[ax, ay, az, gx, gy, gz, mx, my, mz], ...]} in raw units. EdgeInfer sends exactly the
model window for motifs but 1..100 rows for synchrony: shorter windows are padded by repeating the
first (oldest) sample, or refused under the `reject` policy; longer ones keep the newest samples.
Every refusal is a 4xx whose message says what is wrong; nothing here raises anything else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from hailo_pipeline.serve.http.refusal import Refused

CHANNELS = 9
MAX_ROWS = 2000
ROW_HINT = "each row is [ax, ay, az, gx, gy, gz, mx, my, mz]"


def _first_bad_row(rows: list[Any]) -> Refused:
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            return Refused(422, "bad_row", f"x[{r}] is {type(row).__name__}, not a list; {ROW_HINT}")
        if len(row) != CHANNELS:
            return Refused(422, "bad_width", f"x[{r}] has {len(row)} values, needs {CHANNELS}; {ROW_HINT}")
        for c, value in enumerate(row):
            if type(value) not in (int, float):
                return Refused(422, "not_a_number", f"x[{r}][{c}] is {orjson.dumps(value).decode()[:40]}, not a number")
    return Refused(422, "bad_row", "x could not be read as rows of numbers")


def parse_rows(body: bytes) -> NDArray[np.float32]:
    """The rows of the body as a (T, 9) float32 array."""
    if not body:
        raise Refused(400, "empty_body", 'empty body; send {"x": [[ax, ay, az, gx, gy, gz, mx, my, mz], ...]}')
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "bad_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "x" not in doc:
        raise Refused(422, "missing_x", 'body must be a JSON object with key "x" holding the rows')
    rows = doc["x"]
    if not isinstance(rows, list) or not rows:
        raise Refused(422, "empty_x", f'"x" must be a non-empty list of rows; {ROW_HINT}')
    if len(rows) > MAX_ROWS:
        raise Refused(413, "too_many_rows", f'"x" has {len(rows)} rows; at most {MAX_ROWS} are accepted')
    if not all(type(row) is list and len(row) == CHANNELS and all(type(v) in (int, float) for v in row) for row in rows):
        raise _first_bad_row(rows)
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are refused just below
        window = np.asarray(rows, dtype=np.float32)
    if not np.isfinite(window).all():
        r, c = (int(i) for i in np.argwhere(~np.isfinite(window))[0])
        raise Refused(422, "not_finite", f"x[{r}][{c}] is not a finite float32 number")
    return window


def fit_window(rows: NDArray[np.float32], window: int, policy: str) -> tuple[NDArray[np.float32], int]:
    """Exactly `window` rows: the newest ones, or the oldest sample repeated in front. Returns (rows, padded)."""
    if len(rows) >= window:
        return rows[-window:], 0
    missing = window - len(rows)
    if policy == "reject":
        raise Refused(422, "short_window", f'"x" has {len(rows)} rows; this model needs {window} (SHORT_WINDOW_POLICY=reject)')
    return np.concatenate([np.repeat(rows[:1], missing, axis=0), rows]), missing
