"""Market data from the exchange simulator through unmodified ccxt: others' trades counted,
ours (myTrades) subtracted; a simulator that stops answering makes the data stale and the POV
runner pauses with ALGO_MARKET_DATA_STALE instead of guessing."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import ccxt.async_support as ccxt_async
import pytest

from agent.algos.events import AlgoPaused, SliceSent, algo_stream
from agent.algos.market import VenueMarketData, history_profile
from agent.algos.params import AlgoKind, AlgoParams
from agent.algos.runner import AlgoRunner, SliceOrder, SliceResult
from agent.deploy.devworld import routing_sim_config, seed_routing_book
from agent.exchange_sim.context import DEFAULT_KEY, ApiKey
from agent.exchange_sim.server import ExchangeSim
from agent.journal.sqlite import SqliteJournal
from agent.model import Side
from agent.venues.cex.config import sim_overrides

pytestmark = pytest.mark.integration
OTHER = ApiKey("other-key", "other-secret", "other")


def _client(url: str, key: ApiKey):  # type: ignore[no-untyped-def]
    over = sim_overrides("binance", url)
    return ccxt_async.binance(
        {"apiKey": key.key, "secret": key.secret, "urls": over["urls"],
         "options": dict(over.get("options", {})), "enableRateLimit": False}
    )  # fmt: skip


class CountingSink:
    """Records what the runner hands over (the sink is not what is tested here)."""

    def __init__(self) -> None:
        self.sent: list[SliceOrder] = []

    async def execute(self, order: SliceOrder) -> SliceResult:
        self.sent.append(order)
        return SliceResult(order.quantity, order.quantity * 3000, "filled")

    async def cancel_working(self, parent_id: str) -> int:
        return 0


async def test_tape_and_stale_pause(tmp_path: Path) -> None:
    sim = ExchangeSim(routing_sim_config(keys=(DEFAULT_KEY, OTHER)))
    await sim.start()
    seed_routing_book(sim)
    for acct in ("trader", "other"):
        sim.exchange.ledger.deposit(acct, "USDC", Decimal(1_000_000))
    me, them = _client(sim.url, DEFAULT_KEY), _client(sim.url, OTHER)
    stopped = False
    try:
        t0 = time.time_ns() // 1_000_000 - 1
        await me.load_markets()
        await them.load_markets()
        await them.create_order("ETH/USDC", "market", "buy", 0.3)
        await me.create_order("ETH/USDC", "market", "buy", 0.2)
        await them.create_order("ETH/USDC", "market", "sell", 0.1)
        md = VenueMarketData(cex=[(me, "ETH/USDC")])
        p = AlgoParams(
            AlgoKind.POV, Side.BUY, "WETH", "USDC", Decimal(1), t0, horizon_s=6, interval_s=1,
            participation=Decimal("0.5"), min_rate=Decimal("0.1"), max_rate=Decimal("0.9"),
        )  # fmt: skip
        snap = await md.snapshot(p, t0, 60_000)
        assert snap.volume_since_start == Decimal("0.4")  # 0.3 + 0.1 of theirs, not our 0.2
        assert snap.updated_ms >= t0
        profile = await history_profile(p, [(me, "ETH/USDC")])
        assert len(profile) == 6 and all(v > 0 for v in profile)

        await sim.stop()
        stopped = True
        j = SqliteJournal(tmp_path / "j.sqlite")
        sink = CountingSink()
        runner = AlgoRunner(j, "pov-1", sink, market=md, stale_after_ms=1500)
        await runner.start(p)
        state = await runner.run()
        evs = [r.event for r in j.read_stream(algo_stream("pov-1"))]
        j.close()
        pauses = [e for e in evs if isinstance(e, AlgoPaused)]
        assert pauses and pauses[0].code == "ALGO_MARKET_DATA_STALE", evs
        at = evs.index(pauses[0])
        assert not any(isinstance(e, SliceSent) for e in evs[at:])  # nothing sent on stale data
        assert state.finished is not None and state.filled < p.size
    finally:
        await me.close()
        await them.close()
        if not stopped:
            await sim.stop()


class StopAfterFirst(CountingSink):
    """After the first slice, the exchange goes away (its process stops)."""

    def __init__(self, sim: ExchangeSim) -> None:
        super().__init__()
        self.sim = sim

    async def execute(self, order: SliceOrder) -> SliceResult:
        r = await super().execute(order)
        if len(self.sent) == 1:
            await self.sim.stop()
        return r


async def test_vwap_waits_when_the_exchange_stops_answering(tmp_path: Path) -> None:
    """VWAP over the simulator's tape (unmodified ccxt): slice 0 goes out on fresh data; then
    the exchange stops, the next due slice waits (ALGO_MARKET_DATA_STALE) and nothing more is
    sent; the deadline ends it with the rest reported."""
    sim = ExchangeSim(routing_sim_config())
    await sim.start()
    seed_routing_book(sim)
    me = _client(sim.url, DEFAULT_KEY)
    try:
        await me.load_markets()
        t0 = time.time_ns() // 1_000_000
        p = AlgoParams(AlgoKind.VWAP, Side.BUY, "WETH", "USDC", Decimal(1), t0, horizon_s=6,
                       interval_s=1)  # fmt: skip
        md = VenueMarketData(cex=[(me, "ETH/USDC")])
        profile = await history_profile(p, [(me, "ETH/USDC")])
        j = SqliteJournal(tmp_path / "j.sqlite")
        sink = StopAfterFirst(sim)
        runner = AlgoRunner(j, "vwap-1", sink, market=md, profile=profile, stale_after_ms=500)
        await runner.start(p)
        state = await runner.run()
        evs = [r.event for r in j.read_stream(algo_stream("vwap-1"))]
        j.close()
    finally:
        await me.close()
        await sim.stop()
    pauses = [e for e in evs if isinstance(e, AlgoPaused)]
    assert [e.code for e in pauses] == ["ALGO_MARKET_DATA_STALE"], evs
    at = evs.index(pauses[0])
    assert [e.index for e in evs if isinstance(e, SliceSent)] == [0]  # only before the stop
    assert not any(isinstance(e, SliceSent) for e in evs[at:])
    assert len(sink.sent) == 1 and state.finished is not None
    assert state.finished.reason == "deadline reached" and state.finished.unfilled > 0
