"""Deribit API v2: JSON-RPC over HTTP (``/api/v2/{public,private}/<method>``) and WebSocket
(``/ws/api/v2``), sharing one dispatcher.

Auth: HTTP private calls take ``Authorization: deri-hmac-sha256 id=..,ts=..,sig=..,nonce=..``
(what ccxt's deribit class sends) or ``Bearer <access_token>``; ``public/auth`` accepts
``client_credentials`` and ``client_signature`` grants and authenticates the WS connection.
Subscriptions: ``book.<inst>.<interval>`` (snapshot then deltas), ``ticker.<inst>.<interval>``,
``user.orders.<kind>.<currency>.<interval>`` and ``user.trades.<kind>.<currency>.<interval>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSMsgType, web

from agent.exchange_sim.accounts import ZERO
from agent.exchange_sim.context import SimContext
from agent.exchange_sim.deribit_market import DeribitMarketData, _fifo_pnl, tick_direction
from agent.exchange_sim.exchange import EventKind, RejectReason, SimEvent, SimReject
from agent.exchange_sim.instruments import SimInstrument, SimKind
from agent.exchange_sim.matching import SimOrder, SimOrderStatus, SimTif, Trade
from agent.model import Side

log = logging.getLogger(__name__)

_REJECT = {
    RejectReason.UNKNOWN_INSTRUMENT: (10020, "invalid_or_unsupported_instrument"),
    RejectReason.BAD_PRICE: (10043, "price_wrong_tick"),
    RejectReason.BAD_AMOUNT: (10021, "invalid_amount"),
    RejectReason.INSUFFICIENT_FUNDS: (10009, "not_enough_funds"),
    RejectReason.DUPLICATE_CLIENT_ID: (11030, "other_reject duplicate_label"),
    RejectReason.UNKNOWN_ORDER: (10004, "order_not_found"),
    RejectReason.POST_ONLY_WOULD_TAKE: (11054, "post_only_reject"),
    RejectReason.FOK_UNFILLABLE: (11030, "other_reject fok_not_filled"),
    RejectReason.NO_LIQUIDITY: (11030, "other_reject no_liquidity"),
    RejectReason.INSTRUMENT_EXPIRED: (10012, "book_closed"),
}
_STATE = {
    SimOrderStatus.NEW: "open",
    SimOrderStatus.PARTIALLY_FILLED: "open",
    SimOrderStatus.FILLED: "filled",
    SimOrderStatus.CANCELLED: "cancelled",
    SimOrderStatus.REJECTED: "rejected",
    SimOrderStatus.EXPIRED: "cancelled",
}
_TIF_IN = {
    "good_til_cancelled": SimTif.GTC,
    "immediate_or_cancel": SimTif.IOC,
    "fill_or_kill": SimTif.FOK,
}
_TIF_OUT = {v: k for k, v in _TIF_IN.items()}


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: object = None, http: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.data, self.http = code, message, data, http


def _num(x: Decimal) -> float | int:
    """Deribit sends JSON numbers; integral values as ints, like the real venue."""
    return int(x) if x == x.to_integral_value() else float(x)


def _dec(params: dict[str, Any], name: str, required: bool = True) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise RpcError(-32602, "Invalid params", {"reason": "must be present", "param": name})
        return None
    if isinstance(raw, bool):
        raise RpcError(-32602, "Invalid params", {"reason": "must be a number", "param": name})
    try:
        v = Decimal(str(raw))
    except InvalidOperation:
        raise RpcError(
            -32602, "Invalid params", {"reason": "must be a number", "param": name}
        ) from None
    if not v.is_finite():
        raise RpcError(-32602, "Invalid params", {"reason": "must be finite", "param": name})
    return v


def _bool(params: dict[str, Any], name: str) -> bool:
    v = params.get(name, False)
    return v is True or (isinstance(v, str) and v.lower() == "true")


@dataclass(eq=False)
class Session:
    """One client: a WebSocket connection, or a single HTTP request."""

    account: str | None = None
    ws: web.WebSocketResponse | None = None
    channels: set[str] = field(default_factory=set)
    sent_books: dict[str, tuple[dict, dict]] = field(default_factory=dict)
    messages_sent: int = 0
    queue: asyncio.Queue | None = None


Handler = Callable[[dict[str, Any], Session], Awaitable[Any]]


class DeribitApi(DeribitMarketData):
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.sessions: set[Session] = set()
        self._dirty_books: set[str] = set()
        self._last_trade: dict[str, tuple[Decimal, int]] = {}  # for the public tick direction
        self._flush_scheduled = False
        self._methods: dict[str, tuple[Handler, bool]] = {}
        for name in dir(self):
            if name.startswith(("public_", "private_")):
                scope, _, method = name.partition("_")
                self._methods[f"{scope}/{method}"] = (getattr(self, name), scope == "private")
        ctx.exchange.listeners.append(self._on_event)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ws/api/v2", self._ws),
            web.get("/api/v2/{scope}/{method}", self._http),
            web.post("/api/v2/{scope}/{method}", self._http),
        ]

    async def close(self) -> None:
        for s in list(self.sessions):
            if s.ws is not None:
                await s.ws.close()

    # --- transport: HTTP -------------------------------------------------------------------
    async def _http(self, request: web.Request) -> web.StreamResponse:
        ctx = self.ctx
        method = f"{request.match_info['scope']}/{request.match_info['method']}"
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            with contextlib.suppress(ValueError):
                body = await request.json()
                params.update(body.get("params", {}) if isinstance(body, dict) else {})
        verdict = ctx.gate.check(1)
        await ctx.delay()
        if verdict.status != 200:
            return self._http_error(
                RpcError(10028, "too_many_requests", http=verdict.status),
                {"Retry-After": str(verdict.retry_after_s)},
            )
        if ctx.dice.hit(ctx.faults.error_5xx):
            ctx.count_5xx += 1
            return web.Response(status=503, text="Service Unavailable")
        session = Session()
        try:
            if method.startswith("private/"):
                session.account = self._http_auth(request)
            result = await self._dispatch(method, params, session, transport_http=request)
        except RpcError as e:
            return self._http_error(e)
        return web.json_response(self._envelope(result))

    def _http_error(self, e: RpcError, headers: dict[str, str] | None = None) -> web.Response:
        body = {
            "jsonrpc": "2.0",
            "error": {"code": e.code, "message": e.message, **({"data": e.data} if e.data else {})},
            "testnet": True,
            "usIn": 0,
            "usOut": 0,
            "usDiff": 0,
        }
        return web.json_response(body, status=e.http, headers=headers)

    def _envelope(self, result: Any, rid: Any = None) -> dict[str, Any]:
        us = time.time_ns() // 1000
        env = {
            "jsonrpc": "2.0",
            "result": result,
            "usIn": us,
            "usOut": us,
            "usDiff": 0,
            "testnet": True,
        }
        if rid is not None:
            env["id"] = rid
        return env

    def _http_auth(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            acct = self.ctx.tokens.get(header[7:].strip())
            if acct is None:
                raise RpcError(13009, "unauthorized", {"reason": "invalid_token"}, http=401)
            return acct
        if not header.startswith("deri-hmac-sha256 "):
            raise RpcError(13009, "unauthorized", {"reason": "missing Authorization"}, http=401)
        fields_ = dict(
            kv.split("=", 1) for kv in header[len("deri-hmac-sha256 ") :].split(",") if "=" in kv
        )
        key = self.ctx.keys.get(fields_.get("id", ""))
        if key is None:
            raise RpcError(13004, "invalid_credentials", http=401)
        ts, nonce, sig = fields_.get("ts", ""), fields_.get("nonce", ""), fields_.get("sig", "")
        uri = request.path_qs
        body = ""
        data = f"{ts}\n{nonce}\n{request.method}\n{uri}\n{body}\n"
        expected = hmac.new(key.secret.encode(), data.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig):
            raise RpcError(13004, "invalid_credentials", {"reason": "bad signature"}, http=401)
        if not ts.isdigit() or abs(self.ctx.now_ms() - int(ts)) > 60_000:
            raise RpcError(13004, "invalid_credentials", {"reason": "stale timestamp"}, http=401)
        return key.account

    # --- transport: WebSocket --------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        session = Session(ws=ws, queue=asyncio.Queue())
        self.sessions.add(session)
        sender = asyncio.create_task(self._ws_sender(session))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._ws_request(session, msg.data)
        finally:
            self.sessions.discard(session)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        return ws

    async def _ws_request(self, session: Session, raw: str) -> None:
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            self._push(
                session, {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}}
            )
            return
        rid, method = req.get("id"), str(req.get("method", ""))
        params = req.get("params") or {}
        verdict = self.ctx.gate.check(1)
        try:
            if verdict.status != 200:
                raise RpcError(10028, "too_many_requests")
            if not isinstance(params, dict):
                raise RpcError(-32602, "Invalid params", {"reason": "params must be an object"})
            if method.startswith("private/") and session.account is None:
                tok = params.get("access_token")
                acct = self.ctx.tokens.get(tok) if isinstance(tok, str) else None
                if acct is None:
                    raise RpcError(13009, "unauthorized")
                session.account = acct
            result = await self._dispatch(method, params, session)
            env = self._envelope(result, rid)
        except RpcError as e:
            env = {
                "jsonrpc": "2.0",
                "id": rid,
                "error": {
                    "code": e.code,
                    "message": e.message,
                    **({"data": e.data} if e.data else {}),
                },
            }
        self._push(session, env)
        if method in ("public/subscribe", "private/subscribe") and "result" in env:
            for ch in env["result"]:
                self._initial(session, ch)

    def _push(self, session: Session, message: dict[str, Any]) -> None:
        if session.queue is not None:
            session.queue.put_nowait(message)

    async def _ws_sender(self, session: Session) -> None:
        assert session.queue is not None and session.ws is not None
        drop_after = self.ctx.faults.ws_drop_after
        while True:
            msg = await session.queue.get()
            await self.ctx.delay()
            if session.ws.closed:
                return
            await session.ws.send_str(json.dumps(msg))
            session.messages_sent += 1
            if drop_after and session.messages_sent >= drop_after:
                log.info("fault ws_drop_after: closing a websocket")
                await session.ws.close(code=1006)
                return

    # --- dispatch --------------------------------------------------------------------------
    async def _dispatch(
        self,
        method: str,
        params: dict[str, Any],
        session: Session,
        transport_http: web.Request | None = None,
    ) -> Any:
        entry = self._methods.get(method)
        if entry is None:
            raise RpcError(-32601, "Method not found", http=400)
        handler, private = entry
        if private and session.account is None:
            raise RpcError(13009, "unauthorized", http=401)
        result = await handler(params, session)
        if method in ("private/buy", "private/sell") and transport_http is not None:
            self.ctx.orders_placed += 1
            n, faults = self.ctx.orders_placed, self.ctx.faults
            transport = transport_http.transport
            if faults.stall_accept == n and transport is not None:
                # accepted, then the response never comes: the client times out
                log.info("fault stall_accept: stalling an order response")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.ctx.stopping.wait(), 30)
                transport.close()
                raise RpcError(10040, "retry", http=503)
            if faults.drop_accept == n and transport is not None:
                # accepted, then the connection drops before the response. Deribit's private
                # calls are GETs, and aiohttp silently re-sends an idempotent request once on
                # a dropped connection: a plain ccxt client places this order twice.
                log.info("fault drop_accept: closing the connection of an accepted order")
                transport.close()
                raise RpcError(10040, "retry", http=503)
        return result

    def _inst(self, params: dict[str, Any]) -> SimInstrument:
        name = params.get("instrument_name")
        if not isinstance(name, str) or not name:
            raise RpcError(
                -32602, "Invalid params", {"reason": "must be present", "param": "instrument_name"}
            )
        inst = self.ctx.exchange.instruments.get(name)
        if inst is None:
            raise RpcError(
                10020,
                "invalid_or_unsupported_instrument",
                {"param": "instrument_name", "reason": f"unknown {name}"},
            )
        return inst

    def _order_of(self, params: dict[str, Any], session: Session) -> SimOrder:
        raw = params.get("order_id")
        if raw is None or not str(raw).isdigit():
            raise RpcError(10025, "invalid_order_id", {"param": "order_id"})
        o = self.ctx.exchange.orders.get(int(str(raw)))
        if o is None or o.account != session.account:
            raise RpcError(10004, "order_not_found")
        return o

    def _matches(self, inst: SimInstrument, currency: Any, kind: Any) -> bool:
        cur_ok = currency in (None, "", "any") or currency in (inst.base, inst.quote)
        k = {"perpetual": "future", "option": "option", "spot": "spot"}[inst.kind.value]
        return cur_ok and (kind in (None, "", "any") or kind == k)

    # --- serialisers -----------------------------------------------------------------------
    def order_json(self, o: SimOrder) -> dict[str, Any]:
        return {
            "order_id": str(o.order_id),
            "order_state": _STATE[o.status],
            "order_type": "market" if o.price is None else "limit",
            "direction": o.side.value,
            "instrument_name": o.instrument,
            "amount": _num(o.amount),
            "filled_amount": _num(o.filled),
            "price": _num(o.price) if o.price is not None else "market_price",
            "average_price": _num(o.average),
            "time_in_force": _TIF_OUT[o.tif],
            "label": o.client_id,
            "creation_timestamp": o.created_ms,
            "last_update_timestamp": o.updated_ms,
            "post_only": o.post_only,
            "reduce_only": False,
            "replaced": False,
            "api": True,
            "web": False,
            "commission": _num(o.fee),
            "max_show": _num(o.amount),
            "is_liquidation": False,
            "risk_reducing": False,
            "mmp": False,
        }

    def trade_json(self, t: Trade, o: SimOrder) -> dict[str, Any]:
        inst = self.ctx.exchange.instruments[t.instrument]
        is_taker = t.taker_order_id == o.order_id
        from agent.exchange_sim.accounts import fee_of

        fee = fee_of(t.price * t.amount, inst.taker_fee if is_taker else inst.maker_fee)
        return {
            "trade_id": f"{inst.base}-{t.trade_id}",
            "trade_seq": t.trade_id,
            "timestamp": t.ts_ms,
            "tick_direction": 0,
            "state": "filled" if o.status is SimOrderStatus.FILLED else "open",
            "self_trade": t.taker_account == t.maker_account,
            "reduce_only": False,
            "price": _num(t.price),
            "post_only": o.post_only,
            "order_type": "market" if o.price is None else "limit",
            "order_id": str(o.order_id),
            "matching_id": None,
            "mark_price": _num(self.ctx.exchange.mark_price(t.instrument)),
            "liquidity": "T" if is_taker else "M",
            "instrument_name": t.instrument,
            "index_price": _num(self.ctx.exchange.index_price(inst.base)),
            "fee_currency": inst.settle,
            "fee": _num(fee),
            "direction": o.side.value,
            "amount": _num(t.amount),
            "label": o.client_id,
        }

    def _ticker(self, inst: SimInstrument) -> dict[str, Any]:
        ex = self.ctx.exchange
        book = ex.books[inst.name]
        bid, ask = book.bids.depth(1), book.asks.depth(1)
        trades = [t for t in ex.trades[-500:] if t.instrument == inst.name]
        mark = ex.mark_price(inst.name)
        idx = ex.index_price(inst.base)
        last = trades[-1].price if trades else None
        oi = sum((max(ZERO, ex.ledger.position(a, inst.name)) for a in ex.ledger.accounts()), ZERO)
        d: dict[str, Any] = {
            "timestamp": self.ctx.now_ms(),
            "state": "open" if inst.name not in ex.settled else "closed",
            "instrument_name": inst.name,
            "mark_price": _num(mark),
            "index_price": _num(idx),
            "last_price": _num(last) if last is not None else None,
            "settlement_price": _num(mark),
            "open_interest": _num(oi),
            "min_price": _num(max(inst.tick, mark * Decimal("0.5")).quantize(inst.tick)),
            "max_price": _num((mark * Decimal("1.5") + inst.tick).quantize(inst.tick)),
            "best_bid_price": _num(bid[0][0]) if bid else 0,
            "best_bid_amount": _num(bid[0][1]) if bid else 0,
            "best_ask_price": _num(ask[0][0]) if ask else 0,
            "best_ask_amount": _num(ask[0][1]) if ask else 0,
            "estimated_delivery_price": _num(idx),
            "stats": {
                "volume": _num(sum((t.amount for t in trades), ZERO)),
                "price_change": 0,
                "low": _num(min((t.price for t in trades), default=mark)),
                "high": _num(max((t.price for t in trades), default=mark)),
            },
        }
        if inst.kind is SimKind.OPTION:
            g, iv = ex.greeks(inst.name)
            d.update(
                {
                    "mark_iv": round(iv * 100, 2),
                    "bid_iv": round(iv * 100 - 1, 2),
                    "ask_iv": round(iv * 100 + 1, 2),
                    "underlying_price": _num(idx),
                    "underlying_index": f"{inst.base}_USDC",
                    "interest_rate": 0,
                    "greeks": {
                        "delta": round(g.delta, 5),
                        "gamma": round(g.gamma, 8),
                        "vega": round(g.vega, 5),
                        "theta": round(g.theta, 5),
                        "rho": round(g.rho, 5),
                    },
                }
            )
        elif inst.kind is SimKind.PERPETUAL:
            d.update({"current_funding": 0, "funding_8h": 0, "interest_value": 0})
        return d

    # --- public methods --------------------------------------------------------------------
    async def public_auth(self, p: dict[str, Any], s: Session) -> Any:
        grant = p.get("grant_type")
        key = self.ctx.keys.get(str(p.get("client_id", "")))
        if grant == "client_credentials":
            if key is None or not hmac.compare_digest(str(p.get("client_secret", "")), key.secret):
                raise RpcError(13004, "invalid_credentials", http=401)
        elif grant == "client_signature":
            if key is None:
                raise RpcError(13004, "invalid_credentials", http=401)
            ts, nonce, data = (
                str(p.get("timestamp", "")),
                str(p.get("nonce", "")),
                str(p.get("data", "")),
            )
            expected = hmac.new(
                key.secret.encode(), f"{ts}\n{nonce}\n{data}".encode(), hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(expected, str(p.get("signature", ""))):
                raise RpcError(13004, "invalid_credentials", {"reason": "bad signature"}, http=401)
        elif grant == "refresh_token":
            acct = self.ctx.tokens.get(str(p.get("refresh_token", "")))
            if acct is None:
                raise RpcError(13004, "invalid_credentials", http=401)
            key = next(k for k in self.ctx.keys.values() if k.account == acct)
        else:
            raise RpcError(
                -32602, "Invalid params", {"param": "grant_type", "reason": "unsupported grant"}
            )
        s.account = key.account
        return {
            "access_token": self.ctx.new_token(key.account),
            "expires_in": 31536000,
            "refresh_token": self.ctx.new_token(key.account),
            "scope": "connection mainaccount trade:read_write",
            "token_type": "bearer",
        }

    async def public_test(self, p: dict[str, Any], s: Session) -> Any:
        return {"version": "1.2.26"}

    async def public_get_time(self, p: dict[str, Any], s: Session) -> Any:
        return self.ctx.now_ms()

    async def public_status(self, p: dict[str, Any], s: Session) -> Any:
        return {"locked": "false", "locked_indices": []}

    async def public_set_heartbeat(self, p: dict[str, Any], s: Session) -> Any:
        return "ok"

    async def public_get_currencies(self, p: dict[str, Any], s: Session) -> Any:
        curs = sorted(
            {c for i in self.ctx.exchange.instruments.values() for c in (i.base, i.quote)}
        )
        return [
            {
                "currency": c,
                "currency_long": c,
                "fee_precision": 4,
                "min_confirmations": 1,
                "min_withdrawal_fee": 0.0001,
                "withdrawal_fee": 0.0001,
                "withdrawal_priorities": [],
                "coin_type": c,
                "network_currency": c,
            }
            for c in curs
        ]

    async def public_get_instruments(self, p: dict[str, Any], s: Session) -> Any:
        out = []
        ex = self.ctx.exchange
        expired = _bool(p, "expired")
        for inst in ex.instruments.values():
            if not self._matches(inst, p.get("currency"), p.get("kind")):
                continue
            if (inst.name in ex.settled) != expired:
                continue
            d: dict[str, Any] = {
                "instrument_name": inst.name,
                "tick_size": _num(inst.tick),
                "min_trade_amount": _num(inst.min_amount),
                "contract_size": _num(inst.lot),
                "taker_commission": _num(inst.taker_fee),
                "maker_commission": _num(inst.maker_fee),
                "is_active": inst.name not in ex.settled,
                "base_currency": inst.base,
                "quote_currency": inst.quote,
                "counter_currency": inst.quote,
                "settlement_currency": inst.settle,
                "creation_timestamp": 0,
                "instrument_type": "linear",
                "rfq": False,
                "price_index": f"{inst.base.lower()}_usdc",
                "block_trade_commission": 0,
                "tick_size_steps": [],
            }
            if inst.kind is SimKind.OPTION:
                d.update(
                    {
                        "kind": "option",
                        "option_type": "call" if inst.is_call else "put",
                        "strike": _num(inst.strike or ZERO),
                        "expiration_timestamp": inst.expiry_ms,
                        "settlement_period": "day",
                    }
                )
            else:
                d.update(
                    {
                        "kind": "future",
                        "settlement_period": "perpetual",
                        "future_type": "linear",
                        "max_leverage": 10,
                        "expiration_timestamp": 32503708800000,
                    }
                )
            out.append(d)
        return out

    async def public_get_order_book(self, p: dict[str, Any], s: Session) -> Any:
        inst = self._inst(p)
        depth = p.get("depth", 20)
        try:
            n = int(depth)
        except (TypeError, ValueError):
            raise RpcError(-32602, "Invalid params", {"param": "depth"}) from None
        book = self.ctx.exchange.books[inst.name]
        d = self._ticker(inst)
        d.update(
            {
                "change_id": book.change_id,
                "bids": [[_num(px), _num(q)] for px, q in book.bids.depth(n)],
                "asks": [[_num(px), _num(q)] for px, q in book.asks.depth(n)],
            }
        )
        return d

    async def public_ticker(self, p: dict[str, Any], s: Session) -> Any:
        return self._ticker(self._inst(p))

    async def public_subscribe(self, p: dict[str, Any], s: Session) -> Any:
        chans = p.get("channels")
        if not isinstance(chans, list) or not all(isinstance(c, str) for c in chans):
            raise RpcError(-32602, "Invalid params", {"param": "channels"})
        if s.ws is None:
            raise RpcError(10030, "must_be_websocket_request")
        ok = []
        for ch in chans:
            parts = ch.split(".")
            if parts[0] == "user" and s.account is None:
                raise RpcError(13009, "unauthorized")
            by_instrument = parts[0] in ("book", "ticker") and len(parts) >= 3
            if by_instrument or (parts[0] == "trades" and len(parts) == 3):
                self._inst({"instrument_name": parts[1]})  # trades.<instrument>.<interval> too
            elif parts[0] == "trades" and len(parts) == 4:  # trades.<kind>.<currency>.<interval>
                if parts[1] not in ("future", "option", "spot", "any"):
                    raise RpcError(
                        -32602,
                        "Invalid params",
                        {"param": "channels", "reason": f"bad kind in {ch}"},
                    )
            elif not (
                parts[0] == "user" and len(parts) in (4, 5) and parts[1] in ("orders", "trades")
            ):
                raise RpcError(
                    -32602,
                    "Invalid params",
                    {"param": "channels", "reason": f"unknown channel {ch}"},
                )
            s.channels.add(ch)
            ok.append(ch)
        return ok

    async def private_subscribe(self, p: dict[str, Any], s: Session) -> Any:
        return await self.public_subscribe(p, s)

    async def public_unsubscribe(self, p: dict[str, Any], s: Session) -> Any:
        chans = [c for c in p.get("channels") or [] if isinstance(c, str)]
        for c in chans:
            s.channels.discard(c)
        return chans

    async def private_unsubscribe(self, p: dict[str, Any], s: Session) -> Any:
        return await self.public_unsubscribe(p, s)

    # --- private methods -------------------------------------------------------------------
    async def _place(self, side: Side, p: dict[str, Any], s: Session) -> Any:
        inst = self._inst(p)
        amount = _dec(p, "amount")
        assert amount is not None and s.account is not None
        typ = p.get("type", "limit")
        if typ not in ("limit", "market"):
            raise RpcError(-32602, "Invalid params", {"param": "type", "reason": "limit or market"})
        price = _dec(p, "price", required=typ == "limit") if typ == "limit" else None
        tif_raw = p.get("time_in_force", "good_til_cancelled")
        if tif_raw not in _TIF_IN:
            raise RpcError(-32602, "Invalid params", {"param": "time_in_force"})
        label = p.get("label", "")
        if not isinstance(label, str) or len(label) > 64:
            raise RpcError(-32602, "Invalid params", {"param": "label"})
        try:
            order, trades = self.ctx.exchange.place(
                s.account,
                inst.name,
                side,
                amount,
                price,
                tif=_TIF_IN[tif_raw],
                client_id=label,
                post_only=_bool(p, "post_only"),
                unique_client_id=False,  # Deribit labels are free text, not unique
            )
        except SimReject as e:
            code, msg = _REJECT[e.reason]
            raise RpcError(code, msg, {"reason": str(e)}) from None
        return {
            "order": self.order_json(order),
            "trades": [self.trade_json(t, order) for t in trades],
        }

    async def private_buy(self, p: dict[str, Any], s: Session) -> Any:
        return await self._place(Side.BUY, p, s)

    async def private_sell(self, p: dict[str, Any], s: Session) -> Any:
        return await self._place(Side.SELL, p, s)

    async def private_edit(self, p: dict[str, Any], s: Session) -> Any:
        o = self._order_of(p, s)
        amount = _dec(p, "amount")
        price = _dec(p, "price", required=False)
        assert amount is not None and s.account is not None
        try:
            order, trades = self.ctx.exchange.amend(s.account, o.order_id, amount, price)
        except SimReject as e:
            code, msg = _REJECT[e.reason]
            if e.reason is RejectReason.UNKNOWN_ORDER:
                code, msg = 11044, "not_open_order"
            raise RpcError(code, msg, {"reason": str(e)}) from None
        return {
            "order": self.order_json(order),
            "trades": [self.trade_json(t, order) for t in trades],
        }

    async def private_cancel(self, p: dict[str, Any], s: Session) -> Any:
        o = self._order_of(p, s)
        if not o.status.is_open:
            raise RpcError(11044, "not_open_order")
        assert s.account is not None
        return self.order_json(self.ctx.exchange.cancel(s.account, o.order_id))

    async def private_cancel_all(self, p: dict[str, Any], s: Session) -> Any:
        assert s.account is not None
        return len(self.ctx.exchange.cancel_all(s.account))

    async def private_cancel_all_by_instrument(self, p: dict[str, Any], s: Session) -> Any:
        assert s.account is not None
        return len(self.ctx.exchange.cancel_all(s.account, self._inst(p).name))

    async def private_cancel_all_by_currency(self, p: dict[str, Any], s: Session) -> Any:
        assert s.account is not None
        ex = self.ctx.exchange
        n = 0
        for o in ex.open_orders(s.account):
            if self._matches(ex.instruments[o.instrument], p.get("currency"), p.get("kind")):
                ex.cancel(s.account, o.order_id)
                n += 1
        return n

    async def private_get_order_state(self, p: dict[str, Any], s: Session) -> Any:
        return self.order_json(self._order_of(p, s))

    async def private_get_order_state_by_label(self, p: dict[str, Any], s: Session) -> Any:
        label = p.get("label")
        if not isinstance(label, str) or not label:
            raise RpcError(-32602, "Invalid params", {"param": "label"})
        return [
            self.order_json(o)
            for o in self.ctx.exchange.orders.values()
            if o.account == s.account and o.client_id == label
        ]

    async def private_get_open_orders_by_currency(self, p: dict[str, Any], s: Session) -> Any:
        assert s.account is not None
        ex = self.ctx.exchange
        return [
            self.order_json(o)
            for o in ex.open_orders(s.account)
            if self._matches(ex.instruments[o.instrument], p.get("currency"), p.get("kind"))
        ]

    async def private_get_open_orders_by_instrument(self, p: dict[str, Any], s: Session) -> Any:
        assert s.account is not None
        name = self._inst(p).name
        return [self.order_json(o) for o in self.ctx.exchange.open_orders(s.account, name)]

    async def private_get_open_orders(self, p: dict[str, Any], s: Session) -> Any:
        return await self.private_get_open_orders_by_currency(p, s)

    def _user_trades(
        self, s: Session, keep: Callable[[SimInstrument], bool], p: dict[str, Any]
    ) -> Any:
        ex = self.ctx.exchange
        start = p.get("start_timestamp")
        start_ms = int(start) if isinstance(start, int | str) and str(start).isdigit() else None
        count = int(p["count"]) if str(p.get("count", "")).isdigit() else 1000
        rows = []
        for t in ex.trades:
            if s.account not in (t.taker_account, t.maker_account):
                continue
            if not keep(ex.instruments[t.instrument]):
                continue
            if start_ms is not None and t.ts_ms < start_ms:
                continue
            for oid in (t.taker_order_id, t.maker_order_id):
                o = ex.orders[oid]
                if o.account == s.account:
                    rows.append(self.trade_json(t, o))
        has_more = len(rows) > count
        return {"trades": rows[-count:] if start_ms is None else rows[:count], "has_more": has_more}

    async def private_get_user_trades_by_currency(self, p: dict[str, Any], s: Session) -> Any:
        return self._user_trades(s, lambda i: self._matches(i, p.get("currency"), p.get("kind")), p)

    async def private_get_user_trades_by_currency_and_time(
        self, p: dict[str, Any], s: Session
    ) -> Any:
        return await self.private_get_user_trades_by_currency(p, s)

    async def private_get_user_trades_by_instrument(self, p: dict[str, Any], s: Session) -> Any:
        name = self._inst(p).name
        return self._user_trades(s, lambda i: i.name == name, p)

    async def private_get_user_trades_by_instrument_and_time(
        self, p: dict[str, Any], s: Session
    ) -> Any:
        return await self.private_get_user_trades_by_instrument(p, s)

    async def private_get_user_trades_by_order(self, p: dict[str, Any], s: Session) -> Any:
        o = self._order_of(p, s)
        return [
            self.trade_json(t, o)
            for t in self.ctx.exchange.trades
            if o.order_id in (t.taker_order_id, t.maker_order_id)
        ]

    def _summary(self, account: str, currency: str) -> dict[str, Any]:
        ex = self.ctx.exchange
        free = ex.ledger.free(account, currency)
        locked = ex.ledger.locked(account, currency)
        upl, im, _mm, delta = ZERO, ZERO, ZERO, 0.0
        for name, q in ex.ledger.positions(account).items():
            inst = ex.instruments[name]
            if inst.settle != currency:
                continue
            mark = ex.mark_price(name)
            upl += q * mark  # cash already paid the cost basis; equity adds the mark value
            if inst.kind is SimKind.PERPETUAL:
                im += abs(q) * mark * Decimal("0.10")
                delta += float(q)
            elif q < 0:
                im += abs(q) * ex.index_price(inst.base) * Decimal("0.15")
            if inst.kind is SimKind.OPTION and name not in ex.settled:
                delta += float(q) * ex.greeks(name)[0].delta
        im += locked
        equity = free + locked + upl
        return {
            "currency": currency,
            "balance": _num(free + locked),
            "equity": _num(equity),
            "margin_balance": _num(equity),
            "available_funds": _num(equity - im),
            "available_withdrawal_funds": _num(max(ZERO, free)),
            "initial_margin": _num(im),
            "maintenance_margin": _num(im * Decimal("0.75")),
            "delta_total": round(delta, 6),
            **{k: _num(v) for k, v in self.pnl(account, currency).items()},
            "portfolio_margining_enabled": False,
            "limits": {},
            "fee_balance": 0,
            "deposit_address": "",
            "id": abs(hash(account)) % 10**6,
        }

    async def private_get_account_summary(self, p: dict[str, Any], s: Session) -> Any:
        cur = p.get("currency")
        if not isinstance(cur, str) or not cur:
            raise RpcError(-32602, "Invalid params", {"param": "currency"})
        assert s.account is not None
        return self._summary(s.account, cur)

    async def private_get_account_summaries(self, p: dict[str, Any], s: Session) -> Any:
        assert s.account is not None
        curs = sorted({b.asset for b in self.ctx.exchange.ledger.balances(s.account)})
        return {
            "summaries": [self._summary(s.account, c) for c in curs],
            "id": abs(hash(s.account)) % 10**6,
        }

    def _position(self, account: str, inst: SimInstrument, q: Decimal) -> dict[str, Any]:
        ex = self.ctx.exchange
        mark = ex.mark_price(inst.name)
        # average entry from this account's trades (cost basis of the open size)
        realized, avg, _pos = _fifo_pnl(ex, account, inst.name)
        avg = abs(avg)
        d: dict[str, Any] = {
            "instrument_name": inst.name,
            "size": _num(q),
            "direction": "buy" if q > 0 else "sell",
            "average_price": _num(avg),
            "mark_price": _num(mark),
            "index_price": _num(ex.index_price(inst.base)),
            "kind": "option" if inst.kind is SimKind.OPTION else "future",
            "floating_profit_loss": _num((mark - avg) * q),
            "realized_profit_loss": _num(realized),
            "total_profit_loss": _num((mark - avg) * q + realized),
            "size_currency": _num(q),
            "settlement_price": _num(mark),
            "leverage": 10,
            "initial_margin": 0,
            "maintenance_margin": 0,
            "open_orders_margin": 0,
            "delta": float(q),
        }
        if inst.kind is SimKind.OPTION:
            g, _iv = ex.greeks(inst.name)
            d.update(
                {
                    "delta": round(g.delta * float(q), 6),
                    "gamma": round(g.gamma * float(q), 8),
                    "vega": round(g.vega * float(q), 6),
                    "theta": round(g.theta * float(q), 6),
                }
            )
        return d

    async def private_get_positions(self, p: dict[str, Any], s: Session) -> Any:
        assert s.account is not None
        ex = self.ctx.exchange
        out = []
        for name, q in ex.ledger.positions(s.account).items():
            inst = ex.instruments[name]
            if self._matches(inst, p.get("currency"), p.get("kind")):
                out.append(self._position(s.account, inst, q))
        return out

    async def private_get_position(self, p: dict[str, Any], s: Session) -> Any:
        assert s.account is not None
        inst = self._inst(p)
        return self._position(
            s.account, inst, self.ctx.exchange.ledger.position(s.account, inst.name)
        )

    # --- streams ---------------------------------------------------------------------------
    def _initial(self, s: Session, channel: str) -> None:
        parts = channel.split(".")
        if parts[0] == "book":
            self._send_book(s, parts[1], channel)
        elif parts[0] == "ticker":
            self._notify(s, channel, self._ticker(self.ctx.exchange.instruments[parts[1]]))

    def _notify(self, s: Session, channel: str, data: Any) -> None:
        self._push(
            s,
            {
                "jsonrpc": "2.0",
                "method": "subscription",
                "params": {"channel": channel, "data": data},
            },
        )

    def _send_book(self, s: Session, name: str, channel: str) -> None:
        book = self.ctx.exchange.books[name]
        bids = {px: q for px, q in book.bids.depth(1000)}
        asks = {px: q for px, q in book.asks.depth(1000)}
        prev = s.sent_books.get(channel)
        now = self.ctx.now_ms()
        if prev is None:
            data = {
                "type": "snapshot",
                "timestamp": now,
                "instrument_name": name,
                "change_id": book.change_id,
                "bids": [["new", _num(px), _num(q)] for px, q in bids.items()],
                "asks": [["new", _num(px), _num(q)] for px, q in asks.items()],
            }
        else:
            data = {
                "type": "change",
                "timestamp": now,
                "instrument_name": name,
                "prev_change_id": book.change_id - 1,
                "change_id": book.change_id,
                "bids": _diff(prev[0], bids),
                "asks": _diff(prev[1], asks),
            }
            if not data["bids"] and not data["asks"]:
                return
        s.sent_books[channel] = (bids, asks)
        self._notify(s, channel, data)

    def _on_event(self, ev: SimEvent) -> None:
        if not self.sessions:
            return
        if ev.kind in (EventKind.BOOK, EventKind.SETTLEMENT):
            self._dirty_books.add(ev.instrument)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_books)
            return
        inst = self.ctx.exchange.instruments[ev.instrument]
        if ev.kind is EventKind.TRADE and ev.is_taker and ev.trade is not None:
            self._public_trade(inst, ev.trade)
        for s in list(self.sessions):
            if s.account != ev.account:
                continue
            for ch in s.channels:
                parts = ch.split(".")
                if parts[0] != "user" or not _user_channel_matches(self, inst, parts):
                    continue
                if ev.kind is EventKind.ORDER and parts[1] == "orders" and ev.order:
                    self._notify(s, ch, self.order_json(ev.order))
                elif ev.kind is EventKind.TRADE and parts[1] == "trades" and ev.trade and ev.order:
                    data = [self.trade_json(ev.trade, ev.order)]
                    self._send_fill(s, ch, data)

    def _public_trade(self, inst: SimInstrument, t: Trade) -> None:
        """``trades.<instrument>.<interval>`` and ``trades.<kind>.<currency>.<interval>``: each
        trade once (on its taker's event), to every subscriber."""
        subscribers = [
            (s, ch)
            for s in self.sessions
            for ch in s.channels
            if ch.startswith("trades.") and _trades_channel_matches(self, inst, ch.split("."))
        ]
        if not subscribers:
            return
        prev = self._last_trade.get(inst.name)
        d = tick_direction(prev[0] if prev else None, prev[1] if prev else 0, t.price)
        self._last_trade[inst.name] = (t.price, d)
        data = [self.public_trade_json(t, d)]
        for s, ch in subscribers:
            self._notify(s, ch, data)

    def _send_fill(self, s: Session, ch: str, data: list[dict[str, Any]]) -> None:
        faults = self.ctx.faults
        copies = 2 if faults.duplicate_fills else 1
        if faults.late_fills_ms:

            async def later() -> None:
                await asyncio.sleep(faults.late_fills_ms / 1000)
                for _ in range(copies):
                    self._notify(s, ch, data)

            self.ctx.spawn(later())
            return
        for _ in range(copies):
            self._notify(s, ch, data)

    def _flush_books(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty_books = self._dirty_books, set()
        ex = self.ctx.exchange
        for s in list(self.sessions):
            for ch in s.channels:
                parts = ch.split(".")
                if parts[0] == "book" and parts[1] in dirty:
                    self._send_book(s, parts[1], ch)
                elif parts[0] == "ticker" and parts[1] in dirty:
                    self._notify(s, ch, self._ticker(ex.instruments[parts[1]]))


def _diff(old: dict[Decimal, Decimal], new: dict[Decimal, Decimal]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for px, q in new.items():
        if px not in old:
            out.append(["new", _num(px), _num(q)])
        elif old[px] != q:
            out.append(["change", _num(px), _num(q)])
    out.extend(["delete", _num(px), 0] for px in old if px not in new)
    return out


def _user_channel_matches(api: DeribitApi, inst: SimInstrument, parts: list[str]) -> bool:
    """user.<orders|trades>.<kind>.<currency>.<interval> or user.<...>.<instrument>.<interval>"""
    if len(parts) == 4:
        return parts[2] == inst.name
    return api._matches(inst, parts[3], parts[2])


def _trades_channel_matches(api: DeribitApi, inst: SimInstrument, parts: list[str]) -> bool:
    """trades.<instrument>.<interval> or trades.<kind>.<currency>.<interval>"""
    if len(parts) == 3:
        return parts[1] == inst.name
    return len(parts) == 4 and api._matches(inst, parts[2], parts[1])
