"""Options fixtures on the shared L1 devnet: the options market and dev feeds deployed, a
2-of-3 Safe whose PolicyModule allows the market, a funded market maker serving RFQs over
HTTP in-process, and the condor's series listed. Everything is reverted at module end.

The executor is the Safe's module executor with the fund's signing policy as its pre-sign
guard (the bound policy file, oracle reference prices): every Safe call these tests make is
checked off-chain before signing, as in scripts/demo."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agent.algos.multileg import HedgeSpec, MultilegConfig, MultilegExecutor
from agent.chain.rpc import RpcClient
from agent.chain.txengine.account import EngineAccount
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    MARKET_MAKER_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    DevWorld,
    address_of,
)
from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.execution.guarded import guarded_module_executor
from agent.journal import SqliteJournal
from agent.marketmaker.chain import ChainView
from agent.marketmaker.inventory import InventoryLimits
from agent.marketmaker.quoter import MakerConfig, Quoter
from agent.marketmaker.server import RunningServer, serve
from agent.model import Side
from agent.strategies import Strategy, VolSurface, iron_condor
from agent.venues.options.devsetup import fund, list_strategy_series, setup_maker
from agent.venues.options.rfq import RfqClient
from agent.wallet.deploy import deploy_wallet

SURFACE = VolSurface(atm=0.6)
SAFE_FUNDS = {"USDC": Decimal(200_000), "WETH": Decimal(20)}
STRIKES = (Decimal(2600), Decimal(2800), Decimal(3200), Decimal(3400))


@dataclass
class OptionsWorld:
    world: DevWorld
    manifest: Manifest
    rpc_url: str
    safe: str
    module: str
    expiry: datetime
    policy_file: Path  # the bound policy the module was configured from

    def tx(self, key: str = DEPLOYER_KEY) -> Transactor:
        return Transactor(self.rpc_url, key)

    def condor(self, size: Decimal = Decimal(1)) -> Strategy:
        return iron_condor("WETH", "USDC", STRIKES, self.expiry, size, Side.SELL)


@pytest.fixture(scope="module")
def options_world(world: DevWorld) -> Iterator[OptionsWorld]:
    l1 = world.devnets.l1
    snap = l1.snapshot()
    try:
        m = world.l1  # bring_up deployed the market; the dev policy allows it
        tx = Transactor(l1.rpc_url, DEPLOYER_KEY)
        w = deploy_wallet(
            tx, m, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
            operator=address_of(OPERATOR_KEY), owner_keys=list(OWNER_KEYS), salt=11,
        )  # fmt: skip
        fund(Transactor(l1.rpc_url, DEPLOYER_KEY), m, w.safe, SAFE_FUNDS)
        setup_maker(
            l1.rpc_url, DEPLOYER_KEY, MARKET_MAKER_KEY, m,
            {"USDC": Decimal(5_000_000), "WETH": Decimal(2_000)},
        )  # fmt: skip
        now = int(l1.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        expiry = datetime.fromtimestamp((now // 86400 + 30) * 86400 + 8 * 3600, UTC)
        ow = OptionsWorld(world, m, l1.rpc_url, w.safe, w.module, expiry, w.policy_file)
        list_strategy_series(l1.rpc_url, DEPLOYER_KEY, m, ow.condor())
        yield ow
    finally:
        l1.revert(snap)


@pytest.fixture(scope="module")
async def mm_server(options_world: OptionsWorld) -> AsyncIterator[tuple[RunningServer, Quoter]]:
    m = options_world.manifest
    rpc = await RpcClient(options_world.rpc_url).connect()
    cfg = MakerConfig(
        key=MARKET_MAKER_KEY, chain_id=m.chain_id, market=m.address("OptionsMarket"),
        surface=SURFACE, limits=InventoryLimits(Decimal(1000), Decimal(1000)), spread_bps=300,
    )  # fmt: skip
    view = ChainView(rpc, cfg.market, cfg.maker)
    quoter = Quoter(cfg, view.spot, is_filled=view.is_filled)
    server = await serve(quoter, allowed_feeds=frozenset({m.address("PriceFeedWETH")}))
    try:
        yield server, quoter
    finally:
        await server.stop()
        await rpc.close()


@pytest.fixture
async def executor_parts(
    options_world: OptionsWorld, mm_server, l1_isolated, tmp_path: Path
) -> AsyncIterator[tuple[MultilegExecutor, EngineAccount, SqliteJournal]]:
    """A fresh operator client per test (the chain is reverted between tests, so cached
    nonces would be wrong), a journal on disk, and the executor with a hedge configured."""
    server, _q = mm_server
    journal = SqliteJournal(tmp_path / "journal.sqlite")
    chain = await EngineAccount.connect(options_world.rpc_url, OPERATOR_KEY, journal=journal)
    rfq = RfqClient(server.url)
    ex = MultilegExecutor(
        manifest=options_world.manifest, rfq=rfq, chain=chain,
        executor=guarded_module_executor(
            chain, options_world.manifest, safe=options_world.safe, module=options_world.module,
            journal=journal, policy_path=options_world.policy_file,
        ),
        # the hedge's limit is 100 bps from the WETH oracle: inside the policy's 200 bps
        config=MultilegConfig(surface=SURFACE, hedge=HedgeSpec(fee=500, slippage_bps=100)),
        journal=journal,
    )  # fmt: skip
    try:
        yield ex, chain, journal
    finally:
        await rfq.close()
        await chain.close()
        journal.close()
