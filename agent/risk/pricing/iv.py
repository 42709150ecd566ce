"""Vectorized implied volatility, exact in the body and robust in the wings.

Method (after Jaeckel, "Let's be rational", 2015, simplified for numpy):

1. Normalize: ``x = ln(F/K)``, price divided by ``D * sqrt(F K)``; use put-call symmetry and
   parity to reduce every input to an out-of-the-money call with ``x <= 0``, whose normalized
   value ``b`` lies in ``(0, e^{x/2})``.
2. Split at the inflection point ``s_c = sqrt(2|x|)`` of ``b(s)`` (``s = vol * sqrt(t)``):
   below it solve ``ln b(s) = ln b*`` (the price is exponentially small there, and its log is
   nearly linear in 1/s^2), above it solve ``ln(b_max - b(s)) = ln(b_max - b*)`` (the price
   approaches its upper bound). Closed-form asymptotic initial guesses for each branch.
3. Halley steps (third order, the analytic second derivative is free), safeguarded by a
   bracket that every evaluation tightens; a step leaving the bracket is replaced by
   bisection. Only unconverged elements are carried to the next iteration.

Elements whose answer is not determined by the price are not guessed at: a price at or
below intrinsic, at or above the no-arbitrage maximum, or where vega is below
``min_vega`` (so a rounding error in the price moves the vol arbitrarily far) are returned
as NaN with an explicit :class:`IVStatus`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from scipy.special import ndtr, ndtri

from agent.risk._validate import FloatArray, finite, positive
from agent.risk.pricing.black import omega

_INV_SQRT_2PI = 0.3989422804014327
_MAX_ITER = 40
_TOL = 4e-16
_ACCEPT = 1e-7


class IVStatus(IntEnum):
    OK = 0
    BELOW_INTRINSIC = 1  # price <= intrinsic value: no positive vol reproduces it
    ABOVE_MAXIMUM = 2  # price >= forward (call) / strike (put), discounted: arbitrage
    ILL_CONDITIONED = 3  # vega ~ 0: the price does not determine the vol
    EXPIRED = 4  # t == 0: there is no time value to invert
    NOT_CONVERGED = 5


@dataclass(frozen=True, slots=True)
class IVResult:
    """``vol`` (annualized; NaN where ``status != OK``) and a per-element ``status``."""

    vol: FloatArray
    status: np.ndarray
    vega: FloatArray  # dPrice/dVol at the solution (0 where not OK)

    @property
    def ok(self) -> np.ndarray:
        return self.status == IVStatus.OK


def _b(x, s):
    """Normalized OTM call value, x <= 0: e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2)."""
    h = x / s
    return np.exp(0.5 * x) * ndtr(h + 0.5 * s) - np.exp(-0.5 * x) * ndtr(h - 0.5 * s)


def _vega_n(x, s):
    """d b / d s (the same for calls and puts)."""
    return _INV_SQRT_2PI * np.exp(-0.5 * (x * x / (s * s) + 0.25 * s * s))


def _halley(x, target, s, lo, hi, upper: bool):
    """Safeguarded Halley iterations on one branch; returns (s, converged)."""
    n = x.size
    s_out = np.full(n, np.nan)
    conv = np.zeros(n, dtype=bool)
    idx = np.arange(n)
    ex, emx = np.exp(0.5 * x), np.exp(-0.5 * x)
    for _ in range(_MAX_ITER):
        if idx.size == 0:
            break
        inv_s = 1.0 / s
        h = x * inv_s
        hs = 0.5 * s
        b = ex * ndtr(h + hs) - emx * ndtr(h - hs)
        v = _INV_SQRT_2PI * np.exp(-0.5 * (h * h + hs * hs))  # db/ds
        c = h * h * inv_s - 0.5 * hs  # (d2b/ds2) / (db/ds)
        if upper:  # f = ln(bmax - b) - ln(bmax - b*)
            g = ex - b
            f1 = -v / g
        else:  # f = ln b - ln b*
            g = b
            f1 = v / g
        f = np.log(g) - target
        # Halley: step = -f/f1 / (1 - f f2 / (2 f1^2)), with f2/f1 = c - f1.
        newton = -f / f1
        step = newton / (1.0 + 0.5 * newton * (c - f1))
        too_high = (f < 0) if upper else (f > 0)  # b(s) > b*: the root is below s
        hi = np.where(too_high, s, hi)
        lo = np.where(too_high, lo, s)
        s_new = s + step
        # Halley converges cubically: once a step is below _ACCEPT the next one would be
        # below rounding, so the stepped value is accepted without another evaluation (even
        # when the step is below one ulp and so does not move s off the bracket's edge).
        done = (np.abs(step) <= _ACCEPT * s) | (f == 0)
        bad = ~done & ~((s_new > lo) & (s_new < hi))
        if bad.any():
            bis = np.where(np.isfinite(hi), 0.5 * (lo + hi), 2.0 * s)
            s_new = np.where(bad, bis, s_new)
            # A bracket narrower than rounding is as converged as a tiny step.
            done |= bad & (hi - lo <= _TOL * hi)
        if done.any():
            s_out[idx[done]] = s_new[done]
            conv[idx[done]] = True
            keep = ~done
            idx, s, lo, hi = idx[keep], s_new[keep], lo[keep], hi[keep]
            x, ex, emx, target = x[keep], ex[keep], emx[keep], target[keep]
        else:
            s = s_new
    return s_out, conv


def _solve(x, beta):
    """Solve b(x, s) = beta for s > 0 with x <= 0 and 0 < beta < e^{x/2}."""
    s_out = np.full(x.size, np.nan)
    conv = np.zeros(x.size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        bmax = np.exp(0.5 * x)
        sc = np.sqrt(-2.0 * x)
        bc = np.where(sc > 0, _b(x, np.where(sc > 0, sc, 1.0)), 0.0)
        lower = beta < bc
        li = np.flatnonzero(lower)
        ui = np.flatnonzero(~lower)
        if li.size:
            xl, bl, scl = x[li], beta[li], sc[li]
            # G(s) = |x| / sqrt(-2 ln b(s)) tends to s as s -> 0 (ln b ~ -x^2 / (2 s^2)) and
            # is known at s_c; a quadratic in G through (0, 0) with slope 1 and through
            # (G(s_c), s_c) maps the target's G to a first guess.
            lb = np.log(bl)
            ax = np.abs(xl)
            g0 = ax / np.sqrt(-2.0 * lb)
            gc = ax / np.sqrt(-2.0 * np.log(bc[li]))
            g = g0 + (scl - gc) * (g0 / gc) ** 2
            g = np.where((g > 0) & (g < scl), g, np.where(g0 < scl, g0, 0.5 * scl))
            s_out[li], conv[li] = _halley(xl, lb, g, np.zeros_like(xl), scl, False)
        if ui.size:
            xu, bu, scu = x[ui], beta[ui], sc[ui]
            # b_max - b ~ (e^{x/2} + e^{-x/2}) N(-s/2) as s -> infinity.
            tail = bmax[ui] - bu
            g = -2.0 * ndtri(np.clip(tail / (bmax[ui] + np.exp(-0.5 * xu)), 1e-300, 0.5))
            g = np.where(np.isfinite(g) & (g > scu), g, np.maximum(scu, 1e-3) * 1.5)
            s_out[ui], conv[ui] = _halley(xu, np.log(tail), g, scu, np.full_like(xu, np.inf), True)
    return s_out, conv


def implied_vol(
    price,
    kind,
    underlying,
    strike,
    t,
    rate=0.0,
    carry=0.0,
    *,
    forward: bool = False,
    min_vega: float = 1e-8,
) -> IVResult:
    """Implied Black-Scholes vol (``forward=False``: ``underlying`` is spot with carry yield
    ``carry``) or Black-76 vol (``forward=True``: ``underlying`` is the forward). Units as in
    :mod:`agent.risk.pricing.black`. ``min_vega`` is in price units per 1.00 vol."""
    w = omega(kind)
    p = finite("price", price)
    u = positive("forward" if forward else "spot", underlying)
    k = positive("strike", strike)
    tt = finite("t", t)
    if (tt < 0).any():
        positive("t", tt)  # raises, naming the field
    r = finite("rate", rate)
    q = finite("carry", carry)
    w, p, u, k, tt, r, q = np.broadcast_arrays(w, p, u, k, tt, r, q)
    shape = p.shape
    w, p, u, k, tt, r, q = (a.ravel() for a in (w, p, u, k, tt, r, q))

    disc = np.exp(-r * tt)
    fwd = u if forward else u * np.exp((r - q) * tt)
    root = np.sqrt(fwd * k)
    x = w * np.log(fwd / k)  # puts use call symmetry: put(x) = call(-x)
    beta = p / (disc * root)
    itm = x > 0
    beta = np.where(itm, beta - (np.exp(0.5 * x) - np.exp(-0.5 * x)), beta)
    x = np.where(itm, -x, x)
    bmax = np.exp(0.5 * x)

    status = np.full(p.size, IVStatus.OK, dtype=np.int8)
    status[beta <= 0] = IVStatus.BELOW_INTRINSIC
    status[beta >= bmax] = IVStatus.ABOVE_MAXIMUM
    status[tt == 0] = IVStatus.EXPIRED
    vol = np.full(p.size, np.nan)
    vega = np.zeros(p.size)
    ok = status == IVStatus.OK
    if ok.any():
        s, conv = _solve(x[ok], beta[ok])
        sqt = np.sqrt(tt[ok])
        v = s / sqt
        vg = disc[ok] * root[ok] * _vega_n(x[ok], s) * sqt
        st = np.where(conv, IVStatus.OK, IVStatus.NOT_CONVERGED).astype(np.int8)
        st[conv & ~(vg > min_vega)] = IVStatus.ILL_CONDITIONED
        good = st == IVStatus.OK
        vol[ok] = np.where(good, v, np.nan)
        vega[ok] = np.where(good, vg, 0.0)
        status[ok] = st
    return IVResult(vol.reshape(shape), status.reshape(shape), vega.reshape(shape))
