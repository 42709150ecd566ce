"""The desk-wide trading state as a gate: HALTED stops everything new, REDUCING lets only
reduce-only orders out, and cancels always pass (a kill switch that blocked cancels would
trap risk in the market)."""

from __future__ import annotations

from agent.model import TradingState
from agent.model.decisions import Allow, Decision, Deny
from agent.oms.commands import CancelOrder, SubmitOrder

RULE = "trading_state"


def gate(state: TradingState, command: SubmitOrder | CancelOrder) -> Decision:
    if isinstance(command, CancelOrder):
        return Allow(RULE, "cancels always pass")
    if state is TradingState.HALTED:
        return Deny(
            "TRADING_HALTED",
            "trading is halted (kill switch); run `agent resume` to allow new orders",
            RULE,
        )
    if state is TradingState.REDUCING and not command.reduce_only:
        return Deny(
            "TRADING_REDUCING",
            "trading state is REDUCING: only reduce-only orders are accepted",
            RULE,
        )
    return Allow(RULE)
