from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.venues.options.series import SeriesTerms, collateral_for, premium_for

from .helpers import FEED, USDC, WETH, call_terms, put_terms


def _payoff(s: SeriesTerms, price: int, amount: int, round_up: bool) -> int:
    """Independent restatement of OptionMath.payoff, for the property below."""

    def div(a: int, b: int) -> int:
        return -(-a // b) if round_up else a // b

    if s.is_call:
        if price <= s.strike:
            return 0
        if s.collateral_is_underlying:
            return div((price - s.strike) * amount, price)
        return div((min(price, s.cap) - s.strike) * amount, s.unit)
    return div(max(s.strike - price, 0) * amount, s.unit)


def test_collateral_examples():
    assert collateral_for(put_terms(), 10**18) == 3000 * 10**6
    assert collateral_for(put_terms(), 1) == 1  # rounds up, never down
    assert collateral_for(call_terms(), 5 * 10**17) == 5 * 10**17
    capped = SeriesTerms(WETH, USDC, USDC, FEED, 3000 * 10**6, 4000 * 10**6, 1, True, 18, 6)
    assert collateral_for(capped, 2 * 10**18) == 2000 * 10**6
    assert premium_for(120 * 10**6, 15 * 10**17, 10**18) == 180 * 10**6


@given(
    strike=st.integers(1, 10**12),
    price=st.integers(1, 10**13),
    amount=st.integers(1, 10**24),
    kind=st.sampled_from(["put", "call", "capped"]),
)
def test_collateral_covers_every_payoff(strike, price, amount, kind):
    if kind == "put":
        s = put_terms(strike)
    elif kind == "call":
        s = call_terms(strike)
    else:
        s = SeriesTerms(WETH, USDC, USDC, FEED, strike, strike * 2, 1, True, 18, 6)
    coll = collateral_for(s, amount)
    owed = _payoff(s, price, amount, True)
    paid = _payoff(s, price, amount, False)
    assert paid <= owed <= coll


def test_series_id_is_stable_and_distinct():
    assert put_terms().series_id == put_terms().series_id
    assert put_terms().series_id != call_terms().series_id
    assert put_terms(3000 * 10**6).series_id != put_terms(3100 * 10**6).series_id
