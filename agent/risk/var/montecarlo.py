"""Monte Carlo VaR/ES with full revaluation.

Spot paths: correlated lognormal moves over the horizon (zero drift, vols from the book's
ATM vols or a given covariance); vols held fixed (sticky strike); time decays by the horizon.

Two revaluation modes give the same numbers to ~1e-9 of the book's value:
  * ``exact`` (default): every distinct contract priced with its pricing formula in every
    scenario (:mod:`agent.risk.var.fullreval`: positions on one contract summed, puts
    through parity, two ``ndtr`` per contract and scenario, two threads);
  * ``grid``: because a position depends on one underlying only, each underlying's
    positions are summed into one value curve, priced exactly (value and delta) on a dense
    spot grid spanning the simulated range, and read per scenario by cubic Hermite
    interpolation (error O(h^4)). It costs n_contracts x grid points instead of
    n_contracts x scenarios: the choice for very large books or scenario counts.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from agent.errors import ValidationError
from agent.risk.portfolio import OPTION, PERP, Book
from agent.risk.pricing.black import black_scholes_greeks
from agent.risk.var.common import DAYS_PER_YEAR, VaRResult, check_params, tail
from agent.risk.var.fullreval import revalue
from agent.risk.var.parametric import horizon_covariance

GRID_POINTS = 257


def simulate_returns(cov: np.ndarray, n: int, seed: int | None) -> np.ndarray:
    """Log returns (n, d) with covariance ``cov`` and the -1/2 sigma^2 drift correction."""
    rng = np.random.default_rng(seed)
    d = cov.shape[0]
    try:
        chol = np.linalg.cholesky(cov + 1e-18 * np.eye(d))
    except np.linalg.LinAlgError as e:
        raise ValidationError("covariance", "is not positive semi-definite") from e
    z = rng.standard_normal((n, d))
    return z @ chol.T - 0.5 * np.diag(cov)


def _curve(book: Book, ui: int, nodes: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Sum over the positions on underlying ``ui`` of value and d(value)/d(spot) at ``nodes``."""
    sel = book.und == ui
    q = book.qty[sel]
    kind = book.kind[sel]
    lin = kind != OPTION
    val = np.zeros(nodes.size)
    dv = np.zeros(nodes.size)
    if lin.any():
        ql = q[lin]
        entry = np.where(kind[lin] == PERP, book.entry[sel][lin], 0.0)
        val += nodes * ql.sum() - float(ql @ entry)
        dv += ql.sum()
    opt = ~lin
    if opt.any():
        idx = np.flatnonzero(sel)[opt]
        g = black_scholes_greeks(
            book.w[idx],
            nodes[:, None],
            book.strike[idx],
            np.maximum(book.t[idx] - dt, 0.0),
            book.vol[idx],
            book.rate[idx],
            book.carry[idx],
        )
        val += g.price @ q[opt]
        dv += g.delta @ q[opt]
    return val, dv


def _hermite(x: np.ndarray, nodes: np.ndarray, val: np.ndarray, dv: np.ndarray) -> np.ndarray:
    j = np.clip(np.searchsorted(nodes, x) - 1, 0, nodes.size - 2)
    x0, x1 = nodes[j], nodes[j + 1]
    h = x1 - x0
    t = (x - x0) / h
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * val[j]
        + (t3 - 2 * t2 + t) * h * dv[j]
        + (-2 * t3 + 3 * t2) * val[j + 1]
        + (t3 - t2) * h * dv[j + 1]
    )


def monte_carlo_var(
    book: Book,
    confidence: float = 0.99,
    horizon_days: int = 1,
    n_scenarios: int = 10_000,
    seed: int | None = 0,
    covariance: ArrayLike | None = None,
    correlation: ArrayLike | None = None,
    mode: str = "exact",
    threads: int | None = None,
) -> VaRResult:
    """``mode``: ``exact`` or ``grid`` (``auto`` is ``exact``, kept for old callers);
    ``threads``: for ``exact``, 1 or 2 (default: 2 when a core is idle)."""
    c, h = check_params(confidence, horizon_days)
    if not isinstance(n_scenarios, int) or n_scenarios < 100:
        raise ValidationError("n_scenarios", f"{n_scenarios} must be an integer >= 100")
    if mode not in ("auto", "exact", "grid"):
        raise ValidationError("mode", f"{mode!r} is not auto, exact or grid")
    cov = (
        horizon_covariance(book, h, correlation=correlation)
        if covariance is None
        else np.atleast_2d(np.asarray(covariance, dtype=float))
    )
    r = simulate_returns(cov, n_scenarios, seed)
    dt = h / DAYS_PER_YEAR
    if mode != "grid":
        pnl = revalue(book, r, dt, threads=threads)
    else:
        mult = np.exp(r)
        pnl = np.zeros(n_scenarios)
        for ui in range(len(book.underlyings)):
            if not (book.und == ui).any():
                continue
            s0 = float(book.spots[ui])
            x = s0 * mult[:, ui]
            lo, hi = float(x.min()), float(x.max())
            nodes = np.geomspace(lo * (1 - 1e-9), hi * (1 + 1e-9), GRID_POINTS)
            val, dv = _curve(book, ui, nodes, dt)
            base, _ = _curve(book, ui, np.array([s0]), 0.0)
            pnl += _hermite(x, nodes, val, dv) - base[0]
    var, es = tail(pnl, c)
    return VaRResult("monte_carlo", c, h, var, es, n_scenarios, pnl)
