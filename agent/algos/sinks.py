"""Where an algorithm's slices go: the smart order router and the one OMS.

:class:`RoutedSliceSink` turns each slice into a parent order of its own (its client id is
the slice's, ``<parent>.s<index>``) that the router splits over every venue and the
:class:`agent.execution.plan.PlanExecutor` executes: children through the OMS, the risk gate
and the signing policy, on-chain legs in one Safe transaction per chain, CEX legs through
ccxt. A slice asked for again after a crash is answered from the OMS (the order store knows
its id), so nothing is sent twice; a refusal comes back with its code.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agent.algos.params import ZERO
from agent.algos.runner import SliceOrder, SliceResult
from agent.errors import AgentError, NoRouteError
from agent.model import Side, Spot


class RoutedSliceSink:
    def __init__(self, app: Any, *, base_decimals: int, quote_decimals: int) -> None:
        """``app``: an :class:`agent.bootstrap.OrderApp` (its manager, router and executor)."""
        self.app = app
        self.bd, self.qd = base_decimals, quote_decimals

    def _known(self, client_order_id: str) -> SliceResult | None:
        m = self.app.manager
        m.sync()
        o = m.store.get(client_order_id)
        if o is None or not o.state.terminal:
            return None
        status = "filled" if o.remaining <= 0 else ("partial" if o.filled > 0 else "unfilled")
        if o.code and o.filled <= 0:
            status = "denied" if o.state.value == "denied" else "rejected"
        return SliceResult(o.filled, o.notional, status, o.code, o.reason)

    async def execute(self, order: SliceOrder) -> SliceResult:
        known = self._known(order.client_order_id)
        if known is not None:
            return known
        side = order.side if isinstance(order.side, Side) else Side(str(order.side))
        size = int(order.quantity.scaleb(self.bd))
        routing = self.app.routing
        inst = Spot(order.base, order.quote)
        try:
            rep = await routing.plan(
                inst, side, size, parent_id=order.client_order_id, limit=order.limit_price
            )
        except NoRouteError as e:
            return SliceResult(ZERO, ZERO, "unfilled", e.code, e.message)
        except AgentError as e:
            return SliceResult(ZERO, ZERO, "rejected", e.code, e.message)
        report = await self.app.executor.run(
            rep.plan,
            replan=routing.replanner(inst, side, order.client_order_id, order.limit_price),
        )
        filled = Decimal(report.filled).scaleb(-self.bd)
        quote = Decimal(report.quote_total).scaleb(-self.qd)
        if report.duplicate:  # raced another process: the store has the answer
            return self._known(order.client_order_id) or SliceResult(ZERO, ZERO, "unfilled")
        status = (
            "filled"
            if filled >= order.quantity
            else ("partial" if filled > 0 else ("denied" if report.code else "unfilled"))
        )
        return SliceResult(filled, quote, status, report.code, report.reason)

    async def cancel_working(self, parent_id: str) -> int:
        """Children of this algorithm still resting on an exchange: cancelled through their
        venue (AMM legs fill or revert; nothing of theirs rests)."""
        m = self.app.manager
        m.sync()
        n = 0
        for o in list(m.store.orders.values()):
            spec = o.spec
            if not str(spec.client_order_id).startswith(f"{parent_id}.s") or o.state.terminal:
                continue
            venue = self.app.executor.cex.get(spec.venue)
            if venue is None or not getattr(venue.capabilities, "cancel", False):
                continue
            try:
                from agent.venues.base import VenueOrderRef

                await venue.cancel(VenueOrderRef(venue.id, spec.client_order_id, o.venue_order_id))
                n += 1
            except AgentError:
                continue  # reconciliation settles it; the pause stands either way
        return n
