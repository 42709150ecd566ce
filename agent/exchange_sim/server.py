"""The aiohttp application: one venue flavour per server, started in-process or by the CLI.

sim = ExchangeSim(SimConfig(venue="binance", faults=FaultConfig.parse("latency=5")))
await sim.start()            # port 0: a free loopback port
sim.url                      # http://127.0.0.1:PORT
...
await sim.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from decimal import Decimal

from aiohttp import web

from agent.errors import ValidationError
from agent.exchange_sim.context import DEFAULT_KEY, ApiKey, SimContext
from agent.exchange_sim.exchange import Exchange
from agent.exchange_sim.faults import CreditGate, Dice, FaultConfig, WeightGate
from agent.exchange_sim.flow import FlowConfig, SyntheticFlow
from agent.exchange_sim.instruments import SimInstrument, default_deribit, default_spot

log = logging.getLogger(__name__)
VENUES = ("binance", "deribit")


@dataclass(frozen=True)
class SimConfig:
    venue: str = "binance"
    host: str = "127.0.0.1"
    port: int = 0
    faults: FaultConfig = field(default_factory=FaultConfig)
    keys: tuple[ApiKey, ...] = (DEFAULT_KEY,)
    flow: FlowConfig | None = field(default_factory=FlowConfig)  # None: no synthetic flow
    flow_interval_s: float = 0.5
    start_prices: dict[str, Decimal] = field(
        default_factory=lambda: {"BTC": Decimal(60000), "ETH": Decimal(3000)}
    )
    instruments: tuple[SimInstrument, ...] | None = None

    def __post_init__(self) -> None:
        if self.venue not in VENUES:
            raise ValidationError(
                "venue", f"{self.venue!r} is not served", f"use one of: {', '.join(VENUES)}"
            )
        if not 0 <= self.port <= 65535:
            raise ValidationError("port", f"{self.port} is outside 0..65535", "0 picks a free port")


class ExchangeSim:
    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = cfg = config or SimConfig()
        ctx_clock_skew = cfg.faults.clock_skew_ms
        import time

        def clock() -> int:
            return time.time_ns() // 1_000_000 + ctx_clock_skew

        now = clock()
        if cfg.instruments is not None:
            insts = list(cfg.instruments)
        elif cfg.venue == "binance":
            insts = default_spot()
        else:
            insts = default_deribit(now, cfg.start_prices["BTC"], "BTC")
        self.exchange = Exchange(insts, clock=clock, index=dict(cfg.start_prices))
        gate: WeightGate | CreditGate = (
            WeightGate(
                cfg.faults.rate_limit,
                cfg.faults.rate_window,
                cfg.faults.ban_after,
                cfg.faults.ban_s,
            )
            if cfg.venue == "binance"
            else CreditGate.from_faults(cfg.faults.rate_limit, cfg.faults.rate_window)
        )
        self.ctx = SimContext(
            cfg.venue, self.exchange, cfg.faults, gate, dice=Dice(cfg.faults.seed)
        )
        for k in cfg.keys:
            self.ctx.add_key(k)
        self.flow = (
            SyntheticFlow(
                self.exchange, replace(cfg.flow, start=cfg.flow.start or cfg.start_prices)
            )
            if cfg.flow is not None
            else None
        )
        if self.flow is not None:
            self.flow.step()  # books are populated before the first client request
        self.app = web.Application()
        if cfg.venue == "binance":
            from agent.exchange_sim.binance import BinanceApi
            from agent.exchange_sim.binance_ws import BinanceStreams

            self.api: object = BinanceApi(self.ctx)
            self.app.add_routes(self.api.routes())  # type: ignore[attr-defined]
            self.streams: BinanceStreams | None = BinanceStreams(self.ctx, self.api)
            self.app.add_routes(self.streams.routes())
        else:
            from agent.exchange_sim.deribit import DeribitApi

            self.api = DeribitApi(self.ctx)
            self.app.add_routes(self.api.routes())  # type: ignore[attr-defined]
            self.streams = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tasks: list[asyncio.Task] = []
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await self._site.start()
        except OSError as e:  # busy port, or a host this machine does not have
            await self._runner.cleanup()
            raise ValidationError(
                "port", f"cannot listen on {self.config.host}:{self.config.port}: {e.strerror}",
                "pick another --port, or 0 for a free one",
            ) from None  # fmt: skip
        server = self._site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.flow is not None and self.config.flow_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._flow_loop()))
        log.info("exchange sim (%s) on %s", self.config.venue, self.url)
        return self.url

    async def _flow_loop(self) -> None:
        assert self.flow is not None
        while True:
            await asyncio.sleep(self.config.flow_interval_s)
            try:
                self.flow.step()
            except Exception:  # keep the venue alive; a flow bug must not take it down
                log.exception("synthetic flow step failed")

    async def stop(self) -> None:
        self.ctx.stopping.set()
        for t in self._tasks + list(self.ctx.background):
            t.cancel()
        for t in self._tasks + list(self.ctx.background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        for part in (self.api, self.streams):
            closer = getattr(part, "close", None)
            if closer is not None:
                await closer()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ExchangeSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
