"""Every check denies - never allows - when an input it needs is missing or stale.

One row per (check, input): the context is built fresh (every check allows the order), then
exactly one input is removed or aged past ``limits.max_staleness``. The check must return a
Deny with RISK_INPUT_MISSING / RISK_INPUT_STALE, and the whole gate must refuse the order.

``order_rate`` has no row: it reads only the OMS's own submission times, which the OMS
appends before the next gate call (no market or position input that could go missing or
stale). ``trading_state`` needs positions only when REDUCING (a halted desk is refused and an
active one allowed without any data).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal as D

import pytest

from agent.model import Side, Spot, TradingState
from agent.model.decisions import Allow, Deny
from agent.model.positions import Portfolio, Position
from agent.risk.checks import DEFAULT_CHECKS, GreeksPoint, OrderProposal, PricePoint
from agent.risk.context import build_context
from agent.risk.gate import RiskGate

from .conftest import NOW, option
from .test_checks import LIMITS

ETH = Spot("ETH", "USDC")
PUT = option("ETH", 2800, 30, "put")
OLD = NOW - timedelta(minutes=5)
CHECKS = dict(DEFAULT_CHECKS)


def _ctx(market, state=TradingState.ACTIVE):
    pf = Portfolio(
        (Position(ETH, D(3), "cex"), Position(PUT, D(-2), "deribit")), (("USDC", D(100_000)),)
    )
    return build_context(
        pf, market, LIMITS, now=NOW, trading_state=state, instruments=[(ETH, D(1)), (PUT, D(1))]
    )


def _spot_order(**kw):
    args = {"price": D("3010"), "quote_price": D("3005")} | kw
    return OrderProposal("c1", ETH, Side.BUY, D(1), "cex", **args)


def _put_order():
    return OrderProposal("c2", PUT, Side.BUY, D(1), "cex", D("100"), D("100"))


def _without(mapping_field, key):
    def mutate(ctx):
        m = dict(getattr(ctx, mapping_field))
        del m[key]
        return dataclasses.replace(ctx, **{mapping_field: m})

    return mutate


def _aged(mapping_field, key):
    def mutate(ctx):
        m = dict(getattr(ctx, mapping_field))
        m[key] = PricePoint(m[key].price, OLD)
        return dataclasses.replace(ctx, **{mapping_field: m})

    return mutate


def _margin(**kw):
    return lambda ctx: dataclasses.replace(ctx, margin=dataclasses.replace(ctx.margin, **kw))


def _nan_unit_greeks(ctx):
    g = dict(ctx.unit_greeks)
    g[ETH.symbol] = GreeksPoint(float("nan"), 0.0)
    return dataclasses.replace(ctx, unit_greeks=g)


def _nan_grid(ctx):
    g = dict(ctx.unit_grid_pnl)
    g[PUT.symbol] = g[PUT.symbol].copy()
    g[PUT.symbol][3] = float("nan")
    return dataclasses.replace(ctx, unit_grid_pnl=g)


NO_MARGIN = lambda ctx: dataclasses.replace(ctx, margin=None)  # noqa: E731
OLD_POSITIONS = lambda ctx: dataclasses.replace(ctx, positions_as_of=OLD)  # noqa: E731
NO_POSITIONS = lambda ctx: dataclasses.replace(ctx, positions_as_of=None)  # noqa: E731
OLD_GREEKS = lambda ctx: dataclasses.replace(ctx, greeks_as_of=OLD)  # noqa: E731

M, S = "RISK_INPUT_MISSING", "RISK_INPUT_STALE"
# (check, what is taken away, order, mutation, expected code)
CASES = [
    ("trading_state", "position snapshot (reducing)", _spot_order, OLD_POSITIONS, S),
    ("trading_state", "no position snapshot (reducing)", _spot_order, NO_POSITIONS, S),
    (
        "max_order_notional",
        "reference price",
        _spot_order,
        _without("reference_prices", ETH.symbol),
        M,
    ),
    (
        "max_order_notional",
        "stale reference",
        _spot_order,
        _aged("reference_prices", ETH.symbol),
        S,
    ),
    ("max_order_notional", "option: spot", _put_order, _without("underlying_prices", "ETH"), M),
    ("max_order_notional", "option: stale spot", _put_order, _aged("underlying_prices", "ETH"), S),
    ("price_band", "order price", lambda: _spot_order(price=None, quote_price=None), None, M),
    ("price_band", "reference price", _spot_order, _without("reference_prices", ETH.symbol), M),
    ("price_band", "stale reference", _spot_order, _aged("reference_prices", ETH.symbol), S),
    ("max_slippage", "worst price", lambda: _spot_order(price=None), None, M),
    (
        "max_slippage",
        "quote and reference",
        lambda: _spot_order(quote_price=None),
        _without("reference_prices", ETH.symbol),
        M,
    ),
    (
        "max_slippage",
        "stale reference (no quote)",
        lambda: _spot_order(quote_price=None),
        _aged("reference_prices", ETH.symbol),
        S,
    ),
    ("max_position", "position snapshot", _spot_order, OLD_POSITIONS, S),
    ("max_position", "no position snapshot", _spot_order, NO_POSITIONS, S),
    ("venue_exposure", "position snapshot", _spot_order, OLD_POSITIONS, S),
    ("venue_exposure", "reference price", _spot_order, _without("reference_prices", ETH.symbol), M),
    ("venue_exposure", "stale reference", _spot_order, _aged("reference_prices", ETH.symbol), S),
    ("concentration", "margin state (equity)", _spot_order, NO_MARGIN, M),
    ("concentration", "stale margin state", _spot_order, _margin(as_of=OLD), S),
    ("concentration", "position snapshot", _spot_order, OLD_POSITIONS, S),
    ("concentration", "spot", _spot_order, _without("underlying_prices", "ETH"), M),
    ("concentration", "stale spot", _spot_order, _aged("underlying_prices", "ETH"), S),
    ("concentration", "reference price", _spot_order, _without("reference_prices", ETH.symbol), M),
    ("greeks_limits", "stale portfolio Greeks", _spot_order, OLD_GREEKS, S),
    ("greeks_limits", "unit Greeks", _spot_order, _without("unit_greeks", ETH.symbol), M),
    ("greeks_limits", "portfolio Greeks", _spot_order, _without("portfolio_greeks", "ETH"), M),
    ("greeks_limits", "NaN unit Greeks", _spot_order, _nan_unit_greeks, M),
    ("margin", "NaN unit margin grid", _put_order, _nan_grid, M),
    ("margin", "margin state", _put_order, NO_MARGIN, M),
    ("margin", "stale margin state", _put_order, _margin(as_of=OLD), S),
    ("margin", "unit margin grid", _put_order, _without("unit_grid_pnl", PUT.symbol), M),
    ("margin", "spot", _put_order, _without("underlying_prices", "ETH"), M),
    ("margin", "stale spot", _put_order, _aged("underlying_prices", "ETH"), S),
    ("margin", "book's margin grid", _put_order, _margin(grid_pnl={}), M),
]


@pytest.mark.parametrize(
    ("check", "what", "order", "mutate", "code"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES]
)
def test_check_denies_on_missing_or_stale_input(market, check, what, order, mutate, code):
    state = TradingState.REDUCING if check == "trading_state" else TradingState.ACTIVE
    ctx = _ctx(market, state)
    p = order()
    if mutate is not None:  # with the input present the check lets a sound order through
        if check == "trading_state":  # reducing: a sale of part of the long allows
            p = OrderProposal("c3", ETH, Side.SELL, D(1), "cex", D("2990"), D("2995"))
        assert isinstance(CHECKS[check](p, ctx), Allow), what
        ctx = mutate(ctx)
    d = CHECKS[check](p, ctx)
    assert isinstance(d, Deny), (what, d)
    assert d.code == code and d.rule == check
    r = RiskGate().evaluate(p, ctx)
    assert not r.allowed and isinstance(r.decision, Deny)
    assert any(v.check == check and v.code == code for v in r.verdicts)


def test_every_check_that_reads_data_has_a_row():
    covered = {c[0] for c in CASES}
    assert covered == set(CHECKS) - {"order_rate"}


def test_a_context_for_an_unheld_underlying_has_explicit_zeros(market):
    # BTC is not in the book: its Greeks and margin grid are zeros, not absent.
    btc = Spot("BTC", "USDC")
    ctx = build_context(Portfolio((), ()), market, LIMITS, now=NOW, instruments=[(btc, D(1))])
    assert ctx.portfolio_greeks["BTC"].delta == 0.0
    assert not ctx.margin.grid_pnl["BTC"].any()
