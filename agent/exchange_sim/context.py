"""Shared state of one running simulator: the exchange core, API keys, faults, clock."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal

from agent.exchange_sim.exchange import Exchange
from agent.exchange_sim.faults import CreditGate, Dice, FaultConfig, WeightGate


@dataclass(frozen=True, slots=True)
class ApiKey:
    key: str
    secret: str
    account: str


DEFAULT_KEY = ApiKey("sim-key", "sim-secret", "trader")
DEFAULT_FUNDING = {
    "USDT": Decimal(1_000_000),
    "USDC": Decimal(1_000_000),
    "BTC": Decimal(10),
    "ETH": Decimal(100),
}


@dataclass
class SimContext:
    venue: str
    exchange: Exchange
    faults: FaultConfig
    gate: WeightGate | CreditGate
    keys: dict[str, ApiKey] = field(default_factory=dict)
    dice: Dice = field(default_factory=lambda: Dice(0))
    orders_placed: int = 0  # for the drop_accept / stall_accept faults
    count_5xx: int = 0  # 503s served by the 5xx fault
    tokens: dict[str, str] = field(default_factory=dict)  # deribit access token -> account
    _token_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    background: set[asyncio.Task] = field(default_factory=set)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # set by ExchangeSim.stop

    def now_ms(self) -> int:
        """The venue's clock: the host clock shifted by the clock-skew fault."""
        return time.time_ns() // 1_000_000 + self.faults.clock_skew_ms

    def add_key(self, key: ApiKey, funding: dict[str, Decimal] | None = None) -> None:
        self.keys[key.key] = key
        for asset, amount in (DEFAULT_FUNDING if funding is None else funding).items():
            self.exchange.ledger.deposit(key.account, asset, amount)

    def new_token(self, account: str) -> str:
        tok = f"tok-{next(self._token_ids)}-{account}"
        self.tokens[tok] = account
        return tok

    def spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def delay(self) -> None:
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
