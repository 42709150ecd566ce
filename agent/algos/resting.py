"""Slices that rest on an exchange's book: an Iceberg's CEX limit children.

:class:`RestingSliceSink` places each slice as ONE GTC limit order at the parent's limit on a
connected exchange (through the ccxt adapter, idempotent on the slice's client id) and records
it in the one OMS like every other child: ``SubmitOrder`` (the trading-state gate and the
OMS's checks), ``OrderSubmitted``, a fill event per exchange trade (trade ids deduplicated by
the OMS), ``OrderCancelled`` when the exchange says so. It answers ``working`` while the order
rests; the runner polls it (:meth:`poll`) until the exchange reports it done.

Native where the venue supports it: a Binance market whose exchange info says
``icebergAllowed`` takes the whole rest as one order with ``icebergQty`` = the displayed part
(the exchange shows that much and refills it from the hidden rest as it fills). Elsewhere the
iceberg is emulated: each slice is a visible order of the displayed size, and the next one is
placed when it has filled (replenish on fill). On-chain, where nothing rests, the Iceberg's
slices go through the router instead (:class:`agent.algos.sinks.RoutedSliceSink`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agent.algos.params import ZERO
from agent.algos.runner import SliceOrder, SliceResult
from agent.errors import AgentError
from agent.model import OrderType, Side, Spot, TimeInForce
from agent.oms.commands import SubmitOrder
from agent.oms.events import (
    OrderCancelled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderSubmitted,
)
from agent.oms.order import OrderState
from agent.venues.base import ChildOrder, VenueOrderRef

STRATEGY = "algo-resting"


def supports_iceberg(
    venue: Any, symbol: str, size: Decimal | None = None, display: Decimal | None = None
) -> bool:
    """Whether ``symbol`` on ``venue`` takes ``size`` shown ``display`` at a time as a native
    iceberg: Binance's exchange info carries ``icebergAllowed`` and the ICEBERG_PARTS filter
    (at most that many displayed parts) per symbol; ccxt keeps the raw entry as ``info``."""
    if getattr(venue.cfg, "exchange_id", "") != "binance":
        return False
    info = ((venue.ex.markets or {}).get(symbol) or {}).get("info") or {}
    if not info.get("icebergAllowed"):
        return False
    if size is not None and display:
        for f in info.get("filters") or ():
            if f.get("filterType") == "ICEBERG_PARTS" and -(-size // display) > int(f["limit"]):
                return False  # more parts than the venue allows: emulated instead
    return True


class RestingSliceSink:
    """``app``: an agent.bootstrap.OrderApp (its manager); ``venue``: a connected CexVenue;
    ``symbol``: the venue's symbol of the pair (ETH/USDC for WETH/USDC)."""

    rests = True

    def __init__(self, app: Any, venue: Any, symbol: str, *, native: bool) -> None:
        """``native``: show ``display`` through the venue's own iceberg (see
        :func:`supports_iceberg`), else one displayed order after the other."""
        self.app, self.venue, self.symbol = app, venue, symbol
        self.native_display = native
        b, _, q = symbol.partition("/")
        self.inst = Spot(b, q)
        dec = venue.cfg.asset_decimals
        self.bd, self.qd = dec.get(b, 8), dec.get(q, 8)

    # --- the OMS's view -----------------------------------------------------------------------
    def _order(self, cid: str) -> Any:
        m = self.app.manager
        m.sync()
        return m.store.get(cid)

    @staticmethod
    def _result(o: Any, status: str | None = None) -> SliceResult:
        if status is None:
            status = "filled" if o.remaining <= 0 else ("partial" if o.filled > 0 else "unfilled")
            if o.code and o.filled <= 0:
                status = "denied" if o.state is OrderState.DENIED else "rejected"
        return SliceResult(o.filled, o.notional, status, o.code, o.reason, _fees_in_quote(o))

    async def execute(self, order: SliceOrder) -> SliceResult:
        o = self._order(order.client_order_id)
        if o is not None:  # asked again (after a crash): the OMS knows it; never a second one
            return self._result(o) if o.state.terminal else self._working(o)
        side = order.side if isinstance(order.side, Side) else Side(str(order.side))
        cmd = SubmitOrder(
            order.client_order_id, f"{order.base}/{order.quote}", side, order.quantity,
            OrderType.LIMIT, order.limit_price, TimeInForce.GTC, venue=self.venue.id,
            max_slippage_bps=order.max_slippage_bps, strategy=STRATEGY,
        )  # fmt: skip
        o = await self.app.manager.submit_async(cmd)
        if o.state is OrderState.DENIED:
            return self._result(o)
        display = order.display if self.native_display and order.display > 0 else None
        child = ChildOrder(
            order.client_order_id, self.inst, side, order.quantity, OrderType.LIMIT,
            order.limit_price, TimeInForce.GTC, display=display,
        )  # fmt: skip
        try:
            ref = await self.venue.submit(child)
        except AgentError as e:
            await self.app.manager.record_async(
                [OrderRejected(order.client_order_id, e.code, str(e))]
            )
            return self._result(self._order(order.client_order_id))
        await self.app.manager.record_async(
            [OrderSubmitted(order.client_order_id, self.venue.id, ref.venue_order_id)]
        )
        return self._working(self._order(order.client_order_id))

    def _working(self, o: Any) -> SliceResult:
        return SliceResult(o.filled, o.notional, "working")

    async def poll(self, order: SliceOrder) -> SliceResult | None:
        """The exchange's trades of this order into the OMS; its result once the exchange
        reports it done (filled, cancelled, expired), else None (still resting)."""
        o = self._order(order.client_order_id)
        if o is None:
            return None
        if o.state.terminal:
            return self._result(o)
        if not o.venue_order_id:  # accepted, never confirmed sent: ask the venue by id
            return None
        ref = VenueOrderRef(self.venue.id, order.client_order_id, o.venue_order_id)
        status = await self.venue.order_status(ref)
        await self._record_fills(order, ref)
        if status is None or status.state.value not in ("filled", "cancelled", "expired"):
            return None
        o = self._order(order.client_order_id)
        if not o.state.terminal:
            if status.filled.scaleb(self.bd) > o.filled.scaleb(self.bd):
                return None  # done at the venue, a trade not listed yet: read it next time
            left = o.quantity - o.filled
            await self.app.manager.record_async(
                [OrderCancelled(order.client_order_id, f"{status.state.value}: {left} unfilled")]
            )
            o = self._order(order.client_order_id)
        return self._result(o)

    async def _record_fills(self, order: SliceOrder, ref: VenueOrderRef) -> None:
        rep = await self.venue.fills_since(None)
        o = self._order(order.client_order_id)
        seen = o.trade_ids
        buy = o.side is Side.BUY
        events: list[Any] = []
        left = o.remaining
        for f in rep.fills:
            tid = f"{self.venue.id}:{f.trade_id}"
            if f.order_id != ref.venue_order_id or tid in seen:
                continue
            base_u, quote_u = (f.amount_out, f.amount_in) if buy else (f.amount_in, f.amount_out)
            q = min(Decimal(base_u).scaleb(-self.bd), left)
            if q <= 0:
                continue
            px = Decimal(quote_u).scaleb(-self.qd) / Decimal(base_u).scaleb(-self.bd)
            fee = Decimal(f.fee).scaleb(-self.venue.cfg.asset_decimals.get(f.fee_asset or "", 8))
            cls = OrderFilled if q == left else OrderPartiallyFilled
            events.append(cls(order.client_order_id, tid, q, px, fee, f.fee_asset or ""))
            left -= q
        if events:
            await self.app.manager.record_async(events)

    async def cancel_working(self, parent_id: str) -> int:
        """This parent's resting orders cancelled at the exchange (their fills so far stay);
        the runner's next poll reads them as done."""
        m = self.app.manager
        m.sync()
        n = 0
        for o in list(m.store.orders.values()):
            cid = str(o.spec.client_order_id)
            if not cid.startswith(f"{parent_id}.s") or o.state.terminal or not o.venue_order_id:
                continue
            try:
                await self.venue.cancel(VenueOrderRef(self.venue.id, cid, o.venue_order_id))
                n += 1
            except AgentError:
                continue  # reconciliation settles it; the pause stands either way
        return n


def _fees_in_quote(o: Any) -> Decimal:
    """The exchange's fees in quote units: Binance charges a buy's fee in the base asset it
    delivers (valued at the order's average price) and a sell's in the quote asset."""
    quote = str(o.instrument).partition("/")[2]
    avg = o.avg_price or ZERO
    total = ZERO
    for asset, amount in o.fees:
        total += amount if asset in (quote, quote.removesuffix(".B")) else amount * avg
    return total
