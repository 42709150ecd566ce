"""Black-Scholes-Merton (spot with continuous carry ``q``) and Black-76 (forward), vectorized.

Units, everywhere in this module:
  * ``t``: time to expiry in years (ACT/365 is the caller's choice); ``t == 0`` means expired
    and the option is worth its intrinsic value (Greeks other than delta are 0).
  * ``vol``: annualized lognormal volatility (0.65 means 65%).
  * ``rate``, ``carry``: continuously compounded annual rates (carry = dividend/borrow yield
    for Black-Scholes; for a crypto spot it is the funding/basis yield, usually 0).
  * Prices are in the currency of ``strike`` per unit of underlying.
  * vega, vanna, volga are per 1.00 of vol (divide by 100 for "per vol point"); theta is per
    year (divide by 365 for per calendar day), as the change in value when time passes;
    rho is per 1.00 of ``rate``.

Both models share one kernel on the discounted forward: Black-Scholes is Black-76 with
``F = S e^{(r-q)t}``, except that rho holds S (not F) fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from agent.errors import ValidationError
from agent.model.enums import OptionKind
from agent.risk._validate import FloatArray, finite, non_negative, positive

_INV_SQRT_2PI = 0.3989422804014327


def omega(kind: OptionKind | str | ArrayLike) -> FloatArray:
    """+1 for calls, -1 for puts. Accepts an OptionKind/"call"/"put", booleans (True = call)
    or an array of +1/-1."""
    if isinstance(kind, OptionKind | str):
        try:
            k = OptionKind(str(kind).lower())
        except ValueError as e:
            raise ValidationError("kind", f"{kind!r} is not call or put", "use call or put") from e
        return np.float64(1.0 if k is OptionKind.CALL else -1.0)  # type: ignore[return-value]
    arr = np.asarray(kind)
    if arr.dtype == np.bool_:
        return np.where(arr, 1.0, -1.0)
    arr = finite("kind", arr)
    if not (np.abs(arr) == 1.0).all():  # +-1 only (NaN fails the comparison too)
        raise ValidationError("kind", "array values must be +1 (call) or -1 (put)")
    return arr


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and sensitivities, each an array broadcast over the inputs. Units: see module."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray
    vanna: FloatArray
    volga: FloatArray


def _inputs(underlying_name, underlying, strike, t, vol, rate, carry):
    u = positive(underlying_name, underlying)
    k = positive("strike", strike)
    tt = non_negative("t", t)
    v = positive("vol", vol)
    r = finite("rate", rate)
    q = finite("carry", carry)
    return np.broadcast_arrays(u, k, tt, v, r, q)


def _price(w, u, k, t, v, r, q, forward_input: bool) -> FloatArray:
    disc = np.exp(-r * t)
    fwd = u if forward_input else u * np.exp((r - q) * t)
    live = t > 0
    sd = v * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = np.log(fwd / k) / sd + 0.5 * sd
    d2 = d1 - sd
    val = w * disc * (fwd * ndtr(w * d1) - k * ndtr(w * d2))
    if live.all():
        return val
    intrinsic = np.maximum(w * (u - k), 0.0)
    return np.where(live, val, intrinsic)


def black_scholes_price(kind, spot, strike, t, vol, rate=0.0, carry=0.0) -> FloatArray:
    """European option value under Black-Scholes-Merton on ``spot`` with carry yield ``carry``."""
    w = omega(kind)
    u, k, tt, v, r, q = _inputs("spot", spot, strike, t, vol, rate, carry)
    return _price(w, u, k, tt, v, r, q, forward_input=False)


def black76_price(kind, forward, strike, t, vol, rate=0.0) -> FloatArray:
    """European option value under Black-76 on ``forward``, discounted at ``rate``."""
    w = omega(kind)
    u, k, tt, v, r, _ = _inputs("forward", forward, strike, t, vol, rate, 0.0)
    return _price(w, u, k, tt, v, r, r, forward_input=True)


def _greeks(w, u, k, t, v, r, q, forward_input: bool, second_order: bool = True) -> Greeks:
    live = t > 0
    all_live = bool(live.all())
    t_ = t if all_live else np.where(live, t, 1.0)  # placeholder keeps formulas finite
    sqt = np.sqrt(t_)
    sd = v * sqt
    disc = np.exp(-r * t_)
    # dq = d(discounted forward)/d(underlying): e^{-qt} (BS) or e^{-rt} (B76, q = r).
    dq = disc if forward_input else np.exp(-q * t_)
    if forward_input:
        d1 = np.log(u / k) / sd + 0.5 * sd
    else:
        d1 = (np.log(u / k) + (r - q) * t_) / sd + 0.5 * sd
    d2 = d1 - sd
    nd1 = ndtr(w * d1)
    nd2 = ndtr(w * d2)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    u_dq = u * dq
    k_dr = k * disc
    price = w * (u_dq * nd1 - k_dr * nd2)
    delta = w * dq * nd1
    gamma = dq * pdf / (u * sd)
    vega = u_dq * pdf * sqt
    decay = -0.5 * u_dq * pdf * v / sqt
    if forward_input:
        theta = decay + r * price
        rho = -t_ * price
    else:
        theta = decay - w * r * k_dr * nd2 + w * q * u_dq * nd1
        rho = w * t_ * k_dr * nd2
    if second_order:
        vanna = -dq * pdf * d2 / v
        volga = vega * d1 * d2 / v
    else:
        vanna = volga = np.full_like(price, np.nan)
    if all_live:
        return Greeks(price, delta, gamma, vega, theta, rho, vanna, volga)
    itm = w * (u - k) > 0
    zero = np.zeros_like(price)
    return Greeks(
        price=np.where(live, price, np.maximum(w * (u - k), 0.0)),
        delta=np.where(live, delta, np.where(itm, w, 0.0)),
        gamma=np.where(live, gamma, zero),
        vega=np.where(live, vega, zero),
        theta=np.where(live, theta, zero),
        rho=np.where(live, rho, zero),
        vanna=np.where(live, vanna, zero),
        volga=np.where(live, volga, zero),
    )


def black_scholes_greeks(
    kind, spot, strike, t, vol, rate=0.0, carry=0.0, *, second_order: bool = True
) -> Greeks:
    """Price, delta, gamma, vega, theta, rho, vanna, volga under Black-Scholes-Merton.
    ``second_order=False`` skips vanna and volga (returned as NaN) for hot loops."""
    w = omega(kind)
    u, k, tt, v, r, q = _inputs("spot", spot, strike, t, vol, rate, carry)
    return _blocked(w, u, k, tt, v, r, q, forward_input=False, second_order=second_order)


_BLOCK = 8192  # elements per block: the kernel's ~30 temporaries then stay in L2
_GREEKS = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga")


def _blocked(w, u, k, t, v, r, q, *, forward_input: bool, second_order: bool) -> Greeks:
    """:func:`_greeks` over cache-sized blocks of large inputs (written into preallocated
    outputs): the same arithmetic, but every pass reads cache instead of memory."""
    w, u, k, t, v, r, q = np.broadcast_arrays(w, u, k, t, v, r, q)
    n = u.size
    if n <= 2 * _BLOCK:
        return _greeks(w, u, k, t, v, r, q, forward_input, second_order)
    shape = u.shape
    flat = [a.ravel() for a in (w, u, k, t, v, r, q)]
    out = [np.empty(n) for _ in range(8)]
    for a in range(0, n, _BLOCK):
        sl = slice(a, a + _BLOCK)
        g = _greeks(*(x[sl] for x in flat), forward_input, second_order)
        for o, name in zip(out, _GREEKS, strict=True):
            o[sl] = getattr(g, name)
    return Greeks(*(o.reshape(shape) for o in out))


def black76_greeks(kind, forward, strike, t, vol, rate=0.0, *, second_order: bool = True) -> Greeks:
    """Price and Greeks under Black-76; delta/gamma are with respect to the forward and rho
    holds the forward fixed (so it is ``-t * price``)."""
    w = omega(kind)
    u, k, tt, v, r, _ = _inputs("forward", forward, strike, t, vol, rate, 0.0)
    return _blocked(w, u, k, tt, v, r, r, forward_input=True, second_order=second_order)


def price_unchecked(w, spot, strike, t, vol, rate, carry) -> FloatArray:
    """Black-Scholes value without validation, for inner loops (scenario grids, Monte Carlo)
    whose inputs were validated once at the boundary. ``t`` may contain zeros (intrinsic)."""
    return _price(w, spot, strike, t, vol, rate, carry, forward_input=False)
