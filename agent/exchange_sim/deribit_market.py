"""Deribit market data the execution algorithms read: last trades, TradingView candles, book
summaries, a user's order history, and the public ``trades.*`` channel.

A mixin of :class:`agent.exchange_sim.deribit.DeribitApi` (its dispatcher finds every
``public_*`` / ``private_*`` method by name), kept apart so the transport and order handling
stay in one module and the read-only market data in another. Field names and meanings follow
Deribit's API v2 documentation; see docs/exchange_sim.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.exchange_sim.instruments import SimInstrument, SimKind
from agent.exchange_sim.matching import SimOrder, SimOrderStatus, Trade
from agent.model import Side

if TYPE_CHECKING:
    from agent.exchange_sim.context import SimContext

ZERO = Decimal(0)
# TradingView resolutions Deribit accepts, in minutes ("1D" is a day)
RESOLUTION_MIN = {
    "1": 1, "3": 3, "5": 5, "10": 10, "15": 15, "30": 30, "60": 60, "120": 120,
    "180": 180, "360": 360, "720": 720, "1D": 1440,
}  # fmt: skip
MAX_TRADES = 1000


def _num(x: Decimal) -> float | int:
    return int(x) if x == x.to_integral_value() else float(x)


def _int(p: dict[str, Any], name: str, default: int | None = None) -> int | None:
    from agent.exchange_sim.deribit import RpcError

    raw = p.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise RpcError(
            -32602, "Invalid params", {"param": name, "reason": "not an integer"}
        ) from None


def tick_direction(prev: Decimal | None, prev_dir: int, price: Decimal) -> int:
    """Deribit's tick direction: 0 plus tick, 1 zero-plus tick, 2 minus tick, 3 zero-minus."""
    if prev is None or price > prev:
        return 0
    if price < prev:
        return 2
    return 1 if prev_dir in (0, 1) else 3


class DeribitMarketData:
    """Public market data and the order history; needs ``self.ctx`` and ``self._inst``."""

    ctx: SimContext

    def _inst(self, params: dict[str, Any]) -> SimInstrument:  # provided by DeribitApi
        raise NotImplementedError

    def order_json(self, o: SimOrder) -> dict[str, Any]:  # provided by DeribitApi
        raise NotImplementedError

    def _matches(self, inst: SimInstrument, currency: Any, kind: Any) -> bool:
        raise NotImplementedError

    # --- trades ----------------------------------------------------------------------------
    def _tape(self, name: str) -> list[Trade]:
        return [t for t in self.ctx.exchange.trades if t.instrument == name]

    def public_trade_json(self, t: Trade, direction: int) -> dict[str, Any]:
        ex = self.ctx.exchange
        inst = ex.instruments[t.instrument]
        d: dict[str, Any] = {
            "trade_seq": t.trade_id,
            "trade_id": f"{inst.base}-{t.trade_id}",
            "timestamp": t.ts_ms,
            "tick_direction": direction,
            "price": _num(t.price),
            "mark_price": _num(ex.mark_price(t.instrument)),
            "index_price": _num(ex.index_price(inst.base)),
            "instrument_name": t.instrument,
            "direction": t.taker_side.value,  # the taker's side, as Deribit reports it
            "amount": _num(t.amount),
        }
        if inst.kind is SimKind.OPTION and t.instrument not in ex.settled:
            d["iv"] = round(ex.greeks(t.instrument)[1] * 100, 2)
        return d

    def _with_directions(self, tape: Iterable[Trade]) -> list[tuple[Trade, int]]:
        out, prev, d = [], None, 0
        for t in tape:
            d = tick_direction(prev, d, t.price)
            prev = t.price
            out.append((t, d))
        return out

    async def public_get_last_trades_by_instrument(self, p: dict[str, Any], s: Any) -> Any:
        inst = self._inst(p)
        count = max(1, min(_int(p, "count", 10) or 10, MAX_TRADES))
        lo_seq, hi_seq = _int(p, "start_seq"), _int(p, "end_seq")
        lo_ts, hi_ts = _int(p, "start_timestamp"), _int(p, "end_timestamp")
        rows = [
            (t, d)
            for t, d in self._with_directions(self._tape(inst.name))
            if (lo_seq is None or t.trade_id >= lo_seq)
            and (hi_seq is None or t.trade_id <= hi_seq)
            and (lo_ts is None or t.ts_ms >= lo_ts)
            and (hi_ts is None or t.ts_ms <= hi_ts)
        ]
        sorting = p.get("sorting", "default")
        ascending = sorting == "asc" or (sorting == "default" and (lo_seq or lo_ts) is not None)
        picked = rows[:count] if ascending else rows[::-1][:count]
        return {
            "trades": [self.public_trade_json(t, d) for t, d in picked],
            "has_more": len(rows) > count,
        }

    async def public_get_last_trades_by_currency(self, p: dict[str, Any], s: Any) -> Any:
        count = max(1, min(_int(p, "count", 10) or 10, MAX_TRADES))
        ex = self.ctx.exchange
        rows = [
            t
            for t in ex.trades
            if self._matches(ex.instruments[t.instrument], p.get("currency"), p.get("kind"))
        ]
        picked = rows[::-1][:count]
        return {
            "trades": [self.public_trade_json(t, 0) for t in picked],
            "has_more": len(rows) > count,
        }

    # --- candles ---------------------------------------------------------------------------
    async def public_get_tradingview_chart_data(self, p: dict[str, Any], s: Any) -> Any:
        from agent.exchange_sim.deribit import RpcError

        inst = self._inst(p)
        res = RESOLUTION_MIN.get(str(p.get("resolution", "")))
        if res is None:
            raise RpcError(-32602, "Invalid params", {"param": "resolution"})
        start, end = _int(p, "start_timestamp"), _int(p, "end_timestamp")
        if start is None or end is None:
            raise RpcError(-32602, "Invalid params", {"param": "start_timestamp"})
        step = res * 60_000
        ticks, o_, h_, l_, c_, vol, cost = [], [], [], [], [], [], []
        prev_close: Decimal | None = None
        tape = self._tape(inst.name)
        i = 0
        while i < len(tape) and tape[i].ts_ms < start // step * step:
            prev_close = tape[i].price
            i += 1
        t0 = start // step * step
        while t0 <= end and len(ticks) < 5000:
            bucket = []
            while i < len(tape) and tape[i].ts_ms < t0 + step:
                bucket.append(tape[i])
                i += 1
            if bucket or prev_close is not None:
                prices = [t.price for t in bucket] or [prev_close]
                ticks.append(t0)
                o_.append(_num(prices[0]))
                h_.append(_num(max(prices)))
                l_.append(_num(min(prices)))
                c_.append(_num(prices[-1]))
                vol.append(_num(sum((t.amount for t in bucket), ZERO)))
                cost.append(_num(sum((t.amount * t.price for t in bucket), ZERO)))
                prev_close = prices[-1]
            t0 += step
        return {
            "status": "ok" if ticks else "no_data",
            "ticks": ticks,
            "open": o_,
            "high": h_,
            "low": l_,
            "close": c_,
            "volume": vol,
            "cost": cost,
        }

    # --- book summaries --------------------------------------------------------------------
    def _book_summary(self, inst: SimInstrument) -> dict[str, Any]:
        ex = self.ctx.exchange
        book = ex.books[inst.name]
        bid, ask = book.best_bid(), book.best_ask()
        now = self.ctx.now_ms()
        day = [t for t in self._tape(inst.name) if t.ts_ms >= now - 86_400_000]
        mark = ex.mark_price(inst.name)
        idx = ex.index_price(inst.base)
        oi = sum((max(ZERO, ex.ledger.position(a, inst.name)) for a in ex.ledger.accounts()), ZERO)
        volume = sum((t.amount for t in day), ZERO)
        first = day[0].price if day else None
        last = day[-1].price if day else None
        change = (last - first) / first * 100 if first and last else None
        d: dict[str, Any] = {
            "instrument_name": inst.name,
            "base_currency": inst.base,
            "quote_currency": inst.quote,
            "bid_price": _num(bid) if bid is not None else None,
            "ask_price": _num(ask) if ask is not None else None,
            "mid_price": _num((bid + ask) / 2) if bid is not None and ask is not None else None,
            "mark_price": _num(mark),
            "last": _num(last) if last is not None else None,
            "high": _num(max(t.price for t in day)) if day else None,
            "low": _num(min(t.price for t in day)) if day else None,
            "price_change": round(float(change), 4) if change is not None else None,
            "volume": _num(volume),
            "volume_usd": _num(sum((t.amount * t.price for t in day), ZERO)),
            "volume_notional": _num(sum((t.amount * t.price for t in day), ZERO)),
            "open_interest": _num(oi),
            "estimated_delivery_price": _num(idx),
            "creation_timestamp": now,
        }
        if inst.kind is SimKind.OPTION:
            d.update(
                {
                    "underlying_price": _num(idx),
                    "underlying_index": f"{inst.base}_USDC",
                    "interest_rate": 0,
                    "mark_iv": round(ex.greeks(inst.name)[1] * 100, 2)
                    if inst.name not in ex.settled
                    else None,
                }
            )
        elif inst.kind is SimKind.PERPETUAL:
            d.update({"current_funding": 0, "funding_8h": 0})
        return d

    async def public_get_book_summary_by_currency(self, p: dict[str, Any], s: Any) -> Any:
        from agent.exchange_sim.deribit import RpcError

        cur = p.get("currency")
        if not isinstance(cur, str) or not cur:
            raise RpcError(-32602, "Invalid params", {"param": "currency"})
        ex = self.ctx.exchange
        return [
            self._book_summary(inst)
            for inst in ex.instruments.values()
            if inst.base == cur and self._matches(inst, cur, p.get("kind"))
        ]

    async def public_get_book_summary_by_instrument(self, p: dict[str, Any], s: Any) -> Any:
        return [self._book_summary(self._inst(p))]

    # --- order history ---------------------------------------------------------------------
    async def private_get_order_history_by_instrument(self, p: dict[str, Any], s: Any) -> Any:
        """Closed orders (filled, cancelled; with ``include_unfilled`` also those cancelled
        without any fill), newest first, ``offset``/``count`` paged (default 20)."""
        inst = self._inst(p)
        count = max(1, min(_int(p, "count", 20) or 20, 1000))
        offset = max(0, _int(p, "offset", 0) or 0)
        unfilled = str(p.get("include_unfilled", "false")).lower() == "true"
        closed = [
            o
            for o in self.ctx.exchange.orders.values()
            if o.account == s.account
            and o.instrument == inst.name
            and not o.status.is_open
            and o.status is not SimOrderStatus.REJECTED
            and (o.filled > 0 or unfilled)
        ]
        closed.sort(key=lambda o: (o.updated_ms, o.order_id), reverse=True)
        return [self.order_json(o) for o in closed[offset : offset + count]]

    # --- pnl -------------------------------------------------------------------------------
    def pnl(self, account: str, currency: str) -> dict[str, Decimal]:
        """Deribit's account-summary PnL fields for ``account`` in ``currency``:
        ``futures_pl`` / ``options_pl`` (realized + unrealized since the positions were
        opened), ``session_upl`` (unrealized at the mark), ``session_rpl`` (realized by
        closing trades), ``total_pl`` (their sum over futures and options) and
        ``options_value`` (the mark value of the option positions)."""
        ex = self.ctx.exchange
        fut_r = fut_u = opt_r = opt_u = opt_value = ZERO
        positions = ex.ledger.positions(account)
        for name, inst in ex.instruments.items():
            if inst.settle != currency or inst.kind is SimKind.SPOT:
                continue
            realized, avg, _pos = _fifo_pnl(ex, account, name)
            q = positions.get(name, ZERO)
            mark = ex.mark_price(name) if (q or name in ex.settled) else ZERO
            unreal = (mark - avg) * q if q else ZERO
            if inst.kind is SimKind.OPTION:
                opt_r += realized
                opt_u += unreal
                opt_value += mark * q
            else:
                fut_r += realized
                fut_u += unreal
        return {
            "futures_pl": fut_r + fut_u,
            "options_pl": opt_r + opt_u,
            "session_upl": fut_u + opt_u,
            "session_rpl": fut_r + opt_r,
            "total_pl": fut_r + fut_u + opt_r + opt_u,
            "options_value": opt_value,
        }


def _fifo_pnl(ex: Any, account: str, name: str) -> tuple[Decimal, Decimal, Decimal]:
    """(realized PnL, average entry of the open position, open size) from the account's
    trades in ``name``, average-cost method (what Deribit's position average price is)."""
    pos = cost = realized = ZERO
    for t in ex.trades:
        if t.instrument != name:
            continue
        for oid in (t.taker_order_id, t.maker_order_id):
            o = ex.orders[oid]
            if o.account != account:
                continue
            d = t.amount if o.side is Side.BUY else -t.amount
            if pos == 0 or (pos > 0) == (d > 0):
                cost += d * t.price
                pos += d
                continue
            avg = cost / pos
            amt = min(abs(d), abs(pos))  # what this trade closes
            realized += (t.price - avg) * amt if pos > 0 else (avg - t.price) * amt
            pos += d
            if pos == 0:
                cost = ZERO
            elif (pos > 0) == (d > 0):  # flipped: the rest opens at this price
                cost = pos * t.price
            else:
                cost = avg * pos
    avg = cost / pos if pos else ZERO
    return realized, avg, pos
