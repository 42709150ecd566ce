"""The transaction engine: sign, journal (write-ahead), broadcast, track, replace, recover.

One engine per (chain, sending account). Its journal stream ``tx-<chain_id>-<sender>`` holds
the OMS's tx events (agent.oms.events) and is the only truth: in-memory records are a fold
over it (agent.oms.tx.apply_tx), rebuilt by :meth:`TxEngine.start`.

Send path, per transaction (crash points in brackets, see crash.py):

    reserve nonce -> sign -> [after_sign] -> journal TxSigned (durable, raw bytes included)
    -> [after_journal_append] -> eth_sendRawTransaction -> [after_broadcast] -> journal TxSent

Nothing reaches the node before its TxSigned is durable, and a restart re-broadcasts the
journaled bytes (same hash) instead of signing anew, so a crash anywhere sends nothing twice.
A crash before the TxSigned append leaves nothing behind: the nonce was only reserved in
memory and is handed out again after the restart (nonces stay contiguous).

Tracking (:meth:`poll`, in tracker.py) turns receipts into TxMined/TxConfirmed, a mined tx
whose receipt vanished or moved into TxReorged (and re-broadcasts it), a nonce consumed by a
sibling or a foreign tx into TxDropped, and re-broadcasts what the node forgot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.chain.fees import FeeCapExceededError, Fees, bump_fees, estimate_fees
from agent.chain.nonce import NonceManager
from agent.chain.txengine.config import EngineConfig
from agent.chain.txengine.crash import crash_point
from agent.chain.txengine.events import TxRefused
from agent.errors import (
    AgentError,
    ChainIdMismatchError,
    ConcurrencyConflictError,
    NonceError,
    RpcError,
)
from agent.oms.events import TxDropped, TxReplaced, TxSent, TxSigned, tx_stream
from agent.oms.tx import TxRecord, TxState, apply_tx
from agent.signing.dispatch import sign_tx
from agent.signing.eip1559 import decode_signed
from agent.signing.types import SignedTx, TxRequest

# Node answers that mean "this exact transaction is already in the pool / chain".
_KNOWN = ("already known", "already imported", "known transaction", "alreadyknown")
# ... "this nonce was used elsewhere": mined, or (underpriced replacement) a foreign tx with
# it still in the pool; a fresh send is never a replacement of ours
_NONCE_LOW = (
    "nonce too low",
    "nonce is too low",
    "oldnonce",
    "replacement transaction underpriced",
)


def _tx_key(ev: Any) -> str:
    """The hash of the record a tx event moves (a TxReplaced moves the replaced one)."""
    return ev.old_tx_hash if isinstance(ev, TxReplaced) else ev.tx_hash


def _matches(e: RpcError, needles: Sequence[str]) -> bool:
    m = str(e).lower()
    return any(n in m for n in needles)


@dataclass(frozen=True, slots=True)
class TxSpec:
    """What to send. ``gas`` is the limit (estimate it before; 21000 for a plain transfer)."""

    to: str | None
    value: int = 0
    data: bytes = b""
    gas: int = 21_000
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """``record.state`` is SENT when the node took it, SIGNED when its fate is unknown (the
    node did not answer clearly: poll() settles it), DROPPED when the node refused it."""

    record: TxRecord
    error: AgentError | None = None

    @property
    def tx_hash(self) -> str:
        return self.record.tx_hash


class TxEngine:
    def __init__(
        self, rpc: Any, signer: Any, journal: Any, config: EngineConfig, *, reads: Any = None
    ) -> None:
        """``rpc`` carries the account's transactions (one connection: nonce order). ``reads``,
        if given, carries the tracker's questions (receipts, pool presence) on connections of
        its own, so a pass asking hundreds of receipts never holds up a broadcast, and may
        post them in parallel (RpcClient ``connections=2``); by default ``rpc`` does both."""
        self.rpc = rpc
        self.reads = reads if reads is not None else rpc
        self.signer = signer
        # the local key's synchronous path, called inline (no task, no timer): the hot path
        self._sync_sign = getattr(signer, "sign_transaction_sync", None)
        self.journal = journal
        self.config = config
        self.chain_id = config.chain_id
        self.sender = signer.address
        self.stream = tx_stream(config.chain_id, signer.address)
        self.nonces = NonceManager(rpc, signer.address, max_gap=config.max_nonce_gap)
        self.records: dict[str, TxRecord] = {}
        self.by_nonce: dict[int, list[str]] = {}
        # hashes the tracker still looks at (insertion-ordered set): every record until a
        # poll retires it as final (see tracker.retire), so a poll's cost follows what is in
        # flight, not every transaction the engine ever sent
        self.open: dict[str, None] = {}
        self._requests: dict[str, TxRequest] = {}
        self._version = 0
        self._fees: tuple[float, Fees] | None = None
        # hash -> head block when a poll first saw it pending in the pool (stuck detection)
        self._first_seen: dict[str, int] = {}
        self._first_seen_at: dict[str, float] = {}  # hash -> monotonic time of that sighting
        # (height, hash) of the head the last poll verified mined txs against (tracker.poll)
        self._anchor: tuple[int, str] | None = None
        self._orphan_asks: dict[str, int] = {}  # superseded hash -> receipt asks (tracker)
        # (mined count, head, monotonic time) when the account's mined count last moved
        self._progress: tuple[int, int, float] = (-1, 0, 0.0)
        self._last_seen: dict[str, float] = {}  # hash -> when the node last vouched for it
        self.head = 0
        self.next_base_fee = 0
        self.started = False
        self._inflight: set[asyncio.Future[Any]] = set()
        self._unsubmitted = 0
        self._broadcasting: set[str] = set()
        self._journal_error: BaseException | None = None
        # one tracking pass at a time, shared by concurrent callers (see poll)
        self._poll_lock = asyncio.Lock()
        self._passes = 0  # passes started
        self._last_pass: list[Any] | None = None  # events of the last pass that succeeded

    # --- journal -----------------------------------------------------------------------------
    def _apply(self, ev: Any) -> None:
        if isinstance(ev, TxRefused):
            return
        h = _tx_key(ev)
        rec = apply_tx(self.records.get(h), ev)
        self.records[h] = rec
        if isinstance(ev, TxSigned):
            self.by_nonce.setdefault(ev.nonce, []).append(ev.tx_hash)
            self.open[ev.tx_hash] = None

    async def _append(self, events: Sequence[Any]) -> None:
        """Durable append, then fold. Versions are claimed before awaiting so concurrent sends
        pipeline into the journal's group commit in order."""
        if not events:
            return
        while self._unsubmitted:  # background appends claimed earlier versions: let them queue
            await asyncio.sleep(0)
        self._raise_journal_error()
        expected = self._version
        self._version += len(events)
        try:
            await self.journal.append_async(self.stream, expected, events)
        except ConcurrencyConflictError:
            self._version = self.journal.version(self.stream)
            raise
        except BaseException:
            self._version = self.journal.version(self.stream)
            raise
        for ev in events:
            self._apply(ev)

    def _append_later(self, events: Sequence[Any]) -> None:
        """Fold now, append without waiting (journal order is still call order: versions are
        claimed here and the journal's queue is FIFO). A failure is raised by the next
        :meth:`_append` or :meth:`flush`."""
        if not events:
            return
        self._raise_journal_error()
        # Fold first, and undo the fold if an event is illegal: memory and the journal stay in
        # step (no version is claimed for events that will never be written). Only chain
        # observations come here; a TxSigned is write-ahead and goes through _append.
        before: dict[str, TxRecord | None] = {}
        try:
            for ev in events:
                if not isinstance(ev, TxRefused):
                    h = _tx_key(ev)
                    if h not in before:
                        before[h] = self.records.get(h)
                self._apply(ev)
        except BaseException:
            for h, rec in before.items():
                if rec is None:
                    self.records.pop(h, None)
                else:
                    self.records[h] = rec
            raise
        expected = self._version
        self._version += len(events)
        self._unsubmitted += 1
        fut = asyncio.ensure_future(self._bg_append(expected, list(events)))
        self._inflight.add(fut)
        fut.add_done_callback(self._appended)

    async def _bg_append(self, expected: int, events: list[Any]) -> None:
        # this first step submits to the journal queue synchronously (no await before it)
        self._unsubmitted -= 1
        await self.journal.append_async(self.stream, expected, events)

    def _appended(self, fut: asyncio.Future[Any]) -> None:
        self._inflight.discard(fut)
        if not fut.cancelled() and fut.exception() is not None and self._journal_error is None:
            self._journal_error = fut.exception()  # type: ignore[assignment]

    def _raise_journal_error(self) -> None:
        if self._journal_error is not None:
            err, self._journal_error = self._journal_error, None
            self._version = self.journal.version(self.stream)
            raise err

    async def flush(self) -> None:
        """Wait until every background append is durable."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
        self._raise_journal_error()

    async def refuse(
        self, err: AgentError, *, client_order_id: str | None = None, nonce: int | None = None
    ) -> None:
        """Journal that nothing was sent and why (the caller re-raises ``err``)."""
        ev = TxRefused(
            self.chain_id, self.sender.lower(), err.code, err.message, client_order_id, nonce
        )
        await self._append([ev])

    # --- start and recovery ------------------------------------------------------------------
    async def start(self) -> dict[str, int]:
        """Rebuild state from the journal, check the node, then reconcile with the chain."""
        self.records.clear()
        self._anchor = None
        self.by_nonce.clear()
        self.open.clear()
        self._version = 0
        for r in self.journal.read_stream(self.stream):
            self._apply(r.event)
            self._version = r.version
        try:
            got = self.rpc.chain_id
            if got is None:
                await self.rpc.connect()
                got = self.rpc.chain_id
            if got != self.chain_id:
                raise ChainIdMismatchError(
                    f"chain_id: the node at {self.rpc.url} reports chain id {got}, the engine is "
                    f"configured for {self.chain_id}; fix rpc.url or chain_id"
                )
        except ChainIdMismatchError as e:
            await self.refuse(e)
            raise
        if self.by_nonce:
            self.nonces.seed(max(self.by_nonce) + 1)
        await self.nonces.sync()
        self.started = True
        from agent.chain.txengine.tracker import poll

        before = len(self.records)
        pending_before = sum(1 for r in self.records.values() if r.state.pending)
        await poll(self, rebroadcast_signed=True)
        return {"records": before, "pending_at_start": pending_before}

    # --- fees --------------------------------------------------------------------------------
    async def fees(self) -> Fees:
        now = time.monotonic()
        if self._fees is not None and now - self._fees[0] < self.config.fee_ttl:
            return self._fees[1]
        f = await estimate_fees(self.rpc, self.config.fees)
        self._fees = (now, f)
        return f

    # --- sending -----------------------------------------------------------------------------
    async def send(self, spec: TxSpec, *, fees: Fees | None = None) -> SendResult:
        return (await self.send_many([spec], fees=fees))[0]

    async def send_many(
        self, specs: Sequence[TxSpec], *, fees: Fees | None = None
    ) -> list[SendResult]:
        """Send several transactions: one fee estimate, one journal append, one RPC batch.

        A "nonce too low" answer means the account was used elsewhere since our last sync:
        that attempt is journaled as dropped, the nonces resync, and the spec is sent once
        more with a fresh nonce (a new TxSigned; the refused bytes never entered the pool)."""
        out = await self._send_once(specs, fees)
        retry = [
            i
            for i, r in enumerate(out)
            if isinstance(r.error, RpcError) and _matches(r.error, _NONCE_LOW)
        ]
        if retry:
            again = await self._send_once([specs[i] for i in retry], fees)
            for i, r in zip(retry, again, strict=True):
                out[i] = r
        return out

    async def _send_once(self, specs: Sequence[TxSpec], fees: Fees | None) -> list[SendResult]:
        if not self.started:
            raise NonceError("the engine is not started; call start() first (it recovers state)")
        if not specs:
            return []
        cid = specs[0].client_order_id
        reserved: list[int] = []
        try:
            f = fees or await self.fees()
            fc = self.config.fees
            if (
                f.max_fee_per_gas > fc.max_fee_cap
                or f.max_priority_fee_per_gas > fc.max_priority_fee_cap
            ):
                raise FeeCapExceededError(
                    f"fees ({f.max_fee_per_gas}, tip {f.max_priority_fee_per_gas}) exceed the caps "
                    f"({fc.max_fee_cap}, tip {fc.max_priority_fee_cap}); lower them or raise fees.max_fee_cap"
                )
            reserved = await self.nonces.reserve_many(len(specs))
            reqs = [
                TxRequest(
                    chain_id=self.chain_id,
                    nonce=n,
                    to=s.to,
                    value=s.value,
                    data=s.data,
                    gas=s.gas,
                    max_fee_per_gas=f.max_fee_per_gas,
                    max_priority_fee_per_gas=f.max_priority_fee_per_gas,
                )
                for n, s in zip(reserved, specs, strict=True)
            ]
            signed = await self._sign_all(reqs)
        except AgentError as e:
            for n in reversed(reserved):
                self.nonces.release(n)
            await self.refuse(e, client_order_id=cid, nonce=reserved[0] if reserved else None)
            raise
        except BaseException:
            for n in reversed(reserved):
                self.nonces.release(n)
            raise
        crash_point("after_sign")
        evs = [
            self._signed_event(st, sp.client_order_id, None)
            for st, sp in zip(signed, specs, strict=True)
        ]
        try:
            await self._append(evs)
        except BaseException:
            for n in reversed(reserved):
                self.nonces.release(n)
            raise
        for st in signed:
            self._requests[st.hash_hex] = st.tx
        crash_point("after_journal_append")
        return await self._broadcast(signed)

    async def _sign(self, req: TxRequest) -> SignedTx:
        """Local signers sign inline; remote and threshold ones are awaited under
        ``config.sign_timeout`` and their answer is checked (agent.signing.dispatch). A
        failure raises a SigningError before anything is journaled: never a TxSigned
        without a verified signature."""
        if self._sync_sign is not None:
            return self._sync_sign(req)
        return await sign_tx(self.signer, req, timeout=self.config.sign_timeout)

    async def _sign_all(self, reqs: Sequence[TxRequest]) -> list[SignedTx]:
        if self._sync_sign is not None:
            fn = self._sync_sign
            return [fn(r) for r in reqs]
        # one at a time: a threshold party signs sequentially anyway, and the first failure
        # stops the batch (nothing of it is journaled; the caller releases every nonce)
        return [await self._sign(r) for r in reqs]

    def _signed_event(self, st: SignedTx, cid: str | None, replaces: str | None) -> TxSigned:
        t = st.tx
        return TxSigned(
            chain_id=self.chain_id,
            sender=self.sender.lower(),
            nonce=t.nonce,
            tx_hash=st.hash_hex,
            raw_tx=st.raw,
            max_fee_per_gas=t.max_fee_per_gas,
            max_priority_fee_per_gas=t.max_priority_fee_per_gas,
            client_order_id=cid,
            replaces=replaces,
        )

    async def _broadcast(
        self, signed: Sequence[SignedTx], extra: Sequence[Any] = ()
    ) -> list[SendResult]:
        """Post journaled transactions; journal what the node said. ``extra`` events (a
        TxReplaced) are appended with the outcome."""
        hashes = [st.hash_hex for st in signed]
        self._broadcasting.update(hashes)  # a concurrent poll leaves these alone meanwhile
        try:
            return await self._broadcast_now(signed, extra)
        finally:
            self._broadcasting.difference_update(hashes)

    async def _broadcast_now(
        self, signed: Sequence[SignedTx], extra: Sequence[Any]
    ) -> list[SendResult]:
        if len(signed) == 1:
            try:
                answers: list[Any] = [await self.rpc.send_raw_transaction(signed[0].raw)]
            except AgentError as e:
                answers = [e]
        else:
            try:
                answers = await self.rpc.batch(
                    [("eth_sendRawTransaction", ["0x" + s.raw.hex()]) for s in signed]
                )
            except AgentError as e:
                answers = [e] * len(signed)
        crash_point("after_broadcast")
        out_events: list[Any] = list(extra)
        errors: dict[str, AgentError] = {}
        now = time.monotonic()
        resync = False
        for st, a in zip(signed, answers, strict=True):
            h = st.hash_hex
            if isinstance(a, RpcError) and not _matches(a, _KNOWN):
                # the node refused this exact tx: it is not in the pool, so its nonce is free
                # again, unless the chain already used that nonce
                errors[h] = a
                out_events.append(
                    TxDropped(
                        self.chain_id,
                        self.sender.lower(),
                        st.tx.nonce,
                        h,
                        f"node refused: {a.message}",
                    )
                )
                if _matches(a, _NONCE_LOW):
                    resync = True
                else:
                    self.nonces.release(st.tx.nonce)
            elif isinstance(a, AgentError):
                errors[h] = a  # unknown fate (no answer / garbage): poll() settles it
            else:
                out_events.append(TxSent(self.chain_id, self.sender.lower(), st.tx.nonce, h))
                self._last_seen[h] = now
        self.nonces.observe_sent([e.nonce for e in out_events if isinstance(e, TxSent)])
        # What the node said is not write-ahead (recovery re-asks the node), so it is folded
        # now and made durable in the background: the caller does not wait for an fsync.
        self._append_later(out_events)
        if resync:
            await self.nonces.sync()
        return [SendResult(self.records[s.hash_hex], errors.get(s.hash_hex)) for s in signed]

    # --- replacement -------------------------------------------------------------------------
    def live_hashes(self, nonce: int) -> list[str]:
        return [h for h in self.by_nonce.get(nonce, ()) if self.records[h].state.pending]

    def request_of(self, tx_hash: str) -> TxRequest:
        req = self._requests.get(tx_hash)
        if req is None:
            req = decode_signed(self.records[tx_hash].raw_tx)
            self._requests[tx_hash] = req
        return req

    async def replace(
        self, nonce: int, *, cancel: bool = False, fees: Fees | None = None
    ) -> SendResult:
        """Speed up (same call, higher fees) or cancel (0-value self-send) the pending tx at
        ``nonce``. Both fee fields rise by >= 12.5% over the highest attempt so far, and to at
        least a fresh estimate."""
        live = self.live_hashes(nonce)
        if not live:
            raise NonceError(f"nonce {nonce}: no pending transaction of {self.sender} to replace")
        old_h = max(live, key=lambda h: self.records[h].max_fee_per_gas)
        old = self.records[old_h]
        try:
            fresh = fees or await self.fees()
            new_fees = bump_fees(
                Fees(old.max_fee_per_gas, old.max_priority_fee_per_gas),
                self.config.fees,
                at_least=fresh,
            )
        except AgentError as e:
            await self.refuse(e, client_order_id=old.client_order_id, nonce=nonce)
            raise
        base = self.request_of(old_h)
        if cancel:
            req = base.replace(
                to=self.sender, value=0, data=b"", gas=21_000, access_list=(),
                max_fee_per_gas=new_fees.max_fee_per_gas,
                max_priority_fee_per_gas=new_fees.max_priority_fee_per_gas,
            )  # fmt: skip
        else:
            req = base.replace(
                max_fee_per_gas=new_fees.max_fee_per_gas,
                max_priority_fee_per_gas=new_fees.max_priority_fee_per_gas,
            )
        try:
            st = await self._sign(req)
        except AgentError as e:
            await self.refuse(e, client_order_id=old.client_order_id, nonce=nonce)
            raise
        crash_point("after_sign")
        await self._append([self._signed_event(st, old.client_order_id, old_h)])
        self._requests[st.hash_hex] = req
        crash_point("after_journal_append")
        replaced = [
            TxReplaced(self.chain_id, self.sender.lower(), nonce, h, st.hash_hex, cancel)
            for h in live
        ]
        res = (await self._broadcast([st], extra=()))[0]
        if res.record.state is not TxState.DROPPED:
            await self._append(replaced)
        return res

    async def speed_up(self, nonce: int, *, fees: Fees | None = None) -> SendResult:
        return await self.replace(nonce, cancel=False, fees=fees)

    async def cancel(self, nonce: int, *, fees: Fees | None = None) -> SendResult:
        return await self.replace(nonce, cancel=True, fees=fees)

    # --- tracking ----------------------------------------------------------------------------
    async def poll(self) -> list[Any]:
        """One tracking pass (tracker.poll); returns its events.

        Passes never overlap: two at once would both see a pending tx, both journal its
        receipt, and the second TxMined is an illegal transition. Concurrent callers (several
        executors waiting on one account's engine) share passes instead: a call returns the
        events of a pass that started after it was made, so everything sent before the call
        was looked at. Waiters that called during the same pass share the next one, and a
        failed pass is not shared: the next waiter runs its own."""
        from agent.chain.txengine.tracker import poll

        want = self._passes + 1
        async with self._poll_lock:
            if self._passes >= want and self._last_pass is not None:
                return list(self._last_pass)
            self._passes += 1
            self._last_pass = None
            self._last_pass = await poll(self)
            return self._last_pass

    async def wait_for(self, tx_hash: str, states: set[TxState], timeout: float = 30.0) -> TxRecord:
        """Poll until the record of ``tx_hash`` reaches one of ``states`` (or a sibling for its
        nonce does, which also settles it: returns that sibling's record)."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self.records[tx_hash]
            for h in self.by_nonce.get(rec.nonce, ()):
                if self.records[h].state in states:
                    return self.records[h]
            if time.monotonic() > deadline:
                raise TimeoutError(f"tx {tx_hash} still {rec.state.value} after {timeout}s")
            await self.poll()
            await asyncio.sleep(self.config.poll_interval)

    def pending(self) -> list[TxRecord]:
        return [r for r in self.records.values() if r.state.pending]
