from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from eth_abi import encode
from hypothesis import given
from hypothesis import strategies as st

from agent.policy import PolicyCall, PolicyContext, evaluate, load_policy
from agent.policy.abi import parse_signature
from agent.policy.allowance import AllowanceState
from agent.policy.checkers import FeedRead
from agent.policy.evaluator import MULTISEND_SELECTOR
from agent.wallet.multisend import Call, multisend_calldata

from .conftest import HEADER, MANIFEST, OPERATOR, SAFE, addr, write

ROUTER, V2, MS, WETH, USDC, DAI, WBTC = (
    addr(b) for b in (0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77)
)
EIS = parse_signature(
    "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
)
NOW = int(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp())  # a Friday
PRICES = {WETH: Decimal(3000), USDC: Decimal(1), DAI: Decimal(1)}
FEEDS = {t: FeedRead(int(p * 10**8), NOW - 60, 8) for t, p in PRICES.items()}


def ctx(**kw) -> PolicyContext:  # type: ignore[no-untyped-def]
    base = dict(
        operator=OPERATOR,
        chain_id=31337001,
        now=NOW,
        prices_usd=PRICES,
        notional_usd=Decimal(1000),
        feeds=FEEDS,
    )
    base.update(kw)
    return PolicyContext(**base)  # type: ignore[arg-type]


def eis(
    token_in=USDC, token_out=WETH, fee=500, recipient=SAFE, amount_in=3000 * 10**6, min_out=None
) -> PolicyCall:  # type: ignore[no-untyped-def]
    if min_out is None:
        min_out = amount_in * 10**12 // 3000
    args = (token_in, token_out, fee, recipient, 2**40, amount_in, min_out, 0)
    return PolicyCall(
        ROUTER,
        EIS.selector
        + encode(["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], [args]),
    )


def v3_path(*tokens: str) -> bytes:
    out = b""
    for i, t in enumerate(tokens):
        out += bytes.fromhex(t[2:]) + (b"\x00\x01\xf4" if i < len(tokens) - 1 else b"")
    return out


def test_allowed_swap(policy) -> None:  # type: ignore[no-untyped-def]
    d = evaluate(policy, eis(), ctx())
    assert d.allowed, d
    assert "exactInputSingle" in d.rule


@pytest.mark.parametrize(
    ("call", "code", "rule_part"),
    [
        (eis(recipient=addr(0x99)), "POLICY_PARAM_NOT_SAFE", "params.recipient"),
        (eis(token_in=DAI), "POLICY_PARAM_NOT_EQUAL", "params.tokenIn"),
        (eis(token_out=WBTC), "POLICY_PARAM_NOT_IN_SET", "params.tokenOut"),
        (eis(fee=100), "POLICY_PARAM_NOT_IN_SET", "params.fee"),
        (eis(amount_in=250_001 * 10**6), "POLICY_ALLOWANCE_EXCEEDED", "params.amountIn"),
        (eis(min_out=1), "POLICY_PRICE_OUT_OF_BOUNDS", "SwapPriceChecker"),
        (PolicyCall(ROUTER, b"\x12\x34\x56\x78"), "POLICY_FUNCTION_NOT_ALLOWED", "roles[trader]"),
        (PolicyCall(addr(0x98), b""), "POLICY_FUNCTION_NOT_ALLOWED", "roles[trader]"),
        (PolicyCall(ROUTER, b"\x12"), "POLICY_CALLDATA_SHORT", "calldata"),
        (PolicyCall(ROUTER, eis().data[: 4 + 32]), "POLICY_CALLDATA_SHORT", "params.tokenOut"),
        (PolicyCall(ROUTER, eis().data, value=1), "POLICY_VALUE_TOO_HIGH", "max_value"),
        (
            PolicyCall(addr(0x99), b"", operation=1),
            "POLICY_DELEGATECALL_NOT_ALLOWED",
            "delegatecall",
        ),
        (
            PolicyCall(SAFE, bytes.fromhex("610b5925") + encode(["address"], [OPERATOR])),
            "POLICY_FUNCTION_NOT_ALLOWED",
            "",
        ),
    ],
)
def test_denials_carry_code_rule_and_reason(policy, call, code, rule_part) -> None:  # type: ignore[no-untyped-def]
    d = evaluate(policy, call, ctx())
    assert not d.allowed
    assert d.code == code.replace("CALLDATA_SHORT", "CALLDATA_TOO_SHORT"), d
    assert rule_part in d.rule and d.reason


def test_unknown_operator_and_kill_switch(policy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert evaluate(policy, eis(), ctx(operator=addr(0x01))).code == "POLICY_NOT_OPERATOR"
    assert evaluate(policy, eis(), ctx(paused=True)).code == "POLICY_PAUSED"
    killed = load_policy(
        write(tmp_path, HEADER.replace('name = "t"', 'name = "t"\nkill_switch = true')), MANIFEST
    )
    assert evaluate(killed, eis(), ctx()).code == "POLICY_KILL_SWITCH"


def test_offchain_only_rules(tmp_path: Path) -> None:
    text = (
        HEADER + 'chains = [31337001]\nsecond_signer_above_usd = "5000"\nmax_slippage_bps = 100\n'
    )
    text += 'trading_hours = { days = ["mon", "tue", "wed", "thu", "fri"], start = "08:00", end = "18:00" }\n'
    text += '[[roles.rules]]\ntarget = "WETH"\nfunction = "transfer(address to,uint256 amount)"\n'
    text = text.replace("[sets]", '[screening]\ndenylist = "deny.txt"\n[sets]')
    write(tmp_path, addr(0xBD) + "\n", "deny.txt")
    p = load_policy(write(tmp_path, text), MANIFEST)
    ok = PolicyCall(WETH, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [SAFE, 1]))
    assert evaluate(p, ok, ctx()).allowed
    assert evaluate(p, ok, ctx(chain_id=1)).code == "POLICY_CHAIN_NOT_ALLOWED"
    assert evaluate(p, ok, ctx(now=NOW + 86400)).code == "POLICY_OUTSIDE_TRADING_HOURS"  # Saturday
    assert evaluate(p, ok, ctx(now=NOW + 7 * 3600)).code == "POLICY_OUTSIDE_TRADING_HOURS"  # 19:00
    assert evaluate(p, ok, ctx(notional_usd=Decimal(5001))).code == "POLICY_SECOND_SIGNER_REQUIRED"
    assert evaluate(p, ok, ctx(notional_usd=Decimal(5001), second_signer=True)).allowed
    bad = PolicyCall(
        WETH, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [addr(0xBD), 1])
    )
    assert evaluate(p, bad, ctx()).code == "POLICY_COUNTERPARTY_DENYLISTED"


def test_missing_reference_price_fails_closed(policy) -> None:  # type: ignore[no-untyped-def]
    assert evaluate(policy, eis(), ctx(feeds={})).code == "POLICY_NO_REFERENCE_PRICE"


def test_multi_hop_paths(policy) -> None:  # type: ignore[no-untyped-def]
    sig = "exactInput((bytes,address,uint256,uint256,uint256))"
    sel = parse_signature(sig).selector

    def call(path: bytes, recipient: str = SAFE) -> PolicyCall:
        # 1 USDC for at least 1 DAI: at the oracle prices
        args = (path, recipient, 1, 10**6, 10**18)
        return PolicyCall(ROUTER, sel + encode(["(bytes,address,uint256,uint256,uint256)"], [args]))

    assert evaluate(policy, call(v3_path(USDC, WETH, DAI)), ctx()).allowed
    d = evaluate(policy, call(v3_path(USDC, WBTC, DAI)), ctx())
    assert d.code == "POLICY_PATH_NOT_IN_SET" and WBTC in d.reason
    assert evaluate(policy, call(bytes.fromhex(USDC[2:])), ctx()).code == "POLICY_MALFORMED"
    v2sel = bytes.fromhex("38ed1739")

    def v2(path: list[str]) -> PolicyCall:
        types = ["uint256", "uint256", "address[]", "address", "uint256"]
        return PolicyCall(V2, v2sel + encode(types, [3000 * 10**6, 10**18, path, SAFE, 1]))

    assert evaluate(policy, v2([USDC, WETH]), ctx()).allowed
    assert evaluate(policy, v2([USDC, WBTC, WETH]), ctx()).code == "POLICY_PATH_NOT_IN_SET"


def test_batches_check_every_call_and_share_allowances(policy) -> None:  # type: ignore[no-untyped-def]
    good = eis(amount_in=200_000 * 10**6)
    batch = PolicyCall(MS, multisend_calldata([Call(ROUTER, good.data)]), operation=1)
    assert evaluate(policy, batch, ctx()).allowed
    two = PolicyCall(
        MS, multisend_calldata([Call(ROUTER, good.data), Call(ROUTER, good.data)]), operation=1
    )
    assert evaluate(policy, two, ctx()).code == "POLICY_ALLOWANCE_EXCEEDED"
    assert (
        evaluate(policy, [good, eis(recipient=addr(0x99))], ctx()).code == "POLICY_PARAM_NOT_SAFE"
    )
    inner_dc = MULTISEND_SELECTOR + encode(
        ["bytes"],
        [
            b"\x01"
            + bytes.fromhex(ROUTER[2:])
            + (0).to_bytes(32, "big")
            + len(good.data).to_bytes(32, "big")
            + good.data
        ],
    )
    assert (
        evaluate(policy, PolicyCall(MS, inner_dc, operation=1), ctx()).code
        == "POLICY_DELEGATECALL_NOT_ALLOWED"
    )
    noncanon = MULTISEND_SELECTOR + (64).to_bytes(32, "big") + b"\x00" * 64
    assert evaluate(policy, PolicyCall(MS, noncanon, operation=1), ctx()).code == "POLICY_MALFORMED"


def test_allowance_window_refills(policy) -> None:  # type: ignore[no-untyped-def]
    aid = next(i for i, a in policy.allowances.items() if a.name == "usdc-daily")
    cap = policy.allowances[aid].cap
    spent = {aid: AllowanceState(0, cap, 86400, NOW - 100)}
    assert (
        evaluate(policy, eis(amount_in=1), ctx(allowances=spent)).code
        == "POLICY_ALLOWANCE_EXCEEDED"
    )
    assert (
        evaluate(policy, eis(amount_in=1), ctx(allowances=spent, now=NOW - 100 + 86399)).code
        == "POLICY_ALLOWANCE_EXCEEDED"
    )
    later = NOW - 100 + 86400
    fresh = {t: FeedRead(f.answer, later, 8) for t, f in FEEDS.items()}
    assert evaluate(
        policy, eis(amount_in=cap), ctx(allowances=spent, now=later, feeds=fresh)
    ).allowed


@given(
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(1, 10**5),
    st.integers(0, 10**5),
    st.lists(st.tuples(st.integers(0, 2 * 10**5), st.integers(0, 10**6)), max_size=20),
)
def test_allowance_never_exceeds_cap_or_goes_negative(
    bal: int, extra: int, period: int, start: int, ops: list[tuple[int, int]]
) -> None:
    cap = bal + extra
    s, now = AllowanceState(bal, cap, period, start), start
    for dt_, amount in ops:
        now += dt_
        after = s.spend(amount, now)
        if after is None:
            assert amount > s.refilled(now).balance
        else:
            assert after.balance == s.refilled(now).balance - amount
            s = after
        assert 0 <= s.balance <= cap
        assert s.last_refill <= now


def test_explain_lists_each_condition(policy) -> None:  # type: ignore[no-untyped-def]
    from agent.policy.explain import explain_call

    lines = explain_call(policy, eis(recipient=addr(0x99)), ctx())
    text = "\n".join(lines)
    assert "ok   where.params.tokenIn.eq" in text
    assert "FAIL where.params.recipient.is_safe" in text
    assert lines[-1].startswith("decision: DENY POLICY_PARAM_NOT_SAFE")
    batch = PolicyCall(MS, multisend_calldata([Call(ROUTER, eis().data)]), operation=1)
    assert explain_call(policy, batch, ctx())[-1].startswith("decision: ALLOW")
