"""Pure parts of plan execution: a batch receipt's Transfer logs split per leg by pool, the pair
a leg may trade, block pins, what "filled as planned" means per venue kind, and bridged-token
reference prices."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.deploy.manifest import Manifest, TokenInfo
from agent.errors import ValidationError
from agent.execution.bridged_prices import BridgedPrices
from agent.execution.fills import TRANSFER_TOPIC
from agent.execution.legs import BuiltLeg, leg_fill, pin_block, resolve_pair
from agent.execution.plan import ChildResult
from agent.model import Quote, Side
from agent.routing.plan import LegKind, PlannedChild

SAFE = "0x" + "5a" * 20
WETH = TokenInfo("WETH", "0x" + "e1" * 20, 18)
USDC = TokenInfo("USDC", "0x" + "c1" * 20, 6)
WETH_B = TokenInfo("WETH.B", "0x" + "e2" * 20, 18)
USDC_B = TokenInfo("USDC.B", "0x" + "c2" * 20, 6)
DAI = TokenInfo("DAI", "0x" + "d1" * 20, 18)
M = Manifest(1, "l2", 1, {}, {t.symbol: t for t in (WETH, USDC, WETH_B, USDC_B, DAI)}, {})
PAIRS = [("WETH.B", "USDC.B"), ("WETH", "USDC")]


def child(i: int = 0, side: Side = Side.BUY, pin: str = "block:9", **ref: str) -> PlannedChild:
    return PlannedChild(f"P.{i}", f"uniswap_v3@l2:0x{i:040x}", LegKind.AMM, 1, side, 10, 30, 0,
                        0, Decimal(3), Decimal(3), pin, ref or None)  # fmt: skip


def log(token: TokenInfo, src: str, dst: str, amount: int) -> dict:
    pad = "0x" + "0" * 24
    return {"address": token.address, "data": hex(amount),
            "topics": [TRANSFER_TOPIC, pad + src[2:], pad + dst[2:]]}  # fmt: skip


def leg(i: int, side: Side) -> BuiltLeg:
    q = Quote(f"v{i}", side, "USDC", "WETH", 1, 1, 5)
    return BuiltLeg(child(i, side), q, f"0x{i + 1:040x}", WETH, USDC, ())


@given(st.lists(st.tuples(st.integers(1, 10**30), st.integers(1, 10**15)), min_size=1,
                max_size=6), st.sampled_from(list(Side)))  # fmt: skip
def test_each_leg_gets_exactly_its_own_transfers(amounts: list, side: Side) -> None:
    legs = [leg(i, side) for i in range(len(amounts))]
    logs = []
    for lg, (base, quote) in zip(legs, amounts, strict=True):
        if side is Side.BUY:
            logs += [log(USDC, SAFE, lg.pool, quote), log(WETH, lg.pool, SAFE, base)]
        else:
            logs += [log(WETH, SAFE, lg.pool, base), log(USDC, lg.pool, SAFE, quote)]
    logs.append(log(USDC, "0x" + "99" * 20, legs[0].pool, 12345))  # someone else's transfer
    for lg, want in zip(legs, amounts, strict=True):
        assert leg_fill(logs, lg, SAFE) == want


def test_the_pair_comes_from_the_plan_and_must_be_the_orders() -> None:
    buy = child(token_in=USDC_B.address, token_out=WETH_B.address)
    assert resolve_pair(M, buy, dict(buy.venue_ref), PAIRS) == (WETH_B, USDC_B)
    sell = child(side=Side.SELL, token_in=WETH.address, token_out=USDC.address)
    assert resolve_pair(M, sell, dict(sell.venue_ref), PAIRS) == (WETH, USDC)
    assert resolve_pair(M, child(), {}, PAIRS) == (WETH_B, USDC_B)  # no tokens named: first pair
    evil = child(token_in=USDC.address, token_out=DAI.address)
    with pytest.raises(ValidationError, match=r"DAI/USDC .* not the plan's pair"):
        resolve_pair(M, evil, dict(evil.venue_ref), PAIRS)
    unknown = child(token_in="0x" + "77" * 20, token_out=WETH.address)
    with pytest.raises(ValidationError, match="is not a token of l2"):
        resolve_pair(M, unknown, dict(unknown.venue_ref), PAIRS)


@pytest.mark.parametrize("pin", ["book:123", "block:", "block:12a", "123"])
def test_on_chain_legs_need_a_block_pin(pin: str) -> None:
    assert pin_block(child(pin="block:42")) == 42
    with pytest.raises(ValidationError, match="is not a block pin"):
        pin_block(child(pin=pin))


def test_filled_as_planned_per_venue_kind() -> None:
    amm = ChildResult("a", "v", LegKind.AMM, 10, 300, 10, 300, planned_fee=1)
    assert amm.exact and amm.expected_quote == 300  # the pool's fee is inside the swap
    cex = ChildResult("c", "x", LegKind.CEX, 10, 301, 10, 300, planned_fee=1)
    assert cex.exact and cex.expected_quote == 300  # the exchange charges its fee apart
    assert not ChildResult("c", "x", LegKind.CEX, 10, 301, 10, 301, planned_fee=1).exact
    assert not ChildResult("a", "v", LegKind.AMM, 10, 300, 9, 270).exact


def test_bridged_tokens_are_priced_by_their_l1_token() -> None:
    asked: list[tuple[str, str]] = []

    async def l1(base: str, quote: str) -> Decimal | None:
        asked.append((base, quote))
        return Decimal(3000) if base == "WETH" else None

    p = BridgedPrices(l1)
    assert asyncio.run(p("WETH.B", "usd")) == Decimal(3000)
    assert asyncio.run(p("DAI", "USD")) is None
    assert asked == [("WETH", "USD"), ("DAI", "USD")]


def _plan(children: list[PlannedChild], size: int = 100, limit: str | None = None) -> Any:
    from agent.routing.plan import RoutePlan

    lim = None if limit is None else Decimal(limit)
    return RoutePlan("P", Side.BUY, "WETH", "USDC", size, lim, tuple(children), 0, 0, (), None)


@pytest.mark.parametrize(
    ("kids", "size", "limit", "match"),
    [
        ([child(0), child(0)], 100, None, "client ids repeat"),
        ([child(0, side=Side.SELL)], 100, None, "sell on a buy order"),
        ([child(0), child(1)], 15, None, "exceed the order's size"),
        ([child(0)], 100, "2.9", "beyond the limit 2.9"),
    ],
)
def test_a_plan_the_executor_would_not_run_is_refused(kids, size, limit, match) -> None:  # type: ignore[no-untyped-def]
    from agent.execution.plan import PlanExecutor

    ex = PlanExecutor(None, chains={}, base_decimals=0, quote_decimals=0)  # type: ignore[arg-type]
    ex.validate(_plan([child(0), child(1)], 20, "3"))  # 10 + 10 units at 3.0 each: fine
    with pytest.raises(ValidationError, match=match):
        ex.validate(_plan(kids, size, limit))
