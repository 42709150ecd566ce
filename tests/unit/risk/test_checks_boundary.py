"""A worst price made as quote x (1 + N bps) sits exactly at an N-bps limit: allowed, for
any 28-digit quote (Decimal rounding at the last digit must not deny it)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.risk.checks.types import bps_of


@given(
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e9"), places=24),
    st.integers(min_value=1, max_value=1000),
)
@settings(max_examples=500, deadline=None)
def test_a_price_moved_by_n_bps_is_n_bps(q: Decimal, n: int) -> None:
    worst = q * (1 + Decimal(n) / Decimal(10_000))
    assert bps_of(worst - q, q) == n
    assert bps_of(q - q * (1 - Decimal(n) / Decimal(10_000)), q) == n


def test_one_unit_past_the_limit_is_past_it() -> None:
    q = Decimal("3018.4480123456789")
    assert bps_of(q * Decimal("1.0101") - q, q) > 100
