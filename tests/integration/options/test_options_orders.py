"""Options RFQ fills are OMS orders: the strategy is a parent, each leg and the hedge a
child, all moved by the one Safe transaction, listed by `agent orders` with the swaps and CEX
orders; a refusal or a revert ends them DENIED / REJECTED, never left open."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from agent.cli.main import app as cli
from agent.errors import PolicyDeniedError
from agent.oms import OrderStore
from agent.venues.options.errors import ExecutionRevertedError

pytestmark = pytest.mark.integration


def _orders(tmp_path) -> dict[str, dict]:
    out = CliRunner().invoke(
        cli, ["orders", "--all", "--json", "--journal", str(tmp_path / "journal.sqlite")]
    )
    assert out.exit_code == 0, out.output
    return {o["client_order_id"]: o for o in json.loads(out.output)}


async def test_condor_is_a_parent_with_filled_children_in_agent_orders(
    options_world, executor_parts, tmp_path
):
    ex, _chain, journal = executor_parts
    condor = options_world.condor(Decimal(2))
    plan = await ex.plan(condor)
    result = await ex.execute(plan)
    assert result.order_id

    rows = _orders(tmp_path)
    parent = rows[result.order_id]
    assert parent["state"] == "filled" and parent["instrument"] == condor.name
    assert parent["side"] == "sell"  # a short condor is a credit
    assert Decimal(parent["avg_price"]) == plan.net_premium
    kids = {k: r for k, r in rows.items() if r["parent_id"] == result.order_id}
    legs = [r for r in kids.values() if r["venue"].startswith("options@")]
    assert sorted(r["instrument"] for r in legs) == sorted(f.leg.option.symbol for f in plan.legs)
    assert all(r["state"] == "filled" and Decimal(r["filled"]) == Decimal(2) for r in legs)
    for f in plan.legs:  # each leg at its quoted premium per unit
        (r,) = [r for r in legs if r["instrument"] == f.leg.option.symbol]
        assert Decimal(r["avg_price"]) == abs(f.premium) / f.leg.size
    hedges = [r for r in kids.values() if r["venue"].startswith("uniswap-v3@")]
    assert plan.hedge is not None and len(hedges) == 1
    assert hedges[0]["state"] == "filled" and Decimal(hedges[0]["avg_price"]) > 0
    # every child was submitted with the one transaction the executor sent
    store = OrderStore.replay(journal)
    assert store.orders[result.order_id].venue_order_id == result.tx_hash
    assert {store.orders[k].venue_order_id for k in kids} == {result.tx_hash}


async def test_denied_and_reverted_strategies_end_their_orders(
    options_world, executor_parts, tmp_path
):
    ex, _chain, _journal = executor_parts
    plan = await ex.plan(options_world.condor())
    await ex.execute(plan)
    with pytest.raises(PolicyDeniedError):  # the used quote nonces: refused before signing
        await ex.execute(plan)
    ex.executor.guard = None
    with pytest.raises(ExecutionRevertedError):  # without the guard: the chain refuses them
        await ex.execute(plan)

    rows = _orders(tmp_path)
    parents = [r for r in rows.values() if r["parent_id"] is None]
    assert sorted(r["state"] for r in parents) == ["denied", "filled", "rejected"]
    by_parent = {p["client_order_id"]: p["state"] for p in parents}
    for r in rows.values():
        if r["parent_id"] is not None:
            assert r["state"] == by_parent[r["parent_id"]], r
    denied = next(r for r in parents if r["state"] == "denied")
    assert denied["code"] == "POLICY_QUOTE_NONCE_USED"
