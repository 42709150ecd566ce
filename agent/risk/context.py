"""Build a :class:`RiskContext` from the portfolio, the market and the margin model.

Done once per order (or per market tick for a batch): the expensive parts - portfolio
Greeks, the margin grid, and the per-unit Greeks and margin-grid PnL of the instruments
about to be traded - are computed here, so the gate itself is only lookups and arithmetic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import numpy as np

from agent.model.enums import TradingState
from agent.model.instruments import Instrument, OptionContract
from agent.model.positions import Portfolio, Position, underlying_of
from agent.risk.checks.types import (
    GreeksPoint,
    MarginState,
    PricePoint,
    RiskContext,
    RiskLimits,
)
from agent.risk.margin.model import MarginParams, compute_margin, grid_pnl, short_option_units
from agent.risk.market import MarketSnapshot
from agent.risk.portfolio import Book, aggregate_greeks


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def instrument_unit(
    instrument: Instrument, market: MarketSnapshot, params: MarginParams, multiplier: Decimal
) -> tuple[float, GreeksPoint, np.ndarray]:
    """(mark price, Greeks, margin-grid PnL) of one unit (one contract) of ``instrument``."""
    pos = Position(
        instrument,
        Decimal(1),
        "_unit",
        entry_price=Decimal(repr(market.get(underlying_of(instrument)).spot)),
        multiplier=multiplier,
    )
    book = Book.build(Portfolio((pos,)), market)
    g = aggregate_greeks(book)[0]
    mark = float(book.unit_values(book.spots[book.und])[0])
    if not isinstance(instrument, OptionContract):
        mark = float(book.spots[0])  # a perp's "value" is PnL; its price is the index
    return mark, GreeksPoint(g.delta, g.vega), grid_pnl(book, params)[:, 0]


def build_context(
    portfolio: Portfolio,
    market: MarketSnapshot,
    limits: RiskLimits,
    *,
    now: datetime,
    trading_state: TradingState = TradingState.ACTIVE,
    instruments: Iterable[tuple[Instrument, Decimal]] = (),
    params: MarginParams | None = None,
    recent_orders: Sequence[datetime] = (),
    positions_as_of: datetime | None = None,
) -> RiskContext:
    params = params or MarginParams()
    book = Book.build(portfolio, market)
    report = compute_margin(book, params)
    greeks = {g.underlying: GreeksPoint(g.delta, g.vega) for g in aggregate_greeks(book)}
    shorts = short_option_units(book)

    positions: dict[str, Decimal] = defaultdict(Decimal)
    gross: dict[str, Decimal] = defaultdict(Decimal)
    gross_notional: dict[str, Decimal] = defaultdict(Decimal)
    venue: dict[str, Decimal] = defaultdict(Decimal)
    for p in portfolio.positions:
        u = p.underlying
        units = abs(p.size * p.multiplier)
        spot = _dec(market.get(u).spot)
        positions[p.instrument.symbol] += p.size
        gross[u] += units
        gross_notional[u] += units * spot
        venue[p.venue] += units * spot

    refs: dict[str, PricePoint] = {}
    unit_greeks: dict[str, GreeksPoint] = {}
    unit_grid: dict[str, np.ndarray] = {}
    instruments_ = tuple(instruments)  # iterated twice
    for inst, mult in instruments_:
        mark, g, grid = instrument_unit(inst, market, params, mult)
        refs[inst.symbol] = PricePoint(_dec(mark), market.as_of)
        unit_greeks[inst.symbol] = g
        unit_grid[inst.symbol] = grid

    # An underlying the book does not hold has zero Greeks and a zero margin grid; listing
    # them explicitly lets the checks treat an absent entry as missing data, never as zero.
    grid_by_und = {m.underlying: m.grid_pnl for m in report.per_underlying}
    mm_by_und = {m.underlying: m.maintenance for m in report.per_underlying}
    for inst, _ in instruments_:
        u = underlying_of(inst)
        greeks.setdefault(u, GreeksPoint(0.0, 0.0))
        if u not in grid_by_und:
            grid_by_und[u] = np.zeros_like(unit_grid[inst.symbol])
            mm_by_und[u] = 0.0

    return RiskContext(
        now=now,
        trading_state=trading_state,
        limits=limits,
        positions_as_of=positions_as_of or market.as_of,
        positions=dict(positions),
        underlying_gross=dict(gross),
        underlying_gross_notional=dict(gross_notional),
        venue_exposure=dict(venue),
        reference_prices=refs,
        underlying_prices={
            u: PricePoint(_dec(m.spot), m.as_of) for u, m in market.underlyings.items()
        },
        portfolio_greeks=greeks,
        greeks_as_of=market.as_of,
        unit_greeks=unit_greeks,
        margin=MarginState(
            equity=report.equity,
            maintenance=report.maintenance,
            initial=report.initial,
            im_multiplier=params.im_multiplier,
            contingency_rate=params.short_option_contingency,
            grid_pnl=grid_by_und,
            maintenance_by_underlying=mm_by_und,
            short_option_units={u: float(shorts[i]) for i, u in enumerate(book.underlyings)},
            as_of=market.as_of,
        ),
        unit_grid_pnl=unit_grid,
        recent_orders=tuple(recent_orders),
    )
