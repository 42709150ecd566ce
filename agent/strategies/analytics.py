"""Net Greeks and max loss of a strategy, computed before signing.

Max loss is exact (Decimal): a European strategy's value at expiry is piecewise linear in the
settlement price with kinks only at strikes, so its minimum over [0, inf) is at 0, at a
strike, or unbounded when the slope beyond the highest strike is negative (net short calls).
Premiums (signed: received > 0) are included, so "max loss" is what the fund can lose in total.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from agent.model import OptionKind, Side
from agent.strategies.legs import Leg, Strategy
from agent.strategies.pricing import MarketView


def _leg_payoff(leg: Leg, s: Decimal) -> Decimal:
    k = leg.option.strike
    intrinsic = (
        max(s - k, Decimal(0)) if leg.option.kind is OptionKind.CALL else max(k - s, Decimal(0))
    )
    return leg.sign * intrinsic * leg.size


def payoff_at(strategy: Strategy, price: Decimal) -> Decimal:
    """Value at expiry of all legs at settlement ``price`` (quote currency, excl. premiums)."""
    return sum((_leg_payoff(leg, price) for leg in strategy.legs), Decimal(0))


def max_loss(strategy: Strategy, net_premium: Decimal = Decimal(0)) -> Decimal | None:
    """Largest possible loss (a positive number, 0 if none), or None when unbounded.
    ``net_premium`` is premium received minus premium paid."""
    slope_up = sum(
        (leg.sign * leg.size for leg in strategy.legs if leg.option.kind is OptionKind.CALL),
        Decimal(0),
    )
    if slope_up < 0:
        return None
    points = {Decimal(0)} | {leg.option.strike for leg in strategy.legs}
    worst = min(payoff_at(strategy, p) for p in points) + net_premium
    return max(Decimal(0), -worst)


@dataclass(frozen=True, slots=True)
class NetGreeks:
    """Summed over legs, signed by side and scaled by size. delta in underlying units;
    gamma per underlying unit; vega per 1 vol point (0.01); theta per calendar day."""

    delta: Decimal
    gamma: Decimal
    vega: Decimal
    theta: Decimal


@dataclass(frozen=True, slots=True)
class LegRisk:
    leg: Leg
    model_price: Decimal  # per unit of underlying, quote currency
    delta: Decimal  # per unit, unsigned by side


@dataclass(frozen=True, slots=True)
class StrategyRisk:
    greeks: NetGreeks
    legs: tuple[LegRisk, ...]
    model_value: Decimal  # signed: what the position is worth to us at model prices
    net_premium: Decimal  # received (+) minus paid (-)
    max_loss: Decimal | None  # None = unbounded


def _d(x: float, places: int = 8) -> Decimal:
    return Decimal(repr(round(x, places)))


def strategy_risk(
    strategy: Strategy,
    market: MarketView,
    premiums: Mapping[int, Decimal] | None = None,
) -> StrategyRisk:
    """Greeks at model prices. ``premiums[i]`` is leg i's premium per unit (quote currency);
    missing legs are valued at the model price."""
    premiums = premiums or {}
    legs: list[LegRisk] = []
    delta = gamma = vega = theta = 0.0
    value = Decimal(0)
    net_premium = Decimal(0)
    for i, leg in enumerate(strategy.legs):
        g = market.greeks(leg.option.kind, leg.option.strike, leg.option.expiry)
        n = leg.sign * float(leg.size)
        delta += n * g.delta
        gamma += n * g.gamma
        vega += n * g.vega / 100
        theta += n * g.theta / 365
        px = _d(g.price)
        legs.append(LegRisk(leg, px, _d(g.delta)))
        value += leg.sign * px * leg.size
        paid = premiums.get(i, px) * leg.size
        net_premium += paid if leg.side is Side.SELL else -paid
    greeks = NetGreeks(_d(delta), _d(gamma), _d(vega), _d(theta))
    return StrategyRisk(greeks, tuple(legs), value, net_premium, max_loss(strategy, net_premium))
