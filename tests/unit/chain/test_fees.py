"""Fee estimation and replacement bumps (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.chain.fees import (
    GWEI,
    FeeCapExceededError,
    FeeConfig,
    Fees,
    bump_fees,
    fees_from_history,
)
from agent.errors import RpcResponseError, ValidationError


def hist(bases, tips):
    return {
        "baseFeePerGas": [hex(b) for b in bases],
        "reward": [[hex(t)] for t in tips],
        "oldestBlock": "0x1",
    }


def test_estimate_uses_next_base_fee_and_median_tip():
    f = fees_from_history(hist([10, 20, 30 * GWEI], [1, 3 * GWEI]), FeeConfig())
    # median of two tips (upper) = 3 gwei; fee cap = 2 x next base + tip
    assert f.max_priority_fee_per_gas == 3 * GWEI
    assert f.max_fee_per_gas == 60 * GWEI + 3 * GWEI
    assert f.base_fee == 30 * GWEI and not f.capped


def test_estimate_clamps_to_caps():
    cfg = FeeConfig(max_fee_cap=50 * GWEI, max_priority_fee_cap=2 * GWEI)
    f = fees_from_history(hist([100 * GWEI], [10 * GWEI]), cfg)
    assert f.max_fee_per_gas == 50 * GWEI and f.max_priority_fee_per_gas == 2 * GWEI and f.capped
    assert not f.mineable_at(100 * GWEI)


def test_estimate_without_rewards_uses_min_tip():
    f = fees_from_history({"baseFeePerGas": ["0x7"]}, FeeConfig(min_priority_fee=5))
    assert f.max_priority_fee_per_gas == 5 and f.max_fee_per_gas == 19


@pytest.mark.parametrize(
    "bad", [None, {}, {"baseFeePerGas": []}, {"baseFeePerGas": ["zz"]}, {"baseFeePerGas": [-1]}]
)
def test_garbage_fee_history(bad):
    with pytest.raises(RpcResponseError):
        fees_from_history(bad, FeeConfig())


@given(
    cap=st.integers(1, 10**13),
    tip_frac=st.integers(0, 100),
    estimate=st.none() | st.tuples(st.integers(0, 10**13), st.integers(0, 10**12)),
)
def test_bump_raises_both_fields_at_least_12_5_percent(cap, tip_frac, estimate):
    tip = cap * tip_frac // 100
    old = Fees(cap, tip)
    cfg = FeeConfig(max_fee_cap=10**15, max_priority_fee_cap=10**15)
    fresh = None if estimate is None else Fees(max(estimate), min(estimate))
    new = bump_fees(old, cfg, at_least=fresh)
    assert new.max_fee_per_gas * 1000 >= old.max_fee_per_gas * 1125
    assert new.max_priority_fee_per_gas * 1000 >= old.max_priority_fee_per_gas * 1125
    assert new.max_priority_fee_per_gas <= new.max_fee_per_gas
    assert new.max_priority_fee_per_gas >= 1
    if fresh is not None:
        assert new.max_fee_per_gas >= fresh.max_fee_per_gas
        assert new.max_priority_fee_per_gas >= fresh.max_priority_fee_per_gas


def test_bump_rounds_up_small_values():
    new = bump_fees(Fees(9, 1), FeeConfig())
    assert (new.max_fee_per_gas, new.max_priority_fee_per_gas) == (
        11,
        2,
    )  # ceil(10.125), ceil(1.125)


def test_bump_beyond_cap_is_refused():
    with pytest.raises(FeeCapExceededError, match="max_fee_cap"):
        bump_fees(Fees(100 * GWEI, GWEI), FeeConfig(max_fee_cap=110 * GWEI))


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"max_fee_cap": -1}, "fees.max_fee_cap"),
        ({"max_priority_fee_cap": 10**20}, "fees.max_priority_fee_cap"),
        ({"base_fee_multiplier": Decimal("0.5")}, "fees.base_fee_multiplier"),
        ({"bump": Decimal("0.1")}, "fees.bump"),
        ({"reward_percentile": 101}, "fees.reward_percentile"),
    ],
)
def test_bad_config_names_field(kw, field):
    with pytest.raises(ValidationError) as e:
        FeeConfig(**kw)
    assert e.value.field == field
