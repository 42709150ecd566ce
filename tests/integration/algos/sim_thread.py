"""The exchange simulator (the routing world's seeded ETH/USDC book) on its own loop in a thread,
with a second account ("other") that trades against the agent, read and driven through
unmodified synchronous ccxt as any other client of the exchange would."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ccxt

from agent.deploy.devworld import routing_sim_config, seed_routing_book
from agent.exchange_sim.context import DEFAULT_KEY, ApiKey
from agent.exchange_sim.server import ExchangeSim
from agent.venues.cex.config import sim_overrides

OTHER = ApiKey("other-key", "other-secret", "other")


@dataclass
class SimThread:
    url: str
    sim: ExchangeSim
    loop: asyncio.AbstractEventLoop

    def client(self, key: ApiKey = OTHER) -> Any:
        over = sim_overrides("binance", self.url)
        ex = ccxt.binance(
            {"apiKey": key.key, "secret": key.secret, "urls": over["urls"],
             "options": dict(over.get("options", {})), "enableRateLimit": False}
        )  # fmt: skip
        ex.load_markets()
        return ex

    def agent_client(self) -> Any:
        return self.client(DEFAULT_KEY)


@contextmanager
def sim_thread() -> Iterator[SimThread]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, ExchangeSim] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            s = ExchangeSim(routing_sim_config(keys=(DEFAULT_KEY, OTHER)))
            await s.start()
            seed_routing_book(s)
            box["sim"] = s

        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield SimThread(box["sim"].url, box["sim"], loop)
    finally:
        asyncio.run_coroutine_threadsafe(box["sim"].stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
