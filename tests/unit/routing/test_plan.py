"""RoutePlan and RoutePlanned: the journal round-trips a plan exactly (hash-chain stable)."""

from decimal import Decimal

from agent.journal.codec import registry
from agent.model import Side
from agent.routing.events import RoutePlanned
from agent.routing.plan import LegKind, PlannedChild, RoutePlan


def _plan() -> RoutePlan:
    kids = (
        PlannedChild(
            "p.0", "uniswap_v3@l1:0xpool", LegKind.AMM, 31337, Side.BUY, 10**18, 2_000_000_000,
            6_000_000, 900_000, Decimal("2000"), Decimal("2001.5"), "block:12",
            {"pool": "0xpool", "fee": 3000},
        ),
        PlannedChild(
            "p.1", "binance", LegKind.CEX, None, Side.BUY, 5 * 10**17, 1_000_100_000, 100_000, 0,
            Decimal("2000.2"), Decimal("2000.4"), "book:1733330000000", {"symbol": "WETH/USDC"},
        ),
    )  # fmt: skip
    total = sum(c.quote_amount + c.gas_quote for c in kids)
    return RoutePlan(
        "p", Side.BUY, "WETH", "USDC", 2 * 10**18, Decimal("2100"), kids, 5 * 10**17, total,
        (("uniswap_v2@l1", "stale: block 3 < 12"),), ("uniswap_v3@l1:0xpool", total + 7),
    )  # fmt: skip


def test_route_planned_round_trips_through_the_journal_codec() -> None:
    ev = RoutePlanned("p", _plan())
    name, text = registry.encode(ev)
    assert name == "RoutePlanned"
    back = registry.decode(name, text)
    assert back == ev
    assert registry.encode(back) == (name, text)  # same bytes: the hash chain is stable


def test_filled_is_the_sum_of_children() -> None:
    plan = _plan()
    assert plan.filled == 15 * 10**17
    assert plan.filled + plan.unfilled == plan.size
