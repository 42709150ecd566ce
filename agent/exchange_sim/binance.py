"""Binance spot REST (``/api/v3``): the subset ccxt's binance class uses for spot trading.

Signed endpoints check ``X-MBX-APIKEY``, the HMAC-SHA256 ``signature`` over the query string
(or form body), and ``timestamp``/``recvWindow`` the way Binance does
(``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow``). Errors are
Binance's ``{"code": -NNNN, "msg": ...}`` with its HTTP statuses; every response carries
``X-MBX-USED-WEIGHT-1M``. See docs/exchange_sim.md for the endpoint table.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aiohttp import web

from agent.exchange_sim.context import SimContext
from agent.exchange_sim.exchange import RejectReason, SimReject
from agent.exchange_sim.instruments import SimInstrument
from agent.exchange_sim.matching import SimOrder, SimOrderStatus, SimTif, Trade
from agent.model import Side

if TYPE_CHECKING:
    from agent.exchange_sim.binance_ws import BinanceStreams

log = logging.getLogger(__name__)
DEFAULT_WEIGHT_LIMIT = 6000

_STATUS = {
    SimOrderStatus.NEW: "NEW",
    SimOrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    SimOrderStatus.FILLED: "FILLED",
    SimOrderStatus.CANCELLED: "CANCELED",
    SimOrderStatus.REJECTED: "REJECTED",
    SimOrderStatus.EXPIRED: "EXPIRED",
}
_REJECT = {  # SimReject reason -> (http status, binance code, msg)
    RejectReason.UNKNOWN_INSTRUMENT: (400, -1121, "Invalid symbol."),
    RejectReason.BAD_PRICE: (400, -1013, "Filter failure: PRICE_FILTER"),
    RejectReason.BAD_AMOUNT: (400, -1013, "Filter failure: LOT_SIZE"),
    RejectReason.INSUFFICIENT_FUNDS: (
        400,
        -2010,
        "Account has insufficient balance for requested action.",
    ),
    RejectReason.DUPLICATE_CLIENT_ID: (400, -2010, "Duplicate order sent."),
    RejectReason.UNKNOWN_ORDER: (400, -2011, "Unknown order sent."),
    RejectReason.POST_ONLY_WOULD_TAKE: (400, -2010, "Order would immediately match and take."),
    RejectReason.FOK_UNFILLABLE: (400, -2010, "Order would not be fully filled (FOK)."),
    RejectReason.NO_LIQUIDITY: (400, -2010, "Market is closed or has no liquidity."),
    RejectReason.INSTRUMENT_EXPIRED: (400, -1121, "Invalid symbol."),
}
WEIGHTS = {
    "ping": 1,
    "time": 1,
    "exchangeInfo": 20,
    "depth": 5,
    "trades": 25,
    "aggTrades": 4,
    "klines": 2,
    "ticker/24hr": 2,
    "ticker/price": 2,
    "ticker/bookTicker": 2,
    "order": 1,
    "openOrders": 6,
    "myTrades": 20,
    "account": 20,
    "allOrders": 20,
    "userDataStream": 2,
}


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def f8(x: Decimal) -> str:
    return f"{x:.8f}"


def _json(ctx: SimContext, body: object, status: int = 200, weight: int = 0) -> web.Response:
    return web.Response(
        text=json.dumps(body),
        status=status,
        content_type="application/json",
        headers={"X-MBX-USED-WEIGHT-1M": str(weight)},
    )


def _dec(params: dict[str, str], name: str, required: bool = True) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BinanceError(
                400,
                -1102,
                f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
            )
        return None
    try:
        v = Decimal(raw)
    except InvalidOperation:
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            f"legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
        ) from None
    if not v.is_finite():
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return v


@dataclass(slots=True)
class AggTrade:
    """Binance's aggregate trade: consecutive fills of one taker order at one price."""

    agg_id: int
    price: Decimal
    qty: Decimal
    first_id: int
    last_id: int
    ts_ms: int
    buyer_is_maker: bool


@dataclass(slots=True)
class AggTrades:
    """Aggregates, built incrementally from the exchange's trade list so ids stay stable."""

    by_symbol: dict[str, list[AggTrade]] = field(default_factory=dict)
    _last_taker: dict[str, int] = field(default_factory=dict)
    seen: int = 0  # trades of the exchange folded in so far

    def update(self, trades: list[Trade]) -> None:
        for t in trades[self.seen :]:
            aggs = self.by_symbol.setdefault(t.instrument, [])
            last = aggs[-1] if aggs else None
            if (
                last is not None
                and self._last_taker.get(t.instrument) == t.taker_order_id
                and last.price == t.price
                and last.ts_ms == t.ts_ms
            ):
                last.qty += t.amount
                last.last_id = t.trade_id
            else:
                aggs.append(
                    AggTrade(
                        len(aggs) + 1,
                        t.price,
                        t.amount,
                        t.trade_id,
                        t.trade_id,
                        t.ts_ms,
                        t.taker_side is Side.SELL,  # the buyer made the market
                    )
                )
                self._last_taker[t.instrument] = t.taker_order_id
        self.seen = len(trades)


INTERVAL_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
    "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
    "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "3d": 259_200_000, "1w": 604_800_000,
}  # fmt: skip


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return int(raw)


def _limit(params: dict[str, str], default: int, top: int) -> int:
    n = _int_param(params, "limit")
    if n is None:
        return default
    if n <= 0:
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'limit'.")
    return min(n, top)


class BinanceApi:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.streams: BinanceStreams | None = None  # set by BinanceStreams (WebSocket side)
        self.quote_qty: dict[int, Decimal] = {}  # order id -> quoteOrderQty it was sent with
        self._aggs = AggTrades()
        if not ctx.gate.limit:
            ctx.gate.limit = DEFAULT_WEIGHT_LIMIT

    def routes(self) -> list[web.RouteDef]:
        h = self._handle
        return [
            web.route(m, f"/api/v3/{path}", h)
            for path, methods in {
                "ping": ("GET",),
                "time": ("GET",),
                "exchangeInfo": ("GET",),
                "depth": ("GET",),
                "trades": ("GET",),
                "aggTrades": ("GET",),
                "klines": ("GET",),
                "ticker/24hr": ("GET",),
                "ticker/price": ("GET",),
                "ticker/bookTicker": ("GET",),
                "order": ("GET", "POST", "DELETE"),
                "openOrders": ("GET", "DELETE"),
                "myTrades": ("GET",),
                "account": ("GET",),
                "allOrders": ("GET",),
                "userDataStream": ("POST", "PUT", "DELETE"),
            }.items()
            for m in methods
        ]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ctx = self.ctx
        path = request.path.removeprefix("/api/v3/")
        weight = WEIGHTS.get(path, 1)
        if path == "depth":
            limit = int(request.query.get("limit", "100") or 100)
            weight = 5 if limit <= 100 else 25 if limit <= 500 else 50
        verdict = ctx.gate.check(weight)
        await ctx.delay()
        if verdict.status == 418:
            return web.Response(
                status=418,
                content_type="application/json",
                headers={"Retry-After": str(verdict.retry_after_s)},
                text=json.dumps(
                    {
                        "code": -1003,
                        "msg": "Way too many requests; IP banned until "
                        f"{ctx.now_ms() + verdict.retry_after_s * 1000}.",
                    }
                ),
            )
        if verdict.status == 429:
            return web.Response(
                status=429,
                content_type="application/json",
                headers={
                    "Retry-After": str(verdict.retry_after_s),
                    "X-MBX-USED-WEIGHT-1M": str(verdict.used_weight),
                },
                text=json.dumps(
                    {
                        "code": -1003,
                        "msg": "Too many requests; current limit of IP "
                        f"request weight is {ctx.gate.limit}. Please use WebSocket "
                        "Streams for live updates to avoid polling the API.",
                    }
                ),
            )
        if ctx.dice.hit(ctx.faults.error_5xx):
            ctx.count_5xx += 1
            return web.Response(status=503, text="Service Unavailable")
        try:
            body = await request.text()
            handler = getattr(self, f"{request.method.lower()}_{path.replace('/', '_')}")
            result = await handler(request, body)
        except BinanceError as e:
            return _json(ctx, {"code": e.code, "msg": e.msg}, e.status, verdict.used_weight)
        except SimReject as e:
            status, code, msg = _REJECT[e.reason]
            return _json(ctx, {"code": code, "msg": msg}, status, verdict.used_weight)
        if isinstance(result, web.StreamResponse):
            return result
        return _json(ctx, result, 200, verdict.used_weight)

    # --- auth ------------------------------------------------------------------------------
    def _signed(self, request: web.Request, body: str) -> tuple[str, dict[str, str]]:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        api = self.ctx.keys.get(key)
        if api is None:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        # Binance signs the query string and body exactly as sent (percent-encoded)
        total = request.rel_url.raw_query_string + body
        payload, sep, sig = total.rpartition("&signature=")
        if not sep:
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            )
        expected = hmac.new(api.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(payload, keep_blank_values=True))
        ts = params.get("timestamp")
        if ts is None or not ts.isdigit():
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
            )
        recv = int(params.get("recvWindow", "5000") or 5000)
        if recv > 60000:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        now = self.ctx.now_ms()
        if int(ts) >= now + 1000 or now - int(ts) > recv:
            raise BinanceError(
                400, -1021, "Timestamp for this request is outside of the recvWindow."
            )
        return api.account, params

    def _inst(self, params: dict[str, str]) -> SimInstrument:
        sym = params.get("symbol")
        if not sym:
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        inst = self.ctx.exchange.instruments.get(sym)
        if inst is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return inst

    # --- public ----------------------------------------------------------------------------
    async def get_ping(self, request: web.Request, body: str) -> object:
        return {}

    async def get_time(self, request: web.Request, body: str) -> object:
        return {"serverTime": self.ctx.now_ms()}

    async def get_exchangeInfo(self, request: web.Request, body: str) -> object:
        syms = []
        for inst in self.ctx.exchange.instruments.values():
            syms.append(
                {
                    "symbol": inst.name,
                    "status": "TRADING",
                    "baseAsset": inst.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": inst.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                    "icebergAllowed": True,
                    "ocoAllowed": False,
                    "otoAllowed": False,
                    "quoteOrderQtyMarketAllowed": True,
                    "allowTrailingStop": False,
                    "cancelReplaceAllowed": False,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": f8(inst.tick),
                            "maxPrice": f8(inst.max_price),
                            "tickSize": f8(inst.tick),
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": f8(inst.min_notional),
                            "applyMinToMarket": True,
                            "maxNotional": f8(inst.max_notional),
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                        {"filterType": "ICEBERG_PARTS", "limit": inst.iceberg_parts},
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": f8(inst.min_amount),
                            "maxQty": "9000.00000000",
                            "stepSize": f8(inst.lot),
                        },
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "minQty": "0.00000000",
                            "maxQty": "9000.00000000",
                            "stepSize": "0.00000000",
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "NONE",
                    "allowedSelfTradePreventionModes": ["NONE"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": self.ctx.now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.ctx.gate.limit,
                }
            ],
            "exchangeFilters": [],
            "symbols": syms,
        }

    async def get_depth(self, request: web.Request, body: str) -> object:
        params = dict(request.query)
        inst = self._inst(params)
        limit = int(params.get("limit", "100") or 100)
        book = self.ctx.exchange.books[inst.name]
        return {
            "lastUpdateId": book.change_id,
            "bids": [[f8(p), f8(q)] for p, q in book.bids.depth(limit)],
            "asks": [[f8(p), f8(q)] for p, q in book.asks.depth(limit)],
        }

    async def get_trades(self, request: web.Request, body: str) -> object:
        """Recent trades, oldest first (``GET /api/v3/trades``)."""
        params = dict(request.query)
        inst = self._inst(params)
        limit = _limit(params, 500, 1000)
        rows = [t for t in self.ctx.exchange.trades if t.instrument == inst.name][-limit:]
        return [
            {
                "id": t.trade_id,
                "price": f8(t.price),
                "qty": f8(t.amount),
                "quoteQty": f8(t.price * t.amount),
                "time": t.ts_ms,
                "isBuyerMaker": t.taker_side is Side.SELL,
                "isBestMatch": True,
            }
            for t in rows
        ]

    async def get_aggTrades(self, request: web.Request, body: str) -> object:
        """Aggregate trades (``GET /api/v3/aggTrades``): fromId, or startTime/endTime
        (at most one hour apart, as Binance requires), else the most recent."""
        params = dict(request.query)
        inst = self._inst(params)
        limit = _limit(params, 500, 1000)
        from_id = _int_param(params, "fromId")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        if start is not None and end is not None and end - start > 3_600_000:
            raise BinanceError(400, -1127, "More than 1 hours between startTime and endTime.")
        self._aggs.update(self.ctx.exchange.trades)
        aggs = self._aggs.by_symbol.get(inst.name, [])
        if from_id is not None:
            rows = [a for a in aggs if a.agg_id >= from_id][:limit]
        elif start is not None or end is not None:
            lo, hi = start or 0, end if end is not None else (start or 0) + 3_600_000
            rows = [a for a in aggs if lo <= a.ts_ms <= hi][:limit]
        else:
            rows = aggs[-limit:]
        return [
            {
                "a": a.agg_id,
                "p": f8(a.price),
                "q": f8(a.qty),
                "f": a.first_id,
                "l": a.last_id,
                "T": a.ts_ms,
                "m": a.buyer_is_maker,
                "M": True,
            }
            for a in rows
        ]

    async def get_klines(self, request: web.Request, body: str) -> object:
        """Candles (``GET /api/v3/klines``), every interval in the range including empty ones
        (which carry the previous close and zero volume), as Binance serves them."""
        params = dict(request.query)
        inst = self._inst(params)
        step = INTERVAL_MS.get(params.get("interval", ""))
        if step is None:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = _limit(params, 500, 1000)
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        trades = [t for t in self.ctx.exchange.trades if t.instrument == inst.name]
        now = self.ctx.now_ms()
        hi = min(end if end is not None else now, now)
        if start is not None:
            first = start // step * step
        elif trades:
            first = max(trades[0].ts_ms // step * step, (hi // step - limit + 1) * step)
        else:
            return []
        out: list[list[object]] = []
        prev_close = None
        i = 0
        while i < len(trades) and trades[i].ts_ms < first:
            prev_close = trades[i].price
            i += 1
        t0 = first
        while t0 <= hi and len(out) < limit:
            o = h = lo_ = c = prev_close
            vol = qvol = tb = tbq = Decimal(0)
            n = 0
            while i < len(trades) and trades[i].ts_ms < t0 + step:
                t = trades[i]
                o = t.price if n == 0 else o
                h = t.price if h is None or n == 0 else max(h, t.price)
                lo_ = t.price if lo_ is None or n == 0 else min(lo_, t.price)
                c = t.price
                vol += t.amount
                qvol += t.amount * t.price
                if t.taker_side is Side.BUY:
                    tb += t.amount
                    tbq += t.amount * t.price
                n += 1
                i += 1
            if c is not None:  # nothing before the first trade: no candle yet
                out.append(
                    [t0, f8(o), f8(h), f8(lo_), f8(c), f8(vol), t0 + step - 1,
                     f8(qvol), n, f8(tb), f8(tbq), "0"]
                )  # fmt: skip
                prev_close = c
            t0 += step
        if start is None and len(out) > limit:
            out = out[-limit:]
        return out

    def _ticker(self, inst: SimInstrument) -> dict[str, object]:
        ex = self.ctx.exchange
        book = ex.books[inst.name]
        bid, ask = book.bids.depth(1), book.asks.depth(1)
        trades = [t for t in ex.trades[-500:] if t.instrument == inst.name]
        last = trades[-1].price if trades else (ex.mid(inst.name) or Decimal(0))
        now = self.ctx.now_ms()
        vol = sum((t.amount for t in trades), Decimal(0))
        return {
            "symbol": inst.name,
            "priceChange": "0.00000000",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": f8(last),
            "prevClosePrice": f8(last),
            "lastPrice": f8(last),
            "lastQty": f8(trades[-1].amount if trades else Decimal(0)),
            "bidPrice": f8(bid[0][0] if bid else Decimal(0)),
            "bidQty": f8(bid[0][1] if bid else Decimal(0)),
            "askPrice": f8(ask[0][0] if ask else Decimal(0)),
            "askQty": f8(ask[0][1] if ask else Decimal(0)),
            "openPrice": f8(trades[0].price if trades else last),
            "highPrice": f8(max((t.price for t in trades), default=last)),
            "lowPrice": f8(min((t.price for t in trades), default=last)),
            "volume": f8(vol),
            "quoteVolume": f8(sum((t.amount * t.price for t in trades), Decimal(0))),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": trades[0].trade_id if trades else -1,
            "lastId": trades[-1].trade_id if trades else -1,
            "count": len(trades),
        }

    async def get_ticker_24hr(self, request: web.Request, body: str) -> object:
        params = dict(request.query)
        if "symbol" in params:
            return self._ticker(self._inst(params))
        return [self._ticker(i) for i in self.ctx.exchange.instruments.values()]

    async def get_ticker_price(self, request: web.Request, body: str) -> object:
        t = await self.get_ticker_24hr(request, body)
        pick = lambda d: {"symbol": d["symbol"], "price": d["lastPrice"]}  # noqa: E731
        return [pick(x) for x in t] if isinstance(t, list) else pick(t)

    async def get_ticker_bookTicker(self, request: web.Request, body: str) -> object:
        t = await self.get_ticker_24hr(request, body)
        keys = ("symbol", "bidPrice", "bidQty", "askPrice", "askQty")
        pick = lambda d: {k: d[k] for k in keys}  # noqa: E731
        return [pick(x) for x in t] if isinstance(t, list) else pick(t)

    # --- private ---------------------------------------------------------------------------
    def order_json(self, o: SimOrder, full: bool = False) -> dict[str, object]:
        inst = self.ctx.exchange.instruments[o.instrument]
        d: dict[str, object] = {
            "symbol": o.instrument,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_id or f"sim{o.order_id}",
            "price": f8(o.price or Decimal(0)),
            "origQty": f8(o.amount),
            "executedQty": f8(o.filled),
            "cummulativeQuoteQty": f8(o.cost),
            "status": _STATUS[o.status],
            "timeInForce": o.tif.value,
            "type": "MARKET" if o.price is None else ("LIMIT_MAKER" if o.post_only else "LIMIT"),
            "side": o.side.value.upper(),
            "workingTime": o.created_ms,
            "selfTradePreventionMode": "NONE",
        }
        if full:
            d["transactTime"] = o.updated_ms
            fills = []
            for t in self.ctx.exchange.trades[::-1]:
                if t.ts_ms < o.created_ms:
                    break
                if t.taker_order_id == o.order_id:
                    fills.append(self._fill_json(o, t, inst))
            d["fills"] = fills[::-1]
        else:
            d.update(
                {
                    "stopPrice": "0.00000000",
                    "icebergQty": f8(o.display),
                    "time": o.created_ms,
                    "updateTime": o.updated_ms,
                    "isWorking": True,
                    "origQuoteOrderQty": f8(self.quote_qty.get(o.order_id, Decimal(0))),
                }
            )
        return d

    def _fill_json(self, o: SimOrder, t: Trade, inst: SimInstrument) -> dict[str, object]:
        is_taker = t.taker_order_id == o.order_id
        rate = inst.taker_fee if is_taker else inst.maker_fee
        fee, asset = self._fee(o.side, t, rate, inst)
        return {
            "price": f8(t.price),
            "qty": f8(t.amount),
            "commission": f8(fee),
            "commissionAsset": asset,
            "tradeId": t.trade_id,
        }

    @staticmethod
    def _fee(side: Side, t: Trade, rate: Decimal, inst: SimInstrument) -> tuple[Decimal, str]:
        from agent.exchange_sim.accounts import fee_of

        if side is Side.BUY:
            return fee_of(t.amount, rate), inst.base
        return fee_of(t.amount * t.price, rate), inst.quote

    def _find(self, account: str, params: dict[str, str]) -> SimOrder:
        ex = self.ctx.exchange
        order: SimOrder | None = None
        if params.get("orderId"):
            if not params["orderId"].isdigit():
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'orderId'.")
            order = ex.orders.get(int(params["orderId"]))
        elif params.get("origClientOrderId"):
            order = ex.find_by_client_id(account, params["origClientOrderId"])
        else:
            raise BinanceError(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order is None or order.account != account or order.instrument != params.get("symbol"):
            raise BinanceError(400, -2013, "Order does not exist.")
        return order

    async def post_order(self, request: web.Request, body: str) -> object:
        account, p = self._signed(request, body)
        inst = self._inst(p)
        side_raw = p.get("side", "").upper()
        if side_raw not in ("BUY", "SELL"):
            raise BinanceError(
                400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed."
            )
        typ = p.get("type", "").upper()
        if typ not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        ex = self.ctx.exchange
        quote_qty = _dec(p, "quoteOrderQty", required=False) if typ == "MARKET" else None
        if quote_qty is not None:
            if p.get("quantity"):
                raise BinanceError(400, -1106, "Parameter 'quantity' sent when not required.")
            if quote_qty <= 0:
                raise BinanceError(400, -1013, "Invalid quoteOrderQty.")
            # Binance spends (or raises) this much quote: the base quantity follows from
            # the book, rounded down to the lot size
            amount = ex.books[inst.name].amount_for_cost(
                Side(side_raw.lower()), quote_qty, inst.lot
            )
            if amount <= 0:
                raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        else:
            amount = _dec(p, "quantity")
            assert amount is not None
            if amount <= 0:
                raise BinanceError(400, -1013, "Invalid quantity.")
        price = _dec(p, "price", required=typ != "MARKET") if typ != "MARKET" else None
        tif = SimTif.GTC
        if typ == "LIMIT":
            raw_tif = p.get("timeInForce", "")
            if raw_tif not in ("GTC", "IOC", "FOK"):
                raise BinanceError(
                    400,
                    -1102,
                    "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
                )
            tif = SimTif(raw_tif)
        iceberg = _dec(p, "icebergQty", required=False) or Decimal(0)
        if iceberg:
            if typ != "LIMIT" or tif is not SimTif.GTC:
                raise BinanceError(400, -1013, "Filter failure: ICEBERG_PARTS")
            if (problem := inst.check_display(iceberg, amount, price, tif)) is not None:
                log.info("iceberg refused: %s", problem)
                raise BinanceError(400, -1013, "Filter failure: ICEBERG_PARTS")
        if price is not None and price > inst.max_price:
            raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
        book = ex.books[inst.name]
        # NOTIONAL: limit orders at their price; market orders (applyMinToMarket) at what
        # they would trade now
        notional = (
            price * amount
            if price is not None
            else book.cost_to_fill(Side(side_raw.lower()), None, amount)
        )
        too_small = notional < inst.min_notional and (price is not None or notional > 0)
        if too_small or (price is not None and notional > inst.max_notional):
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
        cid = p.get("newClientOrderId", "")
        prev = ex.find_by_client_id(account, cid) if cid else None
        if prev is not None and prev.status.is_open:
            # Binance refuses a clientOrderId that is still in use on an open order
            raise BinanceError(400, -2010, "Duplicate order sent.")
        order, _trades = ex.place(
            account,
            inst.name,
            Side(side_raw.lower()),
            amount,
            price,
            tif=tif,
            client_id=cid,
            post_only=typ == "LIMIT_MAKER",
            display=iceberg,
        )
        if quote_qty is not None:
            self.quote_qty[order.order_id] = quote_qty
        self.ctx.orders_placed += 1
        n, faults = self.ctx.orders_placed, self.ctx.faults
        if n in (faults.drop_accept, faults.stall_accept):
            # the order is on the book, but the client never hears about it
            log.info("fault drop/stall_accept: no response to order %s", order.order_id)
            if n == faults.stall_accept:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.ctx.stopping.wait(), 30)
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()
        resp_type = p.get("newOrderRespType", "FULL").upper()
        if resp_type == "ACK":
            return {
                "symbol": order.instrument,
                "orderId": order.order_id,
                "orderListId": -1,
                "clientOrderId": order.client_id,
                "transactTime": order.created_ms,
            }
        return self.order_json(order, full=True)

    async def get_order(self, request: web.Request, body: str) -> object:
        account, p = self._signed(request, body)
        self._inst(p)
        return self.order_json(self._find(account, p))

    async def delete_order(self, request: web.Request, body: str) -> object:
        account, p = self._signed(request, body)
        self._inst(p)
        try:
            order = self._find(account, p)
        except BinanceError:
            raise BinanceError(400, -2011, "Unknown order sent.") from None
        self.ctx.exchange.cancel(account, order.order_id)
        d = self.order_json(order)
        d["origClientOrderId"] = d["clientOrderId"]
        return d

    async def get_openOrders(self, request: web.Request, body: str) -> object:
        account, p = self._signed(request, body)
        sym = self._inst(p).name if p.get("symbol") else None
        return [self.order_json(o) for o in self.ctx.exchange.open_orders(account, sym)]

    async def delete_openOrders(self, request: web.Request, body: str) -> object:
        account, p = self._signed(request, body)
        inst = self._inst(p)
        return [self.order_json(o) for o in self.ctx.exchange.cancel_all(account, inst.name)]

    async def get_allOrders(self, request: web.Request, body: str) -> object:
        account, p = self._signed(request, body)
        inst = self._inst(p)
        return [
            self.order_json(o)
            for o in self.ctx.exchange.orders.values()
            if o.account == account and o.instrument == inst.name
        ]

    async def get_myTrades(self, request: web.Request, body: str) -> object:
        account, p = self._signed(request, body)
        inst = self._inst(p)
        ex = self.ctx.exchange
        from_id = int(p["fromId"]) if p.get("fromId", "").isdigit() else None
        start = int(p["startTime"]) if p.get("startTime", "").isdigit() else None
        order_id = int(p["orderId"]) if p.get("orderId", "").isdigit() else None
        limit = min(1000, int(p.get("limit", "500") or 500))
        out = []
        for t in ex.trades:
            if t.instrument != inst.name or account not in (t.taker_account, t.maker_account):
                continue
            if from_id is not None and t.trade_id < from_id:
                continue
            if start is not None and t.ts_ms < start:
                continue
            # a self-trade is two rows, one per side, as on Binance
            for oid, is_maker in ((t.taker_order_id, False), (t.maker_order_id, True)):
                o = ex.orders[oid]
                if o.account != account or (order_id is not None and oid != order_id):
                    continue
                rate = inst.maker_fee if is_maker else inst.taker_fee
                fee, asset = self._fee(o.side, t, rate, inst)
                out.append(
                    {
                        "symbol": inst.name,
                        "id": t.trade_id,
                        "orderId": oid,
                        "orderListId": -1,
                        "price": f8(t.price),
                        "qty": f8(t.amount),
                        "quoteQty": f8(t.amount * t.price),
                        "commission": f8(fee),
                        "commissionAsset": asset,
                        "time": t.ts_ms,
                        "isBuyer": o.side is Side.BUY,
                        "isMaker": is_maker,
                        "isBestMatch": True,
                    }
                )
        return out[:limit] if from_id is not None or start is not None else out[-limit:]

    async def get_account(self, request: web.Request, body: str) -> object:
        account, _ = self._signed(request, body)
        bals = [
            {"asset": b.asset, "free": f8(b.free), "locked": f8(b.locked)}
            for b in self.ctx.exchange.ledger.balances(account)
        ]
        spot = [i for i in self.ctx.exchange.instruments.values() if not i.is_derivative]
        maker = spot[0].maker_fee if spot else Decimal("0.001")
        taker = spot[0].taker_fee if spot else Decimal("0.001")
        return {
            "makerCommission": int(maker * 10_000),
            "takerCommission": int(taker * 10_000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": f8(maker),
                "taker": f8(taker),
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.ctx.now_ms(),
            "accountType": "SPOT",
            "balances": bals,
            "permissions": ["SPOT"],
            "uid": abs(hash(account)) % 10**9,
        }

    # --- listenKey: the legacy user data stream (ccxt 4.5 spot uses the WebSocket API) ------
    def _key_account(self, request: web.Request) -> str:
        api = self.ctx.keys.get(request.headers.get("X-MBX-APIKEY") or "")
        if api is None:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return api.account

    def _listen_key(self, request: web.Request, body: str) -> str:
        assert self.streams is not None
        self._key_account(request)
        key = {**dict(parse_qsl(body)), **dict(request.query)}.get("listenKey", "")
        if self.streams.listen_keys.get(key) is None:
            raise BinanceError(400, -1125, "This listenKey does not exist.")
        return key

    async def post_userDataStream(self, request: web.Request, body: str) -> object:
        assert self.streams is not None
        return {"listenKey": self.streams.new_listen_key(self._key_account(request))}

    async def put_userDataStream(self, request: web.Request, body: str) -> object:
        self._listen_key(request, body)
        return {}

    async def delete_userDataStream(self, request: web.Request, body: str) -> object:
        assert self.streams is not None
        self.streams.close_listen_key(self._listen_key(request, body))
        return {}
