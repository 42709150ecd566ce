"""ccxt structures -> agent.model. Nothing camelCase leaves this module.

Every parser validates what it reads; a payload we cannot trust (missing fields, strings where
numbers belong, negative sizes, unknown symbols) raises :class:`VenuePayloadError` after
logging the raw payload, and the caller's state is left untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from agent.errors import ValidationError, VenuePayloadError
from agent.model import (
    Fill,
    Instrument,
    OptionContract,
    OptionKind,
    Perpetual,
    Side,
    Spot,
)
from agent.venues.base import OrderStatusReport, VenueOrderRef, VenueOrderState

log = logging.getLogger(__name__)

_STATES = {
    "open": VenueOrderState.OPEN,
    "closed": VenueOrderState.FILLED,
    "canceled": VenueOrderState.CANCELLED,
    "cancelled": VenueOrderState.CANCELLED,
    "expired": VenueOrderState.EXPIRED,
    "rejected": VenueOrderState.REJECTED,
}


def bad_payload(venue: str, what: str, problem: str, raw: Any) -> VenuePayloadError:
    try:
        text = json.dumps(raw, default=str)[:2000]
    except (TypeError, ValueError):
        text = repr(raw)[:2000]
    log.warning("venue %s sent a bad %s (%s); raw payload: %s", venue, what, problem, text)
    err = VenuePayloadError(f"{venue} sent a bad {what}: {problem}")
    err.raw = raw  # type: ignore[attr-defined]
    return err


def dec(
    value: Any,
    venue: str,
    what: str,
    field: str,
    raw: Any,
    *,
    positive: bool = False,
    allow_none: bool = False,
) -> Decimal | None:
    """A finite Decimal from a ccxt number/string; bools and junk are refused."""
    if value is None:
        if allow_none:
            return None
        raise bad_payload(venue, what, f"{field} is missing", raw)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise bad_payload(venue, what, f"{field} is not a number: {value!r}", raw)
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise bad_payload(venue, what, f"{field} is not a number: {value!r}", raw) from None
    if not d.is_finite():
        raise bad_payload(venue, what, f"{field} is not finite: {value!r}", raw)
    if d < 0 or (positive and d == 0):
        raise bad_payload(
            venue, what, f"{field} must be {'positive' if positive else '>= 0'}: {value!r}", raw
        )
    return d


def to_units(amount: Decimal, decimals: int) -> int:
    """Venue amounts can carry more digits than the asset (price*qty); round half-even."""
    return int(amount.scaleb(decimals).to_integral_value(rounding=ROUND_HALF_EVEN))


class SymbolMap:
    """Our instruments <-> ccxt unified symbols, built from ccxt's loaded markets."""

    def __init__(self, venue: str, markets: Mapping[str, Mapping[str, Any]]) -> None:
        self.venue = venue
        self.markets = markets
        self._options: dict[tuple[str, str, Decimal, int, str], str] = {}
        for sym, m in markets.items():
            if m.get("option") and m.get("strike") is not None and m.get("expiry"):
                day = int(m["expiry"]) // 86_400_000
                key = (
                    m["base"],
                    m["quote"],
                    Decimal(str(m["strike"])),
                    day,
                    str(m.get("optionType")),
                )
                self._options[key] = sym

    def symbol(self, inst: Instrument) -> str:
        if isinstance(inst, OptionContract):
            day = int(inst.expiry.timestamp() * 1000) // 86_400_000
            key = (inst.underlying, inst.quote, inst.strike, day, inst.kind.value)
            sym = self._options.get(key)
        else:
            sym = inst.symbol
        if sym is None or sym not in self.markets:
            raise ValidationError(
                "instrument",
                f"{inst.symbol} is not listed on {self.venue}",
                "pick an instrument from the venue's markets",
            )
        return sym

    def instrument(self, symbol: str, raw: Any = None) -> Instrument:
        m = self.markets.get(symbol) if isinstance(symbol, str) else None
        if m is None:
            raise bad_payload(self.venue, "symbol", f"unknown symbol {symbol!r}", raw)
        if m.get("spot"):
            return Spot(m["base"], m["quote"])
        if m.get("option"):
            return OptionContract(
                m["base"],
                m["quote"],
                Decimal(str(m["strike"])),
                datetime.fromtimestamp(int(m["expiry"]) / 1000, tz=UTC),
                OptionKind.CALL if m.get("optionType") == "call" else OptionKind.PUT,
            )
        return Perpetual(m["base"], m["quote"], m.get("settle") or m["quote"])

    def base_asset(self, symbol: str) -> str:
        """What a fill delivers: the base coin on spot, the contract itself on derivatives."""
        m = self.markets[symbol]
        return m["base"] if m.get("spot") else symbol

    def settle_asset(self, symbol: str) -> str:
        m = self.markets[symbol]
        return m["quote"] if m.get("spot") else (m.get("settle") or m["quote"])


def client_id_of(order: Mapping[str, Any]) -> str:
    info = order.get("info") or {}
    return str(
        order.get("clientOrderId") or (info.get("label") if isinstance(info, dict) else "") or ""
    )


def order_report(venue: str, order: Any, symbols: SymbolMap) -> OrderStatusReport:
    what = "order"
    if not isinstance(order, Mapping):
        raise bad_payload(venue, what, "not an object", order)
    oid = order.get("id")
    if not oid or not isinstance(oid, str | int):
        raise bad_payload(venue, what, "id is missing", order)
    side = order.get("side")
    if side not in ("buy", "sell"):
        raise bad_payload(venue, what, f"side is {side!r}", order)
    status = order.get("status")
    if status not in _STATES:
        raise bad_payload(venue, what, f"status is {status!r}", order)
    amount = dec(order.get("amount"), venue, what, "amount", order, positive=True)
    filled = dec(
        order.get("filled") if order.get("filled") is not None else 0, venue, what, "filled", order
    )
    price = dec(order.get("price"), venue, what, "price", order, allow_none=True)
    assert amount is not None and filled is not None
    if filled > amount:
        raise bad_payload(venue, what, f"filled {filled} exceeds amount {amount}", order)
    state = _STATES[status]
    if state is VenueOrderState.OPEN and filled > 0:
        state = VenueOrderState.PARTIALLY_FILLED
    return OrderStatusReport(
        ref=VenueOrderRef(venue, client_id_of(order), str(oid)),
        instrument=symbols.instrument(order.get("symbol"), order),  # type: ignore[arg-type]
        side=Side(side),
        size=amount,
        filled=filled,
        state=state,
        limit_price=price if price else None,
    )


_VENUE_SYMBOL_KEYS = ("symbol", "instrument_name", "instId", "market")


def check_venue_symbol(venue: str, row: Any, symbol: str, symbols: SymbolMap) -> None:
    """ccxt fills a row's symbol from the market it asked about, whatever the venue said;
    a row whose raw payload names another instrument is a bad payload, not that market."""
    info = row.get("info") if isinstance(row, Mapping) else None
    market_id = symbols.markets.get(symbol, {}).get("id")
    if not isinstance(info, Mapping) or market_id is None:
        return
    for key in _VENUE_SYMBOL_KEYS:
        said = info.get(key)
        if said is not None and said != market_id:
            raise bad_payload(venue, "symbol", f"{said!r} in a {market_id} answer", row)


def fill_of(venue: str, trade: Any, symbols: SymbolMap, decimals: Mapping[str, int]) -> Fill:
    what = "trade"
    if not isinstance(trade, Mapping):
        raise bad_payload(venue, what, "not an object", trade)
    tid, oid = trade.get("id"), trade.get("order")
    if not tid or not oid:
        raise bad_payload(venue, what, "id or order id is missing", trade)
    side = trade.get("side")
    if side not in ("buy", "sell"):
        raise bad_payload(venue, what, f"side is {side!r}", trade)
    symbol = trade.get("symbol")
    symbols.instrument(symbol, trade)  # validates the symbol
    qty = dec(trade.get("amount"), venue, what, "amount", trade, positive=True)
    price = dec(trade.get("price"), venue, what, "price", trade, positive=True)
    assert qty is not None and price is not None
    cost = dec(trade.get("cost"), venue, what, "cost", trade, allow_none=True) or qty * price
    base, quote = symbols.base_asset(symbol), symbols.settle_asset(symbol)
    m = symbols.markets[symbol]
    base_dec = decimals.get(base, _precision_decimals(m.get("precision", {}).get("amount")))
    quote_dec = decimals.get(quote, 8)
    fee = trade.get("fee") or {}
    fee_cost = dec(
        fee.get("cost") if isinstance(fee, Mapping) else None,
        venue,
        what,
        "fee.cost",
        trade,
        allow_none=True,
    ) or Decimal(0)
    fee_asset = fee.get("currency") if isinstance(fee, Mapping) else None
    fee_dec = base_dec if fee_asset == base else decimals.get(str(fee_asset), quote_dec)
    q_units, c_units = to_units(qty, base_dec), to_units(cost, quote_dec)
    if side == "buy":
        a_in, u_in, a_out, u_out = quote, c_units, base, q_units
    else:
        a_in, u_in, a_out, u_out = base, q_units, quote, c_units
    return Fill(
        venue=venue,
        order_id=str(oid),
        trade_id=str(tid),
        asset_in=a_in,
        asset_out=a_out,
        amount_in=u_in,
        amount_out=u_out,
        fee=to_units(fee_cost, fee_dec),
        fee_asset=fee_asset,
        price=price,
    )


def _precision_decimals(step: Any) -> int:
    """ccxt's TICK_SIZE precision (e.g. 0.001) as a number of decimals (3)."""
    try:
        d = Decimal(str(step))
    except (InvalidOperation, TypeError):
        return 8
    if not d.is_finite() or d <= 0:
        return 8
    return max(0, -d.normalize().as_tuple().exponent)  # type: ignore[operator]
