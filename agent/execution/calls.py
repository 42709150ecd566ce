"""A swap intent -> the calls the Safe makes: quotes from every AMM venue at ONE pinned
block, the best all-in quote, then the venue's approve / swap / approve(0) with recipient =
the Safe and the slippage bound.

This is the ONE place that turns an intent into calls: :class:`agent.execution.swap.SwapPipeline`
runs these steps (:func:`quote_all`, :func:`choose`, :func:`swap_calls`) between its OMS,
risk and journal steps, and `agent policy explain --intent` runs them all at once
(:func:`plan_swap`), so the policy's verdict shown is on exactly what the pipeline signs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from agent.errors import NoRouteError, ValidationError
from agent.model import Quote, Side, Spot, SwapIntent
from agent.routing.cost import GasPrice, Scored, best
from agent.wallet.multisend import Call

DEADLINE_S = 300
DEFAULT_SLIPPAGE_BPS = 30
_INTENT = re.compile(
    r"^\s*(?P<side>buy|sell)\s+(?P<size>[0-9][0-9_]*(?:\.[0-9]+)?)\s+(?P<base>[A-Za-z0-9]+)"
    r"\s+(?:with|for|in)\s+(?P<quote>[A-Za-z0-9]+)"
    r"(?:\s+(?:max-slippage|within|slippage)\s+(?P<slip>[0-9.]+)\s*(?P<unit>bps|%))?\s*$",
    re.I,
)


@dataclass(frozen=True)
class PlannedSwap:
    intent: SwapIntent
    block: int
    quote: Quote  # the chosen one
    scored: tuple[Scored, ...]  # every venue's quote, best first
    calls: tuple[Call, ...]


def parse_swap_intent(text: str, client_id: str = "explain") -> SwapIntent:
    """``buy 25 WETH with USDC max-slippage 30bps`` / ``sell 2 WETH for USDC within 0.5%``."""
    m = _INTENT.match(text)
    if not m:
        raise ValidationError(
            "--intent",
            f"{text!r} is not a swap intent",
            'write it like "buy 25 WETH with USDC max-slippage 30bps"',
        )
    bps = DEFAULT_SLIPPAGE_BPS
    if m.group("slip"):
        try:
            v = Decimal(m.group("slip"))
        except InvalidOperation:
            raise ValidationError("--intent", f"{m.group('slip')!r} is not a number") from None
        v = v * 100 if m.group("unit") == "%" else v
        if v != v.to_integral_value():
            raise ValidationError("--intent", f"slippage {v} bps is not a whole number of bps")
        bps = int(v)
    return SwapIntent(
        client_id,
        Side(m.group("side").lower()),
        m.group("base").upper(),
        m.group("quote").upper(),
        Decimal(m.group("size").replace("_", "")),
        bps,
    )


async def quote_all(venues: Sequence[Any], intent: SwapIntent, block: int) -> list[Quote]:
    """Every venue's quote at ``block``; a venue with no route is left out, other errors raise."""
    instrument = Spot(intent.base, intent.quote)
    results = await asyncio.gather(
        *(v.quote(instrument, intent.side, intent.size, block=block) for v in venues),
        return_exceptions=True,
    )
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, NoRouteError):
            raise r
    return [r for r in results if isinstance(r, Quote)]


def gas_price(fee_wei: int, q: Quote, intent: SwapIntent) -> GasPrice:
    """Gas in quote-asset units: exact when the base is the native coin's wrapper (WETH);
    otherwise gas is left out of the comparison (every AMM here costs similar gas)."""
    if intent.base == "WETH" and q.amount_in and q.amount_out:
        per_wei = (
            Fraction(q.amount_in, q.amount_out) if intent.side is Side.BUY
            else Fraction(q.amount_out, q.amount_in)
        )  # fmt: skip
        return GasPrice(fee_wei, per_wei)
    return GasPrice(fee_wei, Fraction(0))


def choose(
    quotes: Sequence[Quote], intent: SwapIntent, fee_wei: int
) -> tuple[Scored, list[Scored]]:
    """Pure: the best quote by all-in cost (fees, impact, gas) and every quote scored."""
    if not quotes:
        raise NoRouteError(f"no venue can fill {intent.size} {intent.base}/{intent.quote}")
    return best(list(quotes), gas_price(fee_wei, quotes[0], intent))


def swap_calls(
    venues: Sequence[Any], q: Quote, intent: SwapIntent, *, safe: str, now: int
) -> tuple[Call, ...]:
    """Pure: the quoted venue's approve / swap / approve(0), recipient = the Safe, with the
    intent's slippage bound and a deadline ``DEADLINE_S`` after ``now``."""
    venue = next(v for v in venues if v.id == q.venue)
    return tuple(
        venue.build_swap(
            q, recipient=safe, slippage_bps=intent.max_slippage_bps, deadline=now + DEADLINE_S
        )
    )


def build_calls(
    venues: Sequence[Any],
    quotes: Sequence[Quote],
    intent: SwapIntent,
    *,
    safe: str,
    fee_wei: int,
    now: int,
    block: int,
) -> PlannedSwap:
    """Pure: the best quote by all-in cost and its venue's calls (recipient = the Safe)."""
    pick, scored = choose(quotes, intent, fee_wei)
    q = pick.quote
    calls = swap_calls(venues, q, intent, safe=safe, now=now)
    return PlannedSwap(intent, block, q, tuple(scored), calls)


async def gas_price_wei(rpc: Any) -> int:
    return int(await rpc.call("eth_gasPrice"), 16)


async def plan_swap(
    rpc: Any, venues: Sequence[Any], intent: SwapIntent, *, safe: str, now: int
) -> PlannedSwap:
    """Quote at one pinned block, pick, build: what the swap pipeline would send."""
    block = await rpc.block_number()
    quotes, fee = await asyncio.gather(quote_all(venues, intent, block), gas_price_wei(rpc))
    return build_calls(venues, quotes, intent, safe=safe, fee_wei=fee, now=now, block=block)
