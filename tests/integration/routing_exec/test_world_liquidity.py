"""The world worth routing: every WETH/USDC fee tier on L1 with depth, a deep V2 pair, and on the
L2 a V3 pool of the bridge's own tokens whose inventory really crossed the bridge."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.deploy.devworld import DEPLOYER_KEY, DevWorld
from agent.deploy.transactor import Transactor

pytestmark = pytest.mark.integration


def _usdc_per_weth(tx: Transactor, pool: str, weth: str, usdc: str, dw: int, du: int) -> Decimal:
    sqrt_p = tx.call("UniswapV3Pool", pool, "slot0")[0]
    raw = Decimal(sqrt_p) ** 2 / Decimal(2) ** 192  # token1 per token0, base units
    scale = Decimal(10) ** (dw - du)
    return raw * scale if int(weth, 16) < int(usdc, 16) else scale / raw


def test_l1_has_every_tier_and_a_deep_v2_pair(world: DevWorld) -> None:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    m = world.l1
    weth, usdc = m.token("WETH").address, m.token("USDC").address
    liq = {}
    for fee in (500, 3000, 10000):
        pool = m.pools[f"v3:WETH/USDC/{fee}"]
        assert tx.call("UniswapV3Pool", pool, "fee") == fee
        liq[fee] = tx.call("UniswapV3Pool", pool, "liquidity")
        assert Decimal(2990) < _usdc_per_weth(tx, pool, weth, usdc, 18, 6) < Decimal(3010)
    assert len(set(liq.values())) == 3 and min(liq.values()) > 0  # different depths
    r0, r1, _ = tx.call("UniswapV2Pair", m.pools["v2:WETH/USDC"], "getReserves")
    weth_reserve = r0 if int(weth, 16) < int(usdc, 16) else r1
    assert weth_reserve >= 13_000 * 10**18  # $40M a side: the base pair plus the routing depth


def test_l2_pool_trades_the_bridged_tokens_backed_on_l1(world: DevWorld) -> None:
    l1 = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    l2 = Transactor(world.devnets.l2.rpc_url, DEPLOYER_KEY)
    pool = world.l2.pools["v3:WETH.B/USDC.B/500"]
    weth_b, usdc_b = world.l2.token("WETH.B"), world.l2.token("USDC.B")
    assert weth_b.address == world.l2.address("BridgedWETH")
    tokens = {l2.call("UniswapV3Pool", pool, f).lower() for f in ("token0", "token1")}
    assert tokens == {weth_b.address.lower(), usdc_b.address.lower()}
    assert l2.call("UniswapV3Pool", pool, "liquidity") > 0
    px = _usdc_per_weth(l2, pool, weth_b.address, usdc_b.address, 18, 6)
    assert Decimal(2990) < px < Decimal(3010)
    # every bridged unit is backed: L2 supply == what the L1 escrow holds locked for it
    escrow = world.l1.address("BridgeEscrow")
    for sym, t in (("WETH", weth_b), ("USDC", usdc_b)):
        supply = l2.call("BridgedToken", t.address, "totalSupply")
        assert supply > 0
        assert supply == l1.call("BridgeEscrow", escrow, "locked", world.l1.token(sym).address)
