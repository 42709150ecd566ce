"""One Venue adapter over ccxt for any exchange id.

    venue = await CexVenue.connect(CexConfig("deribit", api_key=..., secret=..., sim_url=url))
    ref = await venue.submit(ChildOrder("c-1", Perpetual("BTC", "USDC", "USDC"), Side.BUY, ...))
    async for ev in venue.events(): ...
    await venue.close()

Every request goes through :class:`RateLimiter` (cancels first, 429 -> everyone waits out
Retry-After). ``submit`` is idempotent on ``client_order_id``: after a lost response it asks
the venue for the order by client id before sending again, so an order accepted while the
connection dropped is found, not duplicated. Fills are deduplicated by trade id across
streams, polling and reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async

from agent.errors import (
    NoRouteError,
    ValidationError,
    VenueError,
    VenuePayloadError,
    VenueRejectedError,
)
from agent.model import Fill, Instrument, OrderType, Quote, Side, TimeInForce, VenueKind
from agent.venues.base import (
    Capabilities,
    ChildOrder,
    FillReport,
    OrderStatusReport,
    VenueEvent,
    VenueEventKind,
    VenueOrderRef,
    VenueOrderState,
)
from agent.venues.cex.capabilities import capabilities_from_has
from agent.venues.cex.config import CexConfig, build_exchange
from agent.venues.cex.normalize import (
    SymbolMap,
    bad_payload,
    check_venue_symbol,
    client_id_of,
    fill_of,
    order_report,
    to_units,
)
from agent.venues.cex.ratelimit import Priority, RateLimiter
from agent.venues.cex.session import new_session

log = logging.getLogger(__name__)
T = TypeVar("T")
_CLIENT_ID_PARAM = {"deribit": "label"}
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
_TYPE = {t: t.value for t in OrderType}  # plain str for ccxt, without Enum.value per call
_SIDE = {s: s.value for s in Side}


class CexVenue:
    kind = VenueKind.CEX

    def __init__(self, cfg: CexConfig, exchange: Any) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.ex = exchange
        streaming = (
            cfg.streaming
            if cfg.streaming is not None
            else bool(getattr(exchange, "has", {}).get("ws"))
        )
        self.capabilities: Capabilities = capabilities_from_has(
            exchange.has, streaming_enabled=streaming
        )
        self.limiter = RateLimiter(cfg.rate_per_s, cfg.burst)
        self.symbols = SymbolMap(self.id, exchange.markets or {})
        self._refs: dict[str, VenueOrderRef] = {}
        self._ref_symbols: dict[str, str] = {}
        self._inflight: dict[str, asyncio.Future[None] | None] = {}
        self._symbol_cache: dict[Instrument, str] = {}
        self._cid_param = _CLIENT_ID_PARAM.get(cfg.exchange_id, "clientOrderId")
        self._seen_trades: set[str] = set()
        self._order_state: dict[str, VenueOrderState] = {}
        self._scope: set[str] = set()
        self._queue: asyncio.Queue[VenueEvent] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.reconnects = 0
        self.rate_limited = 0

    @classmethod
    async def connect(cls, cfg: CexConfig) -> CexVenue:
        # our own HTTP session: a dropped connection is reported, never silently re-sent
        ex = build_exchange(cfg, pro=True, session=new_session())
        venue = cls(cfg, ex)
        try:
            await venue._call(Priority.NORMAL, ex.load_markets)
        except BaseException:
            await venue._close_exchange()
            raise
        venue.symbols = SymbolMap(venue.id, ex.markets)
        for s in cfg.symbols:
            if s not in ex.markets:
                await venue._close_exchange()
                raise ValidationError(
                    "cex.symbols",
                    f"{s} is not listed on {venue.id}",
                    "use a ccxt unified symbol, e.g. BTC/USDT",
                )
            venue._scope.add(s)
        return venue

    # --- plumbing ------------------------------------------------------------------------
    async def _call(
        self,
        prio: Priority,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        retry_network: bool = True,
        **kw: Any,
    ) -> T:
        """One ccxt call under the limiter; 429 -> back off by Retry-After and retry."""
        attempt = 0
        skew_checked = False
        limiter = self.limiter
        while True:
            if not limiter.try_acquire(prio):
                await limiter.acquire(prio)
            try:
                return await fn(*args, **kw)
            except ccxt_async.DDoSProtection as e:  # 429 / 418 and RateLimitExceeded
                self.rate_limited += 1
                retry = self._retry_after()
                log.warning("%s: rate limited, backing off %.1fs: %s", self.id, retry, e)
                self.limiter.penalize(retry)
                attempt += 1
                if attempt > self.cfg.max_retries:
                    raise VenueError(
                        f"{self.id}: still rate limited after {attempt} back-offs",
                        code="VENUE_RATE_LIMITED",
                    ) from e
            except (ccxt_async.InsufficientFunds, ccxt_async.InvalidOrder) as e:
                raise VenueRejectedError(f"{self.id}: {e}") from e
            except ccxt_async.AuthenticationError as e:
                raise VenueError(f"{self.id}: authentication failed: {e}", code="VENUE_AUTH") from e
            except ccxt_async.InvalidNonce as e:
                # the venue refused our timestamp (clock skew); it did not act on the request,
                # so measuring the offset once and sending again is safe, orders included
                if skew_checked:
                    raise VenueError(
                        f"{self.id}: our clock and the venue's disagree: {e}",
                        code="VENUE_CLOCK_SKEW",
                    ) from e
                skew_checked = True
                offset = await self.ex.load_time_difference()
                log.warning("%s: clock skew; venue time offset now %s ms", self.id, offset)
            except ccxt_async.NetworkError as e:  # timeouts, 5xx, dropped connections
                attempt += 1
                if not retry_network or attempt > self.cfg.max_retries:
                    raise VenueError(
                        f"{self.id}: {type(e).__name__}: {e}", code="VENUE_UNAVAILABLE"
                    ) from e
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt))  # back-off before a retry
            except ccxt_async.BadSymbol as e:
                raise ValidationError("instrument", str(e), "use a listed symbol") from e
            except ccxt_async.ExchangeError as e:
                raise VenueError(f"{self.id}: {e}") from e
            except (ValueError, TypeError, KeyError, IndexError, ArithmeticError) as e:
                # ccxt choked parsing the venue's answer (e.g. a string where a number
                # belongs: decimal.InvalidOperation is an ArithmeticError)
                raw = getattr(self.ex, "last_http_response", None)
                what = f"response to {getattr(fn, '__name__', 'a call')}"
                raise bad_payload(self.id, what, f"{type(e).__name__}: {e}", raw) from e

    def _retry_after(self) -> float:
        headers = getattr(self.ex, "last_response_headers", None) or {}
        raw = None
        for k, v in dict(headers).items():
            if str(k).lower() == "retry-after":
                raw = v
        try:
            return max(0.5, float(raw)) if raw is not None else 1.0
        except ValueError:
            return 1.0

    # --- Venue ---------------------------------------------------------------------------
    async def quote(self, instrument: Instrument, side: Side, size: Decimal) -> Quote:
        if not isinstance(size, Decimal) or not size.is_finite() or size <= 0:
            raise ValidationError("size", f"{size} must be a positive Decimal")
        sym = self.symbols.symbol(instrument)
        book = await self._call(Priority.NORMAL, self.ex.fetch_order_book, sym, 50)
        levels = book["asks"] if side is Side.BUY else book["bids"]
        left, cost = size, Decimal(0)
        for lvl in levels:
            px, qty = Decimal(str(lvl[0])), Decimal(str(lvl[1]))
            take = min(left, qty)
            cost += take * px
            left -= take
            if left <= 0:
                break
        if left > 0:
            raise NoRouteError(f"{self.id}: book for {sym} is too thin for {size}")
        m = self.symbols.markets[sym]
        fee = Decimal(str(m.get("taker") or 0))
        base, quote = self.symbols.base_asset(sym), self.symbols.settle_asset(sym)
        bd = self.cfg.asset_decimals.get(base, 8)
        qd = self.cfg.asset_decimals.get(quote, 8)
        one = Decimal(1)
        if side is Side.BUY:
            a_in, u_in, a_out, u_out = (
                quote,
                to_units(cost, qd),
                base,
                to_units(size * (one - fee), bd),
            )
        else:
            a_in, u_in, a_out, u_out = (
                base,
                to_units(size, bd),
                quote,
                to_units(cost * (one - fee), qd),
            )
        return Quote(
            venue=self.id,
            side=side,
            asset_in=a_in,
            asset_out=a_out,
            amount_in=u_in,
            amount_out=u_out,
            fee_bps=int(fee * 10_000),
            route=(sym,),
            extra=(("avg_price", str(cost / size)),),
        )

    async def curve(
        self,
        instrument: Instrument,
        side: Side,
        at: None = None,
        *,
        base_decimals: int,
        quote_decimals: int,
        max_age_ms: int = 5_000,
    ) -> Any:
        """The book as an exact liquidity curve (``agent.venues.cex.book``); ``at`` is always
        now: a book is pinned by its snapshot, not by a block."""
        from agent.venues.cex.book import book_curve

        curve, _pin = await book_curve(
            self, instrument, side, base_decimals=base_decimals,
            quote_decimals=quote_decimals, max_age_ms=max_age_ms,
        )  # fmt: skip
        return curve

    async def submit(self, child: ChildOrder) -> VenueOrderRef:
        cid = child.client_order_id
        ref = self._refs.get(cid)
        if ref is not None:  # idempotent on client_order_id
            return ref
        if not cid:
            raise ValidationError("child.client_order_id", "is empty", "give a unique id")
        size, price = child.size, child.limit_price
        if not isinstance(size, Decimal) or not size.is_finite() or size <= 0:
            raise ValidationError("child.size", f"{size} must be positive")
        is_limit = child.order_type is OrderType.LIMIT
        if is_limit and (not isinstance(price, Decimal) or not price.is_finite() or price <= 0):
            raise ValidationError("child.limit_price", "a limit order needs a positive price")
        sym = self._symbol_cache.get(child.instrument)
        if sym is None:
            sym = self._symbol_cache[child.instrument] = self.symbols.symbol(child.instrument)
            self._scope.add(sym)
        inflight = self._inflight
        if cid in inflight:  # the same child is being sent right now: share its outcome
            waiter = inflight[cid]
            if waiter is None:
                waiter = inflight[cid] = asyncio.get_running_loop().create_future()
            await asyncio.shield(waiter)
            return await self.submit(child)
        inflight[cid] = None  # a future only when a second caller shows up
        try:
            return await self._place(child, cid, sym, is_limit)
        finally:
            waiter = inflight.pop(cid)
            if waiter is not None:
                waiter.set_result(None)

    async def _place(self, child: ChildOrder, cid: str, sym: str, is_limit: bool) -> VenueOrderRef:
        params: dict[str, Any] = {self._cid_param: cid}
        if is_limit:
            params["timeInForce"] = _TIF[child.time_in_force]
        if child.display:  # Binance's iceberg: the book shows icebergQty of the order at a time
            params["icebergQty"] = self.ex.amount_to_precision(sym, float(child.display))
        args = (
            sym,
            _TYPE[child.order_type],
            _SIDE[child.side],
            float(child.size),
            float(child.limit_price) if child.limit_price is not None else None,
            params,
        )
        for attempt in range(self.cfg.max_retries + 1):
            try:
                order = await self._call(
                    Priority.NORMAL, self.ex.create_order, *args, retry_network=False
                )
                oid = order.get("id") if isinstance(order, dict) else None
                if not oid:
                    raise bad_payload(self.id, "order", "order response without an id", order)
            except VenueRejectedError as e:
                if "Duplicate" not in str(e):
                    raise
                found = await self._find_by_client_id(sym, cid)  # sent before: adopt it
                if found is None:
                    raise
                return self._remember(cid, found, sym)
            except VenuePayloadError as e:
                # the venue answered, so it decided; we cannot read how: ask it by client id
                found = await self._find_by_client_id(sym, cid)
                if found is None:
                    raise
                log.warning("%s: submit %s: %s; adopted order %s", self.id, cid, e, found)
                return self._remember(cid, found, sym)
            except VenueError as e:
                if e.code != "VENUE_UNAVAILABLE":
                    raise
                # the request may have reached the venue: ask before sending again
                log.warning("%s: submit %s: %s; reconciling by client id", self.id, cid, e)
                found = await self._find_by_client_id(sym, cid)
                if found is not None:
                    return self._remember(cid, found, sym)
                if attempt == self.cfg.max_retries:
                    raise
                continue
            return self._remember(cid, oid if isinstance(oid, str) else str(oid), sym)
        raise AssertionError("unreachable")

    def _remember(self, cid: str, oid: str, sym: str) -> VenueOrderRef:
        ref = VenueOrderRef(self.id, cid, oid)
        self._ref_symbols[oid] = sym
        self._refs[cid] = ref
        if self._queue is not None:  # nobody listens before events() is first iterated
            self._queue.put_nowait(VenueEvent(VenueEventKind.ACK, ref))
        return ref

    async def _find_by_client_id(self, sym: str, cid: str) -> str | None:
        if self.cfg.exchange_id == "deribit":
            res = await self._call(
                Priority.NORMAL,
                self.ex.privateGetGetOrderStateByLabel,
                {"label": cid, "currency": "any"},
            )
            rows = res.get("result") or [] if isinstance(res, dict) else []
            if len(rows) > 1:  # labels are not unique on Deribit; ours should be
                log.error("%s: %d orders carry label %s: %s", self.id, len(rows), cid, rows)
            return str(rows[0]["order_id"]) if rows else None
        try:
            o = await self._call(
                Priority.NORMAL, self.ex.fetch_order, None, sym, {"origClientOrderId": cid}
            )
        except VenueError as e:
            if isinstance(e.__cause__, ccxt_async.OrderNotFound):
                return None
            raise
        return str(o["id"]) if o and o.get("id") else None

    async def cancel(self, ref: VenueOrderRef) -> None:
        known = self._ref_symbols.get(ref.venue_order_id)
        for sym in [known] if known else sorted(self._scope):
            try:
                await self._call(Priority.CANCEL, self.ex.cancel_order, ref.venue_order_id, sym)
                return
            except VenueError as e:
                if not isinstance(e.__cause__, ccxt_async.OrderNotFound):
                    raise
                # already gone (filled or cancelled), or not in this symbol: cancel is idempotent

    async def close(self) -> None:
        self._closed = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        await self._close_exchange()

    async def _close_exchange(self) -> None:
        session = getattr(self.ex, "session", None)
        await self.ex.close()
        if session is not None and not getattr(self.ex, "own_session", True):
            await session.close()  # ccxt does not close a session it was given

    # --- reports -------------------------------------------------------------------------
    async def open_orders(self) -> Sequence[OrderStatusReport]:
        out: list[OrderStatusReport] = []
        for sym in sorted(self._scope):
            for o in await self._call(Priority.BACKGROUND, self.ex.fetch_open_orders, sym):
                check_venue_symbol(self.id, o, sym, self.symbols)
                out.append(order_report(self.id, o, self.symbols))
        return out

    async def balances(self) -> dict[str, Decimal]:
        """The account's total balance per asset (free + used), exact: ccxt's numbers are
        read through their decimal string, never through float arithmetic."""
        raw = await self._call(Priority.BACKGROUND, self.ex.fetch_balance)
        out: dict[str, Decimal] = {}
        for asset, amount in (raw.get("total") or {}).items():
            if amount:
                out[str(asset)] = Decimal(str(amount))
        return out

    async def order_status(self, ref: VenueOrderRef) -> OrderStatusReport | None:
        known = self._ref_symbols.get(ref.venue_order_id)
        for sym in [known] if known else sorted(self._scope):
            try:
                o = await self._call(
                    Priority.BACKGROUND, self.ex.fetch_order, ref.venue_order_id, sym
                )
            except VenueError as e:
                if isinstance(e.__cause__, ccxt_async.OrderNotFound):
                    continue
                raise
            return order_report(self.id, o, self.symbols)
        return None

    async def fills_since(self, cursor: str | None) -> FillReport:
        """Fills after ``cursor`` (opaque: ``"<ms>|<trade ids at that ms>"``), oldest first."""
        since_ms, seen_at = _parse_cursor(cursor)
        rows: list[tuple[int, Fill]] = []
        for sym in sorted(self._scope):
            trades = await self._call(
                Priority.BACKGROUND, self.ex.fetch_my_trades, sym, since_ms if since_ms else None
            )
            for t in trades:
                check_venue_symbol(self.id, t, sym, self.symbols)
                ts = int(t.get("timestamp") or 0)
                if ts < since_ms or (ts == since_ms and str(t.get("id")) in seen_at):
                    continue
                rows.append((ts, fill_of(self.id, t, self.symbols, self.cfg.asset_decimals)))
        rows.sort(key=lambda r: (r[0], r[1].trade_id))
        fills = []
        dedup: set[str] = set()
        for _, f in rows:
            if f.trade_id not in dedup:
                dedup.add(f.trade_id)
                fills.append(f)
        if rows:
            last = rows[-1][0]
            ids = {f.trade_id for ts, f in rows if ts == last}
            if last == since_ms:
                ids |= seen_at
            cursor = f"{last}|{','.join(sorted(ids))}"
        return FillReport(tuple(fills), cursor or "0|")

    # --- events --------------------------------------------------------------------------
    def _emit(self, ev: VenueEvent) -> None:
        if self._queue is not None:
            self._queue.put_nowait(ev)

    def _fill_event(self, fill: Fill, cid: str = "") -> None:
        if fill.trade_id in self._seen_trades:
            return  # duplicated or late copy of a fill we already reported
        self._seen_trades.add(fill.trade_id)
        cid = cid or next(
            (c for c, r in self._refs.items() if r.venue_order_id == fill.order_id), ""
        )
        self._emit(
            VenueEvent(VenueEventKind.FILL, VenueOrderRef(self.id, cid, fill.order_id), fill=fill)
        )

    async def events(self) -> AsyncIterator[VenueEvent]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            if self.capabilities.streaming:
                self._tasks.append(asyncio.create_task(self._stream_fills()))
                self._tasks.append(asyncio.create_task(self._stream_orders()))
            else:
                self._tasks.append(asyncio.create_task(self._poll_fills()))
        while not self._closed:
            yield await self._queue.get()

    async def _catch_up(self, cursor: str | None) -> str | None:
        rep = await self.fills_since(cursor)
        for f in rep.fills:
            self._fill_event(f)
        return rep.cursor

    async def _poll_fills(self) -> None:
        cursor: str | None = None
        while not self._closed:
            try:
                cursor = await self._catch_up(cursor)
            except VenueError as e:
                log.warning("%s: fill polling failed: %s", self.id, e)
            await asyncio.sleep(self.cfg.poll_interval_s)  # the polling period itself

    async def _stream_fills(self) -> None:
        backoff = 0.05
        cursor: str | None = None
        while not self._closed:
            try:
                trades = await self.ex.watch_my_trades()
                backoff = 0.05
                for t in trades:
                    try:
                        self._fill_event(
                            fill_of(self.id, t, self.symbols, self.cfg.asset_decimals),
                            client_id_of(t),
                        )
                    except VenueError as e:
                        log.warning("%s: dropped a bad fill message: %s", self.id, e)
            except Exception as e:  # ccxt.pro can raise non-ccxt errors (KeyError) on a drop
                # connection dropped: back off, catch up over REST, then resubscribe
                self.reconnects += 1
                log.info("%s: stream lost (%s); reconnecting", self.id, e)
                await asyncio.sleep(backoff)  # reconnect back-off, not synchronisation
                backoff = min(2.0, backoff * 2)
                with contextlib.suppress(VenueError):
                    cursor = await self._catch_up(cursor)
                # a fill between that catch-up and the resubscription would be missed by both:
                # catch up once more after the new subscription has had time to settle
                self._tasks = [t for t in self._tasks if not t.done()]
                self._tasks.append(asyncio.create_task(self._catch_up_later(cursor)))

    async def _catch_up_later(self, cursor: str | None) -> None:
        await asyncio.sleep(self.cfg.poll_interval_s)  # a reconciliation delay, not a sync
        with contextlib.suppress(VenueError):
            await self._catch_up(cursor)

    async def _stream_orders(self) -> None:
        backoff = 0.05
        while not self._closed:
            try:
                orders = await self.ex.watch_orders()
                backoff = 0.05
                for o in orders:
                    try:
                        rep = order_report(self.id, o, self.symbols)
                    except VenueError as e:
                        log.warning("%s: dropped a bad order message: %s", self.id, e)
                        continue
                    prev = self._order_state.get(rep.ref.venue_order_id)
                    self._order_state[rep.ref.venue_order_id] = rep.state
                    if prev == rep.state:
                        continue
                    kind = {
                        VenueOrderState.CANCELLED: VenueEventKind.CANCEL,
                        VenueOrderState.EXPIRED: VenueEventKind.EXPIRE,
                        VenueOrderState.REJECTED: VenueEventKind.REJECT,
                    }.get(rep.state)
                    if kind is not None:
                        self._emit(VenueEvent(kind, rep.ref))
            except Exception as e:  # as in _stream_fills
                log.info("%s: order stream lost (%s); reconnecting", self.id, e)
                await asyncio.sleep(backoff)  # reconnect back-off
                backoff = min(2.0, backoff * 2)


def _parse_cursor(cursor: str | None) -> tuple[int, set[str]]:
    if not cursor:
        return 0, set()
    ts, _, ids = cursor.partition("|")
    if not ts.isdigit():
        raise ValidationError(
            "cursor",
            f"{cursor!r} is not a cursor from fills_since",
            "pass back the cursor you were given, or None",
        )
    return int(ts), {i for i in ids.split(",") if i}
