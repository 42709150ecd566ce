"""One tracking pass of the engine: receipts, confirmations, reorgs, drops, stuck transactions.

Everything is asked in one JSON-RPC batch (head and next base fee via a 1-block feeHistory,
the account's mined count, and per transaction its receipt), so a poll costs one round trip
however many transactions are in flight; a second, small batch asks pool presence only for
transactions that are neither mined nor below the account's mined count.

Rules (each outcome is journaled before the engine acts on it):
  * pending + receipt                     -> TxMined (+ TxConfirmed at depth); pending
                                             siblings for that nonce -> TxDropped
  * mined/confirmed, receipt gone or moved -> TxReorged (+ TxMined if it moved); the tx is
                                             tracked again and re-broadcast if the node lost it
  * pending, nonce below the mined count,
    no receipt for any attempt            -> TxDropped (a foreign tx consumed the nonce)
  * pending, unknown to the node          -> re-broadcast the journaled raw bytes -> TxSent
  * SIGNED (journaled, maybe never sent)  -> TxSent once the node knows it
  * pending, priced out by the base fee or
    in the pool for ``stuck_blocks``      -> speed-up (both fees +12.5% or to the estimate)
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from agent.chain.fees import FeeCapExceededError
from agent.chain.rpc import qty
from agent.chain.txengine.crash import crash_point
from agent.errors import AgentError, RpcError, RpcResponseError
from agent.oms.events import TxConfirmed, TxDropped, TxMined, TxReorged, TxSent
from agent.oms.tx import TxRecord, TxState

if TYPE_CHECKING:
    from agent.chain.txengine.engine import TxEngine


def _receipt_fields(h: str, rc: Any) -> tuple[int, str, bool, int, int]:
    if not isinstance(rc, dict) or rc.get("transactionHash", h).lower() != h.lower():
        raise RpcResponseError(f"eth_getTransactionReceipt({h}): not a receipt: {str(rc)[:120]}")
    return (
        qty(rc.get("blockNumber"), "receipt.blockNumber"),
        str(rc.get("blockHash")),
        rc.get("status") == "0x1",
        qty(rc.get("gasUsed", "0x0"), "receipt.gasUsed"),
        qty(rc.get("effectiveGasPrice", "0x0"), "receipt.effectiveGasPrice"),
    )


async def poll(eng: TxEngine, *, rebroadcast_signed: bool = True) -> list[Any]:
    cfg = eng.config
    sender = eng.sender.lower()
    cid = eng.chain_id
    pend = [
        r for r in eng.records.values() if r.state.pending and r.tx_hash not in eng._broadcasting
    ]
    watch = [
        r
        for r in eng.records.values()
        if r.state is TxState.MINED
        or (
            r.state is TxState.CONFIRMED
            and r.block_number is not None
            and eng.head - r.block_number < cfg.reorg_window
        )
    ]
    calls: list[tuple[str, list[Any]]] = [
        ("eth_getTransactionCount", [eng.sender, "latest"]),
        ("eth_feeHistory", ["0x1", "latest", []]),
    ]
    for r in pend:
        calls.append(("eth_getTransactionReceipt", [r.tx_hash]))
    for r in watch:
        calls.append(("eth_getTransactionReceipt", [r.tx_hash]))
    ans = await eng.rpc.batch(calls)
    for a in ans[:2]:
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
    eng.head = qty(fh.get("oldestBlock"), "feeHistory.oldestBlock")
    eng.next_base_fee = qty(fh["baseFeePerGas"][-1], "feeHistory.baseFeePerGas")
    eng.nonces.observe(mined_count, max(mined_count, eng.nonces.chain_pending))

    events: list[Any] = []
    settled: set[int] = set()  # nonces with a mined attempt this pass
    rebroadcast: list[TxRecord] = []
    stuck: set[int] = set()

    def depth(bn: int) -> int:
        return eng.head - bn + 1

    # mined ones first: a reorg may put them back into the pending set
    i = 2 + len(pend)
    for r in watch:
        rc = ans[i]
        i += 1
        if isinstance(rc, Exception):
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
            events.append(TxMined(cid, sender, r.nonce, r.tx_hash, bn, bh, ok, gas, price))
            settled.add(r.nonce)
        else:
            rebroadcast.append(r)

    # pool presence, asked only for what may still be in the pool: eth_getTransactionByHash
    # costs anvil several times a receipt, and a mined nonce needs no presence check
    # ... and only for a tx whose fate is unknown (SIGNED) or that the node has not vouched for
    # within ``presence_every`` seconds: a tx the node just accepted needs no check yet
    now = time.monotonic()
    unmined = [
        r
        for k, r in enumerate(pend)
        if ans[2 + k] is None
        and r.nonce >= mined_count
        and (
            r.state is TxState.SIGNED
            or now - eng._last_seen.get(r.tx_hash, 0.0) >= cfg.presence_every
        )
    ]
    # a nonce below the mined count without a receipt looks consumed by a foreign tx, but a
    # node may answer a batch's calls concurrently (count newer than receipt): ask again,
    # strictly after the count was seen, before calling it foreign
    # A node may also count a nonce as used while the block holding it is still being sealed
    # (anvil under load: the count moves before the receipt exists), so the tx itself is asked
    # for too: a tx the node still knows is ours being mined, not a foreign one.
    recheck = [r for k, r in enumerate(pend) if ans[2 + k] is None and r.nonce < mined_count]
    present: dict[str, Any] = {}
    late: dict[str, Any] = {}
    known: dict[str, Any] = {}
    if unmined or recheck:
        n = len(unmined)
        got = await eng.rpc.batch(
            [("eth_getTransactionByHash", [r.tx_hash]) for r in unmined]
            + [("eth_getTransactionReceipt", [r.tx_hash]) for r in recheck]
            + [("eth_getTransactionByHash", [r.tx_hash]) for r in recheck]
        )
        present = {r.tx_hash: g for r, g in zip(unmined, got, strict=False)}
        late = {r.tx_hash: g for r, g in zip(recheck, got[n : n + len(recheck)], strict=True)}
        known = {r.tx_hash: g for r, g in zip(recheck, got[n + len(recheck) :], strict=True)}
    for k, r in enumerate(pend):
        rc = ans[2 + k] if ans[2 + k] is not None else late.get(r.tx_hash)
        tx = present.get(r.tx_hash, False)  # False: not asked (recently seen, or nonce used)
        if isinstance(rc, Exception) or isinstance(tx, Exception):
            continue
        if rc is not None:
            bn, bh, ok, gas, price = _receipt_fields(r.tx_hash, rc)
            events.append(TxMined(cid, sender, r.nonce, r.tx_hash, bn, bh, ok, gas, price))
            if depth(bn) >= cfg.confirmations:
                events.append(TxConfirmed(cid, sender, r.nonce, r.tx_hash, bn, depth(bn)))
            settled.add(r.nonce)
        elif tx is None:
            rebroadcast.append(r)
        elif r.nonce >= mined_count:  # in the pool (asked, or vouched for recently)
            if tx is not False:
                eng._last_seen[r.tx_hash] = now
                if r.state is TxState.SIGNED:
                    events.append(TxSent(cid, sender, r.nonce, r.tx_hash))
            first = eng._first_seen.setdefault(r.tx_hash, eng.head)
            if cfg.auto_replace and (
                r.max_fee_per_gas < eng.next_base_fee or eng.head - first >= cfg.stuck_blocks
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
        eng._last_seen[r.tx_hash] = time.monotonic()
    eng._append_later(evs)
    return evs, priced_out
