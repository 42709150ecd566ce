"""Exact full revaluation (grouped contracts, parity, blocked ndtr kernel) against a
straightforward reference: every position priced on its own, in every scenario."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from agent.model import OptionContract, OptionKind, Perpetual, Spot
from agent.model.positions import Portfolio, Position
from agent.risk.market import MarketSnapshot, UnderlyingMarket
from agent.risk.portfolio import OPTION, PERP, SPOT, Book
from agent.risk.pricing import black_scholes_price
from agent.risk.var import monte_carlo_var
from agent.risk.var.fullreval import plan, revalue

from .conftest import NOW

DT = 1 / 365


def reference(book: Book, log_returns: np.ndarray, dt: float) -> np.ndarray:
    """The textbook loop: value each position now and in each scenario, sum, subtract."""
    pnl = np.zeros(log_returns.shape[0])
    for i in range(book.n):
        s0 = book.spots[book.und[i]]
        s = s0 * np.exp(log_returns[:, book.und[i]])
        q = book.qty[i]
        if book.kind[i] == SPOT:
            pnl += q * (s - s0)
        elif book.kind[i] == PERP:
            pnl += q * (s - s0)  # (s - entry) - (s0 - entry)
        else:
            assert book.kind[i] == OPTION
            args = (book.strike[i], book.vol[i], book.rate[i], book.carry[i])
            k, v, r, c = args
            w = book.w[i]
            now = black_scholes_price(w, s0, k, book.t[i], v, r, c)
            later = black_scholes_price(w, s, k, max(book.t[i] - dt, 0.0), v, r, c)
            pnl += q * (later - now)
    return pnl


def _book(seed: int, n: int, listed: bool) -> Book:
    """Options on 3 underlyings (listed strikes/expiries when ``listed``, so many positions
    share a contract), incl. calls and puts on the same strike, options expiring inside the
    horizon, a contract whose call and put cancel to a linear payoff, perps and spot."""
    rng = np.random.default_rng(seed)
    unds = {"ETH": 3000.0, "BTC": 90_000.0, "SOL": 150.0}
    market = MarketSnapshot(
        NOW,
        {
            "ETH": UnderlyingMarket(3000.0, 0.6, NOW, rate=0.04, carry=0.01),
            "BTC": UnderlyingMarket(90_000.0, 0.5, NOW, rate=0.03),
            "SOL": UnderlyingMarket(150.0, 0.9, NOW, rate=-0.01, carry=0.02),
        },
    )
    pos = []
    names = list(unds)
    for i in range(n):
        u = names[i % 3]
        s = unds[u]
        size = D(int(rng.integers(-40, 40)) or 3)
        x = rng.random()
        if x < 0.8:
            if listed:
                strike = D(round(s * (0.6 + 0.05 * int(rng.integers(0, 17)))))
                days = [0.5, 1, 3, 7, 30, 90, 365][int(rng.integers(0, 7))]
            else:
                strike = D(round(s * float(np.exp(rng.uniform(-0.8, 0.8))), 2))
                days = float(rng.uniform(0.2, 700))
            kind = OptionKind.CALL if rng.random() < 0.5 else OptionKind.PUT
            inst = OptionContract(u, "USD", strike, NOW + timedelta(days=days), kind)
            pos.append(
                Position(inst, size, f"v{i % 4}", multiplier=D("0.1") if i % 5 == 0 else D(1))
            )
        elif x < 0.9:
            pos.append(Position(Perpetual(u, "USD", "USDC"), size, "perp", D(int(s * 0.97))))
        else:
            pos.append(Position(Spot(u, "USDC"), size, "cex"))
    # A long call and a short put of the same contract and size: exactly linear (a forward).
    for k in (OptionKind.CALL, OptionKind.PUT):
        inst = OptionContract("ETH", "USD", D(3100), NOW + timedelta(days=45), k)
        pos.append(Position(inst, D(7) if k is OptionKind.CALL else D(-7), "fwd"))
    return Book.build(Portfolio(tuple(pos), (("USDC", D(50_000)),)), market)


def _returns(book: Book, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.05, (n, len(book.underlyings)))  # wide moves: deep ITM and OTM


@pytest.mark.parametrize("listed", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_equals_the_reference_to_1e9(listed, threads):
    book = _book(seed=11, n=300, listed=listed)
    lr = _returns(book, 4000, seed=12)
    ref = reference(book, lr, DT)
    got = revalue(book, lr, DT, threads=threads)
    scale = np.max(np.abs(ref))
    assert scale > 0
    assert np.max(np.abs(got - ref)) <= 1e-9 * scale
    # The tail statistics the VaR reports agree to 1e-9 relative as well.
    for q in (0.01, 0.025):
        assert np.quantile(got, q) == pytest.approx(np.quantile(ref, q), rel=1e-9)


def test_grouping_prices_each_contract_once():
    book = _book(seed=11, n=300, listed=True)
    p = plan(book, DT)
    opts = int((book.kind == OPTION).sum())
    # Listed strikes/expiries: far fewer distinct contracts than option positions, and calls
    # and puts on one (strike, expiry) share a column.
    assert p.n_contracts < 0.6 * opts
    keys = {
        (int(book.und[i]), book.strike[i], book.t[i])
        for i in range(book.n)
        if book.kind[i] == OPTION and book.t[i] > DT
    }
    assert p.n_contracts == len(keys) - 1  # the call/put pair at 3100 cancels to linear


def test_monte_carlo_exact_and_grid_modes_agree():
    book = _book(seed=3, n=120, listed=False)
    ex = monte_carlo_var(book, n_scenarios=5000, seed=1)
    gr = monte_carlo_var(book, n_scenarios=5000, seed=1, mode="grid")
    assert np.max(np.abs(ex.pnl - gr.pnl)) < 1e-9 * np.max(np.abs(ex.pnl))
    assert gr.var == pytest.approx(ex.var, rel=1e-9)
