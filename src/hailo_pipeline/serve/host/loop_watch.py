"""How long one turn of the event loop takes now: time a request waits before it can even be admitted.

A request's bytes sit in the socket until the loop polls (up to a turn), and its admission runs once that
turn's I/O is done (up to a turn). Idle, a turn is microseconds; under overload it is every ready
connection's refusal, milliseconds (2.5-4.5 ms at 64 closed-loop clients on 2 cores). The admission
(host/device_host.py) counts TURNS_BEFORE_ADMISSION of the longest recent turn; what comes after admission it
measures on the answers themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

TURNS_BEFORE_ADMISSION = 2
SAMPLE_EVERY_S = 0.005
RECENT_TURNS = 40  # the longest of the last this many samples counts (0.2 s and more)


class LoopWatch:
    def __init__(self) -> None:
        self.recent: deque[float] = deque(maxlen=RECENT_TURNS)

    def turn_s(self) -> float:
        """The longest recent turn of the loop, in seconds; 0 before the first sample."""
        return max(self.recent, default=0.0)

    async def run(self) -> None:
        """Samples one turn every SAMPLE_EVERY_S until cancelled: a task yields and times its return."""
        while True:
            started = time.perf_counter()  # not loop.time(): uvloop's clock is cached per turn, in ms
            await asyncio.sleep(0)
            self.recent.append(time.perf_counter() - started)
            await asyncio.sleep(SAMPLE_EVERY_S)
