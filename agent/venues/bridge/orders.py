"""Bridge transfers as OMS orders: every deposit or withdrawal the venue is asked for is an
order in the one OMS journal (``order-<client_order_id>``), so `agent orders` lists it with
the swaps, CEX orders and options fills.

The venue's own events (agent.bridge.events) stay the bridge's detailed record; this maps
them onto the one order state machine:

  submit()                      -> OrderInitialized + OrderAccepted (unless the caller's OMS
                                   already holds the order: then the caller records it)
  refused before signing        -> OrderDenied       (BridgeTransferRejected)
  the Safe's tx broadcast       -> OrderSubmitted    (tx hash)
  minted on L2 / released on L1 -> OrderFilled       (quantity = gross amount, price = the
                                   share that arrived, fee = the bridge's fee)
  challenged, nothing delivered -> OrderRejected
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agent.bridge.events import BridgeTransferCompleted, BridgeTransferRejected
from agent.model import OrderType, Side, TimeInForce
from agent.oms.events import (
    OrderAccepted,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
)
from agent.oms.manager import OrderManager

STRATEGY = "bridge"
CHECKS = ("bridge.route", "bridge.balance")


class BridgeOrders:
    """The OMS side of one BridgeVenue. Only orders this venue opened are moved here."""

    def __init__(self, manager: OrderManager, venue_id: str) -> None:
        self.manager = manager
        self.venue = venue_id
        self.owned: set[str] = set()

    async def open(self, child: Any, symbol: str) -> None:
        cid = child.client_order_id
        if self.manager.store.get(cid) is not None:
            return  # the caller's OMS holds it (plan execution): the caller records it
        direction = "deposit" if child.side is Side.SELL else "withdrawal"
        await self.manager.record_async(
            [
                OrderInitialized(
                    cid, f"{symbol}/{symbol}", child.side, child.size, OrderType.MARKET, None,
                    TimeInForce.GTC, self.venue, strategy=f"{STRATEGY}.{direction}",
                ),
                OrderAccepted(cid, CHECKS),
            ]
        )  # fmt: skip
        self.owned.add(cid)

    async def sent(self, cid: str, tx_hash: str) -> None:
        o = self.manager.store.get(cid)
        if cid in self.owned and o is not None and not o.state.open and not o.state.terminal:
            await self.manager.record_async([OrderSubmitted(cid, self.venue, tx_hash)])

    async def on_event(self, ev: Any, amounts: tuple[int, int, int, int] | None) -> None:
        """``amounts``: (gross, net, fee, decimals) of the transfer, when known."""
        cid = getattr(ev, "client_order_id", None)
        if cid not in self.owned:
            return
        o = self.manager.store.get(cid)
        if o is None or o.state.terminal:
            return
        if isinstance(ev, BridgeTransferRejected):
            if o.state.open:  # sent, then refused (a revert): the chain said no
                await self.manager.record_async([OrderRejected(cid, ev.code, ev.reason)])
            else:
                await self.manager.record_async([OrderDenied(cid, ev.code, ev.reason, "bridge")])
        elif isinstance(ev, BridgeTransferCompleted):
            if not ev.amount_out or amounts is None:
                await self.manager.record_async(
                    [OrderRejected(cid, "BRIDGE_NOT_DELIVERED", f"{ev.message_id} not delivered")]
                )
                return
            gross, net, fee, dec = amounts
            price = Decimal(net) / Decimal(gross)  # units arriving per unit sent
            sym = o.instrument.split("/")[0]
            await self.manager.record_async(
                [
                    OrderFilled(
                        cid, ev.dest_tx or ev.message_id, o.remaining, price,
                        Decimal(fee).scaleb(-dec), sym,
                    )
                ]
            )  # fmt: skip
