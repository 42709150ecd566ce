from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ValidationError
from agent.model import Perpetual
from agent.model.positions import Portfolio, Position
from agent.risk.margin import MarginParams, compute_margin, liquidation_prices
from agent.risk.portfolio import Book

from .conftest import option


def _perp_book(market, qty: str, entry: str, cash: str) -> Book:
    pf = Portfolio(
        (Position(Perpetual("ETH", "USD", "USDC"), Decimal(qty), "cex", Decimal(entry)),),
        (("USDC", Decimal(cash)),),
    )
    return Book.build(pf, market)


def test_linear_margin_is_the_worst_shock(market):
    r = compute_margin(_perp_book(market, "10", "3000", "5000"))
    assert r.maintenance == pytest.approx(10 * 3000 * 0.15)
    assert r.initial == pytest.approx(1.25 * r.maintenance)
    assert r.equity == pytest.approx(5000.0)
    assert r.margin_ratio == pytest.approx(4500 / 5000)
    assert r.per_underlying[0].worst_spot_shock == pytest.approx(-0.15)


def test_short_option_pays_contingency_and_long_option_is_capped_by_premium(market):
    short = Book.build(
        Portfolio((Position(option("ETH", 3000, 30, "call"), Decimal(-2), "d"),)), market
    )
    m = compute_margin(short).per_underlying[0]
    assert m.contingency == pytest.approx(0.01 * 3000 * 2)
    assert m.worst_spot_shock == pytest.approx(0.15) and m.worst_vol_shock == pytest.approx(0.3)
    long = Book.build(
        Portfolio((Position(option("ETH", 3000, 30, "call"), Decimal(2), "d"),)), market
    )
    lm = compute_margin(long)
    assert lm.per_underlying[0].contingency == 0
    assert 0 < lm.maintenance <= long.position_values().sum()  # never more than the premium


@settings(max_examples=60, deadline=None)
@given(
    qty=st.integers(1, 50),
    entry=st.integers(1500, 4500),
    cash=st.integers(1000, 200_000),
    short=st.booleans(),
)
def test_liquidation_price_of_a_perp_matches_closed_form(market, qty, entry, cash, short):
    q = -qty if short else qty
    b = _perp_book(market, str(q), str(entry), str(cash))
    # equity(S) = cash + q (S - entry);  MM(S) = 0.15 |q| S  =>  solve equality for S.
    lv = liquidation_prices(b)[0]
    sign = 1 if q > 0 else -1
    s_star = (q * entry - cash) / (q - 0.15 * abs(q))
    if cash + q * (3000 - entry) <= 0.15 * abs(q) * 3000:
        assert lv.now
        return
    hit = lv.down if q > 0 else lv.up
    if 0.02 * 3000 < s_star < 10 * 3000 and s_star > 0:
        assert hit == pytest.approx(s_star, rel=1e-9)
    else:
        assert hit is None
    assert (lv.up if sign > 0 else lv.down) is None


def test_short_put_liquidates_below(market):
    pf = Portfolio(
        (Position(option("ETH", 2800, 30, "put"), Decimal(-10), "deribit"),),
        (("USDC", Decimal(8000)),),
    )
    b = Book.build(pf, market)
    lv = liquidation_prices(b)[0]
    assert lv.down is not None and lv.down < 3000 and lv.up is None
    # At the liquidation spot, equity equals maintenance margin (full revaluation).
    moved = dataclasses.replace(b, spots=np.array([lv.down]))
    r = compute_margin(moved)
    assert r.equity == pytest.approx(r.maintenance, rel=1e-7)


def test_params_validated():
    with pytest.raises(ValidationError, match="im_multiplier"):
        MarginParams(im_multiplier=0.5)
    with pytest.raises(ValidationError, match="spot_shocks"):
        MarginParams(spot_shocks=(-1.5,))


def test_worked_example_in_docs():
    """The numbers in docs/risk.md "Worked example" come from this book."""
    from datetime import timedelta

    from agent.model import Spot
    from agent.risk.market import MarketSnapshot, UnderlyingMarket

    from .conftest import NOW

    m = MarketSnapshot(NOW, {"ETH": UnderlyingMarket(3000.0, 0.6, NOW)})
    put = option("ETH", 2700, 30, "put")
    assert put.expiry == NOW + timedelta(days=30)
    pf = Portfolio(
        (
            Position(put, Decimal(-20), "deribit"),
            Position(Perpetual("ETH", "USD", "USDC"), Decimal(-5), "binance", Decimal(3000)),
            Position(Spot("ETH", "USDC"), Decimal(10), "safe@L1"),
        ),
        (("USDC", Decimal(20000)),),
    )
    b = Book.build(pf, m)
    r = compute_margin(b)
    u = r.per_underlying[0]
    assert round(r.equity, 2) == 48385.06
    assert round(u.scan_loss, 2) == 6960.07 and round(u.contingency, 2) == 600.00
    assert round(r.maintenance, 2) == 7560.07 and round(r.initial, 2) == 9450.09
    assert (u.worst_spot_shock, u.worst_vol_shock) == pytest.approx((-0.15, 0.3))
    lv = liquidation_prices(b)[0]
    assert round(lv.down, 2) == 902.61 and lv.up is None
