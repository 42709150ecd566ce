"""The daemon's order intake: accept, acknowledge, then route and execute behind.

``POST /v1/orders`` (without an algorithm) and FIX NewOrderSingle both come here:

1. validate (tokens of the primary chain's manifest, size in base units, order type / limit
   price / time in force, slippage), a cheap risk pre-check (the trading state; under
   REDUCING the fund's position; with a price at hand, the order's notional against
   ``risk.max_order_notional``) -- a refusal here creates no order, the id stays usable;
2. the parent journaled as ``OrderInitialized`` + ``OrderAccepted`` (durable: the journal's
   append returns after its commit) on the daemon's one journal, strategy ``route``;
3. the caller acknowledges (REST 202 with a Location, FIX ExecutionReport New);
4. one worker, in acceptance order: the router plans the parent over every venue the daemon
   has built (each chain's Uniswap pools, the L2 leg when a second wallet holds bridged tokens,
   every CEX venue) and the :class:`~agent.execution.plan.PlanExecutor` executes it -- the path
   of ``agent trade order``: every child through the swap pipeline's risk gate
   (:class:`~agent.execution.risk.PlanRisk`), the signing policy, one Safe transaction per
   chain under that chain's lock. The outcome reaches clients as journal events (WebSocket,
   FIX ExecutionReports, ``GET /v1/orders/{id}``).

Crash guarantees: a child is submitted only after the parent's RoutePlanned is journaled, and a
batch is sent only after its children are, so a parent still ACCEPTED without a plan has sent
nothing. At start-up (:meth:`Intake.recover`) plans that were under way settle from the chain
(``recover_plans``: mined batches fill, never re-sent), then this daemon's parents that can no
longer progress end with a reason: never planned -> EXPIRED; planned, nothing in flight ->
CANCELLED with what is unfilled. A parent is executed at most once (``run_accepted`` refuses a
parent that is not ACCEPTED or already has a plan). The SIGTERM drain finishes the order in
execution and expires those still queued, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.errors import AgentError, DuplicateOrderError, NoRouteError, ValidationError
from agent.model import OrderType, Side, Spot, TimeInForce, TradingState
from agent.oms.commands import SubmitOrder
from agent.oms.events import OrderDenied, OrderExpired
from agent.oms.order import Order, OrderState
from agent.oms.trading import gate, reduces

log = logging.getLogger("agent.service.intake")
PARENT_STRATEGY = "route"  # agent.execution.plan.PARENT_STRATEGY
UNSUPPORTED_TIF = {
    TimeInForce.GTC: "a routed plan executes what fills now and cannot rest on-chain",
    TimeInForce.FOK: "a plan's on-chain and CEX children cannot fill all-or-none together",
}


class IntakeRefused(AgentError):
    """Refused before an order exists (nothing journaled, the client id stays usable)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One parent order as REST or FIX carries it (human units, exact)."""

    client_order_id: str
    side: Side
    base: str
    quote: str
    size: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.IOC
    max_slippage_bps: int | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    order: Order
    duplicate: bool = False


class Intake:
    """``manager``: an OrderManager on the daemon's journal whose checks are the
    children's risk gate (PlanRisk); ``make_executor(base_decimals, quote_decimals)``: a
    PlanExecutor over the daemon's chains and exchanges (one per pair's decimals, all on that
    manager); ``routing``: the OrderRouting over the same connections; ``venue``: this
    daemon's tag on its parents (``router:<primary Safe>``), so recovery touches only its
    own; ``decimals``: symbol -> decimals of the primary chain's tokens."""

    def __init__(
        self, daemon: Any, manager: Any, make_executor: Any, routing: Any, *, venue: str,
        decimals: dict[str, int], max_notional: Decimal | None = None, max_queued: int = 1_000,
    ) -> None:  # fmt: skip
        self.d = daemon
        self.manager = manager
        self.make_executor = make_executor
        self.routing = routing
        self.venue = venue
        self.decimals = decimals
        self.max_notional = max_notional
        self.max_queued = max_queued
        self._executors: dict[tuple[int, int], Any] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.held: list[str] = []  # accepted, queued once acknowledged (accept(hold=True))
        self.executing: str | None = None
        self.idle = asyncio.Event()  # set while no order is being executed
        self.idle.set()
        self.closing = False
        self._worker: asyncio.Task[Any] | None = None
        self._last_price: dict[tuple[str, str], Decimal] = {}

    def executor_for(self, base: str, quote: str, slippage_bps: int | None = None) -> Any:
        """The PlanExecutor of a pair's decimals and an order's slippage bound (``None``: the
        daemon's ``[algos] slippage_bps``)."""
        key = (self.decimals[base], self.decimals[quote], slippage_bps)
        if key not in self._executors:
            self._executors[key] = self.make_executor(*key)
        return self._executors[key]

    # --- accept ------------------------------------------------------------------------------
    def validate(self, r: OrderRequest) -> None:
        for f in ("base", "quote"):
            sym = getattr(r, f)
            if sym not in self.decimals:
                raise IntakeRefused(
                    "UNKNOWN_ASSET", f"{f}: {sym!r} is not a token of the daemon's chains "
                    f"(one of {', '.join(sorted(self.decimals))})", f,
                )  # fmt: skip
        if r.base == r.quote:
            raise IntakeRefused("INVALID_VALUE", "quote: must differ from base", "quote")
        d = self.decimals[r.base]
        if r.size <= 0 or -r.size.as_tuple().exponent > d:  # type: ignore[operator]
            raise IntakeRefused(
                "INVALID_SIZE", f"size: {r.size} is not a positive amount of {r.base} with at "
                f"most {d} decimals", "size",
            )  # fmt: skip
        if r.size.scaleb(d) >= 1 << 256:
            raise IntakeRefused("INVALID_SIZE", f"size: {r.size} is beyond any amount", "size")
        if r.order_type is OrderType.LIMIT and r.limit_price is None:
            raise IntakeRefused(
                "LIMIT_PRICE_REQUIRED", "limit_price: a limit order needs a limit price "
                "(quote per base)", "limit_price",
            )  # fmt: skip
        if r.order_type is OrderType.MARKET and r.limit_price is not None:
            raise IntakeRefused(
                "LIMIT_PRICE_ON_MARKET", "limit_price: a market order takes no limit price; "
                "send order_type limit", "limit_price",
            )  # fmt: skip
        if r.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise IntakeRefused(
                "UNSUPPORTED_ORDER_TYPE", f"order_type: {r.order_type.value} is not routed; "
                "use market or limit", "order_type",
            )  # fmt: skip
        if r.limit_price is not None and (not r.limit_price.is_finite() or r.limit_price <= 0):
            raise IntakeRefused("INVALID_VALUE", "limit_price: must be positive", "limit_price")
        if r.time_in_force in UNSUPPORTED_TIF:
            raise IntakeRefused(
                "UNSUPPORTED_TIME_IN_FORCE", f"time_in_force: {r.time_in_force.value} is "
                f"refused ({UNSUPPORTED_TIF[r.time_in_force]}); use ioc", "time_in_force",
            )  # fmt: skip
        bps = r.max_slippage_bps
        if bps is not None and not 0 <= bps <= 1_000:
            raise IntakeRefused(
                "INVALID_VALUE", f"max_slippage_bps: {bps} is outside 0..1000", "max_slippage_bps"
            )

    def command(self, r: OrderRequest, reduce_only: bool = False) -> SubmitOrder:
        return SubmitOrder(
            r.client_order_id, f"{r.base}/{r.quote}", r.side, r.size, r.order_type,
            r.limit_price, r.time_in_force, venue=self.venue, reduce_only=reduce_only,
            max_slippage_bps=r.max_slippage_bps, strategy=PARENT_STRATEGY,
        )  # fmt: skip

    async def accept(self, r: OrderRequest, *, hold: bool = False) -> Accepted:
        """Validated, pre-checked, journaled ACCEPTED (or DENIED by the OMS), queued.
        ``hold``: queued only at :meth:`release` -- the caller acknowledges first, so the
        execution's work on this loop does not delay the acknowledgement (FIX)."""
        if self.closing:
            raise IntakeRefused("DRAINING", "the daemon is shutting down; retry elsewhere")
        self.validate(r)
        m = self.manager
        m.sync()  # a halt or an order placed by another process counts
        existing = m.store.get(r.client_order_id)
        if existing is not None:
            spec, cmd = existing.spec, self.command(r, existing.reduce_only)
            if (spec.instrument, spec.side, spec.quantity, spec.order_type, spec.limit_price,
                    spec.time_in_force) != (cmd.instrument, cmd.side, cmd.quantity,
                                            cmd.order_type, cmd.limit_price, cmd.time_in_force):  # fmt: skip
                raise DuplicateOrderError(
                    f"client_order_id {r.client_order_id!r} is already used by a different "
                    "order; use a new id (resubmitting the same order is safe)"
                )
            return Accepted(existing, duplicate=True)
        state = m.store.trading_state
        reduce_only = False
        if state is TradingState.REDUCING and self.d is not None:
            reduce_only = reduces(r.side, r.size, await self.d.exposure_of(r.base))
        gated = gate(state, self.command(r, reduce_only))
        if not gated.allowed:  # the desk's state, not this order: no order, the id stays free
            raise IntakeRefused(getattr(gated, "code", "TRADING_HALTED"), gated.reason)
        self._pre_check_notional(r)
        waiting = self.queue.qsize() + len(self.held)
        if waiting >= self.max_queued:  # before anything is journaled: the id stays free
            raise IntakeRefused(
                "INTAKE_BUSY",
                f"{waiting} accepted orders are waiting to execute (api.max_queued_orders = "
                f"{self.max_queued}); retry once they have, or raise the limit",
            )
        o = await m.submit_async(self.command(r, reduce_only))
        if o.state is OrderState.ACCEPTED:
            if hold:
                self.held.append(o.client_order_id)
            else:
                self.queue.put_nowait(o.client_order_id)
        return Accepted(o)

    def release(self) -> None:
        """Queue the held orders (in acceptance order), once their acknowledgement is out."""
        while self.held:
            self.queue.put_nowait(self.held.pop(0))

    def _pre_check_notional(self, r: OrderRequest) -> None:
        """With a price at hand (the limit, else the last reference price of the pair), an
        order whose notional is beyond ``risk.max_order_notional`` is refused up front; the
        children's gate checks each child again at execution."""
        cap = self.max_notional
        px = r.limit_price or self._last_price.get((r.base, r.quote))
        if cap is None or px is None:
            return
        notional = r.size * px
        if notional > cap:
            raise IntakeRefused(
                "RISK_MAX_NOTIONAL", f"size: notional {notional:.2f} {r.quote} exceeds "
                f"risk.max_order_notional {cap}", "size",
            )  # fmt: skip

    # --- execute -----------------------------------------------------------------------------
    def start(self) -> None:
        self._worker = asyncio.create_task(self._work(), name="order-intake")

    async def _work(self) -> None:
        while True:
            cid = await self.queue.get()
            if self.closing:
                await self._expire(cid, "the daemon stopped before executing it")
                self.queue.task_done()
                continue
            self.executing = cid
            self.idle.clear()
            try:
                await self.execute(cid)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # journaled below if the order is still untouched
                log.warning("order %s: %s", cid, e)
                await self._end_untouched(cid, getattr(e, "code", "ERROR"), str(e))
            finally:
                self.executing = None
                self.idle.set()
                self.queue.task_done()
                self.d._kick.set()  # the follower streams the events (WebSocket, metrics)
                if self.d.fix is not None:
                    self.d.fix.notify()

    async def execute(self, cid: str) -> Any:
        """Plan and execute one accepted parent (returns the PlanReport, or None)."""
        m = self.manager
        m.sync()
        o = m.store.get(cid)
        if o is None or o.state is not OrderState.ACCEPTED:
            return None  # cancelled (or expired) while queued
        base, quote = o.instrument.split("/")
        inst = Spot(base, quote)
        units = int(o.quantity.scaleb(self.decimals[base]))
        lim = o.limit_price
        try:
            rep = await self.routing.plan(inst, o.side, units, parent_id=cid, limit=lim)
        except NoRouteError as e:  # incl. ROUTE_LIMIT_UNREACHABLE: nothing was sent
            await m.record_async([OrderDenied(cid, e.code, str(e), "router")])
            return None
        plan = rep.plan
        ex = self.executor_for(base, quote, o.max_slippage_bps)
        if plan.children:  # the pair's latest price: the next orders' notional pre-check
            q = sum(c.quote_amount for c in plan.children)
            self._last_price[(base, quote)] = Decimal(q).scaleb(-ex.qd) / Decimal(
                plan.filled
            ).scaleb(-ex.bd)
        else:
            why = f"no venue fills any of it{' within the limit ' + str(lim) if lim else ''}"
            await m.record_async([OrderDenied(cid, "ROUTE_UNFILLED", why, "router")])
            return None
        return await ex.run_accepted(plan, replan=self.routing.replanner(inst, o.side, cid, lim))

    async def _end_untouched(self, cid: str, code: str, reason: str) -> None:
        m = self.manager
        m.sync()
        o = m.store.get(cid)
        if o is not None and o.state is OrderState.ACCEPTED and not m.store.plans.get(cid):
            await m.record_async([OrderDenied(cid, code, f"not executed: {reason}", "intake")])

    async def _expire(self, cid: str, why: str) -> None:
        m = self.manager
        m.sync()
        o = m.store.get(cid)
        if o is not None and o.state is OrderState.ACCEPTED and not m.store.plans.get(cid):
            await m.record_async(
                [OrderExpired(cid, f"{why}: nothing was sent; submit again with a new id")]
            )

    async def join(self) -> None:
        """Until every order accepted so far has been executed (or ended)."""
        await self.queue.join()

    # --- start and stop ----------------------------------------------------------------------
    async def recover(self) -> list[str]:
        """At start, before the API opens (see the module docstring). Returns the parents
        ended here."""
        from agent.execution.plan_recovery import recover_plans

        m = self.manager
        m.sync()
        mine = [
            o for o in m.store.orders.values()
            if not o.state.terminal and o.venue == self.venue and o.strategy == PARENT_STRATEGY
            and all(s in self.decimals for s in o.instrument.split("/"))
        ]  # fmt: skip
        for pair in {o.instrument for o in mine}:  # each pair with its decimals
            ex = self.executor_for(*pair.split("/"))
            await recover_plans(ex, only=lambda o, p=pair: o.instrument == p)
        m.sync()
        ended = []
        for o in mine:
            o = m.store.orders[o.client_order_id]
            if o.state.terminal:
                continue
            cid = o.client_order_id
            ex = self.executor_for(*o.instrument.split("/"))
            if not m.store.plans.get(cid):
                if o.state is OrderState.ACCEPTED:
                    await self._expire(cid, "accepted but not executed before a restart")
                    ended.append(cid)
                continue
            kids = m.store.parent_view(cid).children
            if all(k.state.terminal for k in kids):
                left = ex._remaining(cid)
                await ex._finish(
                    cid, "ROUTE_UNFILLED",
                    f"{ex._qty(left)} unfilled: the daemon restarted during the "
                    "plan; the rest is not executed",
                )  # fmt: skip
                ended.append(cid)
        return ended

    async def stop(self) -> None:
        """Drain: no new orders; the order in execution finishes; the queued ones expire."""
        self.closing = True
        self.release()
        while not self.queue.empty():
            await self._expire(self.queue.get_nowait(), "the daemon stopped before executing it")
            self.queue.task_done()
        if self._worker is not None:
            await self.idle.wait()  # the worker's current order ends on its own
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker


def request_of(body: Any) -> OrderRequest:
    """The REST body (agent.service.schema.SubmitOrderBody) as an OrderRequest."""
    try:
        ot = OrderType(body.order_type) if body.order_type else None
        tif = TimeInForce(body.time_in_force)
    except ValueError as e:
        raise ValidationError("order_type", str(e)) from None
    lim = Decimal(body.limit_price) if body.limit_price is not None else None
    if ot is None:
        ot = OrderType.MARKET if lim is None else OrderType.LIMIT
    return OrderRequest(
        body.client_order_id, Side(body.side), body.base.upper(), body.quote.upper(),
        Decimal(body.size), ot, lim, tif, body.max_slippage_bps,
    )  # fmt: skip
