from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from agent.errors import ValidationError
from agent.model import Perpetual, Side, Spot
from agent.model.positions import Portfolio, Position
from agent.risk.hedger import DeltaHedger, HedgeConfig, HedgeRoute
from agent.risk.margin import MarginReport
from agent.risk.monitor import AlertLevel, MarginMonitor, MarginThresholds
from agent.risk.portfolio import Book, aggregate_greeks

from .conftest import NOW, option


def _report(ratio: float) -> MarginReport:
    return MarginReport(
        equity=1000.0, maintenance=1000.0 * ratio, initial=1250.0 * ratio, per_underlying=()
    )


def test_monitor_alerts_on_level_changes_with_hysteresis():
    mon = MarginMonitor(MarginThresholds(0.5, 0.8, 1.0, hysteresis=0.05))
    seq = [0.3, 0.55, 0.56, 0.49, 0.44, 0.85, 1.2, 0.7, 0.3]
    levels = []
    for i, r in enumerate(seq):
        a = mon.observe(_report(r), NOW + timedelta(seconds=i))
        levels.append(a.level.name if a else None)
    assert levels == [None, "WARNING", None, None, "OK", "CRITICAL", "LIQUIDATION", "WARNING", "OK"]


def test_monitor_message_and_validation():
    mon = MarginMonitor()
    a = mon.observe(_report(0.9), NOW)
    assert a.level is AlertLevel.CRITICAL and "rose to CRITICAL" in a.message
    with pytest.raises(ValidationError, match="thresholds"):
        MarginThresholds(0.9, 0.8, 1.0)


def test_zero_equity_is_liquidation():
    r = MarginReport(equity=0.0, maintenance=10.0, initial=12.5, per_underlying=())
    assert MarginMonitor().observe(r, NOW).level is AlertLevel.LIQUIDATION


def test_hedger_proposes_back_to_target(market):
    pf = Portfolio(
        (
            Position(option("ETH", 2800, 30, "put"), D(-10), "deribit"),
            Position(Spot("BTC", "USDC"), D("0.3"), "cex"),
        )
    )
    greeks = aggregate_greeks(Book.build(pf, market))
    eth_delta = next(g.delta for g in greeks if g.underlying == "ETH")
    perp = Perpetual("ETH", "USD", "USDC")
    hedger = DeltaHedger(
        HedgeConfig(
            routes={
                "ETH": HedgeRoute(perp, "binance", lot=D("0.01")),
                "BTC": HedgeRoute(Spot("BTC", "USDC"), "cex"),
            },
            band={"ETH": D("0.5"), "BTC": D(1)},
        )
    )
    props = hedger.propose(greeks, NOW)
    assert len(props) == 1  # BTC delta 0.3 is inside its band
    p = props[0]
    assert p.instrument == perp and p.side is Side.SELL  # short puts are long delta
    assert p.size == (D(repr(eth_delta)) / D("0.01")).to_integral_value(rounding="ROUND_DOWN") * D(
        "0.01"
    )
    assert abs(eth_delta - float(p.size)) < 0.01
    assert p.price < D(3000)  # worst price below spot for a sale


def test_hedge_route_rejects_options():
    with pytest.raises(ValidationError, match="linear"):
        HedgeRoute(option("ETH", 2800, 30, "put"), "x")
