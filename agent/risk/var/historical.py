"""Historical-simulation VaR/ES: today's book revalued in full under each past move."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from agent.risk.portfolio import Book
from agent.risk.var.common import (
    DAYS_PER_YEAR,
    VaRResult,
    check_params,
    log_returns,
    revalue_all,
    tail,
)


def historical_var(
    book: Book,
    history: Mapping[str, ArrayLike],
    confidence: float = 0.99,
    horizon_days: int = 1,
) -> VaRResult:
    """``history``: daily prices per underlying, aligned, oldest first. Each overlapping
    ``horizon_days`` log return is applied to today's spot; time decays by the horizon."""
    c, h = check_params(confidence, horizon_days)
    r = log_returns(book, history, h)
    pnl = revalue_all(book, np.exp(r), h / DAYS_PER_YEAR)
    var, es = tail(pnl, c)
    return VaRResult("historical", c, h, var, es, pnl.size, pnl)
