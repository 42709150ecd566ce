"""Bridge transfers are OMS orders: a deposit is listed by `agent orders` as filled once
minted on L2 (price = the share that arrived, fee = the bridge's), and a refused one as
denied with the refusal's code; nothing else in the journal says otherwise."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from agent.bridge.service import RelayerThread
from agent.cli.main import app as cli
from agent.errors import ValidationError
from agent.model import Side, Spot
from agent.venues.base import ChildOrder

pytestmark = pytest.mark.integration
USDC = Spot("USDC", "USDC")


def _orders(tmp_path) -> dict[str, dict]:
    out = CliRunner().invoke(
        cli, ["orders", "--all", "--json", "--journal", str(tmp_path / "venue.sqlite")]
    )
    assert out.exit_code == 0, out.output
    return {o["client_order_id"]: o for o in json.loads(out.output)}


async def test_deposit_is_an_order_filled_at_the_mint(bridge_world, venue, tmp_path):
    bw = bridge_world
    with RelayerThread(
        bw.relayer_config(l1_from_block=int(bw.tx("l1").rpc("eth_blockNumber"), 16))
    ):
        ref = await venue.submit(ChildOrder("bridge-oms-1", USDC, Side.SELL, Decimal(1_000)))
        before = _orders(tmp_path)["bridge-oms-1"]
        tr = await venue.wait(ref, timeout=30)
    assert before["state"] in ("submitted", "filled")  # the mint may already have landed
    row = _orders(tmp_path)["bridge-oms-1"]
    assert row["state"] == "filled" and row["venue"] == venue.id
    assert row["instrument"] == "USDC/USDC" and row["side"] == "sell"
    assert Decimal(row["filled"]) == Decimal(1_000)
    assert Decimal(row["avg_price"]) == Decimal(tr.amount_out) / Decimal(tr.amount_in)
    o = venue.orders.manager.store.orders["bridge-oms-1"]
    assert o.venue_order_id == tr.source_tx  # submitted with the Safe's deposit tx
    assert dict(o.fees) == {"USDC": Decimal(tr.fee).scaleb(-6)}


async def test_refused_deposit_is_a_denied_order(venue, tmp_path):
    with pytest.raises(ValidationError):
        await venue.submit(ChildOrder("bridge-oms-2", USDC, Side.SELL, Decimal(10) ** 12))
    row = _orders(tmp_path)["bridge-oms-2"]
    assert row["state"] == "denied" and row["code"] and "holds" in row["reason"]
