"""PolicyGuard: the pre-sign check on the exact calls the Safe will make (pure: a fake clock
and fixed prices; the chain-seeded path is in tests/integration/policy)."""

from __future__ import annotations

import datetime as dt

import pytest
from eth_abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ValidationError
from agent.policy import load_policy
from agent.policy.abi import parse_signature
from agent.policy.guard import PolicyGuard, static_prices
from agent.wallet.multisend import Call

from .conftest import EXAMPLE, MANIFEST, OPERATOR, SAFE, addr

ROUTER, USDC, WETH = addr(0x11), addr(0x55), addr(0x44)
T = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
EIS = parse_signature(f"exactInputSingle({T})").selector
EOS = parse_signature(f"exactOutputSingle({T})").selector
APPROVE = parse_signature("approve(address,uint256)").selector
NOW = int(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp())
PRICES = static_prices({"WETH": 3000, "USDC": 1, "DAI": 1})
DAY = 86400


class Clock:
    def __init__(self, t: int = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def approve(amount: int) -> Call:
    return Call(USDC, APPROVE + encode(["address", "uint256"], [ROUTER, amount]))


def sell_usdc(amount_in: int, min_out: int | None = None, recipient: str = SAFE) -> Call:
    """exactInputSingle USDC -> WETH at the reference price (3000) unless min_out is given."""
    if min_out is None:
        min_out = amount_in * 10**12 // 3000
    args = (USDC, WETH, 500, recipient, 2**40, amount_in, min_out, 0)
    return Call(ROUTER, EIS + encode([T], [args]))


def buy_weth(amount_out: int, max_in: int) -> Call:
    args = (USDC, WETH, 500, SAFE, 2**40, amount_out, max_in, 0)
    return Call(ROUTER, EOS + encode([T], [args]))


def batch(amount_in: int, **kw) -> list[Call]:  # type: ignore[no-untyped-def]
    return [approve(amount_in), sell_usdc(amount_in, **kw), approve(0)]


def guard(policy, clock: Clock | None = None, prices=PRICES) -> PolicyGuard:  # type: ignore[no-untyped-def]
    return PolicyGuard(
        policy,
        operator=OPERATOR,
        safe=SAFE,
        chain_id=MANIFEST.chain_id,
        prices=prices,
        clock=clock or Clock(),
    )


def usdc_daily(policy) -> int:  # type: ignore[no-untyped-def]
    return next(i for i, a in policy.allowances.items() if a.name == "usdc-daily")


async def test_batch_allowed_and_allowance_spent_as_the_module_will(policy) -> None:  # type: ignore[no-untyped-def]
    g = guard(policy)
    d = await g.check(batch(3000 * 10**6))
    assert d.allowed and d.note == "batch of 3", d
    state = g.allowances[usdc_daily(policy)]
    assert state.balance == 250_000 * 10**6 - 3000 * 10**6 and state.last_refill == NOW


async def test_allowance_exhausted_then_refilled_after_the_period(policy) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    g = guard(policy, clock)
    assert (await g.check(batch(200_000 * 10**6))).allowed
    d = await g.check(batch(60_000 * 10**6))
    assert d.code == "POLICY_ALLOWANCE_EXCEEDED" and "usdc-daily" in d.reason
    # a denied check spends nothing: the module would revert the whole transaction
    assert g.allowances[usdc_daily(policy)].balance == 50_000 * 10**6
    assert (await g.check(batch(50_000 * 10**6))).allowed
    clock.t += DAY - 1
    assert (await g.check(batch(1))).code == "POLICY_ALLOWANCE_EXCEEDED"
    clock.t += 1
    assert (await g.check(batch(250_000 * 10**6))).allowed


async def test_single_call_is_checked_as_a_call(policy) -> None:  # type: ignore[no-untyped-def]
    g = guard(policy)
    d = await g.check([sell_usdc(10**6)])
    assert d.allowed and d.note == "" and "exactInputSingle" in d.rule


@pytest.mark.parametrize(
    ("calls", "code"),
    [
        (batch(3000 * 10**6, recipient=addr(0x99)), "POLICY_PARAM_NOT_SAFE"),
        (batch(3000 * 10**6, min_out=10**18 * 98 // 100), "POLICY_PRICE_OUT_OF_BOUNDS"),
        ([approve(300_000 * 10**6)], "POLICY_PARAM_TOO_HIGH"),
        ([Call(ROUTER, EIS + b"\x00" * 32 * 7)], "POLICY_MALFORMED"),  # one word short
        ([Call(ROUTER, sell_usdc(10**6).data + b"\x00")], "POLICY_MALFORMED"),  # a byte long
        ([Call(addr(0x99), APPROVE)], "POLICY_FUNCTION_NOT_ALLOWED"),
        ([], "POLICY_MALFORMED"),
    ],
)
async def test_denials(policy, calls, code) -> None:  # type: ignore[no-untyped-def]
    g = guard(policy)
    before = dict(g.allowances)
    d = await g.check(calls)
    assert not d.allowed and d.code == code, d
    assert g.allowances == before


async def test_unknown_selector_is_named_from_the_abi(policy) -> None:  # type: ignore[no-untyped-def]
    refund = parse_signature("refundETH()").selector
    d = await guard(policy).check([Call(ROUTER, refund)])
    assert d.code == "POLICY_FUNCTION_NOT_ALLOWED" and "SwapRouter.refundETH()" in d.reason, d


async def test_missing_reference_price_denies(policy) -> None:  # type: ignore[no-untyped-def]
    g = guard(policy, prices=static_prices({"USDC": 1}))
    d = await g.check(batch(3000 * 10**6))
    assert d.code == "POLICY_NO_REFERENCE_PRICE" and "WETH" in d.reason, d


async def test_exact_output_swap_bounded_by_max_in(policy) -> None:  # type: ignore[no-untyped-def]
    g = guard(policy)
    # 1 WETH at 3000 USDC, 50 bps: at most 3015 USDC may be offered
    assert (await g.check([buy_weth(10**18, 3015 * 10**6)])).allowed
    d = await g.check([buy_weth(10**18, 3016 * 10**6)])
    assert d.code == "POLICY_PRICE_OUT_OF_BOUNDS" and "maximum in" in d.reason, d
    # the maximum in is what the module spends from the allowance
    assert g.allowances[usdc_daily(policy)].balance == (250_000 - 3015) * 10**6


async def test_second_signer_above_the_notional(policy) -> None:  # type: ignore[no-untyped-def]
    # usdc-daily caps a single batch far below the 1M USD limit; lift the cap to reach it
    from dataclasses import replace

    aid = usdc_daily(policy)
    big = replace(
        policy,
        allowances={**policy.allowances, aid: replace(policy.allowances[aid], cap=10**13)},
    )
    g = guard(big, prices=static_prices({"WETH": 3000, "USDC": 1}))
    swap = sell_usdc(1_000_001 * 10**6)
    d = await g.check([swap])
    assert d.code == "POLICY_SECOND_SIGNER_REQUIRED" and "1000001" in d.reason, d
    assert (await g.check([sell_usdc(999_999 * 10**6)])).allowed


def test_constructor_refuses_a_mismatched_setup(policy) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="safe"):
        PolicyGuard(policy, operator=OPERATOR, safe=addr(0x98), chain_id=31337001, prices=PRICES)
    with pytest.raises(ValidationError, match="chain_id"):
        PolicyGuard(policy, operator=OPERATOR, safe=SAFE, chain_id=1, prices=PRICES)
    with pytest.raises(ValidationError, match="operator"):
        PolicyGuard(policy, operator=addr(0x97), safe=SAFE, chain_id=31337001, prices=PRICES)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2 * DAY), st.integers(1, 120_000)), max_size=12))
async def test_guard_spends_like_a_fixed_window_model(steps) -> None:  # type: ignore[no-untyped-def]
    """Reference model: an unseeded allowance opens its first window at the first allowed
    spend; windows are fixed; a spend is allowed iff it fits what is left in its window."""
    policy = load_policy(EXAMPLE, MANIFEST)
    clock = Clock()
    g = guard(policy, clock)
    cap, period = 250_000, DAY
    left, start = cap, None
    for dt_, usdc in steps:
        clock.t += dt_
        if start is not None and clock.t >= start + period:
            start += (clock.t - start) // period * period
            left = cap
        allowed = (await g.check(batch(usdc * 10**6))).allowed
        assert allowed == (usdc <= left)
        if allowed:
            left -= usdc
            start = clock.t if start is None else start
        if start is not None:
            assert g.allowances[usdc_daily(policy)].balance == left * 10**6
