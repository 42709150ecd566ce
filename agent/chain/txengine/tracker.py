"""One tracking pass of the engine: receipts, confirmations, reorgs, drops, stuck transactions.

Everything is asked in one JSON-RPC batch (head and next base fee via a 1-block feeHistory,
the account's mined count, and per transaction its receipt), so a poll costs one round trip
however many transactions are in flight; a second, small batch asks pool presence only for
transactions that are neither mined nor below the account's mined count. Questions go to the
engine's ``reads`` client (its ``rpc`` unless the engine was given one); what is sent again
(re-broadcasts, speed-ups) goes over ``rpc``, in nonce order with the engine's other sends.

Rules (each outcome is journaled before the engine acts on it):
  * pending + receipt                     -> TxMined (confirmed=True if already at depth,
                                             else a TxConfirmed follows later); pending
                                             siblings for that nonce -> TxDropped
  * mined/confirmed, receipt gone or moved -> TxReorged (+ TxMined if it moved); the tx is
                                             tracked again and re-broadcast if the node lost it
  * pending, nonce below the mined count,
    no receipt for any attempt            -> TxDropped (a foreign tx consumed the nonce)
  * pending, unknown to the node          -> re-broadcast the journaled raw bytes -> TxSent
  * SIGNED (journaled, maybe never sent)  -> TxSent once the node knows it
  * pending, priced out by the base fee,
    or the next nonce to mine with no
    progress of the account for
    ``stuck_blocks`` (and at least
    ``stuck_min_seconds``) or for
    ``stuck_seconds``                     -> speed-up (both fees +12.5% or to the estimate)
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import msgspec

from agent.chain.fees import FeeCapExceededError
from agent.chain.rpc import qty
from agent.chain.txengine.crash import crash_point
from agent.errors import AgentError, RpcError, RpcResponseError
from agent.oms.events import TxConfirmed, TxDropped, TxMined, TxReorged, TxSent
from agent.oms.tx import TxRecord, TxState

if TYPE_CHECKING:
    from agent.chain.txengine.engine import TxEngine

_MINED = (TxState.MINED, TxState.CONFIRMED)
_SUPERSEDED = (TxState.REPLACED, TxState.DROPPED)
ORPHAN_ASKS = 5


class _Receipt(msgspec.Struct, rename="camel"):
    """The receipt fields tracking reads, decoded straight from the node's JSON (the bloom
    and logs of hundreds of receipts per poll are skipped, not built). A receipt without
    them is an RpcResponseError for that one call."""

    transaction_hash: str
    block_number: str
    block_hash: str
    status: str | None = None  # absent before Byzantium: counted as not successful
    gas_used: str = "0x0"
    effective_gas_price: str = "0x0"


RECEIPT = _Receipt | None  # the type of an eth_getTransactionReceipt answer in a batch


def _receipt_fields(h: str, rc: _Receipt) -> tuple[int, str, bool, int, int]:
    if rc.transaction_hash.lower() != h.lower():
        raise RpcResponseError(
            f"eth_getTransactionReceipt({h}): the node answered the receipt of "
            f"{rc.transaction_hash}"
        )
    return (
        qty(rc.block_number, "receipt.blockNumber"),
        rc.block_hash,
        rc.status == "0x1",
        qty(rc.gas_used, "receipt.gasUsed"),
        qty(rc.effective_gas_price, "receipt.effectiveGasPrice"),
    )


async def poll(eng: TxEngine, *, rebroadcast_signed: bool = True) -> list[Any]:
    cfg = eng.config
    sender = eng.sender.lower()
    cid = eng.chain_id
    records = eng.records
    tracked = [records[h] for h in eng.open]
    pend = [r for r in tracked if r.state.pending and r.tx_hash not in eng._broadcasting]
    watch = [
        r
        for r in tracked
        if r.state is TxState.MINED
        or (
            r.state is TxState.CONFIRMED
            and r.block_number is not None
            and eng.head - r.block_number < cfg.reorg_window
        )
    ]
    # Round trip 1 (cheap, constant size): mined count, next base fee, the head block, and the
    # block we anchored on last time. Blocks are hash-chained, so an anchor whose hash did not
    # change proves nothing at or below it was reorged: the mined txs there need no receipt.
    anchor = eng._anchor
    calls: list[tuple[str, list[Any]]] = [
        ("eth_getTransactionCount", [eng.sender, "latest"]),
        ("eth_feeHistory", ["0x1", "latest", []]),
        ("eth_getBlockByNumber", ["latest", False]),
    ]
    if anchor is not None:
        calls.append(("eth_getBlockByNumber", [hex(anchor[0]), False]))
    ans = await eng.reads.batch(calls)
    for a in ans:
        if isinstance(a, Exception):
            raise a
    mined_count = qty(ans[0], "eth_getTransactionCount")
    fh = ans[1]
    if (
        not isinstance(fh, dict)
        or not isinstance(fh.get("baseFeePerGas"), list)
        or not fh["baseFeePerGas"]
    ):
        raise RpcResponseError(f"eth_feeHistory: unusable answer {str(fh)[:120]}")
    latest = ans[2]
    if not isinstance(latest, dict) or not isinstance(latest.get("hash"), str):
        raise RpcResponseError(f"eth_getBlockByNumber(latest): unusable answer {str(latest)[:120]}")
    eng.head = qty(latest.get("number"), "block.number")
    eng.next_base_fee = qty(fh["baseFeePerGas"][-1], "feeHistory.baseFeePerGas")
    eng.nonces.observe(mined_count, max(mined_count, eng.nonces.chain_pending))
    anchored = (
        anchor is not None
        and isinstance(ans[3], dict)
        and str(ans[3].get("hash")).lower() == anchor[1]
    )
    new_anchor = (eng.head, str(latest["hash"]).lower())

    events: list[Any] = []
    settled: set[int] = set()  # nonces with a mined attempt this pass
    rebroadcast: list[TxRecord] = []
    stuck: set[int] = set()

    def depth(bn: int) -> int:
        return eng.head - bn + 1

    def mined(r: TxRecord, bn: int, bh: str, ok: bool, gas: int, price: int) -> TxMined:
        # a receipt already deep enough is one event, not a TxMined and a TxConfirmed
        final = depth(bn) >= cfg.confirmations
        return TxMined(cid, sender, r.nonce, r.tx_hash, bn, bh, ok, gas, price, final)

    # mined txs at or below an unchanged anchor are still where we saw them: confirm by depth
    if anchored:
        assert anchor is not None
        top = anchor[0]
        below = [r for r in watch if r.block_number is not None and r.block_number <= top]
        for r in below:
            assert r.block_number is not None and r.block_hash is not None
            if r.state is TxState.MINED and depth(r.block_number) >= cfg.confirmations:
                events.append(
                    TxConfirmed(
                        cid, sender, r.nonce, r.tx_hash, r.block_number, depth(r.block_number)
                    )
                )
        watch = [r for r in watch if r.block_number is None or r.block_number > top]

    # Round trip 2, asked strictly after the count was seen: receipts only where one can
    # exist (a pending tx whose nonce the account has used; a mined tx not proven by the
    # anchor), and pool presence for what may still be in the pool. A pending tx at or above
    # the mined count cannot have a receipt, so the common "still in flight" case costs none.
    # Presence (eth_getTransactionByHash costs anvil several receipts) is asked only for a tx
    # whose fate is unknown (SIGNED) or that the node has not vouched for within
    # ``presence_every`` seconds.
    now = time.monotonic()
    if eng._progress[0] != mined_count:  # the account moved on: the clock restarts
        eng._progress = (mined_count, eng.head, now)
    _, progress_head, progress_at = eng._progress
    used = [r for r in pend if r.nonce < mined_count]
    unmined = [
        r
        for r in pend
        if r.nonce >= mined_count
        and (
            r.state is TxState.SIGNED
            or now - eng._last_seen.get(r.tx_hash, 0.0) >= cfg.presence_every
        )
    ]
    # A superseded attempt (REPLACED, or DROPPED by an earlier pass) can still be the one the
    # chain mined: a speed-up raced its original. While its nonce is used and no attempt of
    # ours is known mined, ask its receipt too (ORPHAN_ASKS passes; after that the nonce went
    # to a foreign tx and the attempts stay as they are).
    ours_mined = {r.nonce for r in tracked if r.state in _MINED}
    orphans = [
        r
        for r in tracked
        if r.state in _SUPERSEDED
        and r.nonce < mined_count
        and r.nonce not in ours_mined
        and eng._orphan_asks.get(r.tx_hash, 0) < ORPHAN_ASKS
    ]
    used += orphans
    calls = (
        [("eth_getTransactionReceipt", [r.tx_hash], RECEIPT) for r in used]
        + [("eth_getTransactionReceipt", [r.tx_hash], RECEIPT) for r in watch]
        + [("eth_getTransactionByHash", [r.tx_hash]) for r in unmined]
    )
    got = await eng.reads.batch(calls) if calls else []
    receipts = {r.tx_hash: g for r, g in zip(used, got, strict=False)}
    watched = got[len(used) : len(used) + len(watch)]
    present = {r.tx_hash: g for r, g in zip(unmined, got[len(used) + len(watch) :], strict=True)}
    for r in orphans:
        rc = receipts.get(r.tx_hash)
        if rc is None or isinstance(rc, Exception):
            eng._orphan_asks[r.tx_hash] = eng._orphan_asks.get(r.tx_hash, 0) + 1
            continue
        bn, bh, ok, gas, price = _receipt_fields(r.tx_hash, rc)
        events.append(mined(r, bn, bh, ok, gas, price))
        settled.add(r.nonce)
    used = used[: len(used) - len(orphans)]

    # mined ones first: a reorg may put them back into the pending set
    for r, rc in zip(watch, watched, strict=True):
        if isinstance(rc, Exception):
            new_anchor = None  # not proven this pass: check receipts again next time
            continue
        if rc is not None:
            bn, bh, ok, gas, price = _receipt_fields(r.tx_hash, rc)
            if bh == r.block_hash:
                if r.state is TxState.MINED and depth(bn) >= cfg.confirmations:
                    events.append(TxConfirmed(cid, sender, r.nonce, r.tx_hash, bn, depth(bn)))
                continue
        assert r.block_number is not None and r.block_hash is not None
        events.append(TxReorged(cid, sender, r.nonce, r.tx_hash, r.block_number, r.block_hash))
        if rc is not None:  # re-included in another block already
            events.append(mined(r, bn, bh, ok, gas, price))
            settled.add(r.nonce)
        else:
            rebroadcast.append(r)

    # A used nonce without a receipt: mined by a sibling or a foreign tx, or ours is being
    # mined right now (anvil under load counts the nonce before the receipt exists). A third,
    # rare round trip asks the receipt again and the tx itself: a tx the node still knows is
    # ours being mined, not a foreign one (look again next poll).
    no_receipt = [r for r in used if receipts.get(r.tx_hash) is None and r.nonce not in settled]
    known: dict[str, Any] = {}
    if no_receipt:
        k = len(no_receipt)
        again = await eng.reads.batch(
            [("eth_getTransactionReceipt", [r.tx_hash], RECEIPT) for r in no_receipt]
            + [("eth_getTransactionByHash", [r.tx_hash]) for r in no_receipt]
        )
        receipts.update({r.tx_hash: g for r, g in zip(no_receipt, again[:k], strict=True)})
        known = {r.tx_hash: g for r, g in zip(no_receipt, again[k:], strict=True)}

    for r in pend:
        rc = receipts.get(r.tx_hash)
        tx = present.get(r.tx_hash, False)  # False: not asked (recently seen, or nonce used)
        if isinstance(rc, Exception) or isinstance(tx, Exception):
            continue
        if rc is not None:
            bn, bh, ok, gas, price = _receipt_fields(r.tx_hash, rc)
            events.append(mined(r, bn, bh, ok, gas, price))
            settled.add(r.nonce)
        elif tx is None:
            rebroadcast.append(r)
        elif r.nonce >= mined_count:  # in the pool (asked, or vouched for recently)
            if tx is not False:
                eng._last_seen[r.tx_hash] = now
                if r.state is TxState.SIGNED:
                    events.append(TxSent(cid, sender, r.nonce, r.tx_hash))
            first = eng._first_seen.setdefault(r.tx_hash, eng.head)
            first_at = eng._first_seen_at.setdefault(r.tx_hash, now)
            # Only the head of the line can be stuck: a tx behind it waits for it, however
            # many blocks pass (with automine every tx is a block of its own). It is stuck
            # when the account made no progress for stuck_blocks (and stuck_min_seconds) or
            # for stuck_seconds, since both it was first seen and the mined count last moved.
            since_head = max(first, progress_head)
            waited = now - max(first_at, progress_at)
            if cfg.auto_replace and (
                r.max_fee_per_gas < eng.next_base_fee
                or (
                    r.nonce == mined_count
                    and (
                        (
                            eng.head - since_head >= cfg.stuck_blocks
                            and waited >= cfg.stuck_min_seconds
                        )
                        or waited >= cfg.stuck_seconds
                    )
                )
            ):
                stuck.add(r.nonce)

    # pending attempts whose nonce is now used: by a sibling (mined above) or by a foreign tx
    mined_now = {(e.nonce, e.tx_hash) for e in events if isinstance(e, TxMined)}
    for r in pend:
        if (r.nonce, r.tx_hash) in mined_now:
            continue
        if r.nonce in settled:
            winner = next(h for n, h in mined_now if n == r.nonce)
            events.append(
                TxDropped(cid, sender, r.nonce, r.tx_hash, f"nonce {r.nonce} mined by {winner}")
            )
        elif known.get(r.tx_hash) is not None:
            continue  # the node knows it (being mined, or an error asking): look again next poll
        elif r.nonce < mined_count and not any(
            eng.records[h].state in (TxState.MINED, TxState.CONFIRMED)
            for h in eng.by_nonce.get(r.nonce, ())
        ):
            events.append(
                TxDropped(
                    cid,
                    sender,
                    r.nonce,
                    r.tx_hash,
                    f"nonce {r.nonce} consumed by a transaction we did not send",
                )
            )
    dropped = {e.tx_hash for e in events if isinstance(e, TxDropped)}
    rebroadcast = [r for r in rebroadcast if r.tx_hash not in dropped and r.nonce not in settled]
    if not rebroadcast_signed:
        rebroadcast = [r for r in rebroadcast if r.state is not TxState.SIGNED]

    if any(isinstance(e, TxReorged) for e in events):
        new_anchor = None  # re-check every watched receipt next pass
    eng._anchor = new_anchor
    retire(eng)
    if any(isinstance(e, TxMined) for e in events):
        crash_point("before_receipt_recorded")
    # Chain observations are not write-ahead (a restart asks the chain again): fold them now,
    # make them durable in the background (in order; flush() or the next append waits).
    eng._append_later(events)

    priced_out: set[int] = set()
    if rebroadcast:
        evs, priced_out = await _rebroadcast(eng, rebroadcast)
        events += evs
    for n in sorted((stuck | (priced_out if cfg.auto_replace else set())) - settled):
        live = eng.live_hashes(n)
        if not live or (
            n not in priced_out and any(eng.records[h].state is TxState.SIGNED for h in live)
        ):
            continue
        # a FeeCapExceededError is journaled as TxRefused by replace(); the tx stays pending
        with contextlib.suppress(FeeCapExceededError):
            await eng.speed_up(n)
    return events


def retire(eng: TxEngine) -> None:
    """Drop from ``eng.open`` what no poll will look at again: a transaction confirmed
    ``reorg_window`` blocks deep (``watch`` stops there), and the superseded attempts of its
    nonce (the chain's word on that nonce is final) or whose receipt asks are used up.
    Pending and recently mined transactions always stay."""
    cfg, records, head = eng.config, eng.records, eng.head
    final: set[int] = set()
    gone: list[str] = []
    for h in eng.open:
        r = records[h]
        if (
            r.state is TxState.CONFIRMED
            and r.block_number is not None
            and head - r.block_number >= cfg.reorg_window
        ):
            final.add(r.nonce)
            gone.append(h)
    for h in eng.open:
        r = records[h]
        if r.state in _SUPERSEDED and (
            r.nonce in final or eng._orphan_asks.get(h, 0) >= ORPHAN_ASKS
        ):
            gone.append(h)
    for h in gone:
        del eng.open[h]


_PRICED_OUT = ("base fee", "underpriced", "fee too low", "feecap", "fee cap")


async def _rebroadcast(eng: TxEngine, recs: list[TxRecord]) -> tuple[list[Any], set[int]]:
    """Post journaled raw bytes again (same hash: never a second transaction). Returns the
    TxSent events and the nonces the node refused as priced out (nodes evict a tx whose fee
    cap fell below the base fee: those need a replacement, not a re-broadcast)."""
    answers = await eng.rpc.batch(
        [("eth_sendRawTransaction", ["0x" + r.raw_tx.hex()]) for r in recs]
    )
    evs: list[Any] = []
    priced_out: set[int] = set()
    for r, a in zip(recs, answers, strict=True):
        if isinstance(a, RpcError):
            m = str(a).lower()
            if any(p in m for p in _PRICED_OUT):
                priced_out.add(r.nonce)
                continue
            if "already" not in m and "known" not in m:
                continue  # e.g. nonce too low: the next pass sees the nonce consumed
        elif isinstance(a, AgentError):
            continue
        evs.append(TxSent(eng.chain_id, eng.sender.lower(), r.nonce, r.tx_hash))
        eng._first_seen[r.tx_hash] = eng.head
        eng._first_seen_at[r.tx_hash] = time.monotonic()
        eng._last_seen[r.tx_hash] = time.monotonic()
    eng._append_later(evs)
    return evs, priced_out
