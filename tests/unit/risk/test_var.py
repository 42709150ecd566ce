from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from scipy.stats import norm

from agent.errors import ValidationError
from agent.model import Spot
from agent.model.positions import Portfolio, Position
from agent.risk.portfolio import Book
from agent.risk.var import (
    TrafficLight,
    backtest_var,
    basel_traffic_light,
    delta_gamma_var,
    historical_var,
    jump_diffusion_prices,
    kupiec_pof,
    monte_carlo_var,
)


def _spot_book(market, qty="2"):
    return Book.build(Portfolio((Position(Spot("ETH", "USDC"), Decimal(qty), "cex"),)), market)


def test_historical_var_is_the_empirical_quantile(market):
    b = _spot_book(market)
    prices = jump_diffusion_prices(400, 2500.0, seed=3)
    res = historical_var(b, {"ETH": prices}, 0.99)
    pnl = np.sort(2 * 3000.0 * (prices[1:] / prices[:-1] - 1))
    k = math.ceil(pnl.size * 0.01)  # 4 worst of 400
    assert res.var == pytest.approx(-pnl[k - 1])
    assert res.es == pytest.approx(-pnl[:k].mean())
    assert res.n_scenarios == 400


def test_delta_gamma_of_linear_book_is_normal_var(market):
    b = _spot_book(market, "-3")
    res = delta_gamma_var(b, 0.99)
    sd = 3 * 3000.0 * 0.6 * math.sqrt(1 / 365)
    assert res.var == pytest.approx(norm.ppf(0.99) * sd, rel=1e-9)
    assert res.es == pytest.approx(sd * norm.pdf(norm.ppf(0.99)) / 0.01, rel=1e-3)


def test_monte_carlo_linear_converges_to_lognormal_quantile(market):
    b = _spot_book(market, "1")
    res = monte_carlo_var(b, 0.99, n_scenarios=200_000, seed=4)
    s = 0.6 * math.sqrt(1 / 365)
    exact = 3000.0 * (1 - math.exp(-norm.ppf(0.99) * s - 0.5 * s * s))
    assert res.var == pytest.approx(exact, rel=0.02)


def test_monte_carlo_grid_equals_exact_revaluation(market, mixed_portfolio):
    b = Book.build(mixed_portfolio, market)
    ex = monte_carlo_var(b, n_scenarios=5000, seed=1, mode="exact")
    gr = monte_carlo_var(b, n_scenarios=5000, seed=1, mode="grid")
    assert np.max(np.abs(ex.pnl - gr.pnl)) < 1e-9 * b.equity()
    assert gr.var == pytest.approx(ex.var, rel=1e-9)


def test_option_book_methods_roughly_agree(market, mixed_portfolio):
    b = Book.build(mixed_portfolio, market)
    mc = monte_carlo_var(b, n_scenarios=50_000, seed=2)
    dg = delta_gamma_var(b)
    assert dg.var == pytest.approx(mc.var, rel=0.1)
    assert mc.es >= mc.var > 0


def test_kupiec_and_traffic_light():
    lr, p = kupiec_pof(0, 250, 0.99)
    assert lr == pytest.approx(-2 * 250 * math.log(0.99)) and p < 0.1
    lr, p = kupiec_pof(25, 2500, 0.99)  # exactly the expected rate
    assert lr == pytest.approx(0.0, abs=1e-9) and p == pytest.approx(1.0)
    assert [basel_traffic_light(x) for x in (0, 4, 5, 9, 10)] == [
        TrafficLight.GREEN,
        TrafficLight.GREEN,
        TrafficLight.YELLOW,
        TrafficLight.YELLOW,
        TrafficLight.RED,
    ]


def test_backtest_on_jump_diffusion(market, mixed_portfolio):
    b = Book.build(mixed_portfolio, market)
    hist = {
        "ETH": jump_diffusion_prices(520, 3000.0, seed=5),
        "BTC": jump_diffusion_prices(520, 90_000.0, 0.5, seed=6),
    }
    res = backtest_var(b, hist, window=250, confidence=0.99)
    assert res.days == 521 - 250 - 1
    assert res.exceptions == int((-res.pnl > res.var).sum())
    assert res.zone is basel_traffic_light(res.exceptions, res.days, 0.99)
    assert 0.0 <= res.kupiec_p <= 1.0


def test_jump_diffusion_is_seeded_and_fat_tailed():
    a = jump_diffusion_prices(5000, seed=9)
    assert np.array_equal(a, jump_diffusion_prices(5000, seed=9))
    r = np.diff(np.log(a))
    kurt = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    assert kurt > 4  # a Gaussian has 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": float("nan")}, "confidence"),
        ({"horizon_days": 0}, "horizon_days"),
        ({"n_scenarios": 10}, "n_scenarios"),
    ],
)
def test_bad_parameters(market, kwargs, field):
    with pytest.raises(ValidationError) as e:
        monte_carlo_var(_spot_book(market), **kwargs)
    assert e.value.field == field


def test_history_missing_or_bad(market):
    b = _spot_book(market)
    with pytest.raises(ValidationError, match=r"history\[ETH\]"):
        historical_var(b, {"BTC": [1.0, 2.0, 3.0]})
    with pytest.raises(ValidationError, match=r"history\[ETH\]"):
        historical_var(b, {"ETH": [1.0, float("nan"), 3.0]})
