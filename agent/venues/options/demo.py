"""Demo entry point: sell an iron condor on-chain with its delta hedge in the same Safe
transaction, and return what to print (legs, premiums, net Greeks, max loss, tx hash).

The caller (scripts/demo) provides a devnet with the world deployed and a Safe with the agent
module whose policy allows the market (agent/deploy/policies/l1.toml); this deploys the
options market if the manifest lacks it, funds the Safe and the market maker, lists the condor's series,
starts the market maker's HTTP service in-process, and runs the strategy.

With ``policy_path`` (the Safe's bound policy, ``WalletDeployment.policy_file``) the module
executor checks the whole batch (every leg, approvals and the hedge swap) with the fund's
signing policy before signing (agent.execution.guarded; the hedge's reference price is the
WETH oracle); without it only the on-chain module checks it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from agent.algos.multileg import HedgeSpec, MultilegConfig, MultilegExecutor, MultilegResult
from agent.chain.rpc import RpcClient
from agent.chain.txengine.account import EngineAccount
from agent.deploy.devworld import DEPLOYER_KEY, MARKET_MAKER_KEY
from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.execution.guarded import guarded_module_executor
from agent.journal import SqliteJournal, Store
from agent.marketmaker.chain import ChainView
from agent.marketmaker.inventory import InventoryLimits
from agent.marketmaker.quoter import MakerConfig, Quoter
from agent.marketmaker.server import serve
from agent.model import Side
from agent.strategies import VolSurface, iron_condor
from agent.venues.options.deploy import deploy_options
from agent.venues.options.devsetup import fund, list_strategy_series, setup_maker
from agent.venues.options.rfq import RfqClient


@dataclass(frozen=True, slots=True)
class CondorDemoResult:
    manifest: Manifest
    result: MultilegResult
    spot: Decimal

    def lines(self) -> list[str]:
        r = self.result
        out = [f"{r.strategy}  (spot {self.spot})"]
        for f in r.legs:
            out.append(
                f"  {f.leg.side.value:4} {f.leg.size} {f.leg.option.symbol:28} "
                f"price {Decimal(f.price).scaleb(-6):>10}  premium {f.premium:+}"
            )
        g = r.greeks
        out.append(f"  net premium {r.net_premium:+} USDC   max loss {r.max_loss} USDC")
        out.append(
            f"  net Greeks: delta {g.delta} gamma {g.gamma} vega {g.vega} theta/day {g.theta}"
        )
        if r.hedge is not None:
            out.append(
                f"  hedge: {r.hedge.side.value} {Decimal(r.hedge.amount).scaleb(-18)} WETH (same tx)"
            )
        out.append(f"  tx {r.tx_hash}  gas {r.gas_used}  block {r.block}")
        return out


async def sell_iron_condor_demo(
    rpc_url: str,
    manifest: Manifest,
    *,
    safe: str,
    module: str,
    operator_key: str,
    strikes: tuple[Decimal, Decimal, Decimal, Decimal] = (
        Decimal(2600),
        Decimal(2800),
        Decimal(3200),
        Decimal(3400),
    ),
    size: Decimal = Decimal(1),
    days: int = 30,
    journal: Store | None = None,
    fund_safe: bool = True,
    policy_path: Path | None = None,
) -> CondorDemoResult:
    if "OptionsMarket" not in manifest.contracts:
        manifest = manifest.with_contracts(**deploy_options(rpc_url, DEPLOYER_KEY, manifest))
    if fund_safe:
        fund(
            Transactor(rpc_url, DEPLOYER_KEY),
            manifest,
            safe,
            {"USDC": 3000 * size, "WETH": 2 * size},
        )
    setup_maker(
        rpc_url,
        DEPLOYER_KEY,
        MARKET_MAKER_KEY,
        manifest,
        {"USDC": Decimal(1_000_000), "WETH": Decimal(500)},
    )
    tx = Transactor(rpc_url, DEPLOYER_KEY)
    now = int(tx.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    expiry = datetime.fromtimestamp((now // 86400 + days) * 86400 + 8 * 3600, UTC)
    condor = iron_condor("WETH", "USDC", strikes, expiry, size, Side.SELL)
    list_strategy_series(rpc_url, DEPLOYER_KEY, manifest, condor)

    surface = VolSurface(atm=0.6)
    mm_rpc = await RpcClient(rpc_url, expected_chain_id=manifest.chain_id).connect()
    cfg = MakerConfig(
        key=MARKET_MAKER_KEY, chain_id=manifest.chain_id, market=manifest.address("OptionsMarket"),
        surface=surface, limits=InventoryLimits(Decimal(100), Decimal(100)),
    )  # fmt: skip
    view = ChainView(mm_rpc, cfg.market, cfg.maker)
    server = await serve(Quoter(cfg, view.spot, is_filled=view.is_filled),
                         allowed_feeds=frozenset({manifest.address("PriceFeedWETH")}))  # fmt: skip
    # the operator's tx engine journals write-ahead: a throwaway journal when the caller
    # keeps none
    tx_journal = journal or SqliteJournal(Path(tempfile.mkdtemp()) / "journal.sqlite")
    chain = await EngineAccount.connect(
        rpc_url, operator_key, manifest.chain_id, journal=tx_journal
    )
    rfq = RfqClient(server.url)
    try:
        ex = MultilegExecutor(
            manifest=manifest, rfq=rfq, chain=chain, journal=journal,
            executor=guarded_module_executor(
                chain, manifest, safe=safe, module=module, policy_path=policy_path,
                journal=tx_journal,
            ),
            config=MultilegConfig(surface=surface, hedge=HedgeSpec()),
        )  # fmt: skip
        plan = await ex.plan(condor)
        result = await ex.execute(plan)
        return CondorDemoResult(manifest, result, plan.spot)
    finally:
        await rfq.close()
        await chain.close()
        await server.stop()
        await mm_rpc.close()
