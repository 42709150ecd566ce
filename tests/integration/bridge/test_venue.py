"""The bridge venue through the real Safe + module on L1: quote, submit, track, events,
reconciliation from the chains, bad input, and the demo entry point."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from agent.bridge.events import BridgeTransferRejected
from agent.bridge.relayer import Relayer
from agent.bridge.service import RelayerThread
from agent.deploy.devworld import OPERATOR_KEY, address_of
from agent.errors import PolicyDeniedError, ValidationError
from agent.model import Side, Spot
from agent.venues.base import ChildOrder, VenueEventKind, VenueOrderState, VenueReports
from agent.venues.bridge.demo import bridge_usdc_demo

from .helpers import l1_usdc, l2_balance

pytestmark = pytest.mark.integration
USDC = Spot("USDC", "USDC")


async def test_quote_matches_the_contract(bridge_world, venue):
    q = await venue.quote(USDC, Side.SELL, Decimal("12345.678901"))
    fee = bridge_world.tx("l1").call("BridgeEscrow", venue.escrow, "feeFor", 12_345_678_901)
    assert (q.amount_in, q.amount_out) == (12_345_678_901, 12_345_678_901 - fee)
    assert q.fee_bps == 5 and dict(q.extra)["fee"] == str(fee)
    assert Decimal(dict(q.extra)["eta_seconds"]) > 0
    est = venue.estimate("USDC", Decimal("12345.678901"))
    assert est.fee == fee and est.amount_out == q.amount_out


async def test_submit_through_safe_tracks_to_mint(bridge_world, venue):
    bw = bridge_world
    assert isinstance(venue, VenueReports)
    safe_before, l2_before = l1_usdc(bw, bw.safe), l2_balance(bw, bw.l2_safe)
    events = venue.events()
    with RelayerThread(
        bw.relayer_config(l1_from_block=int(bw.tx("l1").rpc("eth_blockNumber"), 16))
    ):
        ref = await venue.submit(ChildOrder("bridge-it-1", USDC, Side.SELL, Decimal(1_000)))
        tr = await venue.wait(ref, timeout=30)
    assert tr.state is VenueOrderState.FILLED and tr.dest_tx and tr.elapsed > 0
    assert l1_usdc(bw, bw.safe) == safe_before - 1_000_000_000
    assert l2_balance(bw, bw.l2_safe) == l2_before + tr.amount_out
    assert tr.amount_in == tr.fee + tr.amount_out and tr.fee == 500_000
    kinds = [(await anext(events)).kind for _ in range(2)]
    assert kinds == [VenueEventKind.ACK, VenueEventKind.FILL]
    # idempotent on client_order_id: same ref, no second deposit
    again = await venue.submit(ChildOrder("bridge-it-1", USDC, Side.SELL, Decimal(1_000)))
    assert again == ref and l1_usdc(bw, bw.safe) == safe_before - 1_000_000_000
    status = await venue.order_status(ref)
    assert status.state is VenueOrderState.FILLED and status.filled == Decimal(1_000)
    # the model now uses what it saw
    assert venue.estimate("USDC", Decimal(1)).calibrated


async def test_reconcile_open_then_filled_from_chain(bridge_world, venue):
    bw = bridge_world
    cursor = (await venue.fills_since(None)).cursor
    ref = await venue.submit(ChildOrder("bridge-it-2", USDC, Side.SELL, Decimal(250)))
    open_ = await venue.open_orders()
    assert [o.ref.venue_order_id for o in open_] == [ref.venue_order_id]
    assert open_[0].state is VenueOrderState.OPEN and open_[0].size == Decimal(250)
    cfg = bw.relayer_config(l1_from_block=0, l2_from_block=0)
    async with Relayer(cfg) as r:
        await r.step()
    await venue.wait(ref, timeout=30)
    assert await venue.open_orders() == []
    rep = await venue.fills_since(cursor)
    mine = [f for f in rep.fills if f.order_id == ref.venue_order_id]
    assert len(mine) == 1
    assert (mine[0].amount_in, mine[0].fee, mine[0].amount_out) == (
        250_000_000,
        125_000,
        249_875_000,
    )
    assert (await venue.fills_since(rep.cursor)).fills == ()


async def test_bad_input_moves_nothing(bridge_world, venue):
    bw = bridge_world
    op = address_of(OPERATOR_KEY)
    nonce = int(bw.tx("l1").rpc("eth_getTransactionCount", op, "latest"), 16)
    safe_before = l1_usdc(bw, bw.safe)
    with pytest.raises(ValidationError) as e:
        await venue.submit(ChildOrder("too-big", USDC, Side.SELL, Decimal(10**9)))
    assert e.value.field == "size" and "fund the Safe" in str(e.value)
    with pytest.raises(ValidationError) as e:
        await venue.submit(ChildOrder("mixed", Spot("USDC", "WETH"), Side.SELL, Decimal(1)))
    assert e.value.field == "instrument"
    with pytest.raises(ValidationError) as e:
        await venue.submit(ChildOrder("dust", USDC, Side.SELL, Decimal("0.0000001")))
    assert e.value.field == "size"
    assert int(bw.tx("l1").rpc("eth_getTransactionCount", op, "latest"), 16) == nonce
    assert l1_usdc(bw, bw.safe) == safe_before
    assert await venue.open_orders() == []
    rejected = [
        r.event for r in venue.journal.read_all() if isinstance(r.event, BridgeTransferRejected)
    ]
    assert [(e.client_order_id, e.code) for e in rejected] == [
        ("too-big", "INVALID_INPUT"),
        ("mixed", "INVALID_INPUT"),
        ("dust", "INVALID_INPUT"),
    ]


async def test_bridge_usdc_demo(bridge_world, tmp_path):
    bw = bridge_world
    before = l2_balance(bw, bw.l2_safe)
    r = await asyncio.wait_for(
        bridge_usdc_demo(
            l1_url=bw.l1_url, l2_url=bw.l2_url, l1=bw.l1, l2=bw.l2, safe=bw.safe,
            module=bw.module, recipient=bw.l2_safe, journal_path=tmp_path / "demo.sqlite",
            amount=Decimal(25_000), policy_path=bw.policy_file,
        ),
        60,
    )  # fmt: skip
    assert r.amount == Decimal(25_000) and r.fee == Decimal("12.5")
    assert r.received == r.amount - r.fee
    assert r.l2_balance * 10**6 == before + 24_987_500_000
    assert r.l1_tx.startswith("0x") and r.l2_tx.startswith("0x") and r.l1_tx != r.l2_tx
    assert (r.threshold, r.relayers) == (2, 3)
    assert "USDC L1 -> L2" in r.lines()[0]


async def test_deposit_to_a_recipient_outside_the_policy_is_denied_before_signing(
    bridge_world, venue
):
    """The venue's executor carries the Safe's signing policy: a deposit whose L2 recipient is
    not the fund's own Safe there (``bridge_recipients``) is refused off-chain, journaled, and
    nothing is signed or sent."""
    bw = bridge_world
    venue.recipient = address_of(OPERATOR_KEY)  # not in the policy's bridge_recipients
    op = address_of(OPERATOR_KEY)
    sent = int(bw.tx("l1").rpc("eth_getTransactionCount", op, "latest"), 16)
    usdc = l1_usdc(bw, bw.safe)
    with pytest.raises(PolicyDeniedError) as e:
        await venue.submit(ChildOrder("bridge-foreign", USDC, Side.SELL, Decimal(10)))
    assert e.value.code.startswith("POLICY_") and "recipient" in str(e.value), e.value
    assert int(bw.tx("l1").rpc("eth_getTransactionCount", op, "latest"), 16) == sent
    assert l1_usdc(bw, bw.safe) == usdc
    rejected = [
        r.event for r in venue.journal.read_all() if isinstance(r.event, BridgeTransferRejected)
    ]
    assert [(r.client_order_id, r.code) for r in rejected] == [("bridge-foreign", e.value.code)]
