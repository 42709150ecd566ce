from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from agent.errors import ValidationError
from agent.model import Perpetual, Spot
from agent.model.positions import Portfolio, Position
from agent.risk.portfolio import Book, aggregate_greeks
from agent.risk.pricing import black_scholes_greeks, black_scholes_price
from agent.risk.scenarios import scenario_grid

from .conftest import option


def test_values_and_equity(market, mixed_portfolio):
    b = Book.build(mixed_portfolio, market)
    vals = dict(zip(b.labels, b.position_values(), strict=True))
    put = float(black_scholes_price("put", 3000.0, 2800.0, 30 / 365, 0.6, 0.04))
    call = float(black_scholes_price("call", 90_000.0, 100_000.0, 60 / 365, 0.5))
    assert vals[f"{option('ETH', 2800, 30, 'put').symbol}@deribit"] == pytest.approx(-10 * put)
    assert vals["ETH/USD:USDC@binance"] == pytest.approx(3 * 100.0)
    assert vals["ETH/USDC@safe@L1"] == pytest.approx(1.5 * 3000.0)
    assert b.equity() == pytest.approx(20_000 - 10 * put + 300 + 4500 + 2 * call)


def test_greeks_aggregate_per_underlying_across_venues(market, mixed_portfolio):
    agg = {g.underlying: g for g in aggregate_greeks(Book.build(mixed_portfolio, market))}
    put = black_scholes_greeks("put", 3000.0, 2800.0, 30 / 365, 0.6, 0.04)
    assert agg["ETH"].delta == pytest.approx(-10 * float(put.delta) + 3 + 1.5)
    assert agg["ETH"].vega == pytest.approx(-10 * float(put.vega))
    assert agg["ETH"].gamma == pytest.approx(-10 * float(put.gamma))
    assert agg["ETH"].delta_value == pytest.approx(agg["ETH"].delta * 3000.0)
    call = black_scholes_greeks("call", 90_000.0, 100_000.0, 60 / 365, 0.5)
    assert agg["BTC"].vanna == pytest.approx(2 * float(call.vanna))
    assert agg["BTC"].volga == pytest.approx(2 * float(call.volga))


def test_collateral_in_a_priced_asset_becomes_spot(market):
    pf = Portfolio((), (("ETH", Decimal(2)), ("USDC", Decimal(100))))
    b = Book.build(pf, market)
    assert b.labels == ("ETH/USD@collateral",)
    assert b.equity() == pytest.approx(6100.0)


def test_expired_option_in_book_is_intrinsic(market):
    pf = Portfolio((Position(option("ETH", 2500, -1, "call"), Decimal(1), "deribit"),))
    b = Book.build(pf, market)
    assert b.t[0] == 0.0
    assert b.position_values()[0] == pytest.approx(500.0)


def test_missing_market_is_named(market):
    pf = Portfolio((Position(Spot("SOL", "USDC"), Decimal(1), "cex"),))
    with pytest.raises(ValidationError, match=r"market\[SOL\]"):
        Book.build(pf, market)


@pytest.mark.parametrize("size", [Decimal(0), Decimal("NaN"), Decimal("Infinity")])
def test_position_size_is_validated(size):
    with pytest.raises(ValidationError, match="size"):
        Position(Spot("ETH", "USDC"), size, "cex")


def test_perp_requires_entry():
    with pytest.raises(ValidationError, match="entry_price"):
        Position(Perpetual("ETH", "USD", "USDC"), Decimal(1), "cex")


def test_scenario_grid_full_revaluation(market, mixed_portfolio):
    b = Book.build(mixed_portfolio, market)
    g = scenario_grid(b, [-0.2, 0.0, 0.1], [-0.3, 0.0, 0.5])
    eth = g.pnl["ETH"]
    assert eth.shape == (3, 3)
    assert eth[1, 1] == pytest.approx(0.0, abs=1e-9)
    s1 = 3000.0 * 0.8
    put0 = float(black_scholes_price("put", 3000.0, 2800.0, 30 / 365, 0.6, 0.04))
    put1 = float(black_scholes_price("put", s1, 2800.0, 30 / 365, 0.6 * 1.5, 0.04))
    expected = -10 * (put1 - put0) + 4.5 * (s1 - 3000.0)
    assert eth[0, 2] == pytest.approx(expected, rel=1e-12)
    worst, ss, _ = g.worst("ETH")
    assert worst == eth.min() and ss == -0.2


def test_scenario_grid_rejects_total_loss_shock(market, mixed_portfolio):
    with pytest.raises(ValidationError, match="spot_shocks"):
        scenario_grid(Book.build(mixed_portfolio, market), [-1.0], [0.0])


def test_linear_grid_is_exact(market):
    pf = Portfolio((Position(Spot("BTC", "USDC"), Decimal(-2), "cex"),))
    g = scenario_grid(Book.build(pf, market), np.linspace(-0.3, 0.3, 7), [0.0])
    assert np.allclose(g.pnl["BTC"][:, 0], -2 * 90_000.0 * np.linspace(-0.3, 0.3, 7))
