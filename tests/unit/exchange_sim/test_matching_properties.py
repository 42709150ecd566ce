"""Matching-engine properties: never crossed, balances conserved, fills add up."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.exchange_sim.accounts import ZERO
from agent.exchange_sim.exchange import Exchange, SimReject
from agent.exchange_sim.instruments import SimInstrument, SimKind
from agent.exchange_sim.matching import SimTif
from agent.model import Side

SPOT = SimInstrument(
    "BTCUSDT", SimKind.SPOT, "BTC", "USDT", Decimal("1"), Decimal("0.1"), Decimal("0.1")
)
PERP = SimInstrument(
    "BTC_USDC-PERPETUAL",
    SimKind.PERPETUAL,
    "BTC",
    "USDC",
    Decimal("1"),
    Decimal("0.1"),
    Decimal("0.1"),
)
ACCOUNTS = ("a", "b", "c")

order_st = st.tuples(
    st.sampled_from(ACCOUNTS),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(min_value=1, max_value=30).map(lambda n: Decimal(n) / 10),  # amount
    st.one_of(st.none(), st.integers(min_value=90, max_value=110).map(Decimal)),  # price
    st.sampled_from(list(SimTif)),
    st.booleans(),  # cancel something afterwards
    st.sampled_from([0, 0, 1, 3]).map(lambda n: Decimal(n) / 10),  # iceberg display (0: none)
)


def _fresh() -> Exchange:
    ex = Exchange([SPOT, PERP], clock=lambda: 1_000, index={"BTC": Decimal(100)})
    for a in ACCOUNTS:
        ex.ledger.deposit(a, "BTC", Decimal(50))
        ex.ledger.deposit(a, "USDT", Decimal(5_000))
        ex.ledger.deposit(a, "USDC", Decimal(5_000))
    return ex


@settings(max_examples=150, deadline=None)
@given(st.lists(order_st, min_size=1, max_size=60), st.sampled_from([SPOT, PERP]))
def test_book_never_crossed_and_money_conserved(ops, inst):
    ex = _fresh()
    totals = {a: ex.ledger.total(a) for a in ("BTC", "USDT", "USDC")}
    for acct, side, amount, price, tif, do_cancel, display in ops:
        with contextlib.suppress(SimReject):
            ex.place(acct, inst.name, side, amount, price, tif=tif, display=display)
        book = ex.books[inst.name]
        assert not book.is_crossed()
        # an iceberg never shows more than its slice; the book's depth is what is shown
        for o in book.orders():
            assert 0 < o.visible <= (o.display or o.remaining) and o.visible <= o.remaining
        if do_cancel and (open_ := ex.open_orders(acct)):
            ex.cancel(acct, open_[0].order_id)
    for asset, before in totals.items():
        assert ex.ledger.total(asset) == before, asset
    assert ex.ledger.open_interest_sum(PERP.name) == 0
    # no negative free or locked spot balances; locks equal what open orders hold
    for acct in ACCOUNTS:
        for b in ex.ledger.balances(acct):
            if inst is SPOT:
                assert b.free >= 0 and b.locked >= 0, (acct, b)
        held = sum((o.locked for o in ex.open_orders(acct)), ZERO)
        locked_all = sum((b.locked for b in ex.ledger.balances(acct)), ZERO)
        assert held == locked_all
    # fills sum to each order's filled quantity, and filled <= amount
    by_order: dict[int, Decimal] = {}
    for t in ex.trades:
        for oid in (t.taker_order_id, t.maker_order_id):
            by_order[oid] = by_order.get(oid, ZERO) + t.amount
    for o in ex.orders.values():
        assert by_order.get(o.order_id, ZERO) == o.filled
        assert 0 <= o.filled <= o.amount
        assert o.status.is_open == (o in set(ex.books[o.instrument].orders()))


def test_price_time_priority():
    ex = _fresh()
    first, _ = ex.place("a", "BTCUSDT", Side.SELL, Decimal("1"), Decimal("100"))
    second, _ = ex.place("b", "BTCUSDT", Side.SELL, Decimal("1"), Decimal("100"))
    better, _ = ex.place("c", "BTCUSDT", Side.SELL, Decimal("1"), Decimal("99"))
    _, trades = ex.place("a", "BTCUSDT", Side.BUY, Decimal("1.5"), Decimal("100"))
    assert [t.maker_order_id for t in trades] == [better.order_id, first.order_id]
    assert [t.amount for t in trades] == [Decimal(1), Decimal("0.5")]
    assert first.remaining == Decimal("0.5") and second.filled == 0


def test_fok_rejected_when_book_too_thin_and_nothing_changes():
    ex = _fresh()
    ex.place("a", "BTCUSDT", Side.SELL, Decimal("1"), Decimal("100"))
    before = [(b.asset, b.free, b.locked) for b in ex.ledger.balances("b")]
    try:
        ex.place("b", "BTCUSDT", Side.BUY, Decimal("2"), Decimal("100"), tif=SimTif.FOK)
        raise AssertionError("FOK should have been rejected")
    except SimReject as e:
        assert e.reason == "fok_unfillable"
    assert [(b.asset, b.free, b.locked) for b in ex.ledger.balances("b")] == before


def test_insufficient_funds_rejected_without_side_effects():
    ex = _fresh()
    n_orders = len(ex.orders)
    try:
        ex.place("a", "BTCUSDT", Side.BUY, Decimal("1000"), Decimal("100"))
        raise AssertionError("should be rejected")
    except SimReject as e:
        assert e.reason == "insufficient_funds"
    assert len(ex.orders) == n_orders
    assert ex.ledger.locked("a", "USDT") == 0


def test_maker_filled_below_its_limit_releases_the_rest_of_its_lock():
    """Found by the property above: a resting buy filled partly at a better price, then
    completed as maker, kept the price improvement locked forever."""
    ex = _fresh()
    ex.place("b", "BTCUSDT", Side.SELL, Decimal("0.1"), Decimal("90"))
    buy, _ = ex.place("a", "BTCUSDT", Side.BUY, Decimal("0.2"), Decimal("91"))  # 0.1 at 90
    ex.place("c", "BTCUSDT", Side.SELL, Decimal("0.1"), None)  # takes the rest at 91
    assert not buy.status.is_open and buy.locked == ZERO
    assert all(b.locked == ZERO for b in ex.ledger.balances("a"))
