"""Hypothesis state machine over the order manager (real SQLite journal in a temp dir).

Invariants: terminal states are never left; filled never exceeds quantity; HALTED denies
every new order but lets every cancel through; a rejected event changes nothing; and the
journal always replays to exactly the live state.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from agent.errors import IllegalTransitionError
from agent.journal import SqliteJournal
from agent.model import Side, TradingState
from agent.oms import (
    CancelOrder,
    OrderManager,
    OrderState,
    OrderStore,
    SetTradingState,
    SubmitOrder,
)
from agent.oms.events import (
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUnknown,
)

qty = st.integers(min_value=1, max_value=20).map(lambda n: Decimal(n) / 4)


class OrderMachine(RuleBasedStateMachine):
    ids = Bundle("ids")

    @initialize()
    def setup(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.journal = SqliteJournal(Path(self.tmp.name) / "j.sqlite")
        self.m = OrderManager(self.journal)
        self.terminal: dict[str, OrderState] = {}
        self.n = 0
        self.trade = 0

    def teardown(self) -> None:
        self.journal.close()
        self.tmp.cleanup()

    @rule(target=ids, q=qty, reduce_only=st.booleans())
    def submit(self, q: Decimal, reduce_only: bool) -> str:
        self.n += 1
        cid = f"o{self.n}"
        state = self.m.store.trading_state
        o = self.m.submit(SubmitOrder(cid, "WETH/USDC", Side.BUY, q, reduce_only=reduce_only))
        if state is TradingState.HALTED or (state is TradingState.REDUCING and not reduce_only):
            assert o.state is OrderState.DENIED
        else:
            assert o.state is OrderState.ACCEPTED
        return cid

    @rule(cid=ids)
    def resubmit_is_idempotent(self, cid: str) -> None:
        before = self.m.store.get(cid)
        head = self.journal.head()
        again = self.m.submit(before.to_submit())
        assert again == before and self.journal.head() == head

    @rule(state=st.sampled_from(TradingState))
    def set_state(self, state: TradingState) -> None:
        self.m.set_trading_state(SetTradingState(state))

    @rule(cid=ids)
    def cancel(self, cid: str) -> None:
        before = self.m.store.get(cid)
        after = self.m.cancel(CancelOrder(cid))  # never denied, whatever the trading state
        if before.state.terminal or before.state is OrderState.PENDING_CANCEL:
            assert after == before
        else:
            assert after.state in (OrderState.CANCELLED, OrderState.PENDING_CANCEL)

    def _try(self, ev: object) -> None:
        cid = ev.client_order_id  # type: ignore[attr-defined]
        before = self.m.store.get(cid)
        head = self.journal.head()
        try:
            self.m.record([ev])
        except IllegalTransitionError:
            assert self.m.store.get(cid) == before and self.journal.head() == head

    @rule(
        cid=ids, kind=st.sampled_from(["sub", "ack", "unknown", "cancelled", "expired", "rejected"])
    )
    def venue_says(self, cid: str, kind: str) -> None:
        ev = {
            "sub": OrderSubmitted(cid, "v", "x"),
            "ack": OrderAcknowledged(cid, "x"),
            "unknown": OrderUnknown(cid, "timeout"),
            "cancelled": OrderCancelled(cid),
            "expired": OrderExpired(cid),
            "rejected": OrderRejected(cid, "R", "no"),
        }[kind]
        self._try(ev)

    @rule(cid=ids, frac=st.integers(min_value=1, max_value=8), complete=st.booleans())
    def fill(self, cid: str, frac: int, complete: bool) -> None:
        o = self.m.store.get(cid)
        self.trade += 1
        q = o.remaining if complete else o.quantity * frac / 4  # may overfill: must be refused
        cls = OrderFilled if complete else OrderPartiallyFilled
        self._try(cls(cid, f"t{self.trade}", q, Decimal("100")))

    @invariant()
    def terminal_never_left_and_never_overfilled(self) -> None:
        if not hasattr(self, "m"):
            return
        for cid, o in self.m.store.orders.items():
            assert Decimal(0) <= o.filled <= o.quantity
            if cid in self.terminal:
                assert o.state is self.terminal[cid]
            elif o.state.terminal:
                self.terminal[cid] = o.state
            if o.state is OrderState.FILLED:
                assert o.filled == o.quantity

    @invariant()
    def journal_replays_to_live_state(self) -> None:
        if hasattr(self, "m") and self.n % 5 == 0:
            assert OrderStore.replay(self.journal).state_hash() == self.m.store.state_hash()


TestOrderMachine = OrderMachine.TestCase
TestOrderMachine.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
