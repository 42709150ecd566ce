"""The bridge cost model: exact fees, refusals, structural and calibrated time."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import ValidationError
from agent.venues.bridge.cost import BridgeCostModel, BridgeDirection


@given(amount=st.integers(1, 10**30), bps=st.integers(0, 1_000))
def test_fee_matches_contract_floor_and_conserves(amount, bps):
    m = BridgeCostModel(fee_bps=bps)
    fee = m.fee(amount)
    assert fee == amount * bps // 10_000  # BridgeEscrow.feeFor
    assert 0 <= fee <= amount // 10
    if amount > fee:
        e = m.estimate(amount)
        assert e.amount_in == e.fee + e.amount_out and e.amount_out > 0


def test_dust_and_bad_amounts_refused():
    m = BridgeCostModel(fee_bps=1_000)
    assert m.estimate(1).amount_out == 1  # fee rounds down to 0
    with pytest.raises(ValidationError) as e:
        m.estimate(0)
    assert e.value.field == "amount"
    with pytest.raises(ValidationError):
        m.estimate(Decimal(5))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        BridgeCostModel(fee_bps=1_001)
    with pytest.raises(ValidationError):
        BridgeCostModel(fee_bps=5, confirmations=0)


def test_structural_eta_grows_with_confirmations():
    a = BridgeCostModel(fee_bps=5, confirmations=1).estimate(10**6)
    b = BridgeCostModel(fee_bps=5, confirmations=6).estimate(10**6)
    assert b.eta_seconds - a.eta_seconds == 5 * Decimal(12)
    assert not a.calibrated


def test_withdrawal_eta_includes_challenge_period():
    m = BridgeCostModel(fee_bps=5, challenge_period=3_600)
    assert m.estimate(10**6, BridgeDirection.WITHDRAWAL).eta_seconds > 3_600
    assert m.estimate(10**6).eta_seconds < 60


def test_observations_replace_the_guess_with_their_median():
    m = BridgeCostModel(fee_bps=5, max_observations=3)
    for s in (0.5, 0.1, 0.2, 9.0):
        m = m.observe(s)
    assert m.observed_deposit_seconds == (Decimal("0.1"), Decimal("0.2"), Decimal("9.0"))
    e = m.estimate(10**6)
    assert e.calibrated and e.eta_seconds == Decimal("0.2")
