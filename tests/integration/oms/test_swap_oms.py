"""The product path is the tested path: `agent trade swap`'s pipeline through the OMS on
anvil: every risk verdict journaled, `agent orders` and `agent journal verify|replay` on that
journal, the signing policy's refusal as OrderDenied, and a reorg that un-fills and re-fills
an order exactly once."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app as cli
from agent.deploy.devworld import DevWorld
from agent.model import Side, SwapIntent
from agent.oms import OrderState, OrderStore
from agent.oms.events import OrderAccepted, OrderDenied, OrderFilled, TxReorged, order_stream
from agent.risk.checks import DEFAULT_CHECKS, RiskLimits
from agent.wallet.deploy import WalletDeployment

from .conftest import balance, operator_nonce

pytestmark = pytest.mark.integration
RISK_CHECKS = [n for n, _ in DEFAULT_CHECKS]


def events(app, cid: str) -> list:  # type: ignore[no-untyped-def]
    return [r.event for r in app.journal.read_stream(order_stream(cid))]


async def test_verdicts_orders_and_journal_cli(
    world: DevWorld, make_app, l1_isolated: None, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(max_notional=Decimal(200_000))
    r = await app.pipeline.run(SwapIntent("ok-1", Side.BUY, "WETH", "USDC", Decimal(2), 30))
    assert (r.status, r.state) == ("filled", "filled"), r.reason
    acc = next(e for e in events(app, "ok-1") if isinstance(e, OrderAccepted))
    assert [v.check for v in acc.verdicts] == ["trading_state", "routing", *RISK_CHECKS]
    assert all(v.verdict == "allow" for v in acc.verdicts)

    nonce = operator_nonce(world)
    big = await app.pipeline.run(SwapIntent("big-1", Side.BUY, "WETH", "USDC", Decimal(500), 30))
    assert (big.status, big.code) == ("denied", "RISK_MAX_NOTIONAL")
    den = next(e for e in events(app, "big-1") if isinstance(e, OrderDenied))
    by = {v.check: v for v in den.verdicts}
    assert by["max_order_notional"].code == "RISK_MAX_NOTIONAL"
    assert "exceeds 200000" in by["max_order_notional"].reason
    assert by["price_band"].verdict == "allow"  # every check ran and kept its verdict
    assert operator_nonce(world) == nonce  # nothing signed or sent
    again = await app.pipeline.run(SwapIntent("ok-1", Side.BUY, "WETH", "USDC", Decimal(2), 30))
    assert (again.status, again.state) == ("duplicate", "filled")
    assert operator_nonce(world) == nonce
    await app.close()

    j = str(tmp_path / "journal.sqlite")
    runner = CliRunner()
    out = runner.invoke(cli, ["orders", "--all", "--json", "--journal", j])
    assert out.exit_code == 0, out.output
    rows = {o["client_order_id"]: o for o in json.loads(out.output)}
    assert rows["ok-1"]["state"] == "filled" and Decimal(rows["ok-1"]["filled"]) == 2
    assert (rows["big-1"]["state"], rows["big-1"]["code"]) == ("denied", "RISK_MAX_NOTIONAL")
    for cmd in (["journal", "verify"], ["journal", "replay"]):
        res = runner.invoke(cli, [*cmd, "--journal", j])
        assert res.exit_code == 0, res.output


async def test_signing_policy_refusal_is_an_order_denial(
    world: DevWorld, make_app, oms_wallet: WalletDeployment, l1_isolated: None
) -> None:  # type: ignore[no-untyped-def]
    # the risk desk allows 10% slippage; the fund's signing policy allows 200 bps
    limits = RiskLimits(
        max_order_notional=Decimal(10**6), max_slippage_bps=1000, price_band_bps=2000
    )
    app = await make_app(limits=limits, policy_path=oms_wallet.policy_file)
    ok = await app.pipeline.run(SwapIntent("pol-ok", Side.BUY, "WETH", "USDC", Decimal(1), 30))
    assert ok.status == "filled", ok.reason
    nonce = operator_nonce(world)
    r = await app.pipeline.run(SwapIntent("pol-no", Side.BUY, "WETH", "USDC", Decimal(1), 400))
    assert r.status == "denied" and r.code.startswith("POLICY"), (r.code, r.reason)
    o = app.manager.store.orders["pol-no"]
    assert (o.state, o.code) == (OrderState.DENIED, r.code)
    kinds = [type(e).__name__ for e in events(app, "pol-no")]
    assert kinds == ["OrderInitialized", "OrderAccepted", "OrderDenied"]
    assert operator_nonce(world) == nonce  # refused before signing: nothing sent
    assert not app.manager.store.txs_by_order.get("pol-no")


async def test_reorg_unfills_then_refills_exactly_once(
    world: DevWorld, make_app, oms_wallet: WalletDeployment, l1_isolated: None
) -> None:  # type: ignore[no-untyped-def]
    app = await make_app()
    rpc = app.rpc
    weth0 = balance(world, "WETH", oms_wallet.safe)
    r = await app.pipeline.run(SwapIntent("rg-1", Side.BUY, "WETH", "USDC", Decimal(3), 30))
    assert r.status == "filled"
    size = world.l1.asset("WETH").to_base(Decimal(3))
    assert balance(world, "WETH", oms_wallet.safe) == weth0 + size
    await rpc.call("evm_setAutomine", [False])
    try:
        await rpc.call("anvil_rollback", [1])  # the swap's block leaves the chain
        assert await rpc.get_transaction_receipt(r.tx_hash) is None
        await app.track()  # the engine journals TxReorged and re-broadcasts the same bytes
        o = app.manager.store.orders["rg-1"]
        assert (o.state, o.filled) == (OrderState.SUBMITTED, 0), o
        assert "reorged" in o.reason
        assert balance(world, "WETH", oms_wallet.safe) == weth0
        await rpc.call("evm_mine", [])
        await app.track()
        o = app.manager.store.orders["rg-1"]
        assert (o.state, o.filled) == (OrderState.FILLED, Decimal(3))
        assert o.trade_ids == {r.tx_hash}  # the same transaction, re-mined
    finally:
        await rpc.call("evm_setAutomine", [True])
    assert balance(world, "WETH", oms_wallet.safe) == weth0 + size  # executed once
    tx_events = [rec.event for rec in app.journal.read_stream(app.executor.stream)]
    assert sum(isinstance(e, TxReorged) for e in tx_events) == 1
    fills = [e for e in events(app, "rg-1") if isinstance(e, OrderFilled)]
    assert len(fills) == 2 and {f.trade_id for f in fills} == {r.tx_hash}
    assert OrderStore.replay(app.journal).state_hash() == app.manager.store.state_hash()
