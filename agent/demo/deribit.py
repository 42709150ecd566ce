"""The desk's Deribit account for the demo's daemon: the exchange simulator (ETH options and
the ETH perpetual, USDC-settled) on an event loop thread of its own (the demo's main thread
drives the daemon synchronously), with positions the desk holds there from earlier trades
against a maker: long 2 ETH perpetual, short 1 at-the-money ETH call. The daemon reads them
through ccxt's fetch_positions like any account's."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.model import Side

PERP = "ETH_USDC-PERPETUAL"
ENV = {"AGENT_DERIBIT_KEY": "sim-key", "AGENT_DERIBIT_SECRET": "sim-secret"}  # the sim's dev key


def _seed(sim: Any, spot: Decimal) -> None:
    from agent.exchange_sim.instruments import SimKind

    ex = sim.exchange
    call = min(
        (i for i in ex.instruments.values() if i.kind is SimKind.OPTION and i.is_call),
        key=lambda i: (i.expiry_ms, abs(i.strike - spot)),
    )
    ex.ledger.deposit("maker", "USDC", Decimal(1_000_000))
    for name, side, amount, price in ((PERP, Side.BUY, Decimal(2), spot),
                                      (call.name, Side.SELL, Decimal(1), Decimal(100))):  # fmt: skip
        other = Side.SELL if side is Side.BUY else Side.BUY
        ex.place("maker", name, other, amount, price, post_only=True)
        ex.place("trader", name, side, amount, price)  # the account of the daemon's key


@contextmanager
def deribit_account(spot: Decimal = Decimal(3000)) -> Iterator[str]:
    """The simulator's URL while it runs, positions seeded."""
    from agent.exchange_sim.instruments import default_deribit
    from agent.exchange_sim.server import ExchangeSim, SimConfig

    insts = default_deribit(time.time_ns() // 1_000_000, spot, "ETH")
    sim = ExchangeSim(SimConfig(venue="deribit", flow=None, instruments=tuple(insts),
                                start_prices={"ETH": spot, "BTC": Decimal(60_000)}))  # fmt: skip
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="deribit-sim", daemon=True)
    thread.start()

    async def start() -> None:
        await sim.start()
        _seed(sim, spot)  # on the simulator's loop: nothing else touches it meanwhile

    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
        yield sim.url
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def add_to_config(cfg: Path, url: str) -> None:
    """The ``[venues.deribit]`` table an operator adds for a Deribit account (credentials by
    env var name)."""
    with cfg.open("a") as f:
        f.write(
            '\n[venues.deribit]\nkind = "cex"\nexchange = "deribit"\n'
            f'sim_url = "{url}"\napi_key_env = "AGENT_DERIBIT_KEY"\n'
            'secret_env = "AGENT_DERIBIT_SECRET"\nsymbols = ["ETH/USDC:USDC"]\n'
        )
