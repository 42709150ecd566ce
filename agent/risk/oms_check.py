"""Plug the risk gate into the OMS: ``OrderManager(journal, checks=[RiskGateCheck(...)])``.

The OMS runs its checks as ``check(SubmitOrder, OrderStore) -> Decision``. This adapter turns
the command into an :class:`OrderProposal` (``resolve``: the OMS knows instruments by symbol,
the caller maps them to instrument objects and attaches the quote), builds or fetches the
context (``context``), runs the gate and returns its decision. ``explain`` returns the
decision with every check's verdict, which ``OrderManager`` journals with the order
(``OrderAccepted.verdicts`` / ``OrderDenied.verdicts``); ``on_result`` also receives the full
:class:`GateResult`. Anything that goes wrong on the way is a denial, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.errors import AgentError
from agent.model.decisions import Decision, Deny
from agent.model.enums import Side
from agent.model.instruments import Instrument
from agent.risk.checks import OrderProposal, RiskContext
from agent.risk.gate import GateResult, RiskGate

if TYPE_CHECKING:
    from agent.oms.commands import SubmitOrder


def proposal_from_command(
    cmd: SubmitOrder,
    instrument: Instrument,
    *,
    quote_price: Decimal | None = None,
    multiplier: Decimal = Decimal(1),
) -> OrderProposal:
    """A market order's worst price is its quote moved by ``max_slippage_bps`` (so the
    slippage and price-band checks see what the order may really pay)."""
    price = cmd.limit_price
    if price is None and quote_price is not None and cmd.max_slippage_bps is not None:
        slip = Decimal(cmd.max_slippage_bps) / Decimal(10_000)
        price = quote_price * (1 + slip if cmd.side is Side.BUY else 1 - slip)
    return OrderProposal(
        client_order_id=cmd.client_order_id,
        instrument=instrument,
        side=cmd.side,
        size=cmd.quantity,
        venue=cmd.venue,
        price=price,
        quote_price=quote_price,
        multiplier=multiplier,
    )


class RiskGateCheck:
    name = "risk_gate"

    def __init__(
        self,
        resolve: Callable[[SubmitOrder], OrderProposal],
        context: Callable[[OrderProposal], RiskContext],
        gate: RiskGate | None = None,
        on_result: Callable[[str, GateResult], None] | None = None,
    ) -> None:
        self.resolve = resolve
        self.context = context
        self.gate = gate or RiskGate()
        self.on_result = on_result

    def __call__(self, cmd: SubmitOrder, store: Any) -> Decision:
        return self.explain(cmd, store)[0]

    def explain(
        self, cmd: SubmitOrder, store: Any
    ) -> tuple[Decision, tuple[tuple[str, Decision], ...]]:
        """(the gate's decision, (check name, Decision) for every check run). ``OrderManager``
        calls this when present and journals each inner verdict with the order. When the
        order cannot even be assessed (unknown instrument, no market data), the inner tuple
        is empty and the decision is this adapter's own denial."""
        try:
            proposal = self.resolve(cmd)
            ctx = self.context(proposal)
        except AgentError as e:
            return Deny("RISK_INPUT_MISSING", f"cannot assess the order: {e}", self.name), ()
        except Exception as e:  # a failing context builder must refuse, not crash the OMS
            return Deny("RISK_CHECK_ERROR", f"{type(e).__name__}: {e}", self.name), ()
        result = self.gate.evaluate(proposal, ctx)
        if self.on_result is not None:
            self.on_result(cmd.client_order_id, result)
        return result.decision, result.pairs
