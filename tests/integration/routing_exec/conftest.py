"""Fixtures: a funded L1 Safe (and an L2 Safe holding bridged USDC), the plan executor over them
with its own journal, and plans made from the venues' own quotes at one pinned block (the
router's output shape, so execution is tested apart from the router)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.chain.rpc import RpcClient
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    L2_TRADING_POLICY,
    OPERATOR_KEY,
    DevWorld,
    address_of,
    bridge_deposit,
    deploy_dev_wallet,
)
from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.execution.plan import ChainWallet, PlanExecutor
from agent.journal import SqliteJournal
from agent.model import Side, Spot
from agent.oms.manager import OrderManager
from agent.routing.plan import LegKind, PlannedChild, RoutePlan
from agent.signing.local import LocalSigner
from agent.venues.uniswap_v2 import UniswapV2Venue
from agent.venues.uniswap_v3 import UniswapV3Venue
from agent.wallet.deploy import WalletDeployment
from agent.wallet.executor import ModuleExecutor

L2_SYMBOLS = {"WETH": "WETH.B", "USDC": "USDC.B"}


@pytest.fixture(scope="session")
def route_wallet(world: DevWorld) -> WalletDeployment:
    return deploy_dev_wallet(world, salt=1515, usdc=Decimal(3_000_000))


@pytest.fixture(scope="session")
def route_wallet_l2(world: DevWorld) -> WalletDeployment:
    w = deploy_dev_wallet(world, layer="l2", salt=1516, policy_template=L2_TRADING_POLICY)
    l1 = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    l2 = Transactor(world.devnets.l2.rpc_url, DEPLOYER_KEY)
    bridge_deposit(l1, l2, world.l1, world.l2, "USDC", 500_000 * 10**6, w.safe, gross=False)
    return w


def balance(world: DevWorld, layer: str, symbol: str, who: str) -> int:
    url = world.devnets.l1.rpc_url if layer == "l1" else world.devnets.l2.rpc_url
    m = world.l1 if layer == "l1" else world.l2
    return Transactor(url, DEPLOYER_KEY).call("DevToken", m.token(symbol).address, "balanceOf", who)


def operator_nonce(world: DevWorld, layer: str = "l1") -> int:
    d = world.devnets.l1 if layer == "l1" else world.devnets.l2
    return int(d.rpc("eth_getTransactionCount", address_of(OPERATOR_KEY), "latest"), 16)


class Harness:
    def __init__(self, world: DevWorld, journal: SqliteJournal) -> None:
        self.world = world
        self.journal = journal
        self.rpcs: dict[str, RpcClient] = {}
        self.executors: list[ModuleExecutor] = []

    async def rpc(self, layer: str) -> RpcClient:
        if layer not in self.rpcs:
            d = self.world.devnets.l1 if layer == "l1" else self.world.devnets.l2
            self.rpcs[layer] = await RpcClient(d.rpc_url).connect()
        return self.rpcs[layer]

    async def wallet(self, layer: str, w: WalletDeployment, **kw: Any) -> ChainWallet:
        m = self.world.l1 if layer == "l1" else self.world.l2
        rpc = await self.rpc(layer)
        ex = ModuleExecutor(
            rpc, LocalSigner(OPERATOR_KEY), module=w.module,
            multisend=m.address("MultiSendCallOnly"), chain_id=m.chain_id,
            journal=self.journal, safe=w.safe, raise_on_revert=False, **kw,
        )  # fmt: skip
        self.executors.append(ex)
        return ChainWallet(m, rpc, w.safe, ex, L2_SYMBOLS if layer == "l2" else {})

    def executor(self, wallets: list[ChainWallet], **kw: Any) -> PlanExecutor:
        mgr = OrderManager.open(self.journal)
        chains = {w.manifest.chain_id: w for w in wallets}
        return PlanExecutor(mgr, chains=chains, base_decimals=18, quote_decimals=6, **kw)

    async def close(self) -> None:
        for ex in self.executors:
            await ex.close()
        for r in self.rpcs.values():
            await r.close()


@pytest_asyncio.fixture
async def harness(world: DevWorld, tmp_path: Path) -> AsyncIterator[Harness]:
    j = SqliteJournal(tmp_path / "journal.sqlite")
    h = Harness(world, j)
    yield h
    await h.close()
    j.close()


async def amm_child(
    rpc: RpcClient,
    m: Manifest,
    parent: str,
    i: int,
    pool_key: str,
    weth: Decimal,
    block: int,
    *,
    side: Side = Side.BUY,
    symbols: dict[str, str] | None = None,
    kind: LegKind = LegKind.AMM,
) -> PlannedChild:
    """A child as the router would plan it on ``pool_key``, priced by the venue's own quote."""
    sym = symbols or {}
    b, q = sym.get("WETH", "WETH"), sym.get("USDC", "USDC")
    pool = m.pools[pool_key]
    if pool_key.startswith("v3:"):
        fee = int(pool_key.rsplit("/", 1)[1])
        v: Any = UniswapV3Venue(rpc, m, fee_tiers=(fee,))
        ref: dict[str, Any] = {"protocol": "v3", "pool": pool, "fee": fee}
        vid = f"uniswap_v3@{m.name}:{pool.lower()}"
    else:
        v = UniswapV2Venue(rpc, m)
        ref = {"protocol": "v2", "pool": pool}
        vid = f"uniswap_v2@{m.name}:{pool.lower()}"
    qt = await v.quote(Spot(b, q), side, weth, block=block)
    base_units = int(weth.scaleb(18))
    quote_units = qt.amount_in if side is Side.BUY else qt.amount_out
    px = Decimal(quote_units).scaleb(-6) / weth
    return PlannedChild(
        f"{parent}.{i}", vid, kind, m.chain_id, side, base_units, quote_units, 0, 0, px, px,
        f"block:{block}", ref,
    )  # fmt: skip


def plan_of(parent: str, side: Side, children: list[PlannedChild], unfilled: int = 0) -> RoutePlan:
    size = sum(c.base_amount for c in children) + unfilled
    total = sum(c.quote_amount + c.gas_quote for c in children)
    return RoutePlan(
        parent, side, "WETH", "USDC", size, None, tuple(children), unfilled, total, (), None
    )
