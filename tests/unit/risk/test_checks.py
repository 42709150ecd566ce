"""Each pre-trade check on its own: allow, deny (code named), reduce, missing and stale input."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal as D

import pytest

from agent.errors import ValidationError
from agent.model import Perpetual, Side, Spot, TradingState
from agent.model.decisions import Allow, Deny, Reduce
from agent.model.positions import Portfolio, Position
from agent.risk.checks import (
    OrderProposal,
    RiskLimits,
    check_concentration,
    check_greeks,
    check_margin,
    check_max_notional,
    check_max_position,
    check_order_rate,
    check_price_band,
    check_slippage,
    check_trading_state,
    check_venue_exposure,
)
from agent.risk.context import build_context

from .conftest import NOW, option

ETH = Spot("ETH", "USDC")
PERP = Perpetual("ETH", "USD", "USDC")
PUT = option("ETH", 2800, 30, "put")

LIMITS = RiskLimits(
    max_order_notional=D(30_000),
    max_position={"*": D(20)},
    max_underlying_position={"ETH": D(40)},
    price_band_bps=300,
    max_slippage_bps=50,
    max_venue_exposure={"cex": D(60_000)},
    max_concentration=D(3),
    max_abs_delta={"ETH": D(25)},
    max_abs_vega={"ETH": D(5000)},
    max_orders=3,
    rate_window=timedelta(seconds=10),
    max_staleness=timedelta(seconds=30),
)


def _ctx(market, positions=(), cash="100000", **kw):
    pf = Portfolio(tuple(positions), (("USDC", D(cash)),))
    kw.setdefault("instruments", [(ETH, D(1)), (PERP, D(1)), (PUT, D(1))])
    return build_context(pf, market, kw.pop("limits", LIMITS), now=kw.pop("now", NOW), **kw)


def _buy(size="1", price="3010", quote="3005", inst=ETH, venue="cex", side=Side.BUY):
    return OrderProposal(
        "c1", inst, side, D(size), venue, D(price) if price else None, D(quote) if quote else None
    )


def test_notional_allow_reduce(market):
    ctx = _ctx(market)
    assert isinstance(check_max_notional(_buy("5"), ctx), Allow)
    r = check_max_notional(_buy("12.5"), ctx)  # 12.5 * 3010 > 30k
    assert isinstance(r, Reduce) and r.code == "RISK_MAX_NOTIONAL"
    assert r.max_quantity == D("9.9")  # 30000 / 3010 = 9.966, floored to the size's 0.1 step


def test_notional_of_options_is_underlying_notional(market):
    ctx = _ctx(market)
    r = check_max_notional(_buy("11", "100", "99", inst=PUT), ctx)  # 11 x 3000 spot
    assert isinstance(r, Reduce) and r.max_quantity == D(10)


def test_missing_and_stale_inputs_deny(market):
    ctx = _ctx(market, instruments=[])
    d = check_max_notional(_buy(), ctx)
    assert isinstance(d, Deny) and d.code == "RISK_INPUT_MISSING"
    late = _ctx(market, now=NOW + timedelta(minutes=5))
    for check in (
        check_max_notional,
        check_price_band,
        check_max_position,
        check_concentration,
        check_greeks,
        check_margin,
    ):
        d = check(_buy(), late)
        assert isinstance(d, Deny) and d.code == "RISK_INPUT_STALE", check.__name__
    no_margin = dataclasses.replace(_ctx(market), margin=None)
    for check in (check_margin, check_concentration):
        d = check(_buy(), no_margin)
        assert isinstance(d, Deny) and d.code == "RISK_INPUT_MISSING"


def test_price_band_only_on_the_harmful_side(market):
    ctx = _ctx(market)
    assert isinstance(check_price_band(_buy(price="2000"), ctx), Allow)  # buying cheap
    d = check_price_band(_buy(price="3100"), ctx)  # 333 bps above 3000
    assert isinstance(d, Deny) and d.code == "RISK_PRICE_BAND"
    d = check_price_band(_buy(price="2900", side=Side.SELL), ctx)
    assert isinstance(d, Deny)
    assert isinstance(check_price_band(_buy(price=None, quote=None), ctx), Deny)


def test_slippage_against_quote(market):
    ctx = _ctx(market)
    assert isinstance(check_slippage(_buy(price="3020", quote="3005"), ctx), Allow)  # 49.9 bps
    d = check_slippage(_buy(price="3030", quote="3005"), ctx)
    assert isinstance(d, Deny) and d.code == "RISK_SLIPPAGE"
    d = check_slippage(_buy(price=None), ctx)
    assert isinstance(d, Deny) and d.code == "RISK_INPUT_MISSING"
    # A limit order without a quote is measured against the reference price (3000).
    assert isinstance(check_slippage(_buy(price="3014", quote=None), ctx), Allow)


def test_position_limits_instrument_and_underlying(market):
    ctx = _ctx(market, [Position(ETH, D(18), "cex")])
    r = check_max_position(_buy("5"), ctx)
    assert isinstance(r, Reduce) and r.max_quantity == D(2) and r.code == "RISK_MAX_POSITION"
    r = check_max_position(_buy("40", side=Side.SELL), ctx)  # -> -22, limit 20
    assert isinstance(r, Reduce) and r.max_quantity == D(38)
    assert isinstance(check_max_position(_buy("18", side=Side.SELL), ctx), Allow)
    # Underlying gross: 18 spot + 15 perp = 33 of 40.
    ctx = _ctx(market, [Position(ETH, D(18), "cex"), Position(PERP, D(15), "cex", D(3000))])
    r = check_max_position(_buy("10", inst=PERP), ctx)
    assert isinstance(r, Reduce) and r.max_quantity == D(5)


def test_venue_exposure(market):
    ctx = _ctx(market, [Position(ETH, D(18), "cex")])  # 54k of 60k
    r = check_venue_exposure(_buy("3"), ctx)
    assert isinstance(r, Reduce) and r.max_quantity == D(2)
    assert isinstance(check_venue_exposure(_buy("3", venue="safe@L1"), ctx), Allow)


def test_concentration(market):
    ctx = _ctx(market, [Position(ETH, D(18), "cex")], cash="20000")  # equity 74k, cap 222k
    assert isinstance(check_concentration(_buy("50"), ctx), Allow)
    r = check_concentration(_buy("80"), ctx)
    assert isinstance(r, Reduce) and r.code == "RISK_CONCENTRATION"
    broke = _ctx(market, [Position(PERP, D(10), "cex", D(9000))], cash="1000")
    assert isinstance(check_concentration(_buy("1"), broke), Deny)


def test_post_trade_delta_and_vega(market):
    ctx = _ctx(market, [Position(ETH, D(20), "cex")])
    d = check_greeks(_buy("6"), ctx)
    assert isinstance(d, Deny) and "delta" in d.reason
    assert isinstance(check_greeks(_buy("4"), ctx), Allow)
    assert isinstance(check_greeks(_buy("30", side=Side.SELL), ctx), Allow)  # |-10| < 20
    # Buying 40 puts adds ~ +40 x vega(3.4k) of vega: over the 5000 limit.
    d = check_greeks(_buy("40", "100", "100", inst=PUT), ctx)
    assert isinstance(d, Deny)


def test_margin_sufficiency_matches_the_margin_model(market):
    ctx = _ctx(market, cash="10000")
    # Selling 30 puts: scan loss + contingency x 1.25 > 10k equity.
    d = check_margin(_buy("30", "100", "100", inst=PUT, side=Side.SELL), ctx)
    assert isinstance(d, Deny) and d.code == "RISK_MARGIN"
    assert isinstance(check_margin(_buy("1", "100", "100", inst=PUT, side=Side.SELL), ctx), Allow)
    # The check's post-trade IM equals a full margin run on the post-trade portfolio.
    from agent.risk.margin import compute_margin
    from agent.risk.portfolio import Book

    post = Portfolio((Position(PUT, D(-30), "d"),), (("USDC", D(10000)),))
    full = compute_margin(Book.build(post, market))
    assert full.initial > full.equity
    post1 = Portfolio((Position(PUT, D(-1), "d"),), (("USDC", D(10000)),))
    assert compute_margin(Book.build(post1, market)).initial < 10000


def test_margin_allows_reducing_trades_when_short(market):
    ctx = _ctx(market, [Position(PUT, D(-30), "d")], cash="10000")
    assert ctx.margin.initial > ctx.margin.equity
    assert isinstance(check_margin(_buy("10", "100", "100", inst=PUT), ctx), Allow)
    assert isinstance(check_margin(_buy("1", "100", "100", inst=PUT, side=Side.SELL), ctx), Deny)


def test_order_rate(market):
    recent = [NOW - timedelta(seconds=s) for s in (30, 9, 5, 1)]
    d = check_order_rate(_buy(), _ctx(market, recent_orders=recent))
    assert isinstance(d, Deny) and d.code == "RISK_ORDER_RATE"
    assert isinstance(check_order_rate(_buy(), _ctx(market, recent_orders=recent[:3])), Allow)


def test_trading_states(market):
    long = [Position(ETH, D(10), "cex")]
    halted = _ctx(market, long, trading_state=TradingState.HALTED)
    d = check_trading_state(_buy("1", side=Side.SELL), halted)
    assert isinstance(d, Deny) and d.code == "RISK_TRADING_HALTED"
    red = _ctx(market, long, trading_state=TradingState.REDUCING)
    assert isinstance(check_trading_state(_buy("4", side=Side.SELL), red), Allow)
    d = check_trading_state(_buy("1"), red)
    assert isinstance(d, Deny) and d.code == "RISK_TRADING_REDUCING"
    d = check_trading_state(_buy("30", side=Side.SELL), red)  # would flip to short 20
    assert isinstance(d, Deny)
    # A perp sale reduces ETH delta although there is no perp position yet.
    assert isinstance(check_trading_state(_buy("5", inst=PERP, side=Side.SELL), red), Allow)
    assert isinstance(check_trading_state(_buy("1"), _ctx(market, long)), Allow)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"size": D(0)}, "order.size"),
        ({"size": D("-1")}, "order.size"),
        ({"size": D("NaN")}, "order.size"),
        ({"price": D("Infinity")}, "order.price"),
        ({"venue": ""}, "order.venue"),
    ],
)
def test_proposal_validation(kw, field):
    args = {"client_order_id": "c", "instrument": ETH, "side": Side.BUY, "size": D(1), "venue": "v"}
    with pytest.raises(ValidationError) as e:
        OrderProposal(**(args | kw))
    assert e.value.field == field
