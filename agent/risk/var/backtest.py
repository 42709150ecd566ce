"""VaR backtesting on a replayed price history: exceptions, Kupiec POF, Basel traffic light.

When no history is at hand, :func:`jump_diffusion_prices` makes a seeded Merton
jump-diffusion series: fat tails and jumps, so a Gaussian VaR visibly under-covers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binom, chi2

from agent.errors import ValidationError
from agent.risk._validate import positive, probability
from agent.risk.portfolio import Book
from agent.risk.var.common import DAYS_PER_YEAR
from agent.risk.var.historical import historical_var
from agent.risk.var.parametric import delta_gamma_var


class TrafficLight(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def jump_diffusion_prices(
    n_days: int,
    s0: float = 100.0,
    vol: float = 0.6,
    jump_intensity: float = 12.0,
    jump_mean: float = -0.03,
    jump_std: float = 0.08,
    seed: int = 0,
) -> np.ndarray:
    """Daily Merton jump-diffusion closes (n_days + 1 values), zero expected return.
    ``jump_intensity`` is jumps per year; jump sizes are normal in log space."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / DAYS_PER_YEAR
    lam = jump_intensity * dt
    kappa = math.exp(jump_mean + 0.5 * jump_std**2) - 1.0
    drift = -(0.5 * vol * vol + jump_intensity * kappa) * dt
    nj = rng.poisson(lam, n_days)
    jumps = rng.normal(jump_mean * nj, jump_std * np.sqrt(nj))
    r = drift + vol * math.sqrt(dt) * rng.standard_normal(n_days) + jumps
    return s0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))


def kupiec_pof(exceptions: int, n: int, confidence: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures likelihood ratio and its chi-square(1) p-value."""
    p = 1.0 - probability("confidence", confidence)
    if not 0 <= exceptions <= n or n <= 0:
        raise ValidationError("exceptions", f"{exceptions} must be within 0..{n}")
    x = exceptions
    phat = x / n

    def ll(q: float) -> float:
        a = (n - x) * math.log1p(-q) if n > x else 0.0
        b = x * math.log(q) if x > 0 else 0.0
        return a + b

    lr = -2.0 * (ll(p) - (ll(phat) if 0 < phat < 1 else 0.0))
    lr = max(lr, 0.0)
    return lr, float(chi2.sf(lr, 1))


def basel_traffic_light(exceptions: int, n: int = 250, confidence: float = 0.99) -> TrafficLight:
    """Basel zones by the binomial CDF: green below 95%, yellow below 99.99%, red beyond.
    For 250 days at 99% that is green 0-4, yellow 5-9, red 10+."""
    cdf = float(binom.cdf(exceptions, n, 1.0 - confidence))
    if cdf < 0.95:
        return TrafficLight.GREEN
    if cdf < 0.9999:
        return TrafficLight.YELLOW
    return TrafficLight.RED


@dataclass(frozen=True, slots=True)
class BacktestResult:
    method: str
    confidence: float
    days: int
    exceptions: int
    kupiec_lr: float
    kupiec_p: float
    zone: TrafficLight
    var: np.ndarray = dataclasses.field(repr=False)
    pnl: np.ndarray = dataclasses.field(repr=False)


def backtest_var(
    book: Book,
    history: Mapping[str, ArrayLike],
    window: int = 250,
    confidence: float = 0.99,
    method: str = "historical",
) -> BacktestResult:
    """Replay ``history`` (aligned daily closes per underlying): each day the book is
    re-marked at that day's close (time to expiry shrinking with the days), its 1-day VaR is
    computed from the previous ``window`` days only, and compared with the next day's
    full-revaluation PnL. The positions are held constant (a static-book backtest)."""
    if method not in ("historical", "delta_gamma"):
        raise ValidationError("method", f"{method!r} is not historical or delta_gamma")
    cols = [positive(f"history[{u}]", history[u]) for u in book.underlyings]
    n_days = cols[0].size
    if any(c.size != n_days for c in cols):
        raise ValidationError("history", "series have different lengths", "align them by date")
    if n_days < window + 2:
        raise ValidationError("history", f"needs at least window + 2 = {window + 2} days")
    prices = np.stack(cols, axis=1)
    vars_, pnls = [], []
    for d in range(window, n_days - 1):
        aged = np.maximum(book.t - (d - window) / DAYS_PER_YEAR, 0.0)
        today = dataclasses.replace(book, spots=prices[d], t=aged)
        past = {u: prices[d - window : d + 1, i] for i, u in enumerate(book.underlyings)}
        if method == "historical":
            v = historical_var(today, past, confidence).var
        else:
            v = delta_gamma_var(today, confidence, history=past).var
        nxt = dataclasses.replace(
            book, spots=prices[d + 1], t=np.maximum(aged - 1 / DAYS_PER_YEAR, 0)
        )
        pnl = nxt.equity() - today.equity()
        vars_.append(v)
        pnls.append(pnl)
    var_a, pnl_a = np.array(vars_), np.array(pnls)
    exc = int((-pnl_a > var_a).sum())
    lr, p = kupiec_pof(exc, var_a.size, confidence)
    return BacktestResult(
        method,
        confidence,
        var_a.size,
        exc,
        lr,
        p,
        basel_traffic_light(exc, var_a.size, confidence),
        var_a,
        pnl_a,
    )
