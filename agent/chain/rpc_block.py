"""Chain reads pinned to one block and cached while that block is the head.

A service that decides on chain state and then simulates (the co-signer: policy reads, then
``debug_traceCall``) must decide and simulate on the SAME block, and a second request in the
same block should not read the same state again. :class:`BlockReads` wraps an
:class:`agent.chain.rpc.RpcClient` (it stays the one way to the chain)::

    reads = BlockReads(rpc)
    head = await reads.head()        # the latest block: number + hash (one call)
    with reads.pinned(head):         # in this task, state reads of "latest" go to head
        decision = await guard.check(calls)     # eth_call / eth_getBalance via ``reads``
    sim = await simulate(rpc, tx, safe, block=head.tag)   # the same block, by hash

While pinned, a state read whose block is ``"latest"`` is sent with the EIP-1898 block
object ``{"blockHash": head.hash, "requireCanonical": true}`` (so a reorg that drops the
block makes the read fail instead of answering from another chain), and its answer is kept
for that head: a later request pinned to the same head is answered from memory. A new head
(another hash: a new block or a reorg at the same height) empties the cache. Answers are
never kept for a head that is no longer the newest one seen, nor errors, nor anything
read unpinned (that goes to the client unchanged). The pin is a context variable: each
asyncio task (each HTTP request) has its own, so concurrent requests at different heads
never share an answer.

A dev node's cheat codes (anvil_setBalance, anvil_setStorageAt) change state without a new
block: a cache over such a node serves the state from before them until the next block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import msgspec

from agent.chain.rpc import _dumps, qty
from agent.errors import RpcResponseError

# methods whose answer is a pure function of (params, block): cacheable per block
STATE_READS = frozenset(
    {"eth_call", "eth_getBalance", "eth_getCode", "eth_getStorageAt", "eth_getTransactionCount"}
)
MAX_ENTRIES = 4096  # per head; a request reads ~15 (the guard's batch)


class _Header(msgspec.Struct):
    number: str
    hash: str
    timestamp: str


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    hash: str
    timestamp: int

    @property
    def tag(self) -> dict[str, Any]:
        """The EIP-1898 block parameter for exactly this block."""
        return {"blockHash": self.hash, "requireCanonical": True}


class BlockReads:
    """Read-only, RpcClient-shaped (``call``, ``batch``, ``url``, ``name``) view of ``rpc``
    that pins reads of ``"latest"`` to the head the current task pinned (see the module
    doc). ``hits`` / ``misses`` count cached and sent state reads (tests, benchmarks)."""

    def __init__(self, rpc: Any) -> None:
        self.rpc = rpc
        self.url = getattr(rpc, "url", "")
        self.name = getattr(rpc, "name", self.url)
        self._pin: ContextVar[Head | None] = ContextVar(f"block_pin_{id(self)}", default=None)
        self._head: Head | None = None  # the newest head seen
        self._cache: dict[tuple[str, bytes, Any], Any] = {}
        self.hits = 0
        self.misses = 0

    async def head(self) -> Head:
        """The latest block (one ``eth_getBlockByNumber``); a new hash empties the cache."""
        (h,) = await self.rpc.batch([("eth_getBlockByNumber", ["latest", False], _Header)])
        if isinstance(h, BaseException):
            raise h
        if h is None:  # pragma: no cover - a node always has a latest block
            raise RpcResponseError(f"{self.name}: eth_getBlockByNumber(latest) is null")
        head = Head(
            qty(h.number, "block number"), h.hash.lower(), qty(h.timestamp, "block timestamp")
        )
        if self._head is None or head.hash != self._head.hash:
            self._cache = {}  # every entry belongs to the previous head
            self._head = head
        return head

    @contextlib.contextmanager
    def pinned(self, head: Head) -> Iterator[Head]:
        token = self._pin.set(head)
        try:
            yield head
        finally:
            self._pin.reset(token)

    # --- the RpcClient shape ---------------------------------------------------------------
    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        (got,) = await self.batch([(method, params)])
        if isinstance(got, BaseException):
            raise got
        return got

    async def batch(self, calls: Sequence[tuple[Any, ...]], typ: Any = None) -> list[Any]:
        head = self._pin.get()
        if head is None:
            return await self.rpc.batch(calls, typ)
        keep = self._head is not None and head.hash == self._head.hash
        out: list[Any] = [None] * len(calls)
        send: list[tuple[Any, ...]] = []
        where: list[tuple[int, tuple[str, bytes, Any] | None]] = []
        for i, c in enumerate(calls):
            method, params = c[0], list(c[1])
            t = c[2] if len(c) > 2 else typ
            key = None
            if method in STATE_READS and params and params[-1] == "latest":
                params[-1] = head.tag
                key = (method, _dumps(params[:-1]), t)
                if keep and key in self._cache:
                    out[i] = self._cache[key]
                    self.hits += 1
                    continue
                self.misses += 1
            send.append((method, params, t))
            where.append((i, key if keep else None))
        if send:
            got = await self.rpc.batch(send)
            # the head may have moved while the batch was out: keep only for the newest head
            keep_now = self._head is not None and head.hash == self._head.hash
            if keep_now and len(self._cache) + len(send) > MAX_ENTRIES:
                self._cache = {}
            for (i, key), r in zip(where, got, strict=True):
                out[i] = r
                if key is not None and keep_now and not isinstance(r, BaseException):
                    self._cache[key] = r
        return out
