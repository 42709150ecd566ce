"""Leg synchronization across venues: a spot leg on the exchange simulator (ccxt) hedged on
the L1 pools through the Safe's module, each leg a RoutedSliceSink over the one OMS. With the
hedge working the net delta never leaves the bound; with the on-chain hedge refused (its limit
far from the market: no pool fills it) the CEX chunk is unwound and the exposure still stays
within the bound and returns to zero."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.algos.legsync import Leg, LegSynchronizer, SyncBounds, UnwindRule
from agent.algos.sinks import RoutedSliceSink
from agent.bootstrap import ChainAccess, build_order_app
from agent.deploy.devworld import OPERATOR_KEY, DevWorld
from agent.model import Side
from agent.wallet.deploy import WalletDeployment
from tests.integration.routing_exec.conftest import balance

pytestmark = pytest.mark.integration


def _view(app, only: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """The same OMS and executor, the router narrowed to some venues."""
    return SimpleNamespace(
        manager=app.manager, executor=app.executor, journal=app.journal,
        routing=dataclasses.replace(app.routing, only=only),
    )  # fmt: skip


@pytest.mark.parametrize("fault", ["none", "hedge_refused"])
async def test_cex_leg_hedged_on_chain(
    world: DevWorld,
    route_wallet: WalletDeployment,
    sim_url: str,
    tmp_path: Path,
    isolated: None,
    fault: str,
) -> None:
    app = await build_order_app(
        l1=ChainAccess(world.devnets.l1.rpc_url, world.l1, route_wallet.safe, route_wallet.module,
                       route_wallet.policy_file),
        operator_key=OPERATOR_KEY, journal_path=tmp_path / "j.sqlite",
        cex=(("binance", sim_url),), cex_symbol="ETH/USDC",
    )  # fmt: skip
    weth0 = balance(world, "l1", "WETH", route_wallet.safe)
    try:
        cex_sink = RoutedSliceSink(_view(app, ("cex",)), base_decimals=18, quote_decimals=6)
        chain_sink = RoutedSliceSink(_view(app, ("v2", "v3")), base_decimals=18, quote_decimals=6)
        primary = Leg("cex", cex_sink, Side.SELL, "WETH", "USDC", Decimal(3), Decimal(1))
        limit = Decimal(1000) if fault == "hedge_refused" else None
        hedge = Leg("dex", chain_sink, Side.BUY, "WETH", "USDC", Decimal(3), Decimal(1),
                    limit_price=limit)  # fmt: skip
        bounds = SyncBounds(Decimal(1), 3_000, UnwindRule.UNWIND, retry_ms=500, max_attempts=3)
        steps: list[Decimal] = []
        sync = LegSynchronizer(
            f"ls-{fault}", primary, hedge, bounds, on_step=lambda log: steps.append(log.net)
        )
        rep = await sync.run()
    finally:
        await app.close()
    assert steps and max(abs(n) for n in steps) <= bounds.max_net_delta
    assert rep.worst_net_delta <= bounds.max_net_delta
    bought = balance(world, "l1", "WETH", route_wallet.safe) - weth0
    if fault == "none":
        assert rep.outcome == "hedged" and rep.primary_filled == rep.hedge_filled == 3, rep
        assert bought == 3 * 10**18  # the on-chain hedge really bought what the CEX sold
    else:
        assert rep.outcome == "unwound" and rep.hedge_filled == 0 and bought == 0, rep
        assert rep.unwound > 0 and steps[-1] == 0  # the CEX chunk taken back: flat again
