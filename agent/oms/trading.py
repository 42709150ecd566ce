"""The desk-wide trading state as a gate: HALTED stops everything new, REDUCING lets only
orders out that reduce exposure, and cancels always pass (a kill switch that blocked cancels
would trap risk in the market).

Under REDUCING an order passes when it is flagged reduce-only, or when the fund's position in
its base asset (``exposure``: signed, in base units of the asset, gathered by the caller from
every account) shows that it reduces the absolute exposure without crossing zero: a sell of at
most the long, a buy of at most the short. Without a position the gate cannot tell, and denies.
"""

from __future__ import annotations

from decimal import Decimal

from agent.model import Side, TradingState
from agent.model.decisions import Allow, Decision, Deny
from agent.oms.commands import CancelOrder, SubmitOrder

RULE = "trading_state"


def reduces(side: Side, quantity: Decimal, exposure: Decimal) -> bool:
    """True if the order shrinks ``|exposure|`` and does not flip its sign."""
    if quantity <= 0:
        return False
    if side is Side.SELL:
        return exposure > 0 and quantity <= exposure
    return exposure < 0 and quantity <= -exposure


def gate(
    state: TradingState, command: SubmitOrder | CancelOrder, exposure: Decimal | None = None
) -> Decision:
    if isinstance(command, CancelOrder):
        return Allow(RULE, "cancels always pass")
    if state is TradingState.HALTED:
        return Deny(
            "TRADING_HALTED",
            "trading is halted (kill switch); run `agent resume` to allow new orders",
            RULE,
        )
    if state is TradingState.REDUCING and not command.reduce_only:
        if exposure is not None and reduces(command.side, command.quantity, exposure):
            return Allow(RULE, f"reduces the position of {exposure} without crossing zero")
        held = "no known position" if exposure is None else f"a position of {exposure}"
        return Deny(
            "TRADING_REDUCING",
            f"trading state is REDUCING: only orders that reduce exposure are accepted "
            f"({command.side.value} {command.quantity} against {held})",
            RULE,
        )
    return Allow(RULE)
