"""Transaction records as the OMS sees them: every hash sent for a nonce, and its fate.

A transaction is never "failed" by us: only a receipt (success=False), or the nonce being
consumed by another transaction, ends it. A reorg puts a mined transaction back to pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.errors import IllegalTransitionError
from agent.oms.events import (
    TxConfirmed,
    TxDropped,
    TxMined,
    TxReorged,
    TxReplaced,
    TxSent,
    TxSigned,
)


class TxState(StrEnum):
    SIGNED = "signed"  # journaled, maybe not broadcast yet
    SENT = "sent"  # the node accepted it (or it was re-broadcast after a reorg)
    MINED = "mined"
    CONFIRMED = "confirmed"
    REPLACED = "replaced"  # superseded by a speed-up/cancel for the same nonce
    DROPPED = "dropped"

    @property
    def pending(self) -> bool:
        return self in (TxState.SIGNED, TxState.SENT)


T = TxState
TX_TRANSITIONS: dict[TxState, dict[type, TxState]] = {
    T.SIGNED: {TxSent: T.SENT, TxMined: T.MINED, TxReplaced: T.REPLACED, TxDropped: T.DROPPED},
    T.SENT: {TxSent: T.SENT, TxMined: T.MINED, TxReplaced: T.REPLACED, TxDropped: T.DROPPED},
    T.MINED: {TxConfirmed: T.CONFIRMED, TxReorged: T.SENT},
    T.CONFIRMED: {TxReorged: T.SENT},  # a reorg deeper than the confirmation depth
    # the chain has the last word: a replaced or dropped tx that still gets mined is mined
    T.REPLACED: {TxMined: T.MINED, TxDropped: T.DROPPED},
    T.DROPPED: {TxMined: T.MINED, TxSent: T.SENT},
}


@dataclass(frozen=True, slots=True)
class TxRecord:
    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    raw_tx: bytes
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    client_order_id: str | None
    replaces: str | None
    state: TxState = TxState.SIGNED
    block_number: int | None = None
    block_hash: str | None = None
    success: bool | None = None
    reason: str = ""

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.chain_id, self.sender, self.nonce)


def apply_tx(rec: TxRecord | None, ev: Any) -> TxRecord:
    if type(ev) is TxSigned:
        if rec is not None:
            raise IllegalTransitionError(f"tx {ev.tx_hash}: already signed and journaled")
        return TxRecord(
            ev.chain_id,
            ev.sender.lower(),
            ev.nonce,
            ev.tx_hash,
            ev.raw_tx,
            ev.max_fee_per_gas,
            ev.max_priority_fee_per_gas,
            ev.client_order_id,
            ev.replaces,
        )
    h = ev.old_tx_hash if type(ev) is TxReplaced else ev.tx_hash
    if rec is None:
        raise IllegalTransitionError(f"tx {h}: {type(ev).__name__} for a transaction never signed")
    nxt = TX_TRANSITIONS[rec.state].get(type(ev))
    if nxt is None:
        raise IllegalTransitionError(
            f"tx {h}: {type(ev).__name__} is not allowed in state {rec.state.value}"
        )
    # positional construction, not dataclasses.replace (4-5x slower): a poll folds one
    # TxMined for every receipt
    if type(ev) is TxMined:
        state = T.CONFIRMED if ev.confirmed else nxt
        return TxRecord(*_ids(rec), state, ev.block_number, ev.block_hash, ev.success, rec.reason)
    if type(ev) is TxReorged:
        return TxRecord(*_ids(rec), nxt, None, None, None, rec.reason)
    reason = ev.reason if type(ev) is TxDropped else rec.reason
    return TxRecord(*_ids(rec), nxt, rec.block_number, rec.block_hash, rec.success, reason)


def _ids(r: TxRecord) -> tuple[Any, ...]:
    """The fields a transition never changes, in TxRecord's order."""
    return (
        r.chain_id,
        r.sender,
        r.nonce,
        r.tx_hash,
        r.raw_tx,
        r.max_fee_per_gas,
        r.max_priority_fee_per_gas,
        r.client_order_id,
        r.replaces,
    )
