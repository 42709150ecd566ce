"""REDUCING judged from positions: an order passes when it shrinks the absolute exposure of
its base asset without crossing zero (or carries the reduce-only flag)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from agent.model import Side, TradingState
from agent.oms.commands import CancelOrder, SubmitOrder
from agent.oms.trading import gate, reduces

amounts = st.decimals(min_value=-1000, max_value=1000, places=6)
sizes = st.decimals(min_value=Decimal("0.000001"), max_value=1000, places=6)


def order(side: Side, qty: Decimal, reduce_only: bool = False) -> SubmitOrder:
    return SubmitOrder("o1", "WETH/USDC", side, qty, reduce_only=reduce_only)


@given(side=st.sampled_from(list(Side)), qty=sizes, exposure=amounts)
def test_reduces_iff_abs_exposure_shrinks_without_flipping(
    side: Side, qty: Decimal, exposure: Decimal
) -> None:
    after = exposure - qty if side is Side.SELL else exposure + qty
    want = abs(after) < abs(exposure) and (after == 0 or (after > 0) == (exposure > 0))
    assert reduces(side, qty, exposure) is want


@given(side=st.sampled_from(list(Side)), qty=sizes, exposure=amounts)
def test_reducing_gate_follows_positions(side: Side, qty: Decimal, exposure: Decimal) -> None:
    d = gate(TradingState.REDUCING, order(side, qty), exposure)
    assert d.allowed is reduces(side, qty, exposure)
    if not d.allowed:
        assert d.code == "TRADING_REDUCING" and str(exposure) in d.reason


def test_sell_reducing_a_long_passes_and_what_would_flip_it_does_not() -> None:
    long = Decimal(2)
    assert gate(TradingState.REDUCING, order(Side.SELL, Decimal(2)), long).allowed
    assert not gate(TradingState.REDUCING, order(Side.SELL, Decimal("2.1")), long).allowed
    assert not gate(TradingState.REDUCING, order(Side.BUY, Decimal(1)), long).allowed
    assert gate(TradingState.REDUCING, order(Side.BUY, Decimal(1)), Decimal(-1)).allowed


def test_without_positions_only_the_flag_passes_and_halt_stops_all() -> None:
    assert not gate(TradingState.REDUCING, order(Side.SELL, Decimal(1))).allowed
    assert gate(TradingState.REDUCING, order(Side.SELL, Decimal(1), reduce_only=True)).allowed
    halted = gate(TradingState.HALTED, order(Side.SELL, Decimal(1)), Decimal(5))
    assert not halted.allowed and halted.code == "TRADING_HALTED"
    assert gate(TradingState.HALTED, CancelOrder("o1")).allowed
    assert gate(TradingState.ACTIVE, order(Side.BUY, Decimal(1)), Decimal(0)).allowed
