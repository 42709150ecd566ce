from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import ValidationError
from agent.model import OptionKind, Side
from agent.strategies import (
    Leg,
    MarketView,
    Strategy,
    VolSurface,
    iron_condor,
    max_loss,
    payoff_at,
    straddle,
    strangle,
    strategy_risk,
    vertical_spread,
)

from .helpers import EXPIRY, NOW, option

EXP = datetime.fromtimestamp(EXPIRY, UTC)
D = Decimal
VIEW = MarketView(D(3000), VolSurface(atm=0.6, skew=0.0, smile=0.0), float(NOW))


def test_iron_condor_shape_and_max_loss():
    c = iron_condor("WETH", "USDC", (D(2500), D(2800), D(3200), D(3500)), EXP, D(2))
    assert [(leg.option.kind, leg.side) for leg in c.legs] == [
        (OptionKind.PUT, Side.BUY), (OptionKind.PUT, Side.SELL),
        (OptionKind.CALL, Side.SELL), (OptionKind.CALL, Side.BUY),
    ]  # fmt: skip
    # wings 300 wide, 2 units: worst case 600 minus the credit
    assert max_loss(c) == D(600)
    assert max_loss(c, net_premium=D(150)) == D(450)
    assert payoff_at(c, D(3000)) == 0


def test_unbounded_and_bounded_losses():
    short = straddle("WETH", "USDC", D(3000), EXP, D(1), Side.SELL)
    assert max_loss(short) is None  # naked short call
    long_ = straddle("WETH", "USDC", D(3000), EXP, D(1), Side.BUY)
    assert max_loss(long_, net_premium=D(-400)) == D(400)
    bull = vertical_spread("WETH", "USDC", OptionKind.CALL, D(3000), D(3300), EXP, D(1))
    assert max_loss(bull, net_premium=D(-120)) == D(120)
    bear_put = vertical_spread("WETH", "USDC", OptionKind.PUT, D(3000), D(2700), EXP, D(1))
    assert max_loss(bear_put, net_premium=D(-90)) == D(90)


def test_bad_shapes_are_refused():
    with pytest.raises(ValidationError, match="strikes"):
        iron_condor("WETH", "USDC", (D(2800), D(2500), D(3200), D(3500)), EXP, D(1))
    with pytest.raises(ValidationError, match="put_strike"):
        strangle("WETH", "USDC", D(3200), D(2800), EXP, D(1), Side.SELL)
    with pytest.raises(ValidationError, match="size"):
        straddle("WETH", "USDC", D(3000), EXP, D(0), Side.BUY)
    with pytest.raises(ValidationError, match="mixes"):
        Strategy.custom(
            "x",
            [
                Leg(option(OptionKind.PUT, "3000"), Side.BUY, D(1)),
                Leg(_other_underlying(), Side.BUY, D(1)),
            ],
        )


def _other_underlying():
    from agent.model import OptionContract

    return OptionContract("WBTC", "USDC", D(90000), EXP, OptionKind.PUT)


def test_net_greeks_signs():
    c = iron_condor("WETH", "USDC", (D(2500), D(2800), D(3200), D(3500)), EXP, D(1))
    r = strategy_risk(c, VIEW)
    assert abs(r.greeks.delta) < D("0.05")  # symmetric condor at the money: near delta-neutral
    assert r.greeks.gamma < 0 and r.greeks.vega < 0 and r.greeks.theta > 0  # short vol
    assert r.net_premium > 0  # a short condor is a credit
    assert r.max_loss is not None and r.max_loss < D(300)
    long_straddle = strategy_risk(straddle("WETH", "USDC", D(3000), EXP, D(1), Side.BUY), VIEW)
    assert long_straddle.greeks.gamma > 0 and long_straddle.greeks.vega > 0


@given(
    strikes=st.lists(st.integers(100, 10_000), min_size=1, max_size=5, unique=True),
    sides=st.lists(st.booleans(), min_size=5, max_size=5),
    kinds=st.lists(st.booleans(), min_size=5, max_size=5),
    sizes=st.lists(st.integers(1, 50), min_size=5, max_size=5),
    premium=st.integers(-5000, 5000),
    probe=st.lists(st.integers(0, 30_000), min_size=1, max_size=20),
)
def test_max_loss_bounds_every_outcome(strikes, sides, kinds, sizes, premium, probe):
    legs = [
        Leg(option(OptionKind.CALL if kinds[i] else OptionKind.PUT, str(k)),
            Side.BUY if sides[i] else Side.SELL, D(sizes[i]))
        for i, k in enumerate(strikes)
    ]  # fmt: skip
    s = Strategy.custom("random", legs)
    ml = max_loss(s, D(premium))
    worst_seen = min(payoff_at(s, D(p)) + premium for p in probe)
    if ml is None:
        assert payoff_at(s, D(10**9)) + premium < payoff_at(s, D(10**8)) + premium
    else:
        assert ml >= 0 and -worst_seen <= ml
