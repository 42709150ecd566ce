"""What a bridge transfer costs and how long it takes, for routing.

Routing weighs a bridge hop by ``fee`` (exact, base units of the bridged token), the source
chain gas of the deposit, and ``eta_seconds``: the time capital is in flight. The estimate is
structural (confirmations x block time + relayer poll + destination inclusion) and, once
transfers have been observed, the median of the recent ones replaces the structural guess.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from agent.errors import ValidationError

BPS = 10_000
DEPOSIT_GAS = 95_000  # approve + deposit through the module's batch, measured on the devnet
FINALIZE_GAS = 110_000  # relayer's finalizeDeposit with 2 signatures (paid by the relayer)
WITHDRAW_GAS = 90_000  # BridgeL2.withdraw through the L2 Safe's module (burn + fee mint)


class BridgeDirection(StrEnum):
    DEPOSIT = "deposit"  # L1 -> L2
    WITHDRAWAL = "withdrawal"  # L2 -> L1 (includes the challenge period)


@dataclass(frozen=True, slots=True)
class BridgeEstimate:
    direction: BridgeDirection
    amount_in: int  # gross, base units, leaves the source wallet
    fee: int  # kept by the bridge, base units
    amount_out: int  # arrives on the destination chain
    fee_bps: int
    gas_units: int  # source-chain gas the fund pays
    eta_seconds: Decimal
    calibrated: bool  # eta from observed transfers rather than the structural model


@dataclass(frozen=True, slots=True)
class BridgeCostModel:
    fee_bps: int
    confirmations: int = 1
    source_block_time: Decimal = Decimal("12")
    dest_block_time: Decimal = Decimal("2")
    relayer_poll: Decimal = Decimal("0.05")
    challenge_period: int = 0  # seconds, withdrawals only
    observed_deposit_seconds: tuple[Decimal, ...] = ()
    max_observations: int = 50

    def __post_init__(self) -> None:
        if not 0 <= self.fee_bps <= 1_000:
            raise ValidationError("fee_bps", f"{self.fee_bps} is outside 0..1000")
        if self.confirmations < 1:
            raise ValidationError("confirmations", f"{self.confirmations} < 1", "pass >= 1")

    def fee(self, amount: int) -> int:
        """Exactly what the contracts charge: floor(amount * bps / 10000)."""
        return amount * self.fee_bps // BPS

    def eta(self, direction: BridgeDirection = BridgeDirection.DEPOSIT) -> tuple[Decimal, bool]:
        if direction is BridgeDirection.DEPOSIT:
            if self.observed_deposit_seconds:
                return Decimal(statistics.median(self.observed_deposit_seconds)), True
            # the deposit's own block, (confirmations - 1) more, a poll, the L2 inclusion
            return (
                self.confirmations * self.source_block_time
                + self.relayer_poll
                + self.dest_block_time,
                False,
            )
        # A withdrawal model has source = L2, dest = L1: the burn's depth on L2, a poll, the
        # proof's L1 block, the challenge period, and the finalizing L1 block.
        return (
            self.confirmations * self.source_block_time
            + self.relayer_poll
            + self.dest_block_time
            + Decimal(self.challenge_period)
            + self.dest_block_time,
            False,
        )

    def estimate(
        self, amount: int, direction: BridgeDirection = BridgeDirection.DEPOSIT
    ) -> BridgeEstimate:
        if type(amount) is not int or amount <= 0:
            raise ValidationError("amount", f"{amount!r} is not a positive int of base units")
        fee = self.fee(amount)
        if amount <= fee:
            raise ValidationError(
                "amount", f"{amount} does not exceed the bridge fee {fee}", "send more"
            )
        eta, calibrated = self.eta(direction)
        gas = DEPOSIT_GAS if direction is BridgeDirection.DEPOSIT else WITHDRAW_GAS
        return BridgeEstimate(
            direction, amount, fee, amount - fee, self.fee_bps, gas, eta, calibrated
        )

    def observe(self, seconds: Decimal | float) -> BridgeCostModel:
        """A new model including one observed deposit-to-mint time (most recent kept)."""
        obs = (*self.observed_deposit_seconds, Decimal(str(seconds)))[-self.max_observations :]
        return replace(self, observed_deposit_seconds=obs)

    @classmethod
    def from_observations(
        cls, fee_bps: int, seconds: Sequence[Decimal], **kw: object
    ) -> BridgeCostModel:
        return cls(fee_bps, observed_deposit_seconds=tuple(seconds), **kw)  # type: ignore[arg-type]
