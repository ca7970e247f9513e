"""Admission in front of the device: the queue bound, the deadline at each model's measured pace plus the
lateness measured on recent answers and the event loop's turns, and the rule that an idle device always takes
a window (so a slow or stalled measurement cannot lock it out)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hailo_pipeline.serve import wire
from hailo_pipeline.serve.host.device_host import DeviceHost, _Pace
from hailo_pipeline.serve.wire import Kind
from tests.conftest import SAMPLES
from tests.support.sidecar_server import post, running

KEY = 1  # the engine the windows are for


def _pace(seconds: float) -> _Pace:
    pace = _Pace()
    pace.add(seconds)
    return pace


def _host(waiting: int, pace_ms: float, queue_limit: int = 32) -> DeviceHost:
    """`waiting` windows of the one model, which takes pace_ms a window."""
    host = DeviceHost(queue_limit=queue_limit, deadline_s=0.040, timeout_s=1.0)
    host._windows, host.queued_s, host.paces[KEY] = waiting, waiting * pace_ms / 1000, _pace(pace_ms / 1000)
    return host


@pytest.mark.parametrize(
    ("waiting", "pace_ms", "admitted"),
    [
        (0, 0.0, True),  # nothing measured yet
        (0, 5000.0, True),  # an idle device takes the window, however slow it was
        (19, 2.0, True),  # 20 x 2 ms = 40 ms: just in time
        (20, 2.0, False),  # 21 x 2 ms: after the deadline
        (1, 25.0, False),  # behind one window of 25 ms
        (32, 0.1, False),  # QUEUE_LIMIT
    ],
)
def test_admission(waiting: int, pace_ms: float, admitted: bool) -> None:
    refusal = _host(waiting, pace_ms).refusal(KEY)
    assert (refusal is None) == admitted, refusal


def test_the_refusal_says_why() -> None:
    assert _host(20, 2.0).refusal(KEY) == (
        "20 requests wait with 40.0 ms of device work: one more at 2.00 ms would be answered after ANSWER_DEADLINE_MS=40"
    )
    assert _host(32, 0.1).refusal(KEY) == "32 requests already wait for the device (QUEUE_LIMIT=32)"


class _Sink:
    def write(self, data: bytes) -> None:
        """The device process's end of the channel: windows sent go nowhere."""


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def _sent(host: DeviceHost, loop: asyncio.AbstractEventLoop, key: int) -> int:
    """Submits a window for `key` (as a request does) and returns its job number."""
    loop.run_until_complete(_send(host, key))
    return host._jobs


def _answer(host: DeviceHost, job: int, key: int, seconds: float) -> None:
    host._on_frame(wire.Frame(Kind.ANSWER, job, key, np.asarray([seconds] + [0.0] * 76, np.float32).tobytes()))


def test_the_pace_is_the_median_of_recent_windows_so_one_stall_does_not_count(loop: asyncio.AbstractEventLoop) -> None:
    host = _host(0, 0.002)
    host._transport = _Sink()  # type: ignore[assignment]
    for seconds in [0.002] * 10 + [9.0] + [0.002] * 5:  # one window stalled 9 s (a paused host)
        _answer(host, _sent(host, loop, KEY), KEY, seconds)
    assert host.pace_s(KEY) == pytest.approx(0.002)
    assert (host._windows, host.queued_s) == (0, 0.0)


def test_each_window_waits_at_its_own_models_pace(loop: asyncio.AbstractEventLoop) -> None:
    """Two models share the device: the work ahead is each waiting window at its model's pace when it was sent,
    and the estimate for the next adds that window's own."""
    host = DeviceHost(queue_limit=32, deadline_s=0.040, timeout_s=1.0)
    host.paces = {1: _pace(0.010), 2: _pace(0.001)}
    host._transport = _Sink()  # type: ignore[assignment]
    jobs = [_sent(host, loop, key) for key in (1, 1, 2, 2, 2)]
    assert host.queued_s == pytest.approx(0.023)
    assert (host.estimate_s(1), host.estimate_s(2)) == (pytest.approx(0.033), pytest.approx(0.024))
    assert host.refusal(1) is None
    assert host.refusal(2) is None
    last = _sent(host, loop, 1)  # 33 ms ahead: a slow window more would end at 43 ms, a fast one at 34
    assert host.refusal(1) is not None
    assert host.refusal(2) is None
    _answer(host, jobs[0], 1, 0.030)  # the first slow window took 30 ms: it leaves with the 10 ms it was counted at
    assert host.queued_s == pytest.approx(0.023)
    assert host.pace_s(1) == pytest.approx(0.020), "the median of 10 and 30 ms: what the next window costs"
    for job, key in zip([*jobs[1:], last], (1, 2, 2, 2, 1), strict=True):
        _answer(host, job, key, 0.001)
    assert (host._windows, host.queued_s) == (0, 0.0)


async def _send(host: DeviceHost, key: int) -> None:
    host.submit(key, np.zeros((1, 2, 9), np.float32))


def test_what_answers_took_beyond_their_estimate_is_taken_out_of_the_deadline() -> None:
    host = _host(9, 2.0)  # 10 x 2 ms = 20 ms: admitted on the queue alone
    assert host.refusal(KEY) is None
    for _ in range(10):
        host.answered(estimate_s=0.010, took_s=0.032)  # 22 ms late each, as under a busy event loop
    assert host.refusal(KEY) == (
        "9 requests wait with 18.0 ms of device work: one more at 2.00 ms would be answered after ANSWER_DEADLINE_MS=40 "
        "(22.0 ms beyond the queue)"
    )
    for _ in range(100):  # answers on time again push the late ones out
        host.answered(estimate_s=0.010, took_s=0.011)
    assert host.refusal(KEY) is None


def test_a_few_late_answers_do_not_count() -> None:
    host = _host(9, 2.0)
    for took in [0.011] * 90 + [0.500] * 10:  # one in ten stalled: under the 80th percentile
        host.answered(estimate_s=0.010, took_s=took)
    assert host.refusal(KEY) is None


def test_the_event_loop_turns_before_admission_count() -> None:
    host = _host(9, 2.0)
    host.loop_turn_s = lambda: 0.011  # two turns of 11 ms on top of 20 ms
    assert host.refusal(KEY) == (
        "9 requests wait with 18.0 ms of device work: one more at 2.00 ms would be answered after ANSWER_DEADLINE_MS=40 "
        "(22.0 ms beyond the queue)"
    )
    idle = _host(0, 2.0)
    idle.loop_turn_s = host.loop_turn_s
    assert idle.refusal(KEY) is None  # an idle device still takes the window


def test_the_estimate_is_the_queue_ahead_at_the_pace() -> None:
    assert _host(9, 2.0).estimate_s(KEY) == pytest.approx(0.020)


def test_each_answer_sent_tells_the_admission_how_late_it_was(bundle: Path) -> None:
    body = (SAMPLES / "static_imu_sample.json").read_bytes()
    with running(bundle) as s:
        host = s.sidecar.host
        for _ in range(3):
            assert post(s.url, body).status_code == 200
        assert post(s.url, body, content_type="text/plain").status_code == 415  # not an answer: not counted
        assert len(host.late_s) == 3
        assert all(-0.5 < late < 0.5 for late in host.late_s)  # seconds beyond the estimate, on an idle loopback


def test_while_less_than_a_turn_of_work_waits_the_lateness_is_left_out() -> None:
    """The loop refills the queue once a turn: a shorter queue would leave the device idle till the next one.
    The queue and the turns before admission still count."""
    host = _host(2, 2.0)  # 4 ms of work waits
    for _ in range(10):
        host.answered(estimate_s=0.010, took_s=0.060)  # answers 50 ms late: past the deadline on lateness alone
    host.loop_turn_s = lambda: 0.005
    assert host.refusal(KEY) is None
    host.loop_turn_s = lambda: 0.003
    assert host.refusal(KEY) is not None
    host.loop_turn_s = lambda: 0.040  # one stalled turn: topping up, but the queue and two such turns miss the deadline
    assert host.refusal(KEY) is not None


def test_before_the_first_answer_the_pace_is_the_warm_up_s(bundle: Path) -> None:
    with running(bundle) as s:
        host, serving = s.sidecar.host, s.sidecar.edgeinfer.active
        assert list(host.paces[serving.key].recent_s) == [host.pace_s(serving.key)]
        assert 0 < host.pace_s(serving.key) < 1.0
        assert serving.info["warmup_s_per_window"] == host.pace_s(serving.key)
