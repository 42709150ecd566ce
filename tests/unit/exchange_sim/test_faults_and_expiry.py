"""Fault parsing, the weight gate's 429 -> 418 ladder, and option expiry settlement."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agent.errors import ValidationError
from agent.exchange_sim.exchange import Exchange, SimReject
from agent.exchange_sim.faults import FaultConfig, WeightGate
from agent.exchange_sim.instruments import SimInstrument, SimKind, option_name
from agent.exchange_sim.pricing import black_scholes
from agent.model import Side


def test_fault_flags_parse_and_bad_ones_name_the_fix():
    f = FaultConfig.parse("latency=50,5xx=0.1,dup_fills,skew=-3000,drop_accept=2")
    assert (f.latency_ms, f.error_5xx, f.duplicate_fills, f.clock_skew_ms, f.drop_accept) == (
        50,
        0.1,
        True,
        -3000,
        2,
    )
    for bad, field in (
        ("nope=1", "faults"),
        ("latency=x", "faults.latency"),
        ("5xx=2", "faults.5xx"),
        ("latency=-1", "faults.latency"),
    ):
        with pytest.raises(ValidationError) as e:
            FaultConfig.parse(bad)
        assert e.value.field == field


def test_gate_429_then_ban_if_client_keeps_going_and_window_resets():
    now = [0.0]
    g = WeightGate(limit=3, window_s=10, ban_after=2, ban_s=60, clock=lambda: now[0])
    assert [g.check(1).status for _ in range(3)] == [200, 200, 200]
    v = g.check(1)
    assert v.status == 429 and v.retry_after_s == 10
    assert [g.check(1).status for _ in range(2)] == [429, 429]  # two violations tolerated
    assert g.check(1).status == 418  # the third request inside the back-off: banned
    now[0] = 30
    assert g.check(1).status == 418  # the ban outlives the window
    now[0] = 61
    assert g.check(1).status == 200


def test_polite_client_never_banned():
    now = [0.0]
    g = WeightGate(limit=2, window_s=1, ban_after=0, ban_s=60, clock=lambda: now[0])
    for _ in range(20):
        v = g.check(1)
        if v.status == 429:
            now[0] += v.retry_after_s  # waits out Retry-After, as the adapter does
        assert v.status != 418


def test_option_expiry_cash_settles_zero_sum():
    now = [1_000]
    expiry = 2_000
    call = SimInstrument(
        option_name("BTC", "USDC", expiry, Decimal(100), True),
        SimKind.OPTION,
        "BTC",
        "USDC",
        Decimal("0.5"),
        Decimal("1"),
        Decimal("1"),
        strike=Decimal(100),
        expiry_ms=expiry,
        is_call=True,
    )
    ex = Exchange([call], clock=lambda: now[0], index={"BTC": Decimal(100)})
    for a in ("long", "short"):
        ex.ledger.deposit(a, "USDC", Decimal(10_000))
    total = ex.ledger.total("USDC")
    ex.place("short", call.name, Side.SELL, Decimal(2), Decimal(5))
    ex.place("long", call.name, Side.BUY, Decimal(2), Decimal(5))
    assert ex.ledger.position("long", call.name) == 2
    resting, _ = ex.place("short", call.name, Side.SELL, Decimal(1), Decimal(9))
    ex.index["BTC"] = Decimal(130)
    now[0] = expiry
    assert ex.settle_expired() == [call.name]
    assert ex.settled[call.name] == 30
    assert ex.ledger.position("long", call.name) == 0
    assert resting.status.value == "expired" and ex.ledger.locked("short", "USDC") == 0
    assert ex.ledger.total("USDC") == total
    with pytest.raises(SimReject):
        ex.place("long", call.name, Side.BUY, Decimal(1), Decimal(5))


def test_black_scholes_put_call_parity_and_name():
    c = black_scholes(100, 95, 0.5, 0.6, True)
    p = black_scholes(100, 95, 0.5, 0.6, False)
    assert abs((c.price - p.price) - (100 - 95)) < 1e-9
    assert 0 < c.delta < 1 and -1 < p.delta < 0 and c.gamma > 0 and c.vega > 0
    ms = int(datetime(2026, 11, 27, 8, tzinfo=UTC).timestamp() * 1000)
    assert option_name("BTC", "USDC", ms, Decimal(60000), False) == "BTC_USDC-27NOV26-60000-P"
