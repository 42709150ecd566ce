from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.model import Side, Spot, TradingState
from agent.model.decisions import Allow, Deny, Reduce
from agent.model.positions import Portfolio, Position
from agent.risk.checks import DEFAULT_CHECKS, OrderProposal
from agent.risk.context import build_context
from agent.risk.gate import RiskGate, Verdict

from .conftest import NOW
from .test_checks import LIMITS

ETH = Spot("ETH", "USDC")


def _ctx(market, **kw):
    pf = Portfolio((Position(ETH, D(5), "cex"),), (("USDC", D(100_000)),))
    return build_context(pf, market, LIMITS, now=NOW, instruments=[(ETH, D(1))], **kw)


def _order(size="1", price="3010", side=Side.BUY):
    return OrderProposal("c1", ETH, side, D(size), "cex", D(price), D("3005"))


def test_gate_runs_ten_checks_and_allows(market):
    gate = RiskGate()
    assert len(gate.names) == 10 == len(DEFAULT_CHECKS)
    r = gate.evaluate(_order(), _ctx(market))
    assert r.allowed and isinstance(r.decision, Allow)
    assert [v.check for v in r.verdicts] == list(gate.names)
    assert [n for n, _ in r.pairs] == list(gate.names)
    ev = r.to_events()
    assert all(e["verdict"] == "allow" for e in ev)
    json.dumps(ev)
    json.dumps(r.to_dict())


def test_verdicts_are_frozen_records_with_code_and_reason(market):
    r = RiskGate().evaluate(_order("12", price="3200"), _ctx(market))
    by = {v.check: v for v in r.verdicts}
    band, notional, state = by["price_band"], by["max_order_notional"], by["trading_state"]
    assert band.verdict is Verdict.DENY and band.code == "RISK_PRICE_BAND"
    assert "fat-fingered" in band.reason and band.rule == "price_band"
    assert notional.verdict is Verdict.REDUCE and notional.max_quantity == D(
        9
    )  # 30000 / 3200, whole units
    assert state.verdict is Verdict.ALLOW and state.code == "" and state.max_quantity is None
    assert band.to_dict() == {
        "check": "price_band",
        "verdict": "deny",
        "code": "RISK_PRICE_BAND",
        "reason": band.reason,
    }
    assert notional.to_dict()["max_quantity"] == "9"
    with pytest.raises(dataclasses.FrozenInstanceError):
        band.code = "X"  # type: ignore[misc]
    assert r.verdicts is r.verdicts  # built once
    assert r.to_dict()["code"] == "RISK_PRICE_BAND" and len(r.to_dict()["verdicts"]) == 10


def test_first_denial_wins_and_all_verdicts_are_kept(market):
    r = RiskGate().evaluate(_order("12", price="3200"), _ctx(market))
    assert not r.allowed
    assert r.decision.code == "RISK_PRICE_BAND"  # price_band runs before max_slippage
    kinds = {n: e["verdict"] for n, e in zip(RiskGate().names, r.to_events(), strict=True)}
    assert kinds["max_order_notional"] == "reduce"
    assert kinds["price_band"] == "deny" and kinds["max_slippage"] == "deny"
    assert r.summary()["code"] == "RISK_PRICE_BAND"


def test_tightest_reduce_when_nothing_denies(market):
    r = RiskGate().evaluate(_order("16"), _ctx(market))  # notional -> 9, position -> 15
    assert isinstance(r.decision, Reduce) and r.decision.max_quantity == D(9)
    assert r.to_events()[2]["max_quantity"] == "9"


def test_halted_denies(market):
    r = RiskGate().evaluate(_order(), _ctx(market, trading_state=TradingState.HALTED))
    assert r.decision.code == "RISK_TRADING_HALTED"


def test_a_raising_check_denies():
    def boom(p, c):
        raise KeyError("x")

    r = RiskGate([("boom", boom), ("ok", lambda p, c: Allow("ok"))]).evaluate(_order(), None)
    assert isinstance(r.decision, Deny) and r.decision.code == "RISK_CHECK_ERROR"
    r = RiskGate([("weird", lambda p, c: True)]).evaluate(_order(), None)
    assert not r.allowed


@settings(max_examples=100, deadline=None)
@given(
    stale_s=st.integers(0, 120),
    drop=st.sampled_from(["none", "refs", "greeks", "margin", "grid"]),
    size=st.decimals("0.1", "50", places=1),
)
def test_gate_never_allows_on_missing_or_stale_input(market, stale_s, drop, size):
    ctx = _ctx(market)
    ctx = dataclasses.replace(ctx, now=NOW + timedelta(seconds=stale_s))
    if drop == "refs":
        ctx = dataclasses.replace(ctx, reference_prices={})
    elif drop == "greeks":
        ctx = dataclasses.replace(ctx, unit_greeks={})
    elif drop == "margin":
        ctx = dataclasses.replace(ctx, margin=None)
    elif drop == "grid":
        ctx = dataclasses.replace(ctx, unit_grid_pnl={})
    r = RiskGate().evaluate(_order(str(size)), ctx)
    if stale_s > 30 or drop != "none":
        assert not r.allowed
        assert isinstance(r.decision, Deny)
        codes = {e.get("code") for e in r.to_events()}
        assert codes & {"RISK_INPUT_STALE", "RISK_INPUT_MISSING"}
