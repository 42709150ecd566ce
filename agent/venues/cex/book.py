"""A CEX order book as a liquidity curve: ccxt's ``fetch_order_book`` levels, the market's taker
fee and its lot (amount step), in base units of the on-chain assets the router works in.

Prices on the book are tick-aligned already; the lot comes from ccxt's ``precision.amount``
(a step under TICK_SIZE precision, decimals under DECIMAL_PLACES) and the market's minimum
amount is honoured by dropping the book if even its best level cannot meet it. A book older
than ``max_age_ms`` (its own timestamp against our clock) is stale: :class:`StaleBookError`.
"""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction
from typing import Any

from agent.errors import VenueError
from agent.model import Instrument, Side
from agent.routing.curves import BookCurve, BookLevel

DECIMAL_PLACES = 2  # ccxt's precisionMode constants
TICK_SIZE = 4


class StaleBookError(VenueError):
    code = "BOOK_STALE"


def lot_units(market: dict[str, Any], base_decimals: int, precision_mode: int | None) -> int:
    """The amount step of ``market`` in base units (at least 1). ccxt gives a step under
    TICK_SIZE precision and a count of decimals under DECIMAL_PLACES."""
    step = (market.get("precision") or {}).get("amount")
    if step is None:
        return 1
    d = Decimal(str(step))
    if precision_mode == DECIMAL_PLACES:
        d = Decimal(10) ** -int(d)
    return max(1, int(d * (Decimal(10) ** base_decimals)))


def levels_of(raw: list[list[Any]], base_decimals: int, quote_decimals: int) -> list[BookLevel]:
    """ccxt ``[[price, amount], ...]`` as exact levels: price in quote units per base unit."""
    scale = Fraction(10**quote_decimals, 10**base_decimals)
    out = []
    for row in raw:
        px, qty = Decimal(str(row[0])), Decimal(str(row[1]))
        if px <= 0 or qty <= 0:
            continue
        out.append(BookLevel(Fraction(px) * scale, int(qty * (Decimal(10) ** base_decimals))))
    return out


async def book_curve(
    venue: Any,
    instrument: Instrument,
    side: Side,
    *,
    base_decimals: int,
    quote_decimals: int,
    symbol: str | None = None,
    depth: int = 50,
    max_age_ms: int = 5_000,
    now_ms: int | None = None,
) -> tuple[BookCurve, str]:
    """(curve, pin) for ``side`` on ``venue`` (a :class:`agent.venues.cex.CexVenue`): BUY walks
    the asks, SELL the bids. The pin is ``book:<timestamp ms>[:<nonce>]``."""
    from agent.venues.cex.ratelimit import Priority

    sym = symbol or venue.symbols.symbol(instrument)
    book = await venue._call(Priority.NORMAL, venue.ex.fetch_order_book, sym, depth)
    fetched = int(time.time() * 1000)
    now = fetched if now_ms is None else now_ms
    # Binance's REST depth carries no time (only lastUpdateId, ccxt's nonce): it is as old as
    # our request; a streamed or cached book carries its own timestamp and may be stale
    ts = book.get("timestamp") or fetched
    age = now - int(ts)
    if age > max_age_ms:
        raise StaleBookError(
            f"{venue.id}: the {sym} book is {age} ms old (> {max_age_ms} ms allowed)"
        )
    market = venue.ex.markets[sym]
    fee = Fraction(Decimal(str(market.get("taker") or 0)))
    lot = lot_units(market, base_decimals, getattr(venue.ex, "precisionMode", None))
    raw = book["asks"] if side is Side.BUY else book["bids"]
    curve = BookCurve(levels_of(raw, base_decimals, quote_decimals), side, fee, lot)
    nonce = book.get("nonce")
    return curve, f"book:{int(ts)}" + (f":{nonce}" if nonce is not None else "")
