"""Execute a RoutePlan as one parent order with child orders, all in the one OMS.

parent SubmitOrder (strategy "route") -> RoutePlanned on the parent's stream -> one child
order per planned child (SubmitOrder with ``parent_id``: the OMS refuses a child larger than
what the parent has left) -> every on-chain leg re-checked at its pin and built BEFORE anything
is sent (a curve that contradicts its venue's quote stops the whole plan) -> per chain ONE Safe
transaction: the legs' approve/swap/approve(0) in one MultiSendCallOnly batch through the
ModuleExecutor (its policy guard, the TxEngine: nonces, fees, write-ahead TxSigned), so the
split is atomic on that chain -> CEX children through the ccxt adapter -> each child's fill
(per leg from the receipt's Transfer logs; from the exchange's trades) -> the parent's fills
are its children's -> an unfilled remainder is re-planned (``replan``, bounded retries) with
the venues that failed left out, or reported, and the parent ends CANCELLED with the reason.

Chains and exchanges run concurrently; a failure on one (a revert, a policy refusal, an
exchange reject) leaves the others' fills standing and goes into the remainder.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.errors import AgentError, PolicyDeniedError, QuoteMismatchError, ValidationError
from agent.execution.legs import BuiltLeg, build_leg, leg_fill
from agent.execution.swap import register_expectation
from agent.model import OrderType, Side, Spot, TimeInForce
from agent.oms.commands import SubmitOrder
from agent.oms.events import (
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUnknown,
)
from agent.oms.manager import OrderManager
from agent.oms.order import Order, OrderState
from agent.oms.tx import TxState
from agent.routing.events import RoutePlanned
from agent.routing.plan import LegKind, PlannedChild, RoutePlan
from agent.venues.base import ChildOrder, VenueOrderRef
from agent.wallet.executor import ModuleExecutor

PARENT_STRATEGY = "route"
CHILD_STRATEGY = "route-child"
DEADLINE_S = 300
CEX_FILL_TIMEOUT_S = 10.0

Replan = Callable[[int, int, tuple[str, ...]], Awaitable[RoutePlan]]
"""(remaining base units, attempt number, venue ids to leave out) -> a plan for the remainder,
whose children's client ids are new (e.g. under ``<parent>-r<attempt>``)."""


@dataclass(frozen=True)
class ChainWallet:
    """One chain's side of the fund: its Safe, the module executor (the one TxEngine of the
    operator on that chain) and what the plan's symbols are called there (the L2 trades the
    bridge's tokens: WETH -> WETH.B)."""

    manifest: Manifest
    rpc: RpcClient
    safe: str
    executor: ModuleExecutor
    symbols: Mapping[str, str] = field(default_factory=dict)

    def symbol(self, s: str) -> str:
        return self.symbols.get(s, s)


@dataclass(frozen=True, slots=True)
class ChildResult:
    client_order_id: str
    venue_id: str
    kind: LegKind
    planned_base: int
    planned_quote: int
    filled_base: int = 0
    filled_quote: int = 0  # paid (BUY) / received (SELL), venue fees included
    fee: Decimal = Decimal(0)  # a fee charged apart from filled_quote (CEX), in fee_asset
    fee_asset: str = ""
    ref: str = ""  # the batch's tx hash, or the exchange's order id
    state: str = ""
    code: str = ""
    reason: str = ""
    latest_quote: int | None = None  # the venue's quote at the head, if it moved since the pin
    planned_fee: int = 0  # the plan's fee_quote

    @property
    def expected_quote(self) -> int:
        """What the venue should move in the quote asset: on-chain the fee is inside the
        amount swapped; an exchange charges its fee apart from the trade's notional."""
        if self.kind is LegKind.CEX:
            return self.planned_quote - self.planned_fee
        return self.planned_quote

    @property
    def exact(self) -> bool:
        """Filled as planned, to the base unit."""
        return (self.filled_base, self.filled_quote) == (self.planned_base, self.expected_quote)


@dataclass(frozen=True, slots=True)
class BatchResult:
    chain_id: int
    tx_hash: str
    block: int
    gas_used: int
    calls: int
    children: tuple[str, ...]
    ok: bool


@dataclass(frozen=True)
class PlanReport:
    parent_id: str
    side: Side
    base: str
    quote: str
    base_decimals: int
    quote_decimals: int
    size: int
    plans: tuple[RoutePlan, ...]
    children: tuple[ChildResult, ...]
    batches: tuple[BatchResult, ...]
    state: str  # the parent's OMS state afterwards
    code: str = ""
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    duplicate: bool = False  # the parent id was already used: nothing was sent

    @property
    def filled(self) -> int:
        return sum(c.filled_base for c in self.children)

    @property
    def quote_total(self) -> int:
        return sum(c.filled_quote for c in self.children)

    @property
    def unfilled(self) -> int:
        return self.size - self.filled

    @property
    def avg_price(self) -> Decimal | None:
        if not self.filled:
            return None
        return Decimal(self.quote_total).scaleb(-self.quote_decimals) / Decimal(self.filled).scaleb(
            -self.base_decimals
        )


class PlanExecutor:
    """``chains``: chain id -> ChainWallet; ``cex``: venue id -> a connected CexVenue (its
    instrument for the plan's pair is the child's ``venue_ref["symbol"]``)."""

    def __init__(
        self,
        manager: OrderManager,
        *,
        chains: Mapping[int, ChainWallet],
        cex: Mapping[str, Any] | None = None,
        base_decimals: int,
        quote_decimals: int,
        slippage_bps: int = 10,
        max_retries: int = 2,
        cex_fill_timeout_s: float = CEX_FILL_TIMEOUT_S,
        risk: Any = None,
        locks: Mapping[int, asyncio.Lock] | None = None,
    ) -> None:
        if not 0 <= slippage_bps <= 1_000:
            raise ValidationError("--slippage-bps", f"{slippage_bps} is outside 0..1000")
        self.manager = manager
        self.chains = dict(chains)
        self.cex = dict(cex or {})
        self.bd, self.qd = base_decimals, quote_decimals
        self.slippage_bps = slippage_bps
        self.max_retries = max_retries
        self.cex_fill_timeout_s = cex_fill_timeout_s
        # agent.execution.risk.PlanRisk: every child through the swap pipeline's risk gate
        # (its OMS check); staged here, just before the children are submitted
        self.risk = risk
        # per chain id: held while that chain's batch is signed and sent (the daemon's chain
        # lock: its tracking pass and the swap pipeline never interleave with it)
        self.locks = dict(locks or {})
        # chains and exchanges report concurrently; a fill's event (OrderFilled or a partial)
        # is decided on the parent's state, so deciding and journaling are one step
        self._fills = asyncio.Lock()

    # --- the parent ----------------------------------------------------------------------------
    def parent_command(self, plan: RoutePlan, max_slippage_bps: int | None = None) -> SubmitOrder:
        limit = plan.limit_price
        return SubmitOrder(
            plan.parent_id, f"{plan.base}/{plan.quote}", plan.side, self._qty(plan.size),
            OrderType.LIMIT if limit is not None else OrderType.MARKET, limit, TimeInForce.IOC,
            venue="router", max_slippage_bps=max_slippage_bps, strategy=PARENT_STRATEGY,
        )  # fmt: skip

    def _qty(self, base_units: int) -> Decimal:
        return Decimal(base_units).scaleb(-self.bd)

    def _px(self, base_units: int, quote_units: int) -> Decimal:
        return Decimal(quote_units).scaleb(-self.qd) / self._qty(base_units)

    def validate(self, plan: RoutePlan, size: int | None = None) -> None:
        """A plan the executor will run: every child on the parent's side, a positive amount,
        a unique id, the children within the order's size and, under a limit, every child's
        average all-in price within it (the router's marginal-price bound implies it). A plan
        that fails is refused before anything is journaled or sent."""
        f = "plan"
        ids = [c.client_order_id for c in plan.children]
        if len(set(ids)) != len(ids):
            raise ValidationError(f"{f}.children", "client ids repeat", "re-plan")
        total = 0
        for c in plan.children:
            where = f"{f}.children[{c.client_order_id}]"
            if c.side is not plan.side:
                raise ValidationError(f"{where}.side", f"{c.side} on a {plan.side} order")
            if c.base_amount <= 0 or c.quote_amount <= 0:
                raise ValidationError(where, "has a non-positive amount", "re-plan")
            lim = plan.limit_price
            if lim is not None:
                px = self._px(c.base_amount, c.quote_amount)
                if (px > lim) if plan.side is Side.BUY else (px < lim):
                    raise ValidationError(
                        f"{where}.quote_amount", f"average {px} is beyond the limit {lim}"
                    )
            total += c.base_amount
        if total > (plan.size if size is None else size):
            raise ValidationError(f"{f}.children", f"{total} base units exceed the order's size")

    async def run(self, plan: RoutePlan, *, replan: Replan | None = None) -> PlanReport:
        t0 = time.perf_counter()
        self.validate(plan)
        m = self.manager
        m.sync()
        existing = m.store.get(plan.parent_id)
        if existing is not None:  # idempotent: a parent id is executed once, never twice
            return self._report(
                plan, (plan,), [], [],
                f"duplicate: order {plan.parent_id!r} exists ({existing.state.value}); "
                "nothing sent again (use a new --client-id)",
            )  # fmt: skip
        parent = await m.submit_async(self.parent_command(plan))
        if parent.state is OrderState.DENIED:
            return self._report(plan, (plan,), [], [])
        return await self._drive(plan, replan, t0)

    async def run_accepted(self, plan: RoutePlan, *, replan: Replan | None = None) -> PlanReport:
        """Execute ``plan`` for a parent that is already journaled as ACCEPTED (the daemon's
        accept-then-execute intake) and has no plan yet: it is executed at most once, since a
        parent with a RoutePlanned, or no longer ACCEPTED, is left alone (reported)."""
        t0 = time.perf_counter()
        self.validate(plan)
        m = self.manager
        m.sync()
        o = m.store.get(plan.parent_id)
        if o is None or o.state is not OrderState.ACCEPTED or m.store.plans.get(plan.parent_id):
            why = "unknown" if o is None else o.state.value
            return self._report(
                plan, (plan,), [], [],
                f"order {plan.parent_id!r} is {why} (or already planned): nothing sent",
            )  # fmt: skip
        return await self._drive(plan, replan, t0)

    async def _drive(self, plan: RoutePlan, replan: Replan | None, t0: float) -> PlanReport:
        m = self.manager
        plans: list[RoutePlan] = []
        results: list[ChildResult] = []
        batches: list[BatchResult] = []
        excluded: set[str] = set()
        timings: dict[str, float] = {}
        current: RoutePlan | None = plan
        attempt = 0
        while current is not None:
            plans.append(current)
            await m.record_async([RoutePlanned(plan.parent_id, current)])
            try:
                got, bs = await self._execute(current, attempt, timings, t0)
            except QuoteMismatchError as e:
                await self._finish(plan.parent_id, "ROUTE_QUOTE_MISMATCH", str(e))
                return self._report(plan, tuple(plans), results, batches, timings=timings)
            except AgentError as e:  # a leg that cannot be checked or built: nothing was sent
                await self._finish(plan.parent_id, e.code, f"plan not executed: {e}")
                return self._report(plan, tuple(plans), results, batches, timings=timings)
            results += got
            batches += bs
            excluded |= {r.venue_id for r in got if r.filled_base < r.planned_base}
            left = self._remaining(plan.parent_id)
            current = None
            if left > 0 and replan is not None and attempt < self.max_retries and got:
                attempt += 1
                nxt = await replan(left, attempt, tuple(sorted(excluded)))
                # a plan for the same parent (its children carry the re-plan's own ids)
                current = replace(nxt, parent_id=plan.parent_id) if nxt.children else None
                if current is not None:
                    try:
                        self.validate(replace(current, limit_price=plan.limit_price), size=left)
                    except ValidationError:
                        current = None  # not run: the remainder is reported below
        remaining = self._remaining(plan.parent_id)
        if remaining > 0:
            why = self._unfilled_reason(plans[-1], results, remaining)
            await self._finish(plan.parent_id, "ROUTE_UNFILLED", why)
        timings["total_s"] = time.perf_counter() - t0
        return self._report(plan, tuple(plans), results, batches, timings=timings)

    def _remaining(self, parent_id: str) -> int:
        o = self.manager.store.orders[parent_id]
        return int(o.remaining.scaleb(self.bd))

    def _unfilled_reason(self, plan: RoutePlan, results: list[ChildResult], left: int) -> str:
        failed = [f"{r.venue_id}: {r.code} {r.reason}".strip() for r in results if r.code]
        why = f"{self._qty(left)} {plan.base} unfilled"
        if plan.unfilled:
            lim = f" within the limit {plan.limit_price}" if plan.limit_price is not None else ""
            why += f" ({self._qty(plan.unfilled)} beyond the liquidity{lim})"
        if plan.excluded:
            why += "; left out: " + "; ".join(f"{v} ({r})" for v, r in plan.excluded)
        if failed:
            why += "; failed: " + "; ".join(failed)
        return why

    async def _finish(self, parent_id: str, code: str, reason: str) -> None:
        """End a parent that will not fill further: CANCELLED if something filled or was sent,
        DENIED if nothing ever left (no liquidity within the limit, a wrong curve)."""
        o = self.manager.store.orders[parent_id]
        if o.state.terminal:
            return
        if any(not k.state.terminal for k in self.manager.store.parent_view(parent_id).children):
            return  # a child may still fill (a batch in flight): the chain settles it first
        if o.state is OrderState.ACCEPTED and not o.filled:
            await self.manager.record_async([OrderDenied(parent_id, code, reason, "router")])
        else:
            await self.manager.record_async([OrderCancelled(parent_id, f"{code}: {reason}")])

    # --- one plan ------------------------------------------------------------------------------
    async def _execute(
        self, plan: RoutePlan, attempt: int, timings: dict[str, float], t0: float
    ) -> tuple[list[ChildResult], list[BatchResult]]:
        """``timings`` (seconds since ``t0``, first attempt only): ``built_s`` every leg checked
        and built, ``signed_s`` the first batch signed, journaled (TxSigned) and broadcast."""
        if not plan.children:
            return [], []
        # 1. check and build every on-chain leg at its pin: a contradiction stops everything
        built, pre = await self._build(plan)
        timings.setdefault("built_s", time.perf_counter() - t0)
        # 2. the children as OMS orders (a refusal by the OMS leaves the child out)
        accepted: list[PlannedChild] = []
        results: dict[str, ChildResult] = dict(pre)
        todo = [c for c in plan.children if c.client_order_id not in results]
        if self.risk is not None and todo:  # the gate's inputs: prices and the accounts now
            await self.risk.stage_plan(plan, todo, self)
        try:
            for c in todo:
                if self.manager.store.get(c.client_order_id) is not None:
                    results[c.client_order_id] = self._fail(
                        c, "DUPLICATE_CHILD", "this child id is already an order; not sent again"
                    )
                    continue
                o = await self.manager.submit_async(self._child_command(plan, c))
                if o.state is OrderState.DENIED:
                    results[c.client_order_id] = self._result(c, o)
                else:
                    accepted.append(c)
                    if self.risk is not None:
                        self.risk.submitted()
        finally:
            if self.risk is not None:
                self.risk.unstage(todo)
        ok = {c.client_order_id for c in accepted}
        parent = self.manager.store.orders[plan.parent_id]
        if accepted and parent.state is OrderState.ACCEPTED:
            await self.manager.record_async([OrderSubmitted(plan.parent_id, "router")])
        # 3. one batch per chain and the CEX children, concurrently
        jobs: list[Awaitable[tuple[list[ChildResult], BatchResult | None]]] = []
        for chain_id, legs in built.items():
            legs = [lg for lg in legs if lg.child.client_order_id in ok]
            if legs:
                jobs.append(self._run_batch(plan, chain_id, legs, attempt, timings, t0))
        for c in accepted:
            if c.kind is LegKind.CEX:
                jobs.append(self._run_cex(plan, c))
        batches: list[BatchResult] = []
        for got, batch in await asyncio.gather(*jobs):
            for r in got:
                results[r.client_order_id] = r
            if batch is not None:
                batches.append(batch)
        ordered = [results[c.client_order_id] for c in plan.children]
        return ordered, batches

    async def _build(
        self, plan: RoutePlan
    ) -> tuple[dict[int, list[BuiltLeg]], dict[str, ChildResult]]:
        built: dict[int, list[BuiltLeg]] = {}
        missing: dict[str, ChildResult] = {}
        deadline = int(time.time()) + DEADLINE_S
        for c in plan.children:
            if c.kind is LegKind.CEX:
                if c.venue_id not in self.cex:
                    missing[c.client_order_id] = self._fail(
                        c, "NO_VENUE", f"{c.venue_id} is not connected"
                    )
                continue
            w = self.chains.get(c.chain_id) if c.chain_id is not None else None
            if w is None:
                missing[c.client_order_id] = self._fail(
                    c, "NO_WALLET", f"no Safe configured on chain {c.chain_id}"
                )
                continue
            pairs = [(w.symbol(plan.base), w.symbol(plan.quote)), (plan.base, plan.quote)]
            leg = await build_leg(
                w.rpc, w.manifest, c, pairs=pairs, safe=w.safe,
                slippage_bps=self.leg_slippage(plan, c), deadline=deadline,
            )  # fmt: skip
            built.setdefault(w.manifest.chain_id, []).append(leg)
        return built, missing

    def leg_slippage(self, plan: RoutePlan, c: PlannedChild) -> int:
        """The swap's slippage bound for child ``c``: the executor's, but under a limit never
        looser than the limit allows, so the transaction reverts rather than fill beyond it
        (BUY: amountInMaximum <= limit x size; SELL: amountOutMinimum >= limit x size)."""
        lim = plan.limit_price
        if lim is None or c.quote_amount <= 0:
            return self.slippage_bps
        worst = lim * Decimal(c.base_amount).scaleb(self.qd - self.bd)  # quote units at the limit
        if plan.side is Side.BUY:
            room = int(worst.to_integral_value(rounding="ROUND_FLOOR")) - c.quote_amount
        else:
            room = c.quote_amount - int(worst.to_integral_value(rounding="ROUND_CEILING"))
        return max(0, min(self.slippage_bps, room * 10_000 // c.quote_amount))

    def _child_command(self, plan: RoutePlan, c: PlannedChild) -> SubmitOrder:
        return SubmitOrder(
            c.client_order_id, f"{plan.base}/{plan.quote}", c.side, self._qty(c.base_amount),
            venue=c.venue_id, parent_id=plan.parent_id, max_slippage_bps=self.slippage_bps,
            strategy=CHILD_STRATEGY, reduce_only=self._reduce_only(plan.parent_id),
        )  # fmt: skip

    def _reduce_only(self, parent_id: str) -> bool:
        """A child of a reduce-only parent is reduce-only (under REDUCING the parent was
        judged on the fund's position; its children add up to no more than it)."""
        p = self.manager.store.get(parent_id)
        return bool(p is not None and p.reduce_only)

    def _fail(self, c: PlannedChild, code: str, reason: str) -> ChildResult:
        return ChildResult(
            c.client_order_id, c.venue_id, c.kind, c.base_amount, c.quote_amount,
            state="not sent", code=code, reason=reason, planned_fee=c.fee_quote,
        )  # fmt: skip

    def _result(self, c: PlannedChild, o: Order, **kw: Any) -> ChildResult:
        return ChildResult(
            c.client_order_id, c.venue_id, c.kind, c.base_amount, c.quote_amount,
            state=o.state.value, code=o.code, reason=o.reason, planned_fee=c.fee_quote, **kw,
        )  # fmt: skip

    # --- fills -----------------------------------------------------------------------------
    async def _fill(
        self, plan: RoutePlan, c: PlannedChild, trade_id: str, base: int, quote: int, **fee: Any
    ) -> None:
        """The child's fill and the parent's matching one (trade id = the child's id)."""
        async with self._fills:
            await self._fill_locked(plan, c, trade_id, base, quote, **fee)

    async def _fill_locked(
        self, plan: RoutePlan, c: PlannedChild, trade_id: str, base: int, quote: int, **fee: Any
    ) -> None:
        o = self.manager.store.orders[c.client_order_id]
        q = min(self._qty(base), o.remaining)
        if q <= 0 or quote <= 0:
            return
        px = self._px(base, quote)
        cls = OrderFilled if q == o.remaining else OrderPartiallyFilled
        events: list[Any] = [cls(c.client_order_id, trade_id, q, px, **fee)]
        p = self.manager.store.orders[plan.parent_id]
        pq = min(q, p.remaining)
        if pq > 0:
            pcls = OrderFilled if pq == p.remaining else OrderPartiallyFilled
            events.append(pcls(plan.parent_id, c.client_order_id, pq, px))
        await self.manager.record_async(events)

    # --- one chain: one Safe transaction ---------------------------------------------------
    async def _run_batch(
        self,
        plan: RoutePlan,
        chain_id: int,
        legs: list[BuiltLeg],
        attempt: int,
        timings: dict[str, float],
        t0: float,
    ) -> tuple[list[ChildResult], BatchResult | None]:
        w = self.chains[chain_id]
        ids = [lg.child.client_order_id for lg in legs]
        calls = [call for lg in legs for call in lg.calls]
        batch_id = f"{plan.parent_id}@{chain_id}#{attempt}"  # plan_recovery.batch_id

        async def sent(tx_hash: str) -> None:
            timings.setdefault("signed_s", time.perf_counter() - t0)
            await self.manager.record_async(
                [
                    OrderSubmitted(i, lg.child.venue_id, tx_hash)
                    for i, lg in zip(ids, legs, strict=True)
                ]
            )

        # the simulation guard checks the one Safe tx against the legs' quotes summed per token
        register_expectation(
            w.executor, w.manifest, [lg.quote for lg in legs], self.slippage_bps, calls, batch_id
        )
        lock = self.locks.get(chain_id)
        try:
            if lock is None:
                ex = await w.executor.execute(calls, client_order_id=batch_id, on_sent=sent)
            else:
                async with lock:
                    ex = await w.executor.execute(calls, client_order_id=batch_id, on_sent=sent)
        except PolicyDeniedError as e:  # refused before signing: nothing was sent
            await self.manager.record_async(
                [OrderDenied(i, e.code, e.reason, e.rule or "policy", ("policy",)) for i in ids]
            )
            return self._leg_results(legs), None
        except AgentError as e:
            await self._after_error(w.executor, batch_id, ids, e)
            return self._leg_results(legs), None
        if not ex.ok:
            await self.manager.record_async(
                [OrderRejected(i, "TX_REVERTED", f"batch {ex.tx_hash} reverted") for i in ids]
            )
            return self._leg_results(legs), BatchResult(
                chain_id, ex.tx_hash, ex.block_number, ex.gas_used, len(calls), tuple(ids), False
            )
        out = []
        for lg in legs:
            base, quote = leg_fill(ex.logs, lg, w.safe)
            await self._fill(plan, lg.child, ex.tx_hash, base, quote)
            o = self.manager.store.orders[lg.child.client_order_id]
            out.append(
                self._result(
                    lg.child,
                    o,
                    filled_base=base,
                    filled_quote=quote,
                    ref=ex.tx_hash,
                    latest_quote=lg.latest,
                )
            )
        batch = BatchResult(
            chain_id, ex.tx_hash, ex.block_number, ex.gas_used, len(calls), tuple(ids), True
        )
        return out, batch

    def _leg_results(self, legs: Sequence[BuiltLeg]) -> list[ChildResult]:
        st = self.manager.store.orders
        return [
            self._result(lg.child, st[lg.child.client_order_id], latest_quote=lg.latest)
            for lg in legs
        ]

    async def _after_error(
        self, executor: ModuleExecutor, batch_id: str, ids: list[str], e: AgentError
    ) -> None:
        """As the single-swap pipeline: never reject on a guess once a transaction may be out."""
        recs = [r for r in executor.engine.records.values() if r.client_order_id == batch_id]
        mined = [r for r in recs if r.state in (TxState.MINED, TxState.CONFIRMED)]
        evs: list[Any] = []
        for i in ids:
            o = self.manager.store.orders[i]
            if o.state.terminal:
                continue
            if mined and all(r.success is False for r in mined):
                evs.append(OrderRejected(i, "TX_REVERTED", f"batch {mined[0].tx_hash} reverted"))
            elif mined or any(r.state.pending for r in recs):
                if o.state is OrderState.ACCEPTED:
                    evs.append(OrderUnknown(i, f"{e.code}: {e}; the batch is tracked"))
            else:
                evs.append(OrderRejected(i, e.code, str(e)))
        if evs:
            await self.manager.record_async(evs)

    # --- a CEX child ---------------------------------------------------------------------------
    async def _run_cex(
        self, plan: RoutePlan, c: PlannedChild
    ) -> tuple[list[ChildResult], BatchResult | None]:
        venue = self.cex[c.venue_id]
        ref = c.venue_ref if isinstance(c.venue_ref, dict) else {"symbol": c.venue_ref}
        sym = str(ref.get("symbol") or f"{plan.base}/{plan.quote}")
        cex_base, _, cex_quote = sym.partition("/")
        lim = plan.limit_price  # under a limit: an IOC limit order at it, never a market one
        child = ChildOrder(
            c.client_order_id, Spot(cex_base, cex_quote), c.side, self._qty(c.base_amount),
            OrderType.MARKET if lim is None else OrderType.LIMIT, lim, TimeInForce.IOC,
        )  # fmt: skip
        try:
            vref = await venue.submit(child)
        except AgentError as e:
            await self.manager.record_async([OrderRejected(c.client_order_id, e.code, str(e))])
            return [self._result(c, self.manager.store.orders[c.client_order_id])], None
        await self.manager.record_async(
            [OrderSubmitted(c.client_order_id, c.venue_id, vref.venue_order_id)]
        )
        try:
            base, quote, fee, fee_asset = await self._cex_fills(venue, vref, c)
        except AgentError as e:  # sent, fills unreadable: never guess, reconciliation settles it
            await self.manager.record_async(
                [OrderUnknown(c.client_order_id, f"{e.code}: {e}; fills not read yet")]
            )
            return [self._result(c, self.manager.store.orders[c.client_order_id])], None
        if base:
            fkw = {"fee": fee, "fee_asset": fee_asset} if fee else {}
            await self._fill(plan, c, f"{c.venue_id}:{vref.venue_order_id}", base, quote, **fkw)
        o = self.manager.store.orders[c.client_order_id]
        if base < c.base_amount and not o.state.terminal:
            left = self._qty(c.base_amount - base)
            await self.manager.record_async(
                [OrderCancelled(c.client_order_id, f"IOC: {left} not filled at the exchange")]
            )
            o = self.manager.store.orders[c.client_order_id]
        return [
            self._result(
                c,
                o,
                filled_base=base,
                filled_quote=quote,
                fee=fee,
                fee_asset=fee_asset,
                ref=vref.venue_order_id,
            )
        ], None

    async def _cex_fills(
        self, venue: Any, vref: VenueOrderRef, c: PlannedChild
    ) -> tuple[int, int, Decimal, str]:
        """(base units, quote units, fee, fee asset) of the exchange's trades of ``order_id``,
        read until the order is done (a market IOC is done when the response is) or the
        timeout. Base and quote are the trade amounts; the exchange's fee is apart."""
        deadline = time.monotonic() + self.cex_fill_timeout_s
        order_id = vref.venue_order_id
        delay = 0.01
        while True:
            rep = await venue.fills_since(None)
            mine = [f for f in rep.fills if f.order_id == order_id]
            buy = c.side is Side.BUY
            base = sum(f.amount_out if buy else f.amount_in for f in mine)
            quote = sum(f.amount_in if buy else f.amount_out for f in mine)
            if base >= c.base_amount or time.monotonic() > deadline:
                break
            status = await venue.order_status(vref)
            done = status is not None and status.state.value in ("filled", "cancelled", "expired")
            if done and base >= int(status.filled.scaleb(self.bd)):  # type: ignore[union-attr]
                break  # done at the venue, and every trade of it is read
            await asyncio.sleep(delay)  # polling the exchange's trade list, backing off
            delay = min(delay * 2, 0.25)
        fee = sum((Decimal(f.fee) for f in mine), Decimal(0))
        asset = next((f.fee_asset or "" for f in mine if f.fee), "")
        if fee and asset:
            dec = venue.cfg.asset_decimals.get(asset, 8)
            fee = fee.scaleb(-dec)
        return base, quote, fee, asset

    # --- the report ----------------------------------------------------------------------------
    def _report(
        self,
        plan: RoutePlan,
        plans: tuple[RoutePlan, ...],
        results: list[ChildResult],
        batches: list[BatchResult],
        note: str = "",
        timings: dict[str, float] | None = None,
    ) -> PlanReport:
        o = self.manager.store.orders.get(plan.parent_id)
        return PlanReport(
            plan.parent_id, plan.side, plan.base, plan.quote, self.bd, self.qd, plan.size,
            plans, tuple(results), tuple(batches), o.state.value if o else "",
            o.code if o else "", note or (o.reason if o else ""), dict(timings or {}),
            duplicate=bool(note),
        )  # fmt: skip
