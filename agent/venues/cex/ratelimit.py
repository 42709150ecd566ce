"""A client-side rate limiter that stays under the venue's limit, cancels first.

Token bucket (``rate_per_s``, ``burst``) plus a priority queue: a waiting cancel always goes
before a waiting new order, so risk-reducing requests are never starved by a burst of new
ones. When the venue still answers 429, :meth:`penalize` stops *every* request until its
``Retry-After`` has passed: continuing to send during a 429 is what earns a 418 ban.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from enum import IntEnum


class Priority(IntEnum):
    CANCEL = 0
    NORMAL = 1
    BACKGROUND = 2  # reconciliation polling


class RateLimiter:
    def __init__(
        self, rate_per_s: float, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate = rate_per_s
        self.burst = max(1, burst)
        self.clock = clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._blocked_until = 0.0
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        # order of the last grants, for tests and metrics
        self.granted: deque[Priority] = deque(maxlen=1000)

    def penalize(self, retry_after_s: float) -> None:
        """The venue said 429: nobody sends anything until ``retry_after_s`` has passed."""
        self._blocked_until = max(self._blocked_until, self.clock() + retry_after_s)
        self._tokens = 0.0

    @property
    def blocked_for(self) -> float:
        return max(0.0, self._blocked_until - self.clock())

    def try_acquire(self, priority: Priority = Priority.NORMAL) -> bool:
        """Take a token now if nobody is queued and the budget allows (no await, no task)."""
        if self._heap:
            return False
        now = self.clock()
        if now < self._blocked_until:
            return False
        tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        self.granted.append(priority)
        return True

    async def acquire(self, priority: Priority = Priority.NORMAL) -> None:
        if self.try_acquire(priority):  # fast path: nobody waiting and budget left
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (int(priority), next(self._seq), fut))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run())
        await fut

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def _run(self) -> None:
        while self._heap:
            now = self.clock()
            self._refill(now)
            wait = max(self._blocked_until - now, (1.0 - self._tokens) / self.rate)
            if wait > 0:
                # pacing is the point of this class: waiting out the budget is not a race
                await asyncio.sleep(wait)
                continue
            prio, _, fut = heapq.heappop(self._heap)
            if fut.done():
                continue
            self._tokens -= 1.0
            self.granted.append(Priority(prio))
            fut.set_result(None)
            await asyncio.sleep(0)  # let the granted caller run before the next grant
