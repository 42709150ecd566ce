"""Black-Scholes / Black-76 against QuantLib (test-only reference) and against identities."""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ValidationError
from agent.model.enums import OptionKind
from agent.risk.pricing import (
    black76_greeks,
    black76_price,
    black_scholes_greeks,
    black_scholes_price,
)

RTOL = 1e-10


def _grid(n: int, seed: int):
    rng = np.random.default_rng(seed)
    s = rng.uniform(1.0, 80_000.0, n)
    k = s * np.exp(rng.uniform(-1.5, 1.5, n))  # moneyness e^{+-1.5}
    t = rng.uniform(1 / 365, 5.0, n)
    v = rng.uniform(0.05, 2.5, n)
    r = rng.uniform(-0.02, 0.12, n)
    q = rng.uniform(-0.05, 0.08, n)
    w = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    return w, s, k, t, v, r, q


def _ql_type(w: float):
    return ql.Option.Call if w > 0 else ql.Option.Put


def _close(ours, ref, scale):
    """Relative 1e-10, plus an absolute floor of 1e-15 x the price scale: QuantLib forms
    N(d) as 0.5 * (1 + erf) for moderately negative d, so its own deep-OTM prices carry an
    absolute error of that order (ours use erfc there and are the more accurate of the two)."""
    return np.abs(ours - ref) <= RTOL * np.abs(ref) + 1e-15 * scale


def test_black_scholes_prices_match_quantlib_on_wide_grid():
    w, s, k, t, v, r, q = _grid(4000, seed=7)
    ours = black_scholes_price(w, s, k, t, v, r, q)
    fwd = s * np.exp((r - q) * t)
    ref = np.array(
        [
            ql.blackFormula(
                _ql_type(w[i]), k[i], fwd[i], v[i] * np.sqrt(t[i]), np.exp(-r[i] * t[i])
            )
            for i in range(w.size)
        ]
    )
    ok = _close(ours, ref, np.maximum(fwd, k))
    assert ok.all(), f"{(~ok).sum()} mismatches, worst rel {np.max(np.abs(ours - ref) / ref)}"
    # And the bulk (prices above a millionth of spot) is within 1e-10 relative outright.
    body = ref > 1e-6 * s
    assert body.mean() > 0.9
    assert np.max(np.abs(ours[body] - ref[body]) / ref[body]) < RTOL


def test_black76_prices_match_quantlib():
    w, f, k, t, v, r, _ = _grid(2000, seed=8)
    ours = black76_price(w, f, k, t, v, r)
    ref = np.array(
        [
            ql.blackFormula(_ql_type(w[i]), k[i], f[i], v[i] * np.sqrt(t[i]), np.exp(-r[i] * t[i]))
            for i in range(w.size)
        ]
    )
    assert _close(ours, ref, np.maximum(f, k)).all()


def _ql_engine_greeks(w, s, k, days, v, r, q):
    today = ql.Date(21, 11, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot = ql.QuoteHandle(ql.SimpleQuote(s))
    proc = ql.BlackScholesMertonProcess(
        spot,
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), v, dc)),
    )
    opt = ql.VanillaOption(
        ql.PlainVanillaPayoff(_ql_type(w), k), ql.EuropeanExercise(today + int(days))
    )
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    return opt.NPV(), opt.delta(), opt.gamma(), opt.vega(), opt.theta(), opt.rho()


def test_black_scholes_greeks_match_quantlib_engine():
    rng = np.random.default_rng(11)
    n = 300
    w = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    s = rng.uniform(10, 60_000, n)
    k = s * np.exp(rng.uniform(-0.8, 0.8, n))
    days = rng.integers(1, 3 * 365, n)
    t = days / 365.0
    v = rng.uniform(0.1, 1.8, n)
    r = rng.uniform(-0.01, 0.1, n)
    q = rng.uniform(-0.03, 0.06, n)
    g = black_scholes_greeks(w, s, k, t, v, r, q)
    ref = np.array(
        [_ql_engine_greeks(w[i], s[i], k[i], days[i], v[i], r[i], q[i]) for i in range(n)]
    )
    ours = np.stack([g.price, g.delta, g.gamma, g.vega, g.theta, g.rho], axis=1)
    # Greeks can cross zero; scale the absolute floor by each column's magnitude.
    scale = np.abs(ref).max(axis=0)
    assert np.all(np.abs(ours - ref) <= 1e-9 * np.abs(ref) + 1e-13 * scale)


def test_vanna_volga_are_derivatives_of_delta_and_vega():
    w, s, k, t, v, r, q = _grid(500, seed=3)
    h = 1e-5
    g = black_scholes_greeks(w, s, k, t, v, r, q)
    up = black_scholes_greeks(w, s, k, t, v + h, r, q)
    dn = black_scholes_greeks(w, s, k, t, v - h, r, q)
    vanna_fd = (up.delta - dn.delta) / (2 * h)
    volga_fd = (up.vega - dn.vega) / (2 * h)
    assert np.allclose(g.vanna, vanna_fd, rtol=1e-5, atol=1e-7)
    assert np.allclose(g.volga, volga_fd, rtol=1e-5, atol=1e-6 * s.max())


def test_black76_greeks_by_finite_differences():
    w, f, k, t, v, r, _ = _grid(300, seed=4)
    g = black76_greeks(w, f, k, t, v, r)
    hf = f * 1e-6
    dp = (black76_price(w, f + hf, k, t, v, r) - black76_price(w, f - hf, k, t, v, r)) / (2 * hf)
    assert np.allclose(g.delta, dp, rtol=1e-6, atol=1e-8)
    dr = (black76_price(w, f, k, t, v, r + 1e-6) - black76_price(w, f, k, t, v, r - 1e-6)) / 2e-6
    assert np.allclose(g.rho, dr, rtol=1e-6, atol=1e-6 * f)
    dt = (black76_price(w, f, k, t - 1e-6, v, r) - black76_price(w, f, k, t + 1e-6, v, r)) / 2e-6
    assert np.allclose(g.theta, dt, rtol=1e-5, atol=1e-6 * f)


@settings(max_examples=200, deadline=None)
@given(
    s=st.floats(1.0, 1e5),
    m=st.floats(-2.0, 2.0),
    t=st.floats(1e-3, 5.0),
    v=st.floats(0.01, 3.0),
    r=st.floats(-0.05, 0.2),
    q=st.floats(-0.05, 0.2),
)
def test_put_call_parity_and_bounds(s, m, t, v, r, q):
    k = s * np.exp(m)
    c = float(black_scholes_price("call", s, k, t, v, r, q))
    p = float(black_scholes_price("put", s, k, t, v, r, q))
    parity = s * np.exp(-q * t) - k * np.exp(-r * t)
    assert c - p == pytest.approx(parity, rel=1e-12, abs=1e-11 * max(s, k))
    assert -1e-12 * s <= c <= s * np.exp(-q * t) * (1 + 1e-14)
    assert -1e-12 * k <= p <= k * np.exp(-r * t) * (1 + 1e-14)


def test_expired_option_is_worth_intrinsic():
    s = np.array([90.0, 100.0, 110.0])
    assert black_scholes_price("call", s, 100.0, 0.0, 0.5).tolist() == [0.0, 0.0, 10.0]
    assert black_scholes_price(OptionKind.PUT, s, 100.0, 0.0, 0.5).tolist() == [10.0, 0.0, 0.0]
    g = black_scholes_greeks("call", s, 100.0, 0.0, 0.5)
    assert g.delta.tolist() == [0.0, 0.0, 1.0]
    assert g.gamma.tolist() == [0.0, 0.0, 0.0] and g.vega.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("vol", {"vol": 0.0}),
        ("vol", {"vol": -0.2}),
        ("vol", {"vol": float("nan")}),
        ("spot", {"spot": float("inf")}),
        ("spot", {"spot": 0.0}),
        ("strike", {"strike": -1.0}),
        ("t", {"t": -0.1}),
        ("t", {"t": float("nan")}),
        ("rate", {"rate": float("nan")}),
        ("kind", {"kind": "straddle"}),
    ],
)
def test_bad_input_is_rejected_naming_the_field(field, kwargs):
    args = {"kind": "call", "spot": 100.0, "strike": 100.0, "t": 0.5, "vol": 0.5} | kwargs
    with pytest.raises(ValidationError) as e:
        black_scholes_price(**args)
    assert e.value.field == field
    assert e.value.code == "INVALID_INPUT"


def test_bad_element_inside_an_array_is_rejected():
    with pytest.raises(ValidationError, match="vol"):
        black_scholes_greeks("call", [100.0, 100.0], 100.0, 0.5, [0.5, np.nan])


def test_blocked_evaluation_is_bitwise_the_plain_kernel():
    """Large inputs go through cache-sized blocks; the arithmetic is the same, so the result
    is bitwise equal to the one-pass kernel (incl. expired rows and a 2-D shape)."""
    from agent.risk.pricing import black

    rng = np.random.default_rng(31)
    n = 3 * black._BLOCK + 17
    s = rng.uniform(50, 5000, n)
    k = s * np.exp(rng.uniform(-1, 1, n))
    t = np.where(rng.random(n) < 0.01, 0.0, rng.uniform(0.01, 3, n))
    v, r, q = rng.uniform(0.1, 2, n), rng.uniform(0, 0.1, n), rng.uniform(0, 0.05, n)
    w = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    got = black.black_scholes_greeks(w, s, k, t, v, r, q)
    ref = black._greeks(w, s, k, t, v, r, q, forward_input=False)
    for name in black._GREEKS:
        assert np.array_equal(getattr(got, name), getattr(ref, name)), name
    g2 = black.black_scholes_greeks(w[:-17].reshape(3, -1), s[:-17].reshape(3, -1), 100.0, 0.5, 0.6)
    assert g2.price.shape == (3, black._BLOCK)
