"""The venue core: instruments, books, ledger, orders and trades, with listeners for streams.

Front-ends (Binance REST, Deribit JSON-RPC) translate their wire formats into calls here and
translate :class:`SimReject` into the venue's own error codes. Everything here is synchronous,
so one call is atomic with respect to the event loop: balances are checked and settled around
the book's match without interleaving.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from agent.exchange_sim.accounts import FEE_ACCOUNT, ZERO, InsufficientFunds, Ledger, fee_of
from agent.exchange_sim.instruments import SimInstrument, SimKind
from agent.exchange_sim.matching import OrderBook, SimOrder, SimOrderStatus, SimTif, Trade
from agent.exchange_sim.pricing import Greeks, black_scholes, smile_vol
from agent.model import Side

PERP_IM = Decimal("0.10")  # initial margin rate on perpetual notional
SHORT_OPTION_IM = Decimal("0.15")  # of the underlying's index, per contract sold
YEAR_MS = 365 * 86_400_000


class RejectReason(StrEnum):
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    BAD_PRICE = "bad_price"
    BAD_AMOUNT = "bad_amount"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    UNKNOWN_ORDER = "unknown_order"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    FOK_UNFILLABLE = "fok_unfillable"
    NO_LIQUIDITY = "no_liquidity"
    INSTRUMENT_EXPIRED = "instrument_expired"


class SimReject(Exception):
    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EventKind(StrEnum):
    ORDER = "order"
    TRADE = "trade"
    BOOK = "book"
    SETTLEMENT = "settlement"


@dataclass(frozen=True, slots=True)
class SimEvent:
    kind: EventKind
    instrument: str
    account: str = ""
    order: SimOrder | None = None
    trade: Trade | None = None
    is_taker: bool = False


Listener = Callable[[SimEvent], None]


def system_ms() -> int:
    return time.time_ns() // 1_000_000


class Exchange:
    def __init__(
        self,
        instruments: list[SimInstrument],
        *,
        clock: Callable[[], int] = system_ms,
        index: dict[str, Decimal] | None = None,
        base_vol: float = 0.6,
    ) -> None:
        self.instruments = {i.name: i for i in instruments}
        self.books = {i.name: OrderBook(i.name) for i in instruments}
        self.ledger = Ledger()
        self.clock = clock
        self.index: dict[str, Decimal] = dict(index or {})  # underlying -> index price
        self.base_vol = base_vol
        self.orders: dict[int, SimOrder] = {}
        self.by_client: dict[tuple[str, str], int] = {}
        self.trades: list[Trade] = []
        self.settled: dict[str, Decimal] = {}  # expired instrument -> settlement price
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self.listeners: list[Listener] = []

    # --- reads -------------------------------------------------------------------------
    def instrument(self, name: str) -> SimInstrument:
        inst = self.instruments.get(name)
        if inst is None:
            raise SimReject(RejectReason.UNKNOWN_INSTRUMENT, f"unknown instrument {name!r}")
        return inst

    def open_orders(self, account: str, instrument: str | None = None) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if o.account == account
            and o.status.is_open
            and (instrument is None or o.instrument == instrument)
        ]

    def account_trades(self, account: str) -> list[Trade]:
        return [t for t in self.trades if account in (t.taker_account, t.maker_account)]

    def mid(self, name: str) -> Decimal | None:
        book = self.books[name]
        b, a = book.best_bid(), book.best_ask()
        if b is not None and a is not None:
            return (b + a) / 2
        return b if a is None else a

    def index_price(self, underlying: str) -> Decimal:
        return self.index.get(underlying, ZERO)

    def greeks(self, name: str, vol: float | None = None) -> tuple[Greeks, float]:
        inst = self.instrument(name)
        assert inst.kind is SimKind.OPTION and inst.strike is not None
        s = float(self.index_price(inst.base))
        k = float(inst.strike)
        iv = vol if vol is not None else smile_vol(self.base_vol, s, k)
        t = max(0.0, ((inst.expiry_ms or 0) - self.clock()) / YEAR_MS)
        return black_scholes(s, k, t, iv, bool(inst.is_call)), iv

    def mark_price(self, name: str) -> Decimal:
        inst = self.instrument(name)
        if inst.kind is SimKind.OPTION:
            if name in self.settled:
                return self.settled[name]
            g, _ = self.greeks(name)
            return Decimal(str(round(g.price, 4)))
        if inst.kind is SimKind.PERPETUAL:
            return self.index_price(inst.base) or (self.mid(name) or ZERO)
        return self.mid(name) or ZERO

    # --- orders ------------------------------------------------------------------------
    def place(
        self,
        account: str,
        instrument: str,
        side: Side,
        amount: Decimal,
        price: Decimal | None = None,
        *,
        tif: SimTif = SimTif.GTC,
        client_id: str = "",
        post_only: bool = False,
        unique_client_id: bool = True,
        display: Decimal = ZERO,
    ) -> tuple[SimOrder, list[Trade]]:
        """``display`` > 0 makes a GTC limit order an iceberg showing that much at a time."""
        inst = self.instrument(instrument)
        now = self.clock()
        if inst.expiry_ms is not None and (now >= inst.expiry_ms or instrument in self.settled):
            raise SimReject(RejectReason.INSTRUMENT_EXPIRED, f"{instrument} has expired")
        if (problem := inst.check_amount(amount)) is not None:
            raise SimReject(RejectReason.BAD_AMOUNT, problem)
        if price is not None and (problem := inst.check_price(price)) is not None:
            raise SimReject(RejectReason.BAD_PRICE, problem)
        if display and (problem := inst.check_display(display, amount, price, tif)) is not None:
            raise SimReject(RejectReason.BAD_AMOUNT, problem)
        if unique_client_id and client_id and (account, client_id) in self.by_client:
            prev = self.orders[self.by_client[(account, client_id)]]
            if prev.status.is_open:
                raise SimReject(
                    RejectReason.DUPLICATE_CLIENT_ID, f"client order id {client_id!r} is in use"
                )
        book = self.books[instrument]
        if post_only and price is not None:
            opp = book.side(side.opposite).best()
            if opp is not None and (opp <= price if side is Side.BUY else opp >= price):
                raise SimReject(RejectReason.POST_ONLY_WOULD_TAKE, "post-only order would take")
        if tif is SimTif.FOK and book.fillable(side, price, amount) < amount:
            raise SimReject(RejectReason.FOK_UNFILLABLE, "FOK order cannot be filled in full")
        if price is None and book.fillable(side, None, amount) == 0:
            raise SimReject(RejectReason.NO_LIQUIDITY, "no liquidity for a market order")
        order = SimOrder(
            order_id=next(self._order_ids),
            account=account,
            instrument=instrument,
            side=side,
            amount=amount,
            price=price,
            tif=SimTif.IOC if price is None else tif,
            client_id=client_id,
            created_ms=now,
            updated_ms=now,
            post_only=post_only,
            display=display,
            shown=display,
        )
        self._reserve(order, inst, book)
        self.orders[order.order_id] = order
        if client_id:
            self.by_client[(account, client_id)] = order.order_id
        return order, self._match(order, inst, book, now)

    def _match(
        self, order: SimOrder, inst: SimInstrument, book: OrderBook, now: int
    ) -> list[Trade]:
        """Match ``order`` against its book, settle the trades, release what is no longer
        reserved, record and announce them."""
        trades = book.match(order, self._trade_ids, now)
        for t in trades:
            self._settle_trade(t, inst)
            maker = self.orders[t.maker_order_id]
            if not maker.status.is_open and maker.locked:
                # a buy filled below its limit keeps the difference locked: give it back
                self._unreserve(maker, inst)
        if not order.status.is_open:
            self._unreserve(order, inst)
        self.trades.extend(trades)
        self._emit_after_match(order, trades)
        return trades

    def cancel(self, account: str, order_id: int) -> SimOrder:
        order = self.orders.get(order_id)
        if order is None or order.account != account:
            raise SimReject(RejectReason.UNKNOWN_ORDER, f"order {order_id} does not exist")
        if not order.status.is_open:
            raise SimReject(RejectReason.UNKNOWN_ORDER, f"order {order_id} is not open")
        self.books[order.instrument].cancel(order)
        order.status = SimOrderStatus.CANCELLED
        order.updated_ms = self.clock()
        self._unreserve(order, self.instruments[order.instrument])
        self._emit(SimEvent(EventKind.ORDER, order.instrument, account, order=order))
        self._emit(SimEvent(EventKind.BOOK, order.instrument))
        return order

    def cancel_all(self, account: str, instrument: str | None = None) -> list[SimOrder]:
        return [self.cancel(account, o.order_id) for o in self.open_orders(account, instrument)]

    def find_by_client_id(self, account: str, client_id: str) -> SimOrder | None:
        oid = self.by_client.get((account, client_id))
        return self.orders.get(oid) if oid is not None else None

    def amend(
        self, account: str, order_id: int, amount: Decimal, price: Decimal | None
    ) -> tuple[SimOrder, list[Trade]]:
        """Deribit's edit: same order id; loses time priority, may match at the new price."""
        order = self.orders.get(order_id)
        if order is None or order.account != account or not order.status.is_open:
            raise SimReject(RejectReason.UNKNOWN_ORDER, f"order {order_id} is not open")
        inst = self.instruments[order.instrument]
        if (problem := inst.check_amount(amount)) is not None or amount <= order.filled:
            raise SimReject(RejectReason.BAD_AMOUNT, problem or "amount is below the filled size")
        new_price = price if price is not None else order.price
        if new_price is None or (problem := inst.check_price(new_price)) is not None:
            raise SimReject(RejectReason.BAD_PRICE, problem or "price is required")
        book = self.books[order.instrument]
        book.cancel(order)
        self._unreserve(order, inst)
        old = (order.amount, order.price)
        order.amount, order.price = amount, new_price
        try:
            self._reserve(order, inst, book)
        except SimReject:
            order.amount, order.price = old
            self._reserve(order, inst, book)
            book.side(order.side).add(order)
            raise
        now = self.clock()
        order.updated_ms = now
        return order, self._match(order, inst, book, now)

    # --- expiry ------------------------------------------------------------------------
    def settle_expired(self) -> list[str]:
        """Cash-settle options whose expiry has passed at the underlying's index price."""
        now = self.clock()
        done = []
        for name, inst in self.instruments.items():
            if inst.kind is not SimKind.OPTION or name in self.settled:
                continue
            if inst.expiry_ms is None or now < inst.expiry_ms:
                continue
            s = self.index_price(inst.base)
            assert inst.strike is not None
            payoff = max(ZERO, s - inst.strike) if inst.is_call else max(ZERO, inst.strike - s)
            for o in list(self.orders.values()):
                if o.instrument == name and o.status.is_open:
                    self.books[name].cancel(o)
                    o.status = SimOrderStatus.EXPIRED
                    o.updated_ms = now
                    self._unreserve(o, inst)
                    self._emit(SimEvent(EventKind.ORDER, name, o.account, order=o))
            longs, shorts = [], []
            for acct in self.ledger.accounts():
                q = self.ledger.close_position(acct, name)
                if q > 0:
                    longs.append((acct, q))
                elif q < 0:
                    shorts.append((acct, -q))
            # shorts pay into a pool first, longs are paid from it: zero-sum by construction
            pool = "__settlement__"
            for acct, q in shorts:
                self.ledger.move_free(acct, pool, inst.settle, payoff * q)
            for acct, q in longs:
                self.ledger.move_free(pool, acct, inst.settle, payoff * q)
            self.settled[name] = payoff
            self._emit(SimEvent(EventKind.SETTLEMENT, name))
            done.append(name)
        return done

    # --- internals ---------------------------------------------------------------------
    def _reserve(self, order: SimOrder, inst: SimInstrument, book: OrderBook) -> None:
        try:
            if inst.kind is SimKind.SPOT:
                if order.side is Side.BUY:
                    need = (
                        order.price * order.remaining
                        if order.price is not None
                        else book.cost_to_fill(Side.BUY, None, order.remaining)
                    )
                    self.ledger.lock(order.account, inst.quote, need)
                else:
                    need = order.remaining
                    self.ledger.lock(order.account, inst.base, need)
            else:
                need = self._derivative_margin(order, inst, book)
                self.ledger.lock(order.account, inst.settle, need)
        except InsufficientFunds as e:
            raise SimReject(
                RejectReason.INSUFFICIENT_FUNDS,
                f"insufficient balance: needs {e.need} {e.asset}, available {e.have}",
            ) from e
        order.locked = need

    def _derivative_margin(self, order: SimOrder, inst: SimInstrument, book: OrderBook) -> Decimal:
        px = (
            order.price
            if order.price is not None
            else book.cost_to_fill(order.side, None, order.remaining) / order.remaining
        )
        if inst.kind is SimKind.OPTION:
            if order.side is Side.BUY:
                return px * order.remaining  # the premium, paid from this lock on fill
            return SHORT_OPTION_IM * self.index_price(inst.base) * order.remaining
        return (PERP_IM * px * order.remaining).quantize(Decimal("0.00000001"))

    def _unreserve(self, order: SimOrder, inst: SimInstrument) -> None:
        asset = inst.base if (inst.kind is SimKind.SPOT and order.side is Side.SELL) else inst.quote
        self.ledger.release(order.account, asset, order.locked)
        order.locked = ZERO

    def _settle_trade(self, t: Trade, inst: SimInstrument) -> None:
        taker = self.orders.get(t.taker_order_id)
        maker = self.orders[t.maker_order_id]
        if taker is None:  # the taker is registered before matching; this cannot happen
            raise AssertionError("taker order not registered")
        buy, sell = (taker, maker) if t.taker_side is Side.BUY else (maker, taker)
        cost = t.price * t.amount
        L = self.ledger
        buy_rate = inst.taker_fee if buy is taker else inst.maker_fee
        sell_rate = inst.taker_fee if sell is taker else inst.maker_fee
        if inst.kind is SimKind.SPOT:
            buy.locked -= cost
            L.move_locked(buy.account, sell.account, inst.quote, cost)
            sell.locked -= t.amount
            L.move_locked(sell.account, buy.account, inst.base, t.amount)
            bfee, sfee = fee_of(t.amount, buy_rate), fee_of(cost, sell_rate)
            L.move_free(buy.account, FEE_ACCOUNT, inst.base, bfee)
            L.move_free(sell.account, FEE_ACCOUNT, inst.quote, sfee)
            buy.fee += bfee
            sell.fee += sfee
            return
        # derivatives: the buyer pays the trade value to the seller (premium / cost basis)
        if inst.kind is SimKind.OPTION and buy.locked >= cost:
            buy.locked -= cost
            L.move_locked(buy.account, sell.account, inst.settle, cost)
        else:
            L.move_free(buy.account, sell.account, inst.settle, cost)
        L.add_position(buy.account, inst.name, t.amount)
        L.add_position(sell.account, inst.name, -t.amount)
        for o, rate in ((buy, buy_rate), (sell, sell_rate)):
            f = fee_of(cost, rate)
            L.move_free(o.account, FEE_ACCOUNT, inst.settle, f)
            o.fee += f
        # margin held for the filled part is no longer an open-order reserve
        for o in (buy, sell):
            if not (inst.kind is SimKind.OPTION and o is buy):
                part = min(o.locked, (o.locked * t.amount / (o.remaining + t.amount)))
                part = part.quantize(Decimal("0.00000001"))
                L.release(o.account, inst.settle, part)
                o.locked -= part

    def _emit_after_match(self, order: SimOrder, trades: list[Trade]) -> None:
        for t in trades:
            maker = self.orders[t.maker_order_id]
            self._emit(SimEvent(EventKind.ORDER, t.instrument, maker.account, order=maker))
            self._emit(SimEvent(EventKind.TRADE, t.instrument, maker.account, maker, t, False))
            self._emit(SimEvent(EventKind.TRADE, t.instrument, order.account, order, t, True))
        self._emit(SimEvent(EventKind.ORDER, order.instrument, order.account, order=order))
        self._emit(SimEvent(EventKind.BOOK, order.instrument))

    def _emit(self, ev: SimEvent) -> None:
        for fn in list(self.listeners):
            fn(ev)
