from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from agent.errors import DuplicateOrderError, IllegalTransitionError, OrderError, ValidationError
from agent.journal import SqliteJournal
from agent.model import OrderType, Side, TradingState
from agent.model.decisions import Allow, Deny, Reduce
from agent.oms import (
    CancelOrder,
    OrderManager,
    OrderState,
    OrderStore,
    SetTradingState,
    SubmitOrder,
)
from agent.oms.events import (
    OrderFilled,
    OrderPartiallyFilled,
    OrderSubmitted,
    TxMined,
    TxSigned,
)


@pytest.fixture
def journal(tmp_path: Path):
    with SqliteJournal(tmp_path / "oms.sqlite") as j:
        yield j


def buy(cid: str, qty: str = "1", **kw) -> SubmitOrder:
    return SubmitOrder(cid, "WETH/USDC", Side.BUY, Decimal(qty), venue="uni", **kw)


def test_submit_is_journaled_and_idempotent(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    o = m.submit(buy("a"))
    assert o.state is OrderState.ACCEPTED
    assert m.submit(buy("a")) == o  # same id, same order: no second execution
    assert journal.head()[0] == 2
    with pytest.raises(DuplicateOrderError, match="already used by a different order"):
        m.submit(buy("a", "2"))


def test_resubmission_from_a_second_process_is_not_executed_twice(tmp_path: Path) -> None:
    p = tmp_path / "j.sqlite"
    with SqliteJournal(p) as j1, SqliteJournal(p) as j2:
        m1, m2 = OrderManager(j1), OrderManager(j2)  # m2 never saw m1's order
        m1.submit(buy("a"))
        o = m2.submit(buy("a"))  # journal conflict -> m2 folds m1's events -> idempotent
        assert o.state is OrderState.ACCEPTED and j2.head()[0] == 2


def test_checks_deny_with_code_rule_and_the_checks_that_ran(journal: SqliteJournal) -> None:
    def max_size(cmd, store):
        return Deny("MAX_SIZE", "order above 5", "max_size") if cmd.quantity > 5 else Allow()

    def reducer(cmd, store):
        return Reduce(Decimal(2), "liquidity") if cmd.quantity > 3 else Allow()

    m = OrderManager(journal, checks=[max_size, reducer])
    d = m.submit(buy("big", "6"))
    assert (d.state, d.code, d.reason) == (OrderState.DENIED, "MAX_SIZE", "order above 5")
    r = m.submit(buy("mid", "4"))
    assert r.state is OrderState.DENIED and r.code == "REDUCE" and "at most 2" in r.reason
    denied = [rec.event for rec in journal.read_all() if type(rec.event).__name__ == "OrderDenied"]
    assert denied[0].checks == ("trading_state", "max_size") and denied[0].rule == "max_size"
    assert m.submit(buy("ok", "1")).state is OrderState.ACCEPTED


def test_halt_denies_new_orders_but_cancels_pass(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    m.submit(buy("live"))
    m.record([OrderSubmitted("live", "uni", "v1")])
    m.set_trading_state(SetTradingState(TradingState.HALTED, "incident", "ops"))
    d = m.submit(buy("new"))
    assert d.state is OrderState.DENIED and d.code == "TRADING_HALTED"
    assert m.cancel(CancelOrder("live")).state is OrderState.PENDING_CANCEL
    m.set_trading_state(SetTradingState(TradingState.REDUCING))
    assert m.submit(buy("r1")).code == "TRADING_REDUCING"
    assert m.submit(buy("r2", reduce_only=True)).state is OrderState.ACCEPTED
    m.set_trading_state(SetTradingState(TradingState.ACTIVE))
    assert m.submit(buy("r3")).state is OrderState.ACCEPTED


def test_cancel_before_send_and_unknown_id(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    m.submit(buy("a"))
    assert m.cancel(CancelOrder("a")).state is OrderState.CANCELLED
    assert m.cancel(CancelOrder("a")).state is OrderState.CANCELLED  # harmless twice
    with pytest.raises(OrderError, match="no order"):
        m.cancel(CancelOrder("zzz"))


def test_illegal_event_writes_nothing_and_repeated_fills_are_ignored(
    journal: SqliteJournal,
) -> None:
    m = OrderManager(journal)
    m.submit(buy("a", "2"))
    head = journal.head()
    with pytest.raises(IllegalTransitionError):
        m.record(
            [
                OrderFilled("a", "t1", Decimal(2), Decimal(1)),
                OrderFilled("a", "t2", Decimal(1), Decimal(1)),
            ]
        )
    assert journal.head() == head and m.store.get("a").state is OrderState.ACCEPTED
    m.record(
        [OrderSubmitted("a", "uni", "v"), OrderPartiallyFilled("a", "t1", Decimal(1), Decimal(3))]
    )
    m.record([OrderPartiallyFilled("a", "t1", Decimal(1), Decimal(3))])  # venue repeated it
    assert m.store.get("a").filled == 1 and journal.head()[0] == head[0] + 2


def test_parent_children_roll_up_and_are_bounded(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    m.submit(buy("p", "10"))
    m.submit(buy("p-1", "6", parent_id="p"))
    d = m.submit(buy("p-2", "5", parent_id="p"))
    assert d.state is OrderState.DENIED and d.code == "CHILD_EXCEEDS_PARENT"
    m.submit(buy("p-3", "4", parent_id="p"))
    m.record(
        [OrderSubmitted("p-1", "uni"), OrderPartiallyFilled("p-1", "t", Decimal(2), Decimal(5))]
    )
    m.cancel(CancelOrder("p-1"))
    v = m.store.parent_view("p")
    assert v.filled == 2 and [c.client_order_id for c in v.children] == ["p-1", "p-2", "p-3"]
    assert m.submit(buy("p-4", "1", parent_id="nope")).code == "PARENT_INVALID"


def test_replay_rebuilds_the_same_state_hash(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    m.submit(buy("a", "3", order_type=OrderType.LIMIT, limit_price=Decimal("2000.5")))
    m.record([OrderSubmitted("a", "uni", "0xabc")])
    m.record(
        [
            TxSigned(1, "0xAbC", 0, "0xabc", b"\x02\x01", 10**20, 10**9, client_order_id="a"),
            TxMined(1, "0xabc", 0, "0xabc", 12, "0xb1", True, 21000, 10**9),
            OrderPartiallyFilled("a", "t1", Decimal("1.5"), Decimal("2000.5")),
        ]
    )
    m.set_trading_state(SetTradingState(TradingState.REDUCING, "drawdown"))
    again = OrderStore.replay(journal)
    assert again.state_hash() == m.store.state_hash()
    assert again.trading_state is TradingState.REDUCING and again.txs["0xabc"].block_number == 12
    assert again.max_nonce(1, "0xABC") == 0
    m.record([OrderFilled("a", "t2", Decimal("1.5"), Decimal(1))])
    assert OrderStore.replay(journal).state_hash() != again.state_hash()


async def test_concurrent_async_submits_of_one_id_create_one_order(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    orders = await asyncio.gather(*(m.submit_async(buy("same")) for _ in range(10)))
    assert {o.client_order_id for o in orders} == {"same"} and journal.head()[0] == 2


def test_bad_commands_name_the_field() -> None:
    with pytest.raises(ValidationError, match="quantity"):
        buy("a", "-1")
    with pytest.raises(ValidationError, match="limit_price"):
        buy("a", order_type=OrderType.LIMIT)
    with pytest.raises(ValidationError, match="client_order_id"):
        buy("")


def test_a_halt_from_another_process_stops_the_next_submit(tmp_path: Path) -> None:
    p = tmp_path / "j.sqlite"
    with SqliteJournal(p) as agent_j, SqliteJournal(p) as cli_j:
        agent = OrderManager.open(agent_j)
        agent.submit(buy("a"))
        OrderManager.open(cli_j).set_trading_state(SetTradingState(TradingState.HALTED, "ops"))
        assert agent.submit(buy("b")).code == "TRADING_HALTED"


def test_records_appended_by_others_in_between_are_folded_not_skipped(tmp_path: Path) -> None:
    p = tmp_path / "j.sqlite"
    with SqliteJournal(p) as j1, SqliteJournal(p) as j2:
        m1, m2 = OrderManager(j1), OrderManager(j2)
        m1.submit(buy("a"))
        m2.submit(buy("b"))
        m1.cancel(CancelOrder("a"))  # appended after b's records: m1 must fold b first
        assert set(m1.store.orders) == {"a", "b"}
        assert m1.store.state_hash() == OrderStore.replay(j1).state_hash()


def test_foreign_event_types_do_not_break_replay(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from agent.journal import EventRegistry

    other = EventRegistry()

    @other.register
    @dataclass(frozen=True)
    class BridgeThing:
        n: int

    p = tmp_path / "j.sqlite"
    with SqliteJournal(p, registry=other) as j:
        j.append("bridge", 0, [BridgeThing(1)])
    with SqliteJournal(p) as j:
        m = OrderManager.open(j)  # the default registry does not know BridgeThing
        m.submit(buy("a"))
        s = OrderStore.replay(j)
        assert s.position == 3 and set(s.orders) == {"a"}
