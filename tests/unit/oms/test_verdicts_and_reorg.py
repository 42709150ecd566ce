"""Every check's verdict is journaled with code and reason; older journals (no verdicts)
still replay; a reorged transaction takes back exactly the fill it produced; a policy
refusal after acceptance is an OrderDenied."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.journal import SqliteJournal
from agent.journal.codec import canonical_json, loads, registry
from agent.model import Side
from agent.model.decisions import Allow, Deny, Reduce
from agent.oms import OrderManager, OrderState, OrderStore, SubmitOrder
from agent.oms.events import (
    CheckVerdict,
    OrderAccepted,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderPartiallyFilled,
    OrderSubmitted,
    TxConfirmed,
    TxMined,
    TxReorged,
    TxSent,
    TxSigned,
)
from agent.oms.manager import verdict_of

CHAIN = 31337
SENDER = "0x" + "ab" * 20


@pytest.fixture
def journal(tmp_path: Path):
    with SqliteJournal(tmp_path / "oms.sqlite") as j:
        yield j


def buy(cid: str, qty: str = "1") -> SubmitOrder:
    return SubmitOrder(cid, "WETH/USDC", Side.BUY, Decimal(qty), venue="uni")


class Composite:
    """A check that explains itself, like agent.risk's RiskGateCheck."""

    name = "gate"

    def __init__(self, inner: list[tuple[str, object]]) -> None:
        self.inner = inner

    def __call__(self, cmd, store):  # pragma: no cover - the OMS prefers explain
        raise AssertionError("explain should be used")

    def explain(self, cmd, store):
        first = next((d for _, d in self.inner if not d.allowed), Allow())
        return first, tuple(self.inner)


def test_every_verdict_is_journaled_with_code_and_reason(journal: SqliteJournal) -> None:
    ok = Composite([("notional", Allow("notional", "1.00 <= 5")), ("band", Allow("band"))])
    m = OrderManager(journal, checks=[lambda c, s: Allow("plain"), ok])
    m.submit(buy("a"))
    acc = next(r.event for r in journal.read_all() if isinstance(r.event, OrderAccepted))
    assert [v.check for v in acc.verdicts] == ["trading_state", "<lambda>", "notional", "band"]
    assert acc.verdicts[2] == CheckVerdict("notional", "allow", "", "1.00 <= 5", "notional")

    bad = Composite(
        [
            ("notional", Reduce(Decimal("0.5"), "too big", "notional", "RISK_MAX_NOTIONAL")),
            ("band", Deny("RISK_PRICE_BAND", "far through the reference", "band")),
        ]
    )
    m2 = OrderManager(journal, checks=[bad])
    o = m2.submit(buy("b"))
    assert o.state is OrderState.DENIED and o.code == "RISK_MAX_NOTIONAL"
    den = next(r.event for r in journal.read_all() if isinstance(r.event, OrderDenied))
    by = {v.check: v for v in den.verdicts}
    assert by["notional"].verdict == "reduce" and by["notional"].max_quantity == Decimal("0.5")
    assert (by["band"].code, by["band"].reason) == ("RISK_PRICE_BAND", "far through the reference")
    # the verdicts survive a round trip through the journal's codec exactly
    assert OrderStore.replay(journal).state_hash() == OrderStore.replay(journal).state_hash()


def test_an_explaining_check_without_inner_verdicts_records_its_own() -> None:
    d = Deny("RISK_INPUT_MISSING", "no quote", "")
    assert verdict_of("gate", d) == CheckVerdict("gate", "deny", "RISK_INPUT_MISSING", "no quote")


def test_old_records_without_verdicts_still_decode_and_replay(journal: SqliteJournal) -> None:
    # what a journal written before ``verdicts`` existed holds for these two events
    old_acc = {"client_order_id": "a", "checks": ["trading_state", "max_notional"]}
    old_den = {"client_order_id": "b", "code": "X", "reason": "r", "rule": "x", "checks": []}
    acc = registry.decode("OrderAccepted", loads(canonical_json(old_acc)))
    den = registry.decode("OrderDenied", loads(canonical_json(old_den)))
    assert acc.verdicts == () and den.verdicts == ()
    init = [OrderInitialized(c, "WETH/USDC", Side.BUY, Decimal(1)) for c in "ab"]
    journal.append("order-a", 0, [init[0], acc])
    journal.append("order-b", 0, [init[1], den])
    s = OrderStore.replay(journal)
    assert (s.orders["a"].state, s.orders["b"].state) == (OrderState.ACCEPTED, OrderState.DENIED)


def test_policy_refusal_after_acceptance_denies_the_order(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    m.submit(buy("p"))
    m.record([OrderDenied("p", "POLICY_TARGET", "target not allowed", "allow_targets")])
    o = m.store.orders["p"]
    assert (o.state, o.code) == (OrderState.DENIED, "POLICY_TARGET")


def _signed(h: str, nonce: int, cid: str) -> TxSigned:
    return TxSigned(CHAIN, SENDER, nonce, h, b"\x01", 2, 1, cid)


def _mined(h: str, nonce: int, block: int, bh: str) -> TxMined:
    return TxMined(CHAIN, SENDER, nonce, h, block, bh, True, 21000, 1)


def test_reorg_unconfirms_the_fill_and_a_remine_fills_once(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    m.submit(buy("s", "2"))
    h = "0x" + "11" * 32
    txs = "tx-31337-" + SENDER
    journal.append(txs, 0, [_signed(h, 0, "s"), TxSent(CHAIN, SENDER, 0, h)])
    m.sync()
    m.record([OrderSubmitted("s", "uni", h)])
    journal.append(txs, 2, [_mined(h, 0, 5, "0xb1"), TxConfirmed(CHAIN, SENDER, 0, h, 5, 1)])
    m.sync()
    m.record([OrderFilled("s", h, Decimal(2), Decimal(3000))])
    assert m.store.orders["s"].state is OrderState.FILLED

    journal.append(txs, 4, [TxReorged(CHAIN, SENDER, 0, h, 5, "0xb1")])
    m.sync()
    o = m.store.orders["s"]
    assert (o.state, o.filled, o.trade_ids, o.notional) == (
        OrderState.SUBMITTED, Decimal(0), frozenset(), Decimal(0),
    )  # fmt: skip
    assert "reorged" in o.reason
    # re-mined in another block: the same trade id fills it again, exactly once
    journal.append(txs, 5, [_mined(h, 0, 6, "0xb2")])
    m.sync()
    m.record([OrderFilled("s", h, Decimal(2), Decimal(3000))])
    m.record([OrderFilled("s", h, Decimal(2), Decimal(3000))])  # repeated: ignored
    o = m.store.orders["s"]
    assert (o.state, o.filled) == (OrderState.FILLED, Decimal(2))
    # a fresh replay folds to the same state
    assert OrderStore.replay(journal).state_hash() == m.store.state_hash()


def test_reorg_of_one_fill_keeps_the_others(journal: SqliteJournal) -> None:
    m = OrderManager(journal)
    m.submit(buy("p", "3"))
    txs = "tx-31337-" + SENDER
    h1, h2 = "0x" + "21" * 32, "0x" + "22" * 32
    journal.append(txs, 0, [_signed(h1, 0, "p"), _signed(h2, 1, "p")])
    journal.append(txs, 2, [_mined(h1, 0, 5, "0xa"), _mined(h2, 1, 6, "0xb")])
    m.sync()
    m.record([OrderSubmitted("p", "uni", h1)])
    m.record([OrderPartiallyFilled("p", h1, Decimal(1), Decimal(10), Decimal("0.1"), "USDC")])
    m.record([OrderPartiallyFilled("p", h2, Decimal(1), Decimal(20))])
    journal.append(txs, 4, [TxReorged(CHAIN, SENDER, 1, h2, 6, "0xb")])
    m.sync()
    o = m.store.orders["p"]
    assert (o.state, o.filled, o.avg_price) == (
        OrderState.PARTIALLY_FILLED, Decimal(1), Decimal(10),
    )  # fmt: skip
    assert o.fees == (("USDC", Decimal("0.1")),) and o.trade_ids == {h1}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5)), min_size=1, max_size=8))
def test_property_reorgs_never_double_fill(tmp_path_factory, ops) -> None:
    """Fill with one tx per step, reorg some and re-fill them: filled is always the sum of
    the fills whose trade is on the canonical chain, never more than the quantity."""
    path = tmp_path_factory.mktemp("j") / "j.sqlite"
    with SqliteJournal(path) as j:
        total = sum(q for _, q in ops)
        m = OrderManager(j)
        m.submit(buy("x", str(total)))
        txs = "tx-31337-" + SENDER
        v = 0
        live: dict[str, int] = {}
        for n, (reorg, q) in enumerate(ops):
            h = f"0x{n:064x}"
            j.append(txs, v, [_signed(h, n, "x"), _mined(h, n, n + 1, f"0xb{n}")])
            v += 2
            m.sync()
            if m.store.orders["x"].state is OrderState.ACCEPTED:
                m.record([OrderSubmitted("x", "uni", h)])
            done = sum(live.values()) + q == total
            cls = OrderFilled if done else OrderPartiallyFilled
            m.record([cls("x", h, Decimal(q), Decimal(1))])
            live[h] = q
            if reorg:
                j.append(txs, v, [TxReorged(CHAIN, SENDER, n, h, n + 1, f"0xb{n}")])
                v += 1
                m.sync()
                del live[h]
            o = m.store.orders["x"]
            assert o.filled == sum(live.values()) <= o.quantity
            assert o.trade_ids == set(live)
