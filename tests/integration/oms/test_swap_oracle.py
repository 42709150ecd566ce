"""The signing policy's slippage rule is checked against the manifest's oracle, not against
the quotes the swap was built from: with the WETH feed moved far from the pools, a swap
whose limit price the venues all agree on is denied by the oracle price bound (POLICY_PRICE_OUT_OF_BOUNDS, the off-chain mirror of the
module's SwapPriceChecker) and nothing
is signed or sent; with the feed back at the pools' price the same swap fills."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.deploy.devworld import DEPLOYER_KEY, DevWorld
from agent.deploy.transactor import Transactor
from agent.model import Side, SwapIntent
from agent.oms import OrderState
from agent.risk.checks import RiskLimits
from agent.venues.options.deploy import push_price, read_feed
from agent.wallet.deploy import WalletDeployment

from .conftest import balance, operator_nonce

pytestmark = pytest.mark.integration


async def test_limit_price_far_from_the_oracle_is_denied_before_signing(
    world: DevWorld, make_app, oms_wallet: WalletDeployment, l1_isolated: None
) -> None:  # type: ignore[no-untyped-def]
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    feed = world.l1.address("PriceFeedWETH")
    spot = read_feed(tx, feed)
    limits = RiskLimits(max_order_notional=Decimal(10**6))
    app = await make_app(limits=limits, policy_path=oms_wallet.policy_file)
    assert app.policy.prices.source("WETH").startswith("oracle PriceFeedWETH")
    # USDC has its own feed on the dev world (issue 14), so no symbol falls back to the quotes
    assert app.policy.prices.source("USDC").startswith("oracle PriceFeedUSDC")

    push_price(tx, feed, spot * Decimal("0.8"))  # the oracle says WETH is 20% cheaper
    nonce, usdc = operator_nonce(world), balance(world, "USDC", oms_wallet.safe)
    r = await app.pipeline.run(SwapIntent("orc-far", Side.BUY, "WETH", "USDC", Decimal(1), 30))
    assert (r.status, r.code) == ("denied", "POLICY_PRICE_OUT_OF_BOUNDS"), (r.code, r.reason)
    assert "oracle price" in r.reason
    o = app.manager.store.orders["orc-far"]
    assert (o.state, o.code) == (OrderState.DENIED, "POLICY_PRICE_OUT_OF_BOUNDS")
    assert operator_nonce(world) == nonce  # nothing signed or sent
    assert balance(world, "USDC", oms_wallet.safe) == usdc
    assert not app.manager.store.txs_by_order.get("orc-far")

    push_price(tx, feed, spot)  # the oracle agrees with the pools again
    ok = await app.pipeline.run(SwapIntent("orc-near", Side.BUY, "WETH", "USDC", Decimal(1), 30))
    assert ok.status == "filled", (ok.code, ok.reason)


async def test_the_demos_intents_pass_the_dev_policy_against_the_oracle(
    world: DevWorld, make_app, oms_wallet: WalletDeployment, l1_isolated: None
) -> None:  # type: ignore[no-untyped-def]
    """scripts/demo's swaps, in order, with the dev policy (max_slippage_bps 150) and the dev
    WETH feed (static, 3000) as the reference: the large buy's limit (its quote + 100 bps)
    stays inside 200 bps of the oracle, so a fund's guard would let the demo trade."""
    app = await make_app(policy_path=oms_wallet.policy_file)
    for intent in (
        SwapIntent("dm-buy", Side.BUY, "WETH", "USDC", Decimal(25), 30),
        SwapIntent("dm-buy-large", Side.BUY, "WETH", "USDC", Decimal(250), 100),
        SwapIntent("dm-sell", Side.SELL, "WETH", "USDC", Decimal(5), 30),
    ):
        r = await app.pipeline.run(intent)
        assert r.status == "filled", (intent.client_id, r.code, r.reason)
