"""Run the quote service: ``python -m agent.marketmaker --manifest l1.manifest.json
--rpc-url http://127.0.0.1:8545 [--port 8600]``. The maker key comes from $MM_KEY (the devnet
market-maker key if unset); it prices from the manifest's PriceFeed* contracts."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.errors import AgentError
from agent.marketmaker.chain import ChainView
from agent.marketmaker.inventory import InventoryLimits
from agent.marketmaker.quoter import MakerConfig, Quoter
from agent.marketmaker.server import serve
from agent.strategies.pricing import VolSurface


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m agent.marketmaker")
    p.add_argument("--manifest", required=True)
    p.add_argument("--rpc-url", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--atm-vol", type=float, default=0.65)
    p.add_argument("--spread-bps", type=int, default=300)
    p.add_argument("--max-position", type=Decimal, default=Decimal(50), help="whole units")
    p.add_argument("--max-delta", type=Decimal, default=Decimal(20), help="whole units")
    p.add_argument(
        "--hedge", action="store_true", help="hedge beyond --max-delta on Uniswap V3 (else refuse)"
    )
    p.add_argument(
        "--journal", default="marketmaker-journal.sqlite",
        help="SQLite journal of the hedge account's transactions (with --hedge)",
    )  # fmt: skip
    a = p.parse_args(argv)
    from agent.deploy.devworld import MARKET_MAKER_KEY

    key = os.environ.get("MM_KEY", MARKET_MAKER_KEY)
    m = Manifest.load(a.manifest)
    rpc = await RpcClient(a.rpc_url, expected_chain_id=m.chain_id).connect()
    cfg = MakerConfig(
        key=key, chain_id=m.chain_id, market=m.address("OptionsMarket"),
        surface=VolSurface(atm=a.atm_vol), spread_bps=a.spread_bps,
        limits=InventoryLimits(a.max_position, a.max_delta),
    )  # fmt: skip
    view = ChainView(rpc, cfg.market, cfg.maker)
    hedger = None
    if a.hedge:
        from agent.chain.txengine.account import EngineAccount
        from agent.journal import SqliteJournal
        from agent.marketmaker.hedger import UniswapHedger

        # the hedges go through a TxEngine of the maker's own (its tx stream in this journal)
        hedger = UniswapHedger(
            await EngineAccount.connect(
                a.rpc_url, key, m.chain_id, journal=SqliteJournal(Path(a.journal))
            ),
            m.address("SwapRouter"),
            view.spot,
        )
    quoter = Quoter(cfg, view.spot, is_filled=view.is_filled, hedger=hedger)
    feeds = frozenset(v for k, v in m.contracts.items() if k.startswith("PriceFeed"))
    server = await serve(quoter, a.host, a.port, feeds)
    print(f"market maker {cfg.maker} quoting on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    await rpc.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(sys.argv[1:])))
    except AgentError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
