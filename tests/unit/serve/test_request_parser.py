"""The request parser never fails except by Refused, accepts exactly the contract, and says why."""

import math

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hailo_pipeline.serve.http.refusal import Refused
from hailo_pipeline.serve.http.request_parser import MAX_ROWS, fit_window, parse_rows
from tests.conftest import SAMPLES

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
row = st.lists(finite, min_size=9, max_size=9)


@given(st.lists(row, min_size=1, max_size=150))
def test_any_list_of_nine_finite_numbers_parses_exactly(rows: list[list[float]]) -> None:
    parsed = parse_rows(orjson.dumps({"x": rows}))
    assert parsed.shape == (len(rows), 9)
    np.testing.assert_array_equal(parsed, np.asarray(rows, np.float32))


json_value = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**60), 2**60) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=12) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=40,
)


def _outcome(body: bytes) -> np.ndarray | Refused:
    """The parsed window or the refusal; any other exception escapes and fails the test."""
    try:
        return parse_rows(body)
    except Refused as err:
        return err


@settings(max_examples=300)
@given(st.one_of(json_value, st.fixed_dictionaries({"x": json_value})))
def test_arbitrary_json_is_either_a_window_or_a_4xx(doc: object) -> None:
    outcome = _outcome(orjson.dumps(doc))
    if isinstance(outcome, Refused):
        assert 400 <= outcome.status < 500
        assert outcome.message
    else:
        assert outcome.ndim == 2
        assert outcome.shape[1] == 9
        assert np.isfinite(outcome).all()


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_another_error(body: bytes) -> None:
    outcome = _outcome(body)
    assert not isinstance(outcome, Refused) or 400 <= outcome.status < 500


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "empty body"),
        (b"{not json", 400, "not valid JSON"),
        (b'{"x": [[1,2,3,4,5,6,7,8,NaN]]}', 400, "not valid JSON"),
        (b"[1, 2]", 422, 'key "x"'),
        (b'{"y": []}', 422, 'key "x"'),
        (b'{"x": []}', 422, "non-empty list"),
        (b'{"x": [[1,2,3,4,5,6,7,8]]}', 422, "x[0] has 8 values, needs 9"),
        (b'{"x": [[1,2,3,4,5,6,7,8,9], [1,2,3,4,5,6,7,8,9,10]]}', 422, "x[1] has 10 values"),
        (b'{"x": [[1,2,3,4,5,6,7,8,"9"]]}', 422, 'x[0][8] is "9", not a number'),
        (b'{"x": [[1,2,3,4,5,6,7,8,true]]}', 422, "x[0][8] is true, not a number"),
        (b'{"x": [[1,2,3,4,5,6,7,8,null]]}', 422, "x[0][8] is null, not a number"),
        (b'{"x": [5]}', 422, "x[0] is int, not a list"),
        (b'{"x": [[1,2,3,4,5,6,7,8,1e39]]}', 422, "x[0][8] is not a finite float32 number"),
    ],
)
def test_bad_bodies_are_named(body: bytes, status: int, message: str) -> None:
    with pytest.raises(Refused) as err:
        parse_rows(body)
    assert err.value.status == status
    assert message in err.value.message


def test_too_many_rows_is_413() -> None:
    with pytest.raises(Refused) as err:
        parse_rows(orjson.dumps({"x": [[0.0] * 9] * (MAX_ROWS + 1)}))
    assert err.value.status == 413


def test_edgeinfer_samples_parse_as_sent() -> None:
    for name, rows in [
        ("realistic_imu_sample", 100),
        ("static_imu_sample", 100),
        ("random_imu_sample", 100),
        ("static_imu_sample_105rows", 105),
    ]:
        assert parse_rows((SAMPLES / f"{name}.json").read_bytes()).shape == (rows, 9)


@given(st.integers(1, 250))
def test_window_fitting_keeps_newest_or_repeats_oldest(length: int) -> None:
    rows = np.arange(length * 9, dtype=np.float32).reshape(length, 9)
    window, padded = fit_window(rows, 100, "repeat_first")
    assert window.shape == (100, 9)
    assert padded == max(0, 100 - length)
    np.testing.assert_array_equal(window[-min(length, 100) :], rows[-100:])
    if padded:
        assert (window[:padded] == rows[0]).all()
        with pytest.raises(Refused, match=f"has {length} rows; this model needs 100"):
            fit_window(rows, 100, "reject")


def test_float32_range_edges() -> None:
    biggest = float(np.finfo(np.float32).max)
    assert math.isfinite(parse_rows(orjson.dumps({"x": [[biggest] * 9]}))[0, 0])
