"""The daemon: the swap pipeline of every chain with a wallet, its loops, and the API.

Built by ``agent.bootstrap.build_daemon`` from an ``agent.toml``. One lock per chain
serialises what must not interleave on a pipeline (an intent being executed, a tracking pass);
SIGTERM drains: new POSTs get 503, the in-flight intent finishes (its transaction is either
journaled as TxSigned and sent, or never signed), the loops stop, then the journal closes.
A restart recovers from the journal (``build_swap_app`` does).

Events reach WebSocket clients and the metrics by following the journal, not by hooks in the
pipeline: what another process writes to the same journal (``agent halt``) is seen the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from agent.journal.base import ANY
from agent.model import SwapIntent, TradingState
from agent.oms import CancelOrder, OrderState, SetTradingState
from agent.oms.recovery import reconcile_venue
from agent.risk.monitor import MarginMonitor, MarginThresholds
from agent.service.api import Api, ApiError
from agent.service.config import AgentConfig, ChainConfig
from agent.service.hedge import STREAM as HEDGE_STREAM
from agent.service.hedge import HedgeProposed, fund_greeks, hedger_of
from agent.service.kill import guardian_key, pause_modules, targets_of
from agent.service.metrics import Metrics
from agent.service.risk import UNDERLYING, balances, margin_of, risk_report

log = logging.getLogger("agent.service")
_REFUSED_422 = frozenset({"TRADING_HALTED", "TRADING_REDUCING", "RISK_MAX_NOTIONAL"})
_NEVER_SIGNED = frozenset({"OrderDenied", "OrderRejected", "OrderExpired", "OrderCancelled"})
FOLLOW_S = 0.2  # how often the journal is read for events written by other processes


@dataclass
class ChainRuntime:
    name: str
    config: ChainConfig
    app: Any  # agent.bootstrap.SwapApp
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    access: dict[str, Any] = field(default_factory=dict)  # for algorithm orders' OrderApp


class EventHub:
    """Fan-out of journal events to WebSocket subscribers. A subscriber that falls 1000
    events behind loses the oldest ones (counted), never blocks the daemon."""

    def __init__(self) -> None:
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.dropped = 0

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers.discard(q)

    def close(self) -> None:
        """Tell every subscriber the stream ends (None), so their sockets close at once
        instead of holding the API's shutdown."""
        for q in self.subscribers:
            if q.full():
                q.get_nowait()
            q.put_nowait(None)  # type: ignore[arg-type]

    def publish(self, msg: dict[str, Any]) -> None:
        for q in self.subscribers:
            if q.full():
                q.get_nowait()
                self.dropped += 1
            q.put_nowait(msg)


class Daemon:
    def __init__(
        self, config: AgentConfig, chains: dict[str, ChainRuntime], journal_path: Path,
        tokens: dict[str, str], cex: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        if not chains:
            raise ValueError("a daemon needs at least one chain with a wallet")
        self.config = config
        self.chains = chains
        self.cex: dict[str, Any] = dict(cex or {})  # venue id -> agent.venues.cex.CexVenue
        self.journal_path = journal_path
        self.metrics = Metrics()
        self.hub = EventHub()
        self.api = Api(self, tokens, config.api.max_body_bytes)
        from agent.service.algos import AlgoOrders

        self.algos = AlgoOrders(self)
        self.draining = False
        self.url = ""
        self._runner: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._kick = asyncio.Event()
        self._pos = 0
        self.fix: Any = None  # the FIX acceptor, when [fix] is configured
        self.fix_entry: Any = None
        self.fix_address = ""
        self.intake: Any = None  # agent.service.intake.Intake, set by bootstrap.build_daemon
        self._t_init: dict[str, int] = {}
        self._t_signed: dict[str, int] = {}
        self.margin_checked = asyncio.Event()  # set after the monitor's first pass
        self.hedger = hedger_of(config) if config.hedger.routes else None
        for rt in chains.values():  # REDUCING judges reduce-only from the whole fund's position
            rt.app.pipeline.exposure = self.exposure_of
        m = config.monitor
        self.monitor = MarginMonitor(
            # hysteresis as the risk package's default, but always below the warning level
            MarginThresholds(
                m.margin_warning,
                m.margin_critical,
                m.margin_liquidation,
                hysteresis=min(0.02, m.margin_warning / 2),
            )
        )

    @property
    def primary(self) -> ChainRuntime:
        return next(iter(self.chains.values()))

    @property
    def manager(self) -> Any:
        """Every chain's manager folds the same journal; one answers for all of them."""
        return self.primary.app.manager

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> str:
        from aiohttp import web

        self._pos = self.primary.app.journal.head()[0]  # stream what happens from now on
        if self.config.fix is not None:  # first: a busy FIX port fails before anything runs
            await self._start_fix()
        for vid in self.cex:  # at start: what the venue did while we were away is journaled
            await self.reconcile_venue(vid)
        if self.intake is not None:  # routed orders accepted before a stop: settled or ended
            await self.intake.recover()
            self.intake.start()
        self._runner = web.AppRunner(self.api.app(), handle_signals=False)
        await self._runner.setup()
        host, port = self.config.api.host, self.config.api.port
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as e:  # busy port: one line naming the field, not a traceback
            await self._runner.cleanup()
            if self.fix is not None:
                await self.fix.stop()
            raise ConfigError(
                "api.port", f"cannot listen on {host}:{port}: {e.strerror}",
                "pick another port (0: any free one) or stop what holds it",
            ) from None  # fmt: skip
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._tasks = [asyncio.create_task(self._follow(), name="journal-follower")]
        for rt in self.chains.values():
            self._tasks.append(asyncio.create_task(self._track_loop(rt), name=f"track-{rt.name}"))
        self._tasks.append(asyncio.create_task(self._margin_loop(), name="margin-monitor"))
        if self.hedger is not None:
            self._tasks.append(asyncio.create_task(self._hedge_loop(), name="delta-hedger"))
        for vid in self.cex:
            self._tasks.append(asyncio.create_task(self._venue_loop(vid), name=f"reconcile-{vid}"))
        return self.url

    async def _start_fix(self) -> None:
        """The FIX acceptor ([fix]): one more way into the same pipelines (docs/fix.md)."""
        from agent.service.fix.acceptor import FixAcceptor
        from agent.service.fix.daemon_entry import DaemonOrderEntry

        fx = self.config.fix
        assert fx is not None
        self.fix_entry = DaemonOrderEntry(self, fx.chain)
        self.fix = FixAcceptor(
            self.primary.app.journal, self.fix_entry, fx.session_configs(self.config),
            host=fx.host, port=fx.port,
        )  # fmt: skip
        try:
            port = await self.fix.start()
        except OSError as e:
            self.fix = None
            raise ConfigError(
                "fix.port", f"cannot listen on {fx.host}:{fx.port}: {e.strerror}",
                "pick another port (0: any free one) or stop what holds it",
            ) from None  # fmt: skip
        self.fix_address = f"{fx.host}:{port}"

    async def stop(self) -> None:
        """Drain: refuse new work, let in-flight intents finish, stop loops, close."""
        self.draining = True
        if self.fix is not None:  # no new FIX orders; the runs it started finish below
            log.info("draining: closing the FIX sessions")
            await self.fix.stop()
            await self.fix_entry.drain()
        if self.intake is not None:  # the order in execution finishes; queued ones expire
            log.info("draining: the order intake")
            await self.intake.stop()
        log.info("draining: waiting for the intents in flight")
        for rt in self.chains.values():
            await rt.lock.acquire()  # waits for the intent or tracking pass in flight
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.algos.close()  # running schedules stop between journaled steps
        self._follow_once()  # the last events reach the subscribers and the metrics
        self.hub.close()
        log.info("draining: closing the API")
        if self._runner is not None:
            await self._runner.cleanup()
        log.info("draining: flushing the journal")
        for rt in self.chains.values():
            await rt.app.close()
            rt.lock.release()
        for v in self.cex.values():
            await v.close()
        log.info("drained")

    async def serve(self, on_ready: Any = None) -> None:
        """Run until SIGTERM/SIGINT, then drain."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            url = await self.start()
        except BaseException:
            for rt in self.chains.values():
                await rt.app.close()
            for v in self.cex.values():
                await v.close()
            raise
        if on_ready is not None:
            on_ready(url)
        try:
            await stop.wait()
        finally:
            await self.stop()

    # --- loops -----------------------------------------------------------------------------
    async def _track_loop(self, rt: ChainRuntime) -> None:
        every = self.config.monitor.track_interval_s
        while True:
            await asyncio.sleep(every)
            try:
                async with rt.lock:
                    await rt.app.track()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a failing RPC must not end the loop; it is counted
                self.metrics.venue_errors.labels(venue=f"rpc:{rt.name}").inc()
                log.warning("tracking %s failed: %s", rt.name, e)

    async def reconcile_venue(self, vid: str) -> Any:
        """One reconciliation of a CEX venue (agent.oms.reconcile through the adapter's
        open_orders / order_status / fills_since): fills and state changes journaled, the
        cursor journaled with them (VenueReconciled). Under the primary chain's lock: the
        pipeline there shares this manager's view of the journal."""
        venue = self.cex[vid]
        async with self.primary.lock:
            self.manager.sync()
            diff = await reconcile_venue(self.manager, vid, venue, venue.cfg.asset_decimals)
        for p in diff.problems:  # what events cannot express: logged and counted, never lost
            self.metrics.venue_errors.labels(venue=vid).inc()
            log.warning("reconcile %s: %s", vid, p)
        if diff.events:
            self._kick.set()
        return diff

    async def _venue_loop(self, vid: str) -> None:
        every = self.config.monitor.track_interval_s
        while True:
            await asyncio.sleep(every)
            t0 = time.perf_counter()
            try:
                await self.reconcile_venue(vid)
                self.metrics.venue_latency.labels(venue=vid).observe(time.perf_counter() - t0)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a venue outage is counted; the loop retries
                self.metrics.venue_errors.labels(venue=vid).inc()
                log.warning("reconciling %s failed: %s", vid, e)

    async def hedge_pass(self) -> list[dict[str, Any]]:
        """One pass of the delta hedger over the whole fund: every proposal journaled and
        streamed as an alert; sent as an order only with ``[hedger] execute = true``."""
        h = self.config.hedger
        greeks = await fund_greeks(self.chains, self.config.monitor.vols, self.cex)
        out = []
        for p in self.hedger.propose(greeks, datetime.now(UTC)):
            und = p.instrument.base
            delta = Decimal(repr(next(g.delta for g in greeks if g.underlying == und)))
            ev = HedgeProposed(
                p.client_order_id, und, p.side.value, p.size, delta,
                h.routes[und].target, h.execute,
            )  # fmt: skip
            await self.primary.app.journal.append_async(HEDGE_STREAM, ANY, [ev])
            self.hub.publish(
                {"type": "HedgeProposal", "stream": "alerts", "position": None,
                 "recorded_at_ns": time.time_ns(),
                 "event": {"client_order_id": ev.client_order_id, "underlying": und,
                           "side": ev.side, "size": str(ev.size), "delta": str(delta),
                           "execute": h.execute}}
            )  # fmt: skip
            row: dict[str, Any] = {"client_order_id": ev.client_order_id, "underlying": und,
                                   "side": ev.side, "size": str(ev.size), "delta": str(delta)}  # fmt: skip
            if h.execute:  # the same path as an API order: trading state, risk gate, policy
                rt = self._chain(p.venue)
                intent = SwapIntent(
                    p.client_order_id, p.side, und, p.instrument.quote, p.size,
                    h.routes[und].max_slippage_bps,
                )  # fmt: skip
                async with rt.lock:
                    rep = await rt.app.pipeline.run(intent)
                row |= {"status": rep.status, "code": rep.code, "reason": rep.reason}
            out.append(row)
        self._kick.set()
        return out

    async def _hedge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.hedger.interval_s)
            try:
                await self.hedge_pass()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # an oracle or RPC failure is counted; the loop goes on
                self.metrics.venue_errors.labels(venue="hedger").inc()
                log.warning("delta hedger: %s", e)

    async def cancel_cex_orders(self) -> dict[str, Any]:
        """The kill switch on every CEX: cancel each working order the venue reports (ours
        or not: the account's). Per venue the cancelled client ids, or the error."""
        out: dict[str, Any] = {}
        for vid, v in self.cex.items():
            try:
                working = list(await v.open_orders())
                for rep in working:
                    await v.cancel(rep.ref)
                out[vid] = {"cancelled": [r.ref.client_order_id for r in working]}
            except Exception as e:  # one venue down must not stop the others' cancels
                self.metrics.venue_errors.labels(venue=vid).inc()
                out[vid] = {"error": str(e)}
        if self.cex:
            for vid in self.cex:  # the cancels reach the journal now, not at the next pass
                with contextlib.suppress(Exception):
                    await self.reconcile_venue(vid)
        return out

    async def margin_pass(self) -> Any:
        """One margin check of the whole fund: the gauge, and an alert event (WebSocket) when
        the level changes (agent.risk.monitor: thresholds from [monitor], with hysteresis)."""
        report = await margin_of(self.chains, self.config.monitor.vols, self.cex)
        if report is None:  # cash only
            self.metrics.margin_ratio.labels(account="fund").set(0)
            return None
        ratio = report.margin_ratio
        self.metrics.margin_ratio.labels(account="fund").set(ratio if ratio != float("inf") else -1)
        alert = self.monitor.observe(report, datetime.now(UTC))
        if alert is not None:
            log.warning("margin: %s", alert.message)
            self.hub.publish(
                {"type": "MarginAlert", "stream": "alerts", "position": None,
                 "recorded_at_ns": time.time_ns(),
                 "event": {"level": alert.level.name, "previous": alert.previous.name,
                           "margin_ratio": alert.margin_ratio, "message": alert.message}}
            )  # fmt: skip
        return report

    async def _margin_loop(self) -> None:
        while True:
            try:
                await self.margin_pass()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # an oracle or RPC failure is counted, the loop goes on
                self.metrics.venue_errors.labels(venue="risk").inc()
                log.warning("margin monitor: %s", e)
            self.margin_checked.set()
            await asyncio.sleep(self.config.monitor.margin_interval_s)

    async def _follow(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
            # arrives as the kick does, and stop() would wait for this task for ever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOW_S):
                    await self._kick.wait()
            self._kick.clear()
            try:
                self._follow_once()
            except Exception as e:  # keep following; the next pass retries from _pos
                log.warning("journal follower: %s", e)

    def _follow_once(self) -> None:
        now = time.time_ns()
        m = self.metrics
        for rec in self.primary.app.journal.read_all(self._pos + 1, decode=False):
            self._pos = rec.position
            m.journal_lag.observe(max(0, now - rec.recorded_at_ns) / 1e9)
            data = json.loads(rec.data)
            if rec.type == "OrderInitialized":
                self._t_init[data.get("client_order_id", "")] = rec.recorded_at_ns
            elif rec.type == "TxSigned":  # a routed batch is tagged <parent>@<chain>#<n>
                cid = (data.get("client_order_id") or "").partition("@")[0]
                t0 = self._t_init.pop(cid, None)
                if t0 is not None:
                    m.intent_to_signed.observe((rec.recorded_at_ns - t0) / 1e9)
                self._t_signed[data.get("tx_hash", "")] = rec.recorded_at_ns
            elif rec.type == "TxMined":
                t1 = self._t_signed.pop(data.get("tx_hash", ""), None)
                if t1 is not None:
                    m.signed_to_mined.observe((rec.recorded_at_ns - t1) / 1e9)
            elif rec.type in ("OrderFilled", "OrderPartiallyFilled"):
                m.fills.inc()
            # the latency maps hold only what is still open: bounded by the work in flight
            if rec.type in _NEVER_SIGNED:
                self._t_init.pop(data.get("client_order_id", ""), None)
            elif rec.type == "TxDropped":
                self._t_signed.pop(data.get("tx_hash", ""), None)
            elif rec.type == "TxReplaced":  # the replacement's own TxSigned starts its clock
                self._t_signed.pop(data.get("old_tx_hash", ""), None)
            self.hub.publish(
                {"position": rec.position, "stream": rec.stream, "type": rec.type,
                 "recorded_at_ns": rec.recorded_at_ns, "event": data}
            )  # fmt: skip

    def refresh_gauges(self) -> None:
        self.manager.sync()
        store = self.manager.store
        self.metrics.set_orders(
            Counter(o.state.value for o in store.orders.values()), [s.value for s in OrderState]
        )
        for s in TradingState:
            self.metrics.trading_state.labels(state=s.value).set(
                1 if store.trading_state is s else 0
            )

    # --- what the API asks -----------------------------------------------------------------
    def _chain(self, name: str | None) -> ChainRuntime:
        if name is None:
            return self.primary
        rt = self.chains.get(name)
        if rt is None:
            raise ApiError(
                400, "UNKNOWN_CHAIN", f"chain: {name!r} has no wallet in agent.toml "
                f"(one of {', '.join(self.chains)})", "chain",
            )  # fmt: skip
        return rt

    async def submit(self, body: Any) -> tuple[int, dict[str, Any]]:
        rt = self._chain(body.chain)
        if body.algorithm != "market":  # a parent under an execution algorithm
            if body.limit_price is not None or body.order_type is not None:
                raise ApiError(
                    400, "INVALID_VALUE", "limit_price: an algorithm's limit is algorithm.limit",
                    "limit_price",
                )  # fmt: skip
            return await self.algos.submit(rt, body)
        return await self.submit_routed(body)

    async def submit_routed(self, body: Any) -> tuple[int, dict[str, Any]]:
        """Accept-then-execute through the intake (agent.service.intake): 202 once the parent
        is journaled ACCEPTED; the router and the PlanExecutor run it behind."""
        from agent.errors import DuplicateOrderError
        from agent.oms.order import order_dict
        from agent.service.intake import IntakeRefused, request_of

        try:
            got = await self.intake.accept(request_of(body))
        except IntakeRefused as e:
            status = (
                503 if e.code in ("DRAINING", "INTAKE_BUSY")
                else 422 if e.code in _REFUSED_422 else 400
            )  # fmt: skip
            raise ApiError(status, e.code, e.message, e.field) from None
        except DuplicateOrderError as e:
            raise ApiError(409, e.code, str(e), "client_order_id") from None
        self._kick.set()
        o = got.order
        cid = o.client_order_id
        data = order_dict(o) | {
            "status": "duplicate" if got.duplicate else o.state.value,
            "location": f"/v1/orders/{cid}", "code": o.code, "reason": o.reason,
        }  # fmt: skip
        return (200 if got.duplicate else 202), data

    def orders(self) -> list[Any]:
        self.manager.sync()
        return list(self.manager.store.orders.values())

    def order(self, cid: str) -> Any:
        self.manager.sync()
        o = self.manager.store.get(cid)
        if o is None:
            raise ApiError(404, "ORDER_NOT_FOUND", f"no order {cid!r}", "client_order_id")
        return o

    async def cancel(self, cid: str, reason: str) -> Any:
        self.order(cid)
        o = await self.manager.cancel_async(CancelOrder(cid, reason))
        self._kick.set()
        return o

    def trading(self) -> dict[str, Any]:
        self.manager.sync()
        return {"state": self.manager.store.trading_state.value, "journal": str(self.journal_path)}

    async def set_trading(
        self, state: str, reason: str, by: str, *, onchain: bool = False
    ) -> dict[str, Any]:
        """The halt is journaled FIRST (it stops this and every process sharing the journal),
        then, with ``onchain``, the guardian pauses every chain's module."""
        new = self.manager.set_trading_state(SetTradingState(TradingState(state), reason, by))
        self._kick.set()
        out: dict[str, Any] = {
            "state": new.value,
            "reason": reason,
            "journal": str(self.journal_path),
        }
        if new is TradingState.HALTED and self.cex:
            out["cex"] = await self.cancel_cex_orders()
        if onchain and new is not TradingState.ACTIVE:
            key = guardian_key(self.config)
            out["paused"] = await pause_modules(
                targets_of(self.config), key, self.primary.app.journal
            )
            self._kick.set()
        return out

    async def positions(self) -> list[dict[str, Any]]:
        from agent.service.positions import cex_derivatives, option_holdings

        out = []
        for rt in self.chains.values():
            p = rt.app.pipeline
            block = await rt.app.rpc.block_number()  # balances and options at one block
            bal = await balances(rt, block=block)
            opts = await option_holdings(rt.app.rpc, p.manifest, p.safe, rt.name, block=block)
            out.append(
                {"chain": rt.name, "account": p.safe, "block": block,
                 "balances": {k: str(v) for k, v in bal.items()},
                 "options": [h.to_json() for h in opts]}
            )  # fmt: skip
        for vid, v in self.cex.items():
            cb = await v.balances()
            out.append(
                {"venue": vid, "account": vid, "balances": {k: str(x) for k, x in cb.items()},
                 "derivatives": [d.to_json() for d in await cex_derivatives(v)]}
            )  # fmt: skip
        return out

    async def exposure_of(self, asset: str) -> Decimal:
        """The fund's position in ``asset`` over every Safe and CEX account (a chain's wrapped
        token and the CEX's native asset are one exposure: WETH = ETH, WBTC = BTC)."""
        one = UNDERLYING.get(asset.upper(), asset.upper())
        total = Decimal(0)
        for rt in self.chains.values():
            for sym, amount in (await balances(rt)).items():
                total += amount if UNDERLYING.get(sym, sym) == one else 0
        for v in self.cex.values():
            for sym, amount in (await v.balances()).items():
                total += amount if UNDERLYING.get(sym, sym) == one else 0
        return total

    async def risk(self) -> dict[str, Any]:
        return await risk_report(self.chains, self.config.monitor.vols, self.cex)

    async def venue_health(self) -> list[dict[str, Any]]:
        out = []
        for rt in self.chains.values():
            t0 = time.perf_counter()
            try:
                block = await rt.app.rpc.block_number()
                healthy, error = True, ""
            except Exception as e:  # health is what we report, not raise
                block, healthy, error = 0, False, str(e)
                self.metrics.venue_errors.labels(venue=f"rpc:{rt.name}").inc()
            dt = time.perf_counter() - t0
            for v in rt.app.pipeline.venues:
                self.metrics.venue_latency.labels(venue=v.id).observe(dt)
                out.append(
                    {"id": v.id, "kind": str(getattr(v, "kind", "")), "chain": rt.name,
                     "healthy": healthy, "block": block, "latency_ms": round(dt * 1000, 3),
                     "error": error}
                )  # fmt: skip
        for vid, v in self.cex.items():
            t0 = time.perf_counter()
            try:
                await v.open_orders()  # an authenticated round trip: keys and venue both work
                healthy, error = True, ""
            except Exception as e:
                healthy, error = False, str(e)
                self.metrics.venue_errors.labels(venue=vid).inc()
            dt = time.perf_counter() - t0
            self.metrics.venue_latency.labels(venue=vid).observe(dt)
            out.append(
                {"id": vid, "kind": "cex", "chain": None, "healthy": healthy, "block": None,
                 "latency_ms": round(dt * 1000, 3), "error": error}
            )  # fmt: skip
        return out
