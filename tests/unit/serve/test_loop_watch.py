"""The event loop's turn as the admission sees it (serve.loop_watch)."""

from __future__ import annotations

import asyncio
import time

import pytest

from hailo_pipeline.serve.host.loop_watch import LoopWatch


async def _busy(seconds: float, per_turn_s: float) -> None:
    """Holds the loop per_turn_s in every turn, as refusals to many ready connections do."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        time.sleep(per_turn_s)
        await asyncio.sleep(0)


def test_long_turns_are_measured_and_forgotten_once_the_loop_is_quiet() -> None:
    async def scenario() -> tuple[float, float, float]:
        watch = LoopWatch()
        task = asyncio.create_task(watch.run())
        await asyncio.sleep(0.05)
        idle = watch.turn_s()
        await _busy(0.2, 0.010)
        blocked = watch.turn_s()
        await asyncio.sleep(0.5)  # more than RECENT_TURNS samples later
        later = watch.turn_s()
        task.cancel()
        return idle, blocked, later

    idle, blocked, later = asyncio.run(scenario())
    assert idle < 0.005
    assert blocked == pytest.approx(0.010, abs=0.008)
    assert later < 0.005


def test_nothing_measured_is_no_turn() -> None:
    assert LoopWatch().turn_s() == 0.0
