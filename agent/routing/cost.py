"""All-in cost of a quote, so venues compare on what the fund actually pays or receives.

For a BUY the fund pays ``amount_in`` of the quote asset plus gas; for a SELL it receives
``amount_out`` minus gas. Gas is converted into the quote asset with the native coin's
price in that asset (base units), so everything is compared in one unit, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from agent.errors import NoRouteError
from agent.model import Quote, Side


@dataclass(frozen=True, slots=True)
class GasPrice:
    wei_per_gas: int
    # quote-asset base units per 1 wei of the native coin (e.g. USDC units per wei)
    native_in_quote: Fraction


@dataclass(frozen=True, slots=True)
class Scored:
    quote: Quote
    gas_cost_quote: int  # quote-asset base units
    all_in: int  # BUY: paid incl. gas (lower is better); SELL: received net of gas (higher)


def score(q: Quote, gas: GasPrice) -> Scored:
    gas_quote = int(q.gas_units * gas.wei_per_gas * gas.native_in_quote)
    if q.side is Side.BUY:
        return Scored(q, gas_quote, q.amount_in + gas_quote)
    return Scored(q, gas_quote, q.amount_out - gas_quote)


def best(quotes: Sequence[Quote], gas: GasPrice) -> tuple[Scored, list[Scored]]:
    """The best quote by all-in cost, and every quote scored (for the journal and report)."""
    if not quotes:
        raise NoRouteError("no venue returned a quote")
    scored = [score(q, gas) for q in quotes]
    side = quotes[0].side
    pick = (
        min(scored, key=lambda s: s.all_in)
        if side is Side.BUY
        else max(scored, key=lambda s: s.all_in)
    )
    return pick, scored
