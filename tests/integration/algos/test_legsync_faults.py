"""Leg synchronization faults from the chain and the exchange, on anvil + the simulator, each
leg a RoutedSliceSink over the one OMS (every order and its refusal journaled):

* ``hedge_reverts``: the CEX spot sale is hedged by an on-chain buy, but most of the Safe's
  USDC has been moved out meanwhile (its owners took it; what is left still passes the
  policy's value checks): the hedge's swap cannot pull its USDC, the module's call reverts
  (EXECUTION_FAILED, found by the pre-send gas estimate, which runs the exact transaction),
  journaled on each order; the retries fail the same way and the CEX chunk is unwound;
* ``cex_hedge_rejected``: an on-chain buy on the pools is hedged by a sale on the exchange,
  which rejects it (the account's ETH is gone): the on-chain chunk is sold back on the pools.

In both the net delta never leaves the bound and ends flat."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.algos.legsync import (
    Leg,
    LegStep,
    LegSyncEnded,
    LegSynchronizer,
    SyncBounds,
    UnwindRule,
    legsync_stream,
)
from agent.algos.runner import SliceOrder
from agent.algos.sinks import RoutedSliceSink
from agent.bootstrap import ChainAccess, build_order_app
from agent.deploy.devworld import OPERATOR_KEY, DevWorld
from agent.journal.sqlite import SqliteJournal
from agent.model import Side
from agent.oms.store import OrderStore
from agent.wallet.deploy import WalletDeployment
from tests.integration.algos.sim_thread import SimThread
from tests.integration.routing_exec.conftest import balance

pytestmark = pytest.mark.integration
E18 = 10**18


def _view(app, only: tuple[str, ...]):  # type: ignore[no-untyped-def]
    return SimpleNamespace(
        manager=app.manager, executor=app.executor, journal=app.journal,
        routing=dataclasses.replace(app.routing, only=only),
    )  # fmt: skip


def _drain_safe_usdc(world: DevWorld, safe: str, keep: int) -> None:
    """All but ``keep`` of the Safe's USDC leaves it (its owners moved it: a transfer from the
    Safe, impersonated on anvil). What is left passes the policy's value checks for a hedge
    that needs more than that: the hedge's swap cannot pull its USDC and reverts."""
    from eth_abi import encode

    d = world.devnets.l1
    usdc = world.l1.token("USDC").address
    out = balance(world, "l1", "USDC", safe) - keep
    d.rpc("anvil_impersonateAccount", safe)
    d.rpc("anvil_setBalance", safe, hex(E18))
    data = "0xa9059cbb" + encode(["address", "uint256"], [f"0x{'11' * 20}", out]).hex()
    h = d.rpc("eth_sendTransaction", {"from": safe, "to": usdc, "data": data})
    d.rpc("evm_mine")  # mined now, whatever mining mode an earlier test left
    assert int(d.rpc("eth_getTransactionReceipt", h)["status"], 16) == 1
    d.rpc("anvil_stopImpersonatingAccount", safe)
    assert balance(world, "l1", "USDC", safe) == keep


def _take_exchange_eth(sim: SimThread) -> None:
    """The exchange account's ETH moves to another account (on the simulator's own loop)."""

    async def move() -> None:
        led = sim.sim.exchange.ledger
        led.move_free("trader", "other", "ETH", led.free("trader", "ETH"))

    asyncio.run_coroutine_threadsafe(move(), sim.loop).result(10)


@pytest.mark.parametrize("fault", ["hedge_reverts", "cex_hedge_rejected"])
async def test_leg_faults_stay_within_the_bound(
    world: DevWorld,
    route_wallet: WalletDeployment,
    sim: SimThread,
    tmp_path: Path,
    isolated: None,
    fault: str,
) -> None:
    j = tmp_path / "j.sqlite"
    app = await build_order_app(
        l1=ChainAccess(world.devnets.l1.rpc_url, world.l1, route_wallet.safe, route_wallet.module,
                       route_wallet.policy_file),
        operator_key=OPERATOR_KEY, journal_path=j, cex=(("binance", sim.url),),
        cex_symbol="ETH/USDC",
    )  # fmt: skip
    weth0 = balance(world, "l1", "WETH", route_wallet.safe)
    cex_sink = RoutedSliceSink(_view(app, ("cex",)), base_decimals=18, quote_decimals=6)
    chain_sink = RoutedSliceSink(_view(app, ("v2", "v3")), base_decimals=18, quote_decimals=6)
    if fault == "hedge_reverts":
        # a small buy first opens the value guard's window on the funded Safe (an earlier
        # test's time jump may have closed the last one): a window opened only after the drain
        # would be 100 bps of $1,500, and the hedge would be refused for the budget
        # (LOSS_BUDGET_EXCEEDED) before its revert could be seen
        warm = SliceOrder("lf-warm", "lf-warm.0", Side.BUY, "WETH", "USDC", Decimal("0.01"),
                          None, 100)  # fmt: skip
        assert (await chain_sink.execute(warm)).filled > 0
        weth0 = balance(world, "l1", "WETH", route_wallet.safe)
        _drain_safe_usdc(world, route_wallet.safe, 1_500 * 10**6)  # a hedge needs ~3,000
        primary = Leg("cex", cex_sink, Side.SELL, "WETH", "USDC", Decimal(3), Decimal(1))
        hedge = Leg("dex", chain_sink, Side.BUY, "WETH", "USDC", Decimal(3), Decimal(1))
    else:
        _take_exchange_eth(sim)
        primary = Leg("dex", chain_sink, Side.BUY, "WETH", "USDC", Decimal(3), Decimal(1))
        hedge = Leg("cex", cex_sink, Side.SELL, "WETH", "USDC", Decimal(3), Decimal(1))
    bounds = SyncBounds(Decimal(1), 2_000, UnwindRule.UNWIND, retry_ms=300, max_attempts=3)
    steps: list[Decimal] = []
    sync = LegSynchronizer(
        f"lf-{fault}", primary, hedge, bounds, on_step=lambda log: steps.append(log.net),
        journal=app.journal,
    )  # fmt: skip
    try:
        rep = await sync.run()
    finally:
        await app.close()
    assert steps and max(abs(n) for n in steps) <= bounds.max_net_delta, steps
    assert rep.worst_net_delta <= bounds.max_net_delta and steps[-1] == 0, rep
    assert rep.outcome == "unwound" and rep.hedge_filled == 0 and rep.unwound > 0, rep
    # every step is journaled: the exposure after each order, the refusals' codes, the end
    with SqliteJournal(j) as store:
        orders = OrderStore.replay(store).orders
        legs = [r.event for r in store.read_stream(legsync_stream(f"lf-{fault}"))]
    assert isinstance(legs[-1], LegSyncEnded) and legs[-1].outcome == "unwound"
    assert legs[-1].worst_net_delta <= bounds.max_net_delta
    steps_j = [e for e in legs if isinstance(e, LegStep)]
    assert [e.net_delta for e in steps_j] == steps  # the journal holds what was measured
    tries = [e for e in steps_j if e.role == "hedge"]
    assert len(tries) >= 2 and all(e.filled == 0 for e in tries)
    assert [e.role for e in steps_j].count("unwind") >= 1 and steps_j[-1].net_delta == 0
    # each hedge attempt is a routed order of the one OMS whose children carry the code
    kids = [o for o in orders.values() if any(o.parent_id == t.client_order_id for t in tries)]
    assert kids and all(o.filled == 0 and o.state.terminal for o in kids)
    want = "POLICY_EXECUTION_FAILED" if fault == "hedge_reverts" else "VENUE_REJECTED"
    assert {o.code for o in kids} == {want}, [(o.client_order_id, o.code, o.reason) for o in kids]
    assert balance(world, "l1", "WETH", route_wallet.safe) == weth0  # flat on the chain too
    if fault == "hedge_reverts":  # the gas estimate ran the exact call: the module reverted
        assert all("EXECUTION_FAILED" in o.reason for o in kids)
