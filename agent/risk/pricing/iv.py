"""Vectorized implied volatility, exact in the body and robust in the wings.

Method (after Jaeckel, "Let's be rational", 2015, simplified for numpy):

1. Put-call parity in price units: an in-the-money quote becomes its out-of-the-money
   counterpart ``p - D (F - K)`` (calls) / ``p - D (K - F)`` (puts), so only time value is
   inverted. Normalize: ``x = -|ln(F/K)|``, price divided by ``D sqrt(F K)``; every input is
   then an out-of-the-money call whose normalized value ``b`` lies in ``(0, e^{x/2})``.
2. Split at the inflection point ``s_c = sqrt(2|x|)`` of ``b(s)`` (``s = vol * sqrt(t)``):
   below it solve ``ln b(s) = ln b*`` (the price is exponentially small there, and its log is
   nearly linear in 1/s^2), above it solve ``ln(b_max - b(s)) = ln(b_max - b*)`` (the price
   approaches its upper bound). Closed-form asymptotic initial guesses for each branch.
3. Householder's third-order method (quartic convergence; b's second and third
   derivatives are free given its first): two unguarded steps on every element at once,
   both branches in one pass; an element is done when its last step is below 1e-4 of s
   (error left ~1e-16). Stragglers get a third step on their own; anything still
   unconverged (far wings) is re-solved by the safeguarded iteration (a bracket that every
   evaluation tightens, bisection when a step leaves it).
4. Inputs are processed in blocks of 8,192 so every pass reads cache, not memory.

Precision: out of the money, the round trip is exact to ~1e-13 wherever vega > 1e-8. In the
money, the time value is a difference of terms of size ``D F`` and ``D K``; a double-precision
price carries their rounding, so the vol is determined only to about
``eps D max(F, K) / vega`` - where that exceeds 1e-12 of the vol, no solver can do better
from the given price (see the test for the derivation and the asserted bound).

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
_ACCEPT = 1e-4
_CHUNK = 8192


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


def _vega_n(x, s):
    """d b / d s (the same for calls and puts)."""
    return _INV_SQRT_2PI * np.exp(-0.5 * (x * x / (s * s) + 0.25 * s * s))


def _householder(x, target, s, lo, hi, ex, emx, upper: bool):
    """Safeguarded Householder(3) iterations on one branch; returns (s, converged)."""
    n = x.size
    s_out = np.full(n, np.nan)
    conv = np.zeros(n, dtype=bool)
    idx = np.arange(n)
    for _ in range(_MAX_ITER):
        if idx.size == 0:
            break
        inv_s = 1.0 / s
        h = x * inv_s
        hs = 0.5 * s
        b = ex * ndtr(h + hs)
        b -= emx * ndtr(h - hs)
        h2 = h * h
        v = np.exp(-0.5 * (h2 + hs * hs))
        v *= _INV_SQRT_2PI  # db/ds
        if upper:  # f = ln(bmax - b) - ln(bmax - b*)
            g = ex - b
            f1 = -v / g
        else:  # f = ln b - ln b*
            g = b
            f1 = v / g
        f = np.log(g)
        f -= target
        # Householder's third-order method (quartic convergence): with the Newton step n,
        # r2 = f2/f1 and r3 = f3/f1 (f1, f2, f3: the derivatives of f in s),
        # step = n (1 + n r2 / 2) / (1 + n r2 + n^2 r3 / 6). The derivatives of b are free:
        # b2/b1 = c = h^2/s - s/4 and b3/b1 = c^2 + c' with c' = -3 h^2/s^2 - 1/4; with
        # A = f1 = g1/g this gives r2 = c - A and r3 = c^2 + c' - 3 A c + 2 A^2.
        c = h2 * inv_s - 0.5 * hs
        r3 = c * (c - 3.0 * f1) + 2.0 * f1 * f1 - 3.0 * h2 * inv_s * inv_s - 0.25
        newton = -f / f1
        nr2 = newton * (c - f1)
        step = newton * (1.0 + 0.5 * nr2) / (1.0 + nr2 + newton * newton * r3 * (1.0 / 6.0))
        too_high = (f < 0) if upper else (f > 0)  # b(s) > b*: the root is below s
        np.copyto(hi, s, where=too_high)
        np.copyto(lo, s, where=~too_high)
        s_new = s + step
        # The method converges quartically: a step below _ACCEPT * s leaves an error of order
        # _ACCEPT^4 (far below rounding), so the stepped value is accepted without another
        # evaluation (even when the step is below one ulp and so does not move s off the
        # bracket's edge).
        done = np.abs(step) <= _ACCEPT * s
        done |= f == 0
        bad = (s_new <= lo) | (s_new >= hi)
        bad &= ~done
        if bad.any():
            bis = np.where(np.isfinite(hi), 0.5 * (lo + hi), 2.0 * s)
            np.copyto(s_new, bis, where=bad)
            # A bracket narrower than rounding is as converged as a tiny step.
            done |= bad & (hi - lo <= _TOL * hi)
        if done.all():
            s_out[idx] = s_new
            conv[idx] = True
            break
        if done.any():
            s_out[idx[done]] = s_new[done]
            conv[idx[done]] = True
            keep = ~done
            idx, s, lo, hi = idx[keep], s_new[keep], lo[keep], hi[keep]
            x, ex, emx, target = x[keep], ex[keep], emx[keep], target[keep]
        else:
            s = s_new
    return s_out, conv


def _guesses(x, beta, ex, emx, sc, bc, upper):
    """First guesses for both branches, evaluated on every element, picked by ``upper``."""
    # Lower: G(s) = |x| / sqrt(-2 ln b(s)) tends to s as s -> 0 (ln b ~ -x^2 / (2 s^2)) and
    # is known at s_c; a quadratic in G through (0, 0) with slope 1 and through (G(s_c), s_c)
    # maps the target's G to a first guess.
    lb = np.log(beta)
    g0 = -x / np.sqrt(-2.0 * lb)
    gc = -x / np.sqrt(-2.0 * np.log(bc))
    ratio = g0 / gc
    gl = g0 + (sc - gc) * (ratio * ratio)
    off = ~((gl > 0) & (gl < sc))  # rare: fall back to G itself, or half of s_c
    if off.any():
        np.copyto(gl, np.where(g0 < sc, g0, 0.5 * sc), where=off)
    # Upper: b_max - b ~ (e^{x/2} + e^{-x/2}) N(-s/2) as s -> infinity.
    tail = ex - beta
    gu = ndtri(np.clip(tail / (ex + emx), 1e-300, 0.5))
    gu *= -2.0
    off = ~(gu > sc)  # also catches NaN
    if off.any():
        np.copyto(gu, np.maximum(sc, 1e-3) * 1.5, where=off)
    np.copyto(gl, gu, where=upper)
    np.copyto(lb, np.log(tail), where=upper)
    return gl, lb


def _step(x, s, target, ex, emx, upper_f, sign):
    """One Householder(3) step on every element, both branches at once: the objective is
    ln b - ln b* (lower) or ln(b_max - b) - ln(b_max - b*) (upper); ``upper_f`` is 1.0 on
    the upper branch, 0.0 on the lower, ``sign`` -1.0 / +1.0. Returns the step."""
    inv_s = 1.0 / s
    h = x * inv_s
    hs = 0.5 * s
    b = ex * ndtr(h + hs)
    b -= emx * ndtr(h - hs)
    h2 = h * h
    v = np.exp(-0.5 * (h2 + hs * hs))
    v *= _INV_SQRT_2PI  # db/ds
    g = b + upper_f * (ex - 2.0 * b)  # b, or b_max - b
    f1 = sign * v / g
    f = np.log(g)
    f -= target
    c = h2 * inv_s - 0.5 * hs
    r3 = c * (c - 3.0 * f1) + 2.0 * f1 * f1 - 3.0 * h2 * inv_s * inv_s - 0.25
    newton = -f / f1
    nr2 = newton * (c - f1)
    return newton * (1.0 + 0.5 * nr2) / (1.0 + nr2 + newton * newton * r3 * (1.0 / 6.0))


def _solve(x, beta, ex, emx):
    """Solve b(x, s) = beta for s > 0 with x <= 0, 0 < beta < ex = e^{x/2}, emx = 1/ex.

    Fast path: two unguarded Householder(3) steps on every element at once (no masks, no
    copies); an element is done when its last step is below ``_ACCEPT * s`` (the error
    left is then of order _ACCEPT^4) and it stayed on its branch. The rest get a third step
    on their own; the few left after that (far wings) are re-solved from their first guess
    by the bracketed, safeguarded iteration."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        sc = np.sqrt(-2.0 * x)
        # b at the inflection point s_c: x/s_c + s_c/2 = 0, so one ndtr suffices.
        bc = 0.5 * ex - emx * ndtr(-sc)
        upper = beta >= bc
        s0, target = _guesses(x, beta, ex, emx, sc, bc, upper)
        upper_f = upper.astype(np.float64)
        sign = 1.0 - 2.0 * upper_f
        s = s0 + _step(x, s0, target, ex, emx, upper_f, sign)
        step = _step(x, s, target, ex, emx, upper_f, sign)
        s += step
        conv = np.abs(step) <= _ACCEPT * s
        conv &= np.where(upper, s >= sc, s <= sc) & (s > 0)
        if conv.all():
            return s, conv
        # A third step for the stragglers (a poor guess deep below the inflection point),
        # on the subset only; whatever still fails goes to the guarded iteration.
        bad = np.flatnonzero(~conv)
        xb, sb, tb, eb, mb, ub = x[bad], s[bad], target[bad], ex[bad], emx[bad], upper_f[bad]
        step = _step(xb, sb, tb, eb, mb, ub, 1.0 - 2.0 * ub)
        sb += step
        cb = (np.abs(step) <= _ACCEPT * sb) & (sb > 0)
        cb &= np.where(ub > 0, sb >= sc[bad], sb <= sc[bad])
        s[bad], conv[bad] = sb, cb
        if cb.all():
            return s, conv
        bad = bad[~cb]
        for is_upper in (False, True):
            sel = bad[upper[bad] == is_upper]
            if not sel.size:
                continue
            xs, scs = x[sel], sc[sel]
            lo = scs.copy() if is_upper else np.zeros_like(xs)
            hi = np.full_like(xs, np.inf) if is_upper else scs.copy()
            s[sel], conv[sel] = _householder(
                xs, target[sel], s0[sel], lo, hi, ex[sel], emx[sel], is_upper
            )
    return s, conv


def _chunk(w, p, u, k, tt, r, q, forward, min_vega, vol, status, vega):
    """Solve one cache-sized block, writing into the output slices."""
    disc = np.exp(-r * tt)
    if forward:
        fwd = u
        disc_fwd = disc * u
    else:
        disc_fwd = u * np.exp(-q * tt)  # e^{-qt} S = e^{-rt} F
        fwd = disc_fwd / disc
    lr = np.log(fwd / k)  # ln(F/K): the call's normalized moneyness
    # Put-call parity in price units: an in-the-money quote becomes its out-of-the-money
    # counterpart (p - discounted intrinsic of the forward), so the solver only ever sees
    # x <= 0 and the time value; see the module docstring for the precision this leaves.
    itm = (w * lr) > 0
    p_otm = np.where(itm, p - w * (disc_fwd - k * disc), p) if itm.any() else p
    x = -np.abs(lr)
    norm = disc * np.sqrt(fwd * k)
    beta = p_otm / norm
    ex = np.sqrt(np.minimum(fwd, k) / np.maximum(fwd, k))  # e^{x/2}, no exp needed
    below, above, expired = beta <= 0, beta >= ex, tt == 0
    ok = ~(below | above | expired)
    every = bool(ok.all())
    if not every:
        status[:] = IVStatus.OK
        status[below] = IVStatus.BELOW_INTRINSIC
        status[above] = IVStatus.ABOVE_MAXIMUM
        status[expired] = IVStatus.EXPIRED
        vol[:] = np.nan
        vega[:] = 0.0
        if not ok.any():
            return
        x, beta, ex, tt, norm = x[ok], beta[ok], ex[ok], tt[ok], norm[ok]
    s, conv = _solve(x, beta, ex, 1.0 / ex)
    sqt = np.sqrt(tt)
    vg = norm * _vega_n(x, s) * sqt
    good = conv & (vg > min_vega)
    if every and good.all():  # the common case: no masks
        np.divide(s, sqt, out=vol)
        vega[:] = vg
        status[:] = IVStatus.OK
        return
    st = np.where(conv, IVStatus.OK, IVStatus.NOT_CONVERGED).astype(np.int8)
    st[conv & ~good] = IVStatus.ILL_CONDITIONED
    v = np.where(good, s / sqt, np.nan)
    vg = np.where(good, vg, 0.0)
    if every:
        vol[:], vega[:], status[:] = v, vg, st
    else:
        vol[ok], vega[ok], status[ok] = v, vg, st


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
    if tt.size and not tt.min() >= 0:
        positive("t", tt)  # raises, naming the field
    r = finite("rate", rate)
    q = finite("carry", carry)
    w, p, u, k, tt, r, q = np.broadcast_arrays(w, p, u, k, tt, r, q)
    shape = p.shape
    w, p, u, k, tt, r, q = (a.ravel() for a in (w, p, u, k, tt, r, q))
    n = p.size
    vol = np.empty(n)
    vega = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    # Blocks that stay in cache: every pass of the solver then reads L1/L2, not memory.
    for a in range(0, n, _CHUNK):
        c = slice(a, a + _CHUNK)
        _chunk(
            w[c], p[c], u[c], k[c], tt[c], r[c], q[c], forward, min_vega, vol[c], status[c], vega[c]
        )
    return IVResult(vol.reshape(shape), status.reshape(shape), vega.reshape(shape))
