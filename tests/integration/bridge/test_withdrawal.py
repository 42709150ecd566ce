"""L2 -> L1 withdrawals through the bridge venue: the L2 Safe burns through its module, the
relayers prove it on L1, the challenge period passes on L1's clock, the venue finalizes
through the L1 Safe's module and tracks it to completion; reconciliation from both chains;
a withdrawal larger than the L2 Safe holds is refused, journaled, and nothing is sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.bridge.events import (
    BridgeTransferCompleted,
    BridgeTransferInitiated,
    BridgeTransferProven,
    BridgeTransferRejected,
)
from agent.bridge.relayer import Relayer
from agent.bridge.service import RelayerThread
from agent.chain.rpc import RpcClient
from agent.deploy.devworld import OPERATOR_KEY, OWNER_KEYS, address_of
from agent.errors import ValidationError
from agent.journal import SqliteJournal
from agent.model import Side, Spot
from agent.signing import LocalSigner
from agent.venues.base import ChildOrder, VenueOrderState
from agent.venues.bridge import BridgeVenue
from agent.wallet.deploy import deploy_wallet
from agent.wallet.executor import ModuleExecutor

from .helpers import eoa_deposit, l1_usdc, l2_balance

pytestmark = pytest.mark.integration
USDC = Spot("USDC", "USDC")


def _events(journal, cls) -> list:
    return [r.event for r in journal.read_all() if isinstance(r.event, cls)]


async def test_withdrawal_l2_to_l1_through_both_safes(bridge_world, tmp_path):
    bw = bridge_world
    owners = [address_of(k) for k in OWNER_KEYS]
    l2w = deploy_wallet(
        bw.tx("l2"), bw.l2, owners=owners, threshold=2, operator=address_of(OPERATOR_KEY),
        owner_keys=list(OWNER_KEYS), salt=21, policy_vars={"BRIDGE_RECIPIENT": bw.safe},
    )  # fmt: skip
    l1_head = int(bw.tx("l1").rpc("eth_blockNumber"), 16)
    l2_head = int(bw.tx("l2").rpc("eth_blockNumber"), 16)
    d = eoa_deposit(bw, 50_000_000, recipient=l2w.safe)  # fund the L2 Safe with 50 USDC.b
    async with Relayer(bw.relayer_config(l1_from_block=l1_head, l2_from_block=l2_head)) as r:
        await r.step()
    assert l2_balance(bw, l2w.safe) == d.amount

    journal = SqliteJournal(tmp_path / "wd.sqlite")
    l1 = await RpcClient(bw.l1_url, expected_chain_id=bw.l1.chain_id).connect()
    l2 = await RpcClient(bw.l2_url, expected_chain_id=bw.l2.chain_id).connect()
    op = LocalSigner(OPERATOR_KEY)

    def executor(rpc, m, module):
        return ModuleExecutor(
            rpc, op, module=module, multisend=m.address("MultiSendCallOnly"),
            chain_id=m.chain_id, journal=journal,
        )  # fmt: skip

    venue = await BridgeVenue(
        l1_rpc=l1, l2_rpc=l2, l1=bw.l1, l2=bw.l2, executor=executor(l1, bw.l1, bw.module),
        safe=bw.safe, recipient=l2w.safe, journal=journal, l2_executor=executor(l2, bw.l2, l2w.module),
        l2_safe=l2w.safe, l1_recipient=bw.safe, finalize_withdrawals=True,
        l1_from_block=l1_head, l2_from_block=l2_head, poll_interval=0.02,
    ).connect()  # fmt: skip
    try:
        # bad input first: more than the L2 Safe holds; nothing signed or sent
        sent = await l2.get_transaction_count(op.address)
        with pytest.raises(ValidationError) as e:
            await venue.submit(ChildOrder("wd-too-big", USDC, Side.BUY, Decimal(1_000)))
        assert e.value.field == "size" and "L2 Safe" in str(e.value)
        assert await l2.get_transaction_count(op.address) == sent
        assert [x.client_order_id for x in _events(journal, BridgeTransferRejected)] == [
            "wd-too-big"
        ]

        q = await venue.quote(USDC, Side.BUY, Decimal(20))
        fee = bw.tx("l2").call("BridgeL2", venue.bridge, "feeFor", 20_000_000)
        assert (q.amount_in, q.amount_out) == (20_000_000, 20_000_000 - fee) and fee > 0
        period = bw.tx("l1").call("BridgeEscrow", venue.escrow, "challengePeriod")
        assert Decimal(dict(q.extra)["eta_seconds"]) > period
        assert q.asset_in == f"USDC@{bw.l2.name}" and q.asset_out == f"USDC@{bw.l1.name}"

        l1_before = l1_usdc(bw, bw.safe)
        cfg = bw.relayer_config(
            l1_from_block=l1_head, l2_from_block=l2_head, finalize_withdrawals=False
        )
        with RelayerThread(cfg):
            ref = await venue.submit(ChildOrder("wd-1", USDC, Side.BUY, Decimal(20)))
            assert l2_balance(bw, l2w.safe) == d.amount - 20_000_000  # burned on L2
            proven = await venue.wait_proven(ref, timeout=30)  # the relayers proved it on L1
            assert proven.release_at is not None
            [open_] = [o for o in await venue.open_orders() if o.side is Side.BUY]
            assert open_.ref.venue_order_id == ref.venue_order_id and open_.size == Decimal(20)
            assert l1_usdc(bw, bw.safe) == l1_before  # still in its challenge period
            bw.tx("l1").rpc("evm_increaseTime", hex(period))
            bw.tx("l1").rpc("evm_mine")
            tr = await venue.wait(ref, timeout=30)  # the venue finalizes through the L1 Safe
        assert tr.state is VenueOrderState.FILLED and tr.dest_tx
        assert (tr.amount_in, tr.fee, tr.amount_out) == (20_000_000, fee, 20_000_000 - fee)
        assert l1_usdc(bw, bw.safe) == l1_before + tr.amount_out
        assert [o for o in await venue.open_orders() if o.side is Side.BUY] == []
        status = await venue.order_status(ref)
        assert status.side is Side.BUY and status.state is VenueOrderState.FILLED
        rep = await venue.fills_since(None)
        [f] = [f for f in rep.fills if f.order_id == ref.venue_order_id]
        assert (f.amount_in, f.amount_out, f.trade_id) == (20_000_000, tr.amount_out, tr.dest_tx)
        assert f.asset_out == f"USDC@{bw.l1.name}"
        assert (await venue.fills_since(rep.cursor)).fills == ()
        assert [x.message_id for x in _events(journal, BridgeTransferInitiated)] == [tr.message_id]
        assert [x.message_id for x in _events(journal, BridgeTransferProven)] == [tr.message_id]
        [done] = _events(journal, BridgeTransferCompleted)
        assert (done.message_id, done.dest_tx, done.amount_out) == (
            tr.message_id, tr.dest_tx, tr.amount_out,
        )  # fmt: skip
    finally:
        await venue.close()
        await l1.close()
        await l2.close()
        journal.close()
