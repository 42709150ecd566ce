"""Per-account nonce manager: unique, contiguous nonces under concurrency.

* ``reserve()`` hands out the lowest free nonce; concurrent reservations never collide
  (asyncio lock around the only await: the first sync with the chain).
* ``release(n)`` returns a reserved nonce that will not be used (signing or the journal
  failed before broadcast); it is handed out again first, so no gap is left behind.
* ``sync()`` reads the chain's ``latest`` and ``pending`` counts. If the account sent from
  elsewhere (another wallet, a second agent), the chain is ahead: we jump to it and report
  the nonces we had reserved that the chain consumed without us, so the engine can retire
  the transactions that can no longer be mined.
* A nonce more than ``max_gap`` ahead of the chain's pending count is refused
  (NonceTooFarAheadError): such a transaction would sit in the pool unmineable, blocking
  nothing yet funds and attention, and usually means a bookkeeping bug.
"""

from __future__ import annotations

import asyncio
import heapq
from dataclasses import dataclass
from typing import Any

from agent.errors import NonceError, ValidationError


class NonceTooFarAheadError(NonceError):
    code = "NONCE_TOO_FAR_AHEAD"


@dataclass(frozen=True, slots=True)
class NonceSync:
    latest: int  # mined transactions of the account
    pending: int  # mined + in the node's pool
    next_nonce: int  # what reserve() hands out next (lowest hole aside)
    jumped_from: int | None = None  # set when the chain was ahead of us (sent elsewhere)


class NonceManager:
    def __init__(self, rpc: Any, address: str, *, max_gap: int = 256) -> None:
        if max_gap < 1:
            raise ValidationError("nonce.max_gap", f"{max_gap} < 1", "allow at least 1 in flight")
        self.rpc = rpc
        self.address = address
        self.max_gap = max_gap
        self._next: int | None = None
        self._holes: list[int] = []  # released nonces below _next (min-heap)
        self._lock = asyncio.Lock()
        self.chain_latest = 0
        self.chain_pending = 0
        self._accepted: set[int] = set()

    @property
    def initialised(self) -> bool:
        return self._next is not None

    @property
    def next_nonce(self) -> int:
        if self._next is None:
            raise NonceError(f"nonce manager for {self.address} is not synced; call sync() first")
        return self._holes[0] if self._holes else self._next

    def seed(self, next_nonce: int) -> None:
        """Raise the floor (e.g. from the journal: highest nonce we recorded + 1)."""
        if self._next is None or next_nonce > self._next:
            self._next = next_nonce
        self._holes = [h for h in self._holes if h < self._next]
        heapq.heapify(self._holes)

    async def sync(self) -> NonceSync:
        latest, pending = await self.rpc.batch(
            [
                ("eth_getTransactionCount", [self.address, "latest"]),
                ("eth_getTransactionCount", [self.address, "pending"]),
            ]
        )
        from agent.chain.rpc import qty

        for v in (latest, pending):
            if isinstance(v, Exception):
                raise v
        return self.observe(qty(latest, "latest count"), qty(pending, "pending count"))

    def observe(self, latest: int, pending: int) -> NonceSync:
        """Fold the chain's counts in (pure; ``sync`` calls it)."""
        self.chain_latest = latest
        self.chain_pending = max(pending, latest)
        self._accepted = {n for n in self._accepted if n >= self.chain_pending}
        jumped: int | None = None
        if self._next is None:
            self._next = self.chain_pending
        elif self.chain_latest > self._next:
            # mined nonces we never handed out: the account was used elsewhere
            jumped, self._next = self._next, self.chain_latest
        # holes below the mined count are consumed (by us or someone else): drop them
        if self._holes and self._holes[0] < self.chain_latest:
            self._holes = [h for h in self._holes if h >= self.chain_latest]
            heapq.heapify(self._holes)
        return NonceSync(latest, self.chain_pending, self._next, jumped)

    async def reserve(self) -> int:
        return (await self.reserve_many(1))[0]

    async def reserve_many(self, k: int) -> list[int]:
        """``k`` nonces at once (holes first, then contiguous), all or none."""
        async with self._lock:
            if self._next is None:
                await self.sync()
            top = self._top_after(k)
            if top - self.chain_pending >= self.max_gap:
                await self.sync()  # the chain may have caught up since we last looked
                self.check(self._top_after(k))
            out = []
            for _ in range(k):
                if self._holes:
                    out.append(heapq.heappop(self._holes))
                else:
                    assert self._next is not None
                    out.append(self._next)
                    self._next += 1
            return out

    def _top_after(self, k: int) -> int:
        """The highest nonce ``k`` reservations would hand out."""
        assert self._next is not None
        extra = max(0, k - len(self._holes))
        return self._next + extra - 1 if extra else sorted(self._holes)[k - 1]

    def observe_sent(self, nonces: list[int]) -> None:
        """The node accepted these nonces: the pool's pending count grows past every one that
        is contiguous with it (a nonce after a hole stays 'ahead')."""
        self._accepted.update(n for n in nonces if n >= self.chain_pending)
        while self.chain_pending in self._accepted:
            self._accepted.discard(self.chain_pending)
            self.chain_pending += 1

    def check(self, nonce: int) -> None:
        """Refuse a nonce too far ahead of what the chain has seen."""
        if nonce - self.chain_pending >= self.max_gap:
            raise NonceTooFarAheadError(
                f"nonce {nonce} for {self.address} is {nonce - self.chain_pending} ahead of the "
                f"chain's pending count {self.chain_pending} (max gap {self.max_gap}); earlier "
                "transactions are missing from the pool: resync, rebroadcast or cancel them first"
            )

    def release(self, nonce: int) -> None:
        """Give back a reserved nonce that was never broadcast."""
        if self._next is None or nonce >= self._next or nonce < self.chain_latest:
            return
        if nonce == self._next - 1:
            self._next = nonce
            # the top may now be a run of holes: fold them back too
            while self._holes and max(self._holes) == self._next - 1:
                self._holes.remove(self._next - 1)
                self._next -= 1
            heapq.heapify(self._holes)
        elif nonce not in self._holes:
            heapq.heappush(self._holes, nonce)
