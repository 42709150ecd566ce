"""apply_tx builds the next TxRecord positionally (a poll folds an event per receipt):
every transition must carry each field the event does not change, whatever the field order."""

from __future__ import annotations

import dataclasses

import pytest

from agent.errors import IllegalTransitionError
from agent.oms.events import TxConfirmed, TxDropped, TxMined, TxReorged, TxSent, TxSigned
from agent.oms.tx import TxState, apply_tx

H = "0x" + "ab" * 32
SIGNED = TxSigned(
    chain_id=31337,
    sender="0xAbC0000000000000000000000000000000000001",
    nonce=7,
    tx_hash=H,
    raw_tx=b"\x02raw",
    max_fee_per_gas=30,
    max_priority_fee_per_gas=2,
    client_order_id="o-1",
    replaces=None,
)


def _others_equal(a: object, b: object, changed: set[str]) -> None:
    for f in dataclasses.fields(a):  # type: ignore[arg-type]
        if f.name not in changed:
            assert getattr(a, f.name) == getattr(b, f.name), f.name


def test_each_transition_changes_only_its_own_fields() -> None:
    rec = apply_tx(None, SIGNED)
    assert (rec.sender, rec.state) == (SIGNED.sender.lower(), TxState.SIGNED)
    sent = apply_tx(rec, TxSent(31337, rec.sender, 7, H))
    _others_equal(rec, sent, {"state"})
    mined = apply_tx(sent, TxMined(31337, rec.sender, 7, H, 12, "0xb1", True, 21000, 5))
    assert (mined.state, mined.block_number, mined.block_hash, mined.success) == (
        TxState.MINED, 12, "0xb1", True,
    )  # fmt: skip
    _others_equal(sent, mined, {"state", "block_number", "block_hash", "success"})
    conf = apply_tx(mined, TxConfirmed(31337, rec.sender, 7, H, 12, 1))
    _others_equal(mined, conf, {"state"})
    back = apply_tx(conf, TxReorged(31337, rec.sender, 7, H, 12, "0xb1"))
    assert (back.state, back.block_number, back.block_hash, back.success) == (
        TxState.SENT, None, None, None,
    )  # fmt: skip
    _others_equal(conf, back, {"state", "block_number", "block_hash", "success"})
    dropped = apply_tx(back, TxDropped(31337, rec.sender, 7, H, "nonce 7 mined by 0xcd"))
    assert (dropped.state, dropped.reason) == (TxState.DROPPED, "nonce 7 mined by 0xcd")
    _others_equal(back, dropped, {"state", "reason"})


def test_a_receipt_already_deep_enough_goes_straight_to_confirmed() -> None:
    sent = apply_tx(apply_tx(None, SIGNED), TxSent(31337, SIGNED.sender.lower(), 7, H))
    ev = TxMined(31337, sent.sender, 7, H, 12, "0xb1", False, 21000, 5, confirmed=True)
    conf = apply_tx(sent, ev)
    assert (conf.state, conf.block_number, conf.block_hash, conf.success) == (
        TxState.CONFIRMED, 12, "0xb1", False,
    )  # fmt: skip
    _others_equal(sent, conf, {"state", "block_number", "block_hash", "success"})
    # nothing confirms it twice, and a reorg still un-confirms it
    with pytest.raises(IllegalTransitionError):
        apply_tx(conf, TxConfirmed(31337, sent.sender, 7, H, 12, 1))
    assert apply_tx(conf, TxReorged(31337, sent.sender, 7, H, 12, "0xb1")).state is TxState.SENT
