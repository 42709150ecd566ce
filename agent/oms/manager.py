"""The order manager: commands in, journaled events out, the store folded forward.

Every state change goes the same way: compute the events, check them against the state
machine on the current state (nothing is written if that fails), append them to the journal
with the stream's expected version (durable before this returns: write-ahead), then fold
them into the store. A concurrent writer on the same stream makes the append fail with a
conflict; the manager re-reads and re-decides, so nothing is applied twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from agent.errors import ConcurrencyConflictError, DuplicateOrderError, OrderError
from agent.journal.base import ANY, NO_STREAM, AppendResult, Store
from agent.model import TradingState
from agent.model.decisions import Allow, Check, Decision, Deny, Reduce
from agent.oms import order as om
from agent.oms.commands import CancelOrder, SetTradingState, SubmitOrder
from agent.oms.events import (
    TRADING_STREAM,
    CheckVerdict,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRequested,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderPartiallyFilled,
    TradingStateChanged,
    TxReplaced,
    VenueReconciled,
    order_stream,
    recon_stream,
    tx_stream,
)
from agent.oms.order import Order, OrderState
from agent.oms.store import _ORDER_EVENTS, _TX_EVENTS, OMS_EVENT_NAMES, OrderStore
from agent.oms.trading import gate
from agent.oms.tx import apply_tx
from agent.routing.events import RoutePlanned

_RETRIES = 5


def stream_of(event: Any) -> str:
    t = type(event)
    if t in _ORDER_EVENTS:
        return order_stream(event.client_order_id)
    if t in _TX_EVENTS:
        return tx_stream(event.chain_id, event.sender)
    if t is TradingStateChanged:
        return TRADING_STREAM
    if t is VenueReconciled:
        return recon_stream(event.venue)
    if t is RoutePlanned:  # the plan lives with its parent order's events
        return order_stream(event.parent_id)
    raise OrderError(f"{t.__name__} has no OMS stream")


def verdict_of(check: str, d: Decision) -> CheckVerdict:
    """A decision as journaled with the order: code and reason, not only the check's name."""
    if isinstance(d, Allow):
        return CheckVerdict(check, "allow", "", d.note, d.rule)
    if isinstance(d, Deny):
        return CheckVerdict(check, "deny", d.code, d.reason, d.rule)
    if isinstance(d, Reduce):
        return CheckVerdict(check, "reduce", d.code, d.reason, d.rule, d.max_quantity)
    return CheckVerdict(check, "deny", "CHECK_ERROR", f"returned {type(d).__name__}")


def _check_name(check: Any) -> str:
    return getattr(check, "name", None) or getattr(check, "__name__", None) or type(check).__name__


class OrderManager:
    """``checks`` are risk/policy checks (agent.model.decisions.Check) run, in order, on every
    new order after the trading-state gate; the first refusal becomes ``OrderDenied``. A check
    with ``explain(cmd, store) -> (Decision, [(name, Decision), ...])`` (a composite such as
    the risk gate) has each inner verdict journaled; every verdict, allow or not, goes into
    the order's OrderAccepted/OrderDenied with its code and reason."""

    def __init__(
        self,
        journal: Store,
        store: OrderStore | None = None,
        checks: Sequence[Check[SubmitOrder, OrderStore]] = (),
    ) -> None:
        self.journal = journal
        self.store = store if store is not None else OrderStore()
        self.checks = tuple(checks)
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls, journal: Store, checks: Sequence[Check[SubmitOrder, OrderStore]] = ()
    ) -> OrderManager:
        """Rebuild state from the journal (the start of recovery; then reconcile)."""
        return cls(journal, OrderStore.replay(journal), checks)

    # --- deciding ---------------------------------------------------------------------------
    def _decide_submit(self, cmd: SubmitOrder) -> tuple[Order | None, list[Any]]:
        """(existing order, []) for an idempotent resubmission, else (None, new events)."""
        init = OrderInitialized(
            cmd.client_order_id,
            cmd.instrument,
            cmd.side,
            cmd.quantity,
            cmd.order_type,
            cmd.limit_price,
            cmd.time_in_force,
            cmd.venue,
            cmd.parent_id,
            cmd.reduce_only,
            cmd.max_slippage_bps,
            cmd.strategy,
        )
        existing = self.store.get(cmd.client_order_id)
        if existing is not None:
            if existing.spec == init:
                return existing, []
            raise DuplicateOrderError(
                f"client_order_id {cmd.client_order_id!r} is already used by a different order; "
                "use a new id (resubmitting the same order with the same id is safe)"
            )
        decision, verdicts = self._pre_trade(cmd)
        ran = tuple(dict.fromkeys(v.check for v in verdicts))
        if isinstance(decision, Allow):
            return None, [init, OrderAccepted(cmd.client_order_id, ran, verdicts)]
        code = getattr(decision, "code", "DENIED")
        reason = decision.reason
        if not isinstance(decision, Deny):  # Reduce: refused at this size, say how far
            reason = f"{reason} (at most {decision.max_quantity})"
        return None, [
            init,
            OrderDenied(cmd.client_order_id, code, reason, decision.rule, ran, verdicts),
        ]

    def _pre_trade(self, cmd: SubmitOrder) -> tuple[Decision, tuple[CheckVerdict, ...]]:
        """The first refusal (or Allow) and every verdict given on the way, in order."""
        verdicts: list[CheckVerdict] = []
        d = gate(self.store.trading_state, cmd)
        verdicts.append(verdict_of("trading_state", d))
        if not d.allowed:
            return d, tuple(verdicts)
        if cmd.parent_id is not None:
            d = self._parent_check(cmd)
            verdicts.append(verdict_of("parent", d))
            if not d.allowed:
                return d, tuple(verdicts)
        for check in self.checks:
            name = _check_name(check)
            explain = getattr(check, "explain", None)
            if explain is not None:  # a composite (the risk gate): keep each inner verdict
                d, inner = explain(cmd, self.store)
                verdicts.extend(verdict_of(n, v) for n, v in inner)
                if not inner:
                    verdicts.append(verdict_of(name, d))
            else:
                d = check(cmd, self.store)
                verdicts.append(verdict_of(name, d))
            if not d.allowed:
                if not d.rule and isinstance(d, Deny):
                    d = Deny(d.code, d.reason, name)
                return d, tuple(verdicts)
        return Allow(), tuple(verdicts)

    def _parent_check(self, cmd: SubmitOrder) -> Decision:
        assert cmd.parent_id is not None
        parent = self.store.get(cmd.parent_id)
        if parent is None or parent.state.terminal:
            why = "does not exist" if parent is None else f"is {parent.state.value}"
            return Deny("PARENT_INVALID", f"parent {cmd.parent_id!r} {why}", "parent")
        free = self.store.parent_view(cmd.parent_id).unallocated
        if cmd.quantity > free:
            return Deny(
                "CHILD_EXCEEDS_PARENT",
                f"child quantity {cmd.quantity} exceeds the parent's unallocated {free}",
                "parent",
            )
        return Allow("parent")

    def _decide_cancel(self, cmd: CancelOrder) -> tuple[Order, list[Any]]:
        o = self.store.get(cmd.client_order_id)
        if o is None:
            raise OrderError(
                f"no order with client_order_id {cmd.client_order_id!r}; see `agent orders`",
                code="ORDER_NOT_FOUND",
            )
        d = gate(self.store.trading_state, cmd)
        if not d.allowed:  # unreachable by design (cancels always pass); kept as one gate
            raise OrderError(f"cancel of {cmd.client_order_id!r} refused: {d.reason}")
        if o.state.terminal or o.state is OrderState.PENDING_CANCEL:
            return o, []  # cancelling twice is harmless
        if o.state in (
            OrderState.INITIALIZED,
            OrderState.ACCEPTED,
        ) and not self.store.txs_by_order.get(o.client_order_id):
            return o, [OrderCancelled(o.client_order_id, cmd.reason or "cancelled before sending")]
        return o, [OrderCancelRequested(o.client_order_id, cmd.reason)]

    def _validate(self, events: Sequence[Any]) -> list[tuple[str, list[Any]]]:
        """Check events against the state machines on a scratch fold; group them by stream
        (keeping order); drop fills whose trade id is already applied (venues repeat them)."""
        scratch: dict[str, Any] = {}
        groups: dict[str, list[Any]] = {}
        for e in events:
            t = type(e)
            if t in _ORDER_EVENTS:
                cid = e.client_order_id
                cur = scratch[cid] if cid in scratch else self.store.get(cid)
                if (
                    t in (OrderFilled, OrderPartiallyFilled)
                    and cur is not None
                    and e.trade_id in cur.trade_ids
                ):
                    continue
                scratch[cid] = om.apply(cur, e)
            elif t in _TX_EVENTS:
                h = e.old_tx_hash if t is TxReplaced else e.tx_hash
                cur = scratch[h] if h in scratch else self.store.txs.get(h)
                scratch[h] = apply_tx(cur, e)
            elif t is RoutePlanned:
                pid = e.parent_id
                cur = scratch[pid] if pid in scratch else self.store.get(pid)
                if cur is None or cur.state.terminal:
                    why = "does not exist" if cur is None else f"is {cur.state.value}"
                    raise OrderError(f"RoutePlanned: parent order {pid!r} {why}")
                scratch[pid] = om.replace(cur, version=cur.version + 1)
            groups.setdefault(stream_of(e), []).append(e)
        return list(groups.items())

    def _expected(self, stream: str, events: list[Any]) -> int:
        if stream.startswith("order-"):
            e = events[0]
            o = self.store.get(e.parent_id if type(e) is RoutePlanned else e.client_order_id)
            return o.version if o is not None else NO_STREAM
        return ANY  # tx/trading/recon streams: the fold above already checked the transitions

    def _applied(self, events: list[Any], res: AppendResult) -> None:
        if res.first_position > self.store.position + 1:
            # someone else (the tx engine, another process) appended in between: fold that
            # first, so the store never skips a record
            self.store.catch_up(self.journal, until=res.first_position - 1)
        pos = res.first_position
        for e in events:
            if pos > self.store.position:  # not already folded by a catch-up
                self.store.apply(e, pos)
            pos += 1

    # --- doing (sync) -----------------------------------------------------------------------
    def _commit_sync(self, decide: Any) -> Any:
        for _ in range(_RETRIES):
            with self._lock:
                result, events = decide()
                try:
                    for stream, evs in self._validate(events):
                        res = self.journal.append(stream, self._expected(stream, evs), evs)
                        self._applied(evs, res)
                    return result
                except ConcurrencyConflictError:
                    self._refresh()
        raise ConcurrencyConflictError("gave up after repeated journal conflicts; retry later")

    async def _commit_async(self, decide: Any, sync: bool = False) -> Any:
        for attempt in range(_RETRIES):
            if sync or attempt:  # before deciding, and after a conflict: what others wrote
                await self.sync_async()
            result, events = decide()
            try:
                for stream, evs in self._validate(events):
                    res = await self.journal.append_async(stream, self._expected(stream, evs), evs)
                    self._applied(evs, res)
                return result
            except ConcurrencyConflictError:
                pass  # the next attempt folds what the other writer appended (sync_async)
        raise ConcurrencyConflictError("gave up after repeated journal conflicts; retry later")

    def _refresh(self) -> None:
        """Another writer got there first: fold what it appended."""
        self.store.catch_up(self.journal)

    def sync(self) -> None:
        """Fold whatever others appended since (e.g. `agent halt` from another shell).
        Called before every new order, so a halt is honoured by the next submit."""
        if self.journal.head()[0] > self.store.position:
            self.store.catch_up(self.journal)

    async def sync_async(self) -> None:
        """``sync()`` for code on an event loop: a journal whose reads can wait on a server
        (PostgreSQL: ``reads_wait``) is read in a thread, so an outage is waited out there,
        with the store's retries, while the loop keeps serving; the records are folded here,
        on the loop. Other journals (SQLite, a local file) are read in place."""
        j = self.journal
        if not getattr(j, "reads_wait", False):
            self.sync()
            return
        head = (await asyncio.to_thread(j.head))[0]
        if head <= self.store.position:
            return
        start = self.store.position + 1

        def fetch() -> list[tuple[int, Any]]:
            out = []
            for pos, ev in j.replay(start, types=OMS_EVENT_NAMES):
                if pos > head:
                    break
                out.append((pos, ev))
            return out

        records = await asyncio.to_thread(fetch)
        for pos, ev in records:  # the loop may have folded some meanwhile (its own appends)
            if pos > self.store.position:
                self.store.apply(ev, pos)
        self.store.position = max(self.store.position, head)

    def _submit_decider(self, cmd: SubmitOrder, synced: bool = False) -> Any:
        def decide() -> tuple[Any, list[Any]]:
            if not synced:  # the async path synced just before, without blocking its loop
                self.sync()
            existing, events = self._decide_submit(cmd)
            return (existing, events) if existing else (cmd.client_order_id, events)

        return decide

    def submit(self, cmd: SubmitOrder) -> Order:
        """New order: trading-state gate, parent limits, risk/policy checks; journaled as
        OrderInitialized + OrderAccepted or OrderDenied. Same id + same order = same result."""
        r = self._commit_sync(self._submit_decider(cmd))
        return r if isinstance(r, Order) else self.store.orders[r]

    async def submit_async(self, cmd: SubmitOrder) -> Order:
        r = await self._commit_async(self._submit_decider(cmd, synced=True), sync=True)
        return r if isinstance(r, Order) else self.store.orders[r]

    def cancel(self, cmd: CancelOrder) -> Order:
        """Always allowed, whatever the trading state."""
        self._commit_sync(lambda: self._decide_cancel(cmd))
        return self.store.orders[cmd.client_order_id]

    async def cancel_async(self, cmd: CancelOrder) -> Order:
        await self._commit_async(lambda: self._decide_cancel(cmd))
        return self.store.orders[cmd.client_order_id]

    def record(self, events: Iterable[Any]) -> None:
        """Journal and apply events reported by venues, the chain or the tx engine (after
        checking them against the state machines). Repeated fills are ignored."""
        evs = list(events)
        self._commit_sync(lambda: (None, evs))

    async def record_async(self, events: Iterable[Any]) -> None:
        evs = list(events)
        await self._commit_async(lambda: (None, evs))

    def set_trading_state(self, cmd: SetTradingState) -> TradingState:
        def decide() -> tuple[None, list[Any]]:
            if self.store.trading_state is cmd.state and self.store.trading_reason == cmd.reason:
                return None, []
            return None, [TradingStateChanged(TradingState(cmd.state), cmd.reason, cmd.by)]

        self._commit_sync(decide)
        return self.store.trading_state

    def open_orders(self, venue: str | None = None) -> list[Order]:
        return self.store.open_orders(venue)
