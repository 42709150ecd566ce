"""Options on the devnet: RFQ -> validated quotes -> signed Safe transaction -> mined, and the
gas of a 4-leg iron condor plus its delta hedge in ONE Safe transaction vs the same calls sent
as separate Safe (module) transactions, both measured in this run."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from agent.algos.multileg import HedgeSpec, MultilegConfig, MultilegExecutor
from agent.chain.rpc import RpcClient
from agent.chain.txengine.account import EngineAccount
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    MARKET_MAKER_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    address_of,
    bring_up,
)
from agent.deploy.transactor import Transactor
from agent.journal import SqliteJournal
from agent.marketmaker.chain import ChainView
from agent.marketmaker.inventory import InventoryLimits
from agent.marketmaker.quoter import MakerConfig, Quoter
from agent.marketmaker.server import serve
from agent.model import Side
from agent.strategies import Leg, Strategy, VolSurface, iron_condor
from agent.venues.options import calldata
from agent.venues.options.devsetup import fund, list_strategy_series, setup_maker
from agent.venues.options.rfq import RfqClient
from agent.wallet.deploy import deploy_wallet
from agent.wallet.executor import module_executor_for
from agent.wallet.multisend import Call
from bench.common import latency_metric

N = 30
STRIKES = (Decimal(2600), Decimal(2800), Decimal(3200), Decimal(3400))


async def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-options-"))
    w = bring_up(tmp)
    with w:
        url = w.devnets.l1.rpc_url
        m = w.l1  # bring_up deployed the market; the dev policy allows it
        tx = Transactor(url, DEPLOYER_KEY)
        wal = deploy_wallet(
            tx, m, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
            operator=address_of(OPERATOR_KEY), owner_keys=list(OWNER_KEYS),
        )  # fmt: skip
        fund(tx, m, wal.safe, {"USDC": Decimal(2_000_000), "WETH": Decimal(200)})
        setup_maker(url, DEPLOYER_KEY, MARKET_MAKER_KEY, m,
                    {"USDC": Decimal(10_000_000), "WETH": Decimal(5_000)})  # fmt: skip
        now = int(tx.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        expiry = datetime.fromtimestamp((now // 86400 + 30) * 86400 + 8 * 3600, UTC)
        condor = iron_condor("WETH", "USDC", STRIKES, expiry, Decimal(1), Side.SELL)
        list_strategy_series(url, DEPLOYER_KEY, m, condor)

        surface = VolSurface(atm=0.6)
        mm_rpc = await RpcClient(url).connect()
        cfg = MakerConfig(
            key=MARKET_MAKER_KEY, chain_id=m.chain_id, market=m.address("OptionsMarket"),
            surface=surface, limits=InventoryLimits(Decimal(10_000), Decimal(10_000)),
        )  # fmt: skip
        view = ChainView(mm_rpc, cfg.market, cfg.maker)
        server = await serve(Quoter(cfg, view.spot, is_filled=view.is_filled))
        bench_journal = SqliteJournal(tmp / "options-bench.sqlite")
        chain = await EngineAccount.connect(url, OPERATOR_KEY, journal=bench_journal)
        rfq = RfqClient(server.url)
        ex = MultilegExecutor(
            manifest=m, rfq=rfq, chain=chain,
            executor=module_executor_for(
                chain, safe=wal.safe, module=wal.module, multisend=wal.multisend,
                journal=bench_journal,
            ),
            config=MultilegConfig(surface=surface, hedge=HedgeSpec()),
        )  # fmt: skip
        try:
            out = []
            # 1. one leg: RFQ -> checks -> signed module tx -> mined
            single = Strategy.custom(
                "bench", [Leg(condor.legs[3].option, Side.BUY, Decimal("0.1"))]
            )
            ex.cfg.hedge = None
            samples, rfq_only = [], []
            for i in range(N + 3):
                t0 = time.perf_counter_ns()
                await rfq.request(*_req(ex, single))
                t1 = time.perf_counter_ns()
                await ex.run(single)
                t2 = time.perf_counter_ns()
                if i >= 3:  # warm-up: connections, caches
                    rfq_only.append((t1 - t0) / 1000)
                    samples.append((t2 - t1) / 1000)
            out.append(
                latency_metric("options.rfq_to_fill", samples, ("options.rfq_roundtrip", rfq_only))
            )

            # 2. condor + hedge: one Safe tx vs the same calls as separate Safe txs
            ex.cfg.hedge = HedgeSpec()
            condor_lat, one_tx_gas = [], 0
            for _ in range(5):
                t0 = time.perf_counter_ns()
                r = await ex.run(condor)
                condor_lat.append((time.perf_counter_ns() - t0) / 1000)
                one_tx_gas = r.gas_used
            out.append(latency_metric("options.condor_hedge_rfq_to_fill", condor_lat))
            plan = await ex.plan(condor)
            separate = 0
            for c in _split(plan.calls):
                res = await ex.executor.execute([c])
                assert res.ok, "separate leg reverted"
                separate += res.gas_used
            out.append({
                "name": "multileg.gas", "value": one_tx_gas, "unit": "gas",
                "legs": 4, "hedge": plan.hedge is not None,
                "baseline": {"name": f"same {len(_split(plan.calls))} calls as separate Safe txs", "value": separate},
                "ratio": round(one_tx_gas / separate, 3),
            })  # fmt: skip
            return out
        finally:
            await rfq.close()
            await chain.close()
            await server.stop()
            await mm_rpc.close()


def _req(ex: MultilegExecutor, s: Strategy):
    from agent.venues.options.series import terms_for

    leg = s.legs[0]
    t = terms_for(leg.option, ex.manifest, feed=ex.manifest.address("PriceFeedWETH"))
    return t, leg.side, int(leg.size.scaleb(18)), ex.executor.safe


def _split(calls: tuple[Call, ...]) -> list[Call]:
    """One call per transaction; the batched fillQuotes becomes one fill per leg."""
    from eth_abi import decode, encode

    out: list[Call] = []
    for c in calls:
        if c.data[:4] != calldata.FILL_QUOTES:
            out.append(c)
            continue
        (orders,) = decode([f"{calldata.ORDER_ABI}[]"], c.data[4:])
        for o in orders:
            out.append(
                Call(c.to, calldata.FILL_QUOTES + encode([f"{calldata.ORDER_ABI}[]"], [[o]]))
            )
    return out
