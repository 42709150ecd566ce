"""Parametric delta-gamma VaR/ES (Cornish-Fisher on the quadratic PnL's moments).

With simple returns ``r ~ N(0, C)`` (C the horizon covariance), the delta-gamma PnL is
``a.r + 1/2 r'Br + theta*dt`` with ``a = delta * S`` and ``B = diag(gamma * S^2)``
(options here have one underlying each, so there is no cross-gamma). Its first four
cumulants are closed-form (Mina and Ulmer, 1999); the Cornish-Fisher expansion turns them
into a quantile. ES integrates that quantile function over the tail.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtri

from agent.errors import ValidationError
from agent.risk._validate import finite
from agent.risk.portfolio import Book, aggregate_greeks
from agent.risk.var.common import DAYS_PER_YEAR, VaRResult, check_params, log_returns


def _cf_quantile(u, mean, sd, skew, exkurt):
    z = ndtri(u)
    w = (
        z
        + (z * z - 1) * skew / 6
        + (z**3 - 3 * z) * exkurt / 24
        - (2 * z**3 - 5 * z) * skew * skew / 36
    )
    return mean + sd * w


def horizon_covariance(
    book: Book,
    horizon_days: int,
    history: Mapping[str, ArrayLike] | None = None,
    correlation: ArrayLike | None = None,
) -> np.ndarray:
    """From ``history`` (sample covariance of horizon log returns) when given, else from the
    book's ATM vols (per underlying) and ``correlation`` (identity by default)."""
    if history is not None:
        r = log_returns(book, history, horizon_days)
        return np.atleast_2d(np.cov(r, rowvar=False))
    n = len(book.underlyings)
    vols = np.array(
        [book.vol[book.und == i].mean() if (book.und == i).any() else 0.0 for i in range(n)]
    )
    corr = np.eye(n) if correlation is None else finite("correlation", correlation)
    if corr.shape != (n, n):
        raise ValidationError("correlation", f"must be {n}x{n} (one row per underlying)")
    sd = vols * np.sqrt(horizon_days / DAYS_PER_YEAR)
    return corr * np.outer(sd, sd)


def delta_gamma_var(
    book: Book,
    confidence: float = 0.99,
    horizon_days: int = 1,
    history: Mapping[str, ArrayLike] | None = None,
    correlation: ArrayLike | None = None,
) -> VaRResult:
    c, h = check_params(confidence, horizon_days)
    cov = horizon_covariance(book, h, history, correlation)
    g = aggregate_greeks(book)
    s = np.array([x.spot for x in g])
    a = np.array([x.delta for x in g]) * s
    b = np.diag(np.array([x.gamma for x in g]) * s * s)
    theta = sum(x.theta for x in g) * h / DAYS_PER_YEAR
    bc = b @ cov
    mean = 0.5 * np.trace(bc) + theta
    var_ = float(a @ cov @ a + 0.5 * np.trace(bc @ bc))
    k3 = float(3 * a @ cov @ b @ cov @ a + np.trace(bc @ bc @ bc))
    k4 = float(12 * a @ cov @ b @ cov @ b @ cov @ a + 3 * np.trace(bc @ bc @ bc @ bc))
    sd = np.sqrt(var_)
    if sd == 0:
        return VaRResult("delta_gamma", c, h, -float(mean), -float(mean), 0)
    skew, exk = k3 / sd**3, k4 / sd**4
    q = _cf_quantile(1 - c, mean, sd, skew, exk)
    # ES: mean of the quantile function over (0, 1-c), midpoint rule on 400 levels.
    u = (np.arange(400) + 0.5) / 400 * (1 - c)
    es = -float(np.mean(_cf_quantile(u, mean, sd, skew, exk)))
    return VaRResult("delta_gamma", c, h, -float(q), max(es, -float(q)), 0)
