"""Binance spot WebSocket: market streams, the WebSocket API's user data stream, and the
legacy listenKey stream - the subset ccxt.pro's binance class (4.5) uses for spot.

| path                  | what                                                                    |
|-----------------------|-------------------------------------------------------------------------|
| ``/stream/ws[/NAME]``  | market streams: ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS``;   |
|                       | ``<sym>@depth[@100ms]`` (diff depth with ``U``/``u`` update ids that     |
|                       | chain onto REST ``depth``'s ``lastUpdateId``), ``@ticker``,              |
|                       | ``@miniTicker``, ``@bookTicker``, ``@trade``, ``@aggTrade``             |
| ``/ws-api/v3``         | WebSocket API: ``userDataStream.subscribe.signature`` (HMAC over the    |
|                       | sorted params, timestamp/recvWindow checked), ``userDataStream.unsubscribe``, |
|                       | ``ping``, ``time``; events wrapped as ``{"subscriptionId", "event"}``   |
| ``/ws/<listenKey>``    | legacy user data stream for a key from ``POST /api/v3/userDataStream`` |

User events: ``executionReport`` (NEW, TRADE, CANCELED, EXPIRED) and
``outboundAccountPosition``. The market URL path contains ``/stream`` because ccxt tells a spot
stream connection from a futures one by that substring (the real host is stream.binance.com).
Faults: latency, ``ws_drop_after``, ``dup_fills`` and ``late_fills`` (on TRADE reports).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from agent.exchange_sim.binance import _STATUS as _EXEC_STATUS
from agent.exchange_sim.binance import BinanceApi, f8
from agent.exchange_sim.context import SimContext
from agent.exchange_sim.exchange import EventKind, SimEvent
from agent.exchange_sim.matching import SimOrder, SimOrderStatus, Trade
from agent.model import Side

log = logging.getLogger(__name__)
ZERO = Decimal(0)
_DEPTH_LEVELS = 5000
_MARKET_KINDS = ("depth", "ticker", "miniTicker", "bookTicker", "trade", "aggTrade")


@dataclass(eq=False)
class Conn:
    """One WebSocket connection: its outbound queue, market streams and user subscription."""

    ws: web.WebSocketResponse
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    streams: set[str] = field(default_factory=set)  # market stream names, e.g. btcusdt@depth
    account: str | None = None  # receives this account's user data events
    subscription_id: int | None = None  # WS API: events are wrapped with this id
    listen_key: str = ""  # legacy user data stream
    sent: int = 0


def parse_stream(name: str) -> tuple[str, str] | None:
    """``btcusdt@depth@100ms`` -> (``BTCUSDT``, ``depth``); None if it is not a stream we serve."""
    parts = name.split("@")
    if len(parts) < 2 or not parts[0]:
        return None
    kind = parts[1]
    if kind.startswith("depth") and kind[5:] in ("", "5", "10", "20"):
        if kind != "depth":
            return None  # partial-depth streams are not served: ccxt spot uses diff depth
        kind = "depth"
    if kind not in _MARKET_KINDS:
        return None
    if len(parts) > 3 or (len(parts) == 3 and parts[2] not in ("100ms", "1000ms")):
        return None
    return parts[0].upper(), kind


class BinanceStreams:
    def __init__(self, ctx: SimContext, api: BinanceApi) -> None:
        self.ctx = ctx
        self.api = api
        api.streams = self
        self.conns: set[Conn] = set()
        self.listen_keys: dict[str, str] = {}  # listenKey -> account
        self._sub_ids = 0
        # diff-depth state per symbol: the levels last published and the last update id in it
        self._depth: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal], int]] = {}
        self._announced: set[int] = set()  # order ids whose NEW report went out
        self._terminal: set[int] = set()  # order ids whose CANCELED/EXPIRED report went out
        self._cum: dict[int, tuple[Decimal, Decimal]] = {}  # order id -> (filled, quote) so far
        self._dirty_tickers: set[str] = set()
        self._dirty_accounts: dict[str, set[str]] = {}
        self._flush_scheduled = False
        ctx.exchange.listeners.append(self._on_event)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/stream/ws", self._market_ws),
            web.get("/stream/ws/{name}", self._market_ws),
            web.get("/ws-api/v3", self._api_ws),
            web.get("/ws/{listen_key}", self._listen_ws),
        ]

    async def close(self) -> None:
        for c in list(self.conns):
            await c.ws.close()

    # --- listenKey (REST side lives in BinanceApi) -------------------------------------------
    def new_listen_key(self, account: str) -> str:
        key = secrets.token_hex(30)  # 60 characters, as Binance's
        self.listen_keys[key] = account
        return key

    def close_listen_key(self, key: str) -> None:
        self.listen_keys.pop(key, None)
        for c in list(self.conns):
            if c.listen_key == key:
                self.ctx.spawn(c.ws.close())

    # --- transports ---------------------------------------------------------------------
    async def _serve(self, request: web.Request, conn_init, on_text) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        conn = Conn(ws)
        conn_init(conn)
        self.conns.add(conn)
        sender = asyncio.create_task(self._sender(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    on_text(conn, msg.data)
        finally:
            self.conns.discard(conn)
            self._forget(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        return ws

    async def _market_ws(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "")

        def init(conn: Conn) -> None:
            # /ws/<streamName> is a raw stream subscribed on connect; /ws/<n> is a bare socket
            for raw in name.split("/"):
                parsed = parse_stream(raw)
                if parsed is not None and parsed[0] in self.ctx.exchange.instruments:
                    self._subscribe(conn, raw)

        return await self._serve(request, init, self._market_request)

    async def _api_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, lambda c: None, self._api_request)

    async def _listen_ws(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["listen_key"]
        account = self.listen_keys.get(key)
        if account is None:
            return web.json_response(
                {"code": -1125, "msg": "This listenKey does not exist."}, status=400
            )

        def init(conn: Conn) -> None:
            conn.account = account
            conn.listen_key = key

        return await self._serve(request, init, lambda c, raw: None)

    def _push(self, conn: Conn, message: Any) -> None:
        conn.queue.put_nowait(message)

    async def _sender(self, conn: Conn) -> None:
        drop_after = self.ctx.faults.ws_drop_after
        while True:
            msg = await conn.queue.get()
            await self.ctx.delay()
            if conn.ws.closed:
                return
            await conn.ws.send_str(json.dumps(msg))
            conn.sent += 1
            if drop_after and conn.sent >= drop_after:
                log.info("fault ws_drop_after: closing a binance websocket")
                await conn.ws.close(code=1006)
                return

    # --- market stream requests ------------------------------------------------------------
    def _market_request(self, conn: Conn, raw: str) -> None:
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            log.warning("binance ws: malformed request %r", raw[:200])
            self._push(conn, {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        rid, method, params = req.get("id"), req.get("method"), req.get("params")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                self._push(
                    conn, {"error": {"code": 2, "msg": "Invalid request: params"}, "id": rid}
                )
                return
            parsed = [(p, parse_stream(p)) for p in params]
            bad = [p for p, x in parsed if x is None or x[0] not in self.ctx.exchange.instruments]
            if bad:
                msg = f"Invalid request: invalid stream {bad[0]!r}"
                self._push(conn, {"error": {"code": 2, "msg": msg}, "id": rid})
                return
            for p, _ in parsed:
                if method == "SUBSCRIBE":
                    self._subscribe(conn, p)
                else:
                    conn.streams.discard(p)
                    self._release_depth()
            self._push(conn, {"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            self._push(conn, {"result": sorted(conn.streams), "id": rid})
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            self._push(conn, {"result": None if method == "SET_PROPERTY" else False, "id": rid})
        else:
            self._push(conn, {"error": {"code": 2, "msg": "Invalid request: method"}, "id": rid})

    def _subscribe(self, conn: Conn, stream: str) -> None:
        conn.streams.add(stream)
        sym, kind = parse_stream(stream)  # type: ignore[misc]
        if kind == "depth" and sym not in self._depth:
            book = self.ctx.exchange.books[sym]
            self._depth[sym] = (
                dict(book.bids.depth(_DEPTH_LEVELS)),
                dict(book.asks.depth(_DEPTH_LEVELS)),
                book.change_id,
            )

    def _release_depth(self) -> None:
        wanted = {
            parse_stream(s)[0]  # type: ignore[index]
            for c in self.conns
            for s in c.streams
            if "@depth" in s
        }
        for sym in list(self._depth):
            if sym not in wanted:
                del self._depth[sym]

    def _forget(self, conn: Conn) -> None:
        conn.streams.clear()
        self._release_depth()

    # --- WebSocket API ---------------------------------------------------------------------
    def _api_request(self, conn: Conn, raw: str) -> None:
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            log.warning("binance ws-api: malformed request %r", raw[:200])
            self._push(conn, _api_error(None, 400, -1100, "Illegal characters found in request."))
            return
        rid, method = req.get("id"), req.get("method")
        params = req.get("params") or {}
        verdict = self.ctx.gate.check(2)
        if verdict.status != 200:
            self._push(conn, _api_error(rid, verdict.status, -1003, "Too many requests."))
            return
        if not isinstance(params, dict):
            self._push(conn, _api_error(rid, 400, -1104, "Not all sent parameters were read."))
            return
        if method == "ping":
            self._push(conn, _api_ok(rid, {}))
        elif method == "time":
            self._push(conn, _api_ok(rid, {"serverTime": self.ctx.now_ms()}))
        elif method == "userDataStream.subscribe.signature":
            err = self._check_signature(params)
            if isinstance(err, tuple):
                self._push(conn, _api_error(rid, *err))
                return
            conn.account = err
            self._sub_ids += 1
            conn.subscription_id = self._sub_ids - 1
            self._push(conn, _api_ok(rid, {"subscriptionId": conn.subscription_id}))
        elif method == "userDataStream.unsubscribe":
            conn.account, conn.subscription_id = None, None
            self._push(conn, _api_ok(rid, {}))
        else:
            self._push(conn, _api_error(rid, 400, -1020, "Unsupported operation."))

    def _check_signature(self, params: dict[str, Any]) -> str | tuple[int, int, str]:
        """The account for a valid signed request, else (status, code, msg) as Binance answers."""
        key = self.ctx.keys.get(str(params.get("apiKey", "")))
        if key is None:
            return 401, -2015, "Invalid API-key, IP, or permissions for action."
        sig = params.get("signature")
        if not isinstance(sig, str):
            return 400, -1102, "Mandatory parameter 'signature' was not sent."
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
        expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            return 400, -1022, "Signature for this request is not valid."
        ts = str(params.get("timestamp", ""))
        recv_raw = str(params.get("recvWindow", "5000"))
        if not ts.isdigit() or not recv_raw.isdigit():
            return 400, -1102, "Mandatory parameter 'timestamp' was not sent or is malformed."
        now = self.ctx.now_ms()
        if int(ts) >= now + 1000 or now - int(ts) > int(recv_raw):
            return 400, -1021, "Timestamp for this request is outside of the recvWindow."
        return key.account

    # --- events --------------------------------------------------------------------------
    def _on_event(self, ev: SimEvent) -> None:
        if not self.conns:
            return
        if ev.kind in (EventKind.BOOK, EventKind.SETTLEMENT):
            if ev.instrument in self._depth:
                self._publish_depth(ev.instrument)
            self._mark_ticker(ev.instrument)
        elif ev.kind is EventKind.TRADE and ev.trade is not None and ev.order is not None:
            if ev.is_taker:
                self._publish_trade(ev.trade)
            self._user_trade(ev.order, ev.trade, ev.is_taker)
        elif ev.kind is EventKind.ORDER and ev.order is not None:
            self._user_order(ev.order)

    def _market(self, sym: str, kind: str, data: dict[str, Any]) -> None:
        for c in self.conns:
            for s in c.streams:
                if s.startswith(sym.lower() + "@" + kind) and parse_stream(s) == (sym, kind):
                    self._push(c, data)
                    break

    def _publish_depth(self, sym: str) -> None:
        # Published synchronously with the change: a REST snapshot is always taken at a
        # published update id, so U/u chain onto its lastUpdateId exactly.
        book = self.ctx.exchange.books[sym]
        old_b, old_a, last_u = self._depth[sym]
        if book.change_id == last_u:
            return
        bids = dict(book.bids.depth(_DEPTH_LEVELS))
        asks = dict(book.asks.depth(_DEPTH_LEVELS))
        db, da = _diff(old_b, bids), _diff(old_a, asks)
        if not db and not da:
            return  # no level changed: the next update's U still starts after last_u
        self._depth[sym] = (bids, asks, book.change_id)
        self._market(
            sym,
            "depth",
            {
                "e": "depthUpdate",
                "E": self.ctx.now_ms(),
                "s": sym,
                "U": last_u + 1,
                "u": book.change_id,
                "b": db,
                "a": da,
            },
        )

    def _publish_trade(self, t: Trade) -> None:
        now = self.ctx.now_ms()
        buyer_maker = t.taker_side is Side.SELL
        common = {"E": now, "s": t.instrument, "p": f8(t.price), "q": f8(t.amount), "T": t.ts_ms}
        self._market(
            t.instrument,
            "trade",
            {"e": "trade", **common, "t": t.trade_id, "m": buyer_maker, "M": True},
        )
        self._market(
            t.instrument,
            "aggTrade",
            {
                "e": "aggTrade",
                **common,
                "a": t.trade_id,
                "f": t.trade_id,
                "l": t.trade_id,
                "m": buyer_maker,
                "M": True,
            },
        )

    def _mark_ticker(self, sym: str) -> None:
        self._dirty_tickers.add(sym)
        self._schedule()

    def _schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        tickers, self._dirty_tickers = self._dirty_tickers, set()
        accounts, self._dirty_accounts = self._dirty_accounts, {}
        ex = self.ctx.exchange
        now = self.ctx.now_ms()
        for sym in tickers:
            t = self.api._ticker(ex.instruments[sym])
            book = ex.books[sym]
            self._market(
                sym,
                "bookTicker",
                {
                    "u": book.change_id,
                    "s": sym,
                    "b": t["bidPrice"],
                    "B": t["bidQty"],
                    "a": t["askPrice"],
                    "A": t["askQty"],
                },
            )
            self._market(sym, "ticker", _ticker_event(t, now))
            self._market(
                sym,
                "miniTicker",
                {
                    "e": "24hrMiniTicker",
                    "E": now,
                    "s": sym,
                    "c": t["lastPrice"],
                    "o": t["openPrice"],
                    "h": t["highPrice"],
                    "l": t["lowPrice"],
                    "v": t["volume"],
                    "q": t["quoteVolume"],
                },
            )
        for account, assets in accounts.items():
            bals = {b.asset: b for b in ex.ledger.balances(account)}
            rows = [
                {
                    "a": a,
                    "f": f8(bals[a].free if a in bals else ZERO),
                    "l": f8(bals[a].locked if a in bals else ZERO),
                }
                for a in sorted(assets)
            ]
            self._user(account, {"e": "outboundAccountPosition", "E": now, "u": now, "B": rows})

    # --- user data ---------------------------------------------------------------------
    def _user(self, account: str, event: dict[str, Any], copies: int = 1) -> None:
        for c in self.conns:
            if c.account != account:
                continue
            msg = (
                event
                if c.subscription_id is None
                else {"subscriptionId": c.subscription_id, "event": event}
            )
            for _ in range(copies):
                self._push(c, msg)

    def _wants(self, account: str) -> bool:
        return any(c.account == account for c in self.conns)

    def _dirty(self, o: SimOrder) -> None:
        inst = self.ctx.exchange.instruments[o.instrument]
        self._dirty_accounts.setdefault(o.account, set()).update((inst.base, inst.quote))
        self._schedule()

    def _report(
        self,
        o: SimOrder,
        exec_type: str,
        status: str,
        filled: Decimal,
        quote: Decimal,
        trade: Trade | None = None,
        is_maker: bool = False,
    ) -> dict[str, Any]:
        inst = self.ctx.exchange.instruments[o.instrument]
        now = self.ctx.now_ms()
        fee, fee_asset = ZERO, None
        if trade is not None:
            rate = inst.maker_fee if is_maker else inst.taker_fee
            fee, fee_asset = self.api._fee(o.side, trade, rate, inst)
        return {
            "e": "executionReport",
            "E": now,
            "s": o.instrument,
            "c": o.client_id or f"sim{o.order_id}",
            "S": o.side.value.upper(),
            "o": "MARKET" if o.price is None else ("LIMIT_MAKER" if o.post_only else "LIMIT"),
            "f": o.tif.value,
            "q": f8(o.amount),
            "p": f8(o.price or ZERO),
            "P": "0.00000000",
            "F": "0.00000000",
            "g": -1,
            "C": "",
            "x": exec_type,
            "X": status,
            "r": "NONE",
            "i": o.order_id,
            "l": f8(trade.amount if trade else ZERO),
            "z": f8(filled),
            "L": f8(trade.price if trade else ZERO),
            "n": f8(fee),
            "N": fee_asset,
            "T": trade.ts_ms if trade else o.updated_ms,
            "t": trade.trade_id if trade else -1,
            "I": 0,
            "w": status in ("NEW", "PARTIALLY_FILLED") and o.price is not None,
            "m": is_maker,
            "M": False,
            "O": o.created_ms,
            "Z": f8(quote),
            "Y": f8(trade.amount * trade.price if trade else ZERO),
            "Q": "0.00000000",
            "W": o.created_ms,
            "V": "NONE",
        }

    def _announce(self, o: SimOrder) -> None:
        if o.order_id in self._announced:
            return
        self._announced.add(o.order_id)
        self._user(o.account, self._report(o, "NEW", "NEW", ZERO, ZERO))

    def _user_order(self, o: SimOrder) -> None:
        if not self._wants(o.account):
            return
        self._dirty(o)
        self._announce(o)
        if o.status in (SimOrderStatus.CANCELLED, SimOrderStatus.EXPIRED):
            if o.order_id in self._terminal:
                return
            self._terminal.add(o.order_id)
            status = _EXEC_STATUS[o.status]
            self._user(o.account, self._report(o, status, status, o.filled, o.cost))

    def _user_trade(self, o: SimOrder, t: Trade, is_taker: bool) -> None:
        if not self._wants(o.account):
            return
        self._announce(o)
        filled, quote = self._cum.get(o.order_id, (ZERO, ZERO))
        filled, quote = filled + t.amount, quote + t.amount * t.price
        self._cum[o.order_id] = (filled, quote)
        status = "FILLED" if filled >= o.amount else "PARTIALLY_FILLED"
        report = self._report(o, "TRADE", status, filled, quote, t, is_maker=not is_taker)
        faults = self.ctx.faults
        copies = 2 if faults.duplicate_fills else 1
        if faults.late_fills_ms:

            async def later() -> None:
                await asyncio.sleep(faults.late_fills_ms / 1000)
                self._user(o.account, report, copies)

            self.ctx.spawn(later())
        else:
            self._user(o.account, report, copies)


def _diff(old: dict[Decimal, Decimal], new: dict[Decimal, Decimal]) -> list[list[str]]:
    out = [[f8(px), f8(q)] for px, q in new.items() if old.get(px) != q]
    out.extend([f8(px), "0.00000000"] for px in old if px not in new)
    return out


def _ticker_event(t: dict[str, Any], now: int) -> dict[str, Any]:
    return {
        "e": "24hrTicker",
        "E": now,
        "s": t["symbol"],
        "p": t["priceChange"],
        "P": t["priceChangePercent"],
        "w": t["weightedAvgPrice"],
        "x": t["prevClosePrice"],
        "c": t["lastPrice"],
        "Q": t["lastQty"],
        "b": t["bidPrice"],
        "B": t["bidQty"],
        "a": t["askPrice"],
        "A": t["askQty"],
        "o": t["openPrice"],
        "h": t["highPrice"],
        "l": t["lowPrice"],
        "v": t["volume"],
        "q": t["quoteVolume"],
        "O": t["openTime"],
        "C": t["closeTime"],
        "F": t["firstId"],
        "L": t["lastId"],
        "n": t["count"],
    }


def _api_ok(rid: Any, result: Any) -> dict[str, Any]:
    return {"id": rid, "status": 200, "result": result, "rateLimits": []}


def _api_error(rid: Any, status: int, code: int, msg: str) -> dict[str, Any]:
    return {"id": rid, "status": status, "error": {"code": code, "msg": msg}}
