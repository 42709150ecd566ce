"""Journal events of the options venue and the multi-leg executor (registered types; names
are part of the journal format). Refusals are events with a code and reason."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.journal import event_type


@event_type(name="OptionsQuoteRejected")
@dataclass(frozen=True, slots=True)
class OptionsQuoteRejected:
    strategy: str
    safe: str
    code: str
    reason: str
    leg: int = -1  # -1: the strategy as a whole
    maker: str = ""
    nonce: int = 0
    series_id: int = 0


@event_type(name="MultilegSubmitted")
@dataclass(frozen=True, slots=True)
class MultilegSubmitted:
    strategy: str
    safe: str
    legs: tuple[str, ...]
    net_premium: Decimal
    max_loss: Decimal | None
    calls: int


@event_type(name="MultilegExecuted")
@dataclass(frozen=True, slots=True)
class MultilegExecuted:
    strategy: str
    safe: str
    tx_hash: str
    gas_used: int
    block: int


@event_type(name="MultilegFailed")
@dataclass(frozen=True, slots=True)
class MultilegFailed:
    strategy: str
    safe: str
    code: str
    reason: str
    tx_hash: str = ""


@event_type(name="OptionsSettlementRejected")
@dataclass(frozen=True, slots=True)
class OptionsSettlementRejected:
    """settle / exercise / redeem refused before signing: nothing was sent."""

    action: str  # "settle" | "exercise" | "redeem"
    safe: str
    series_id: int
    code: str
    reason: str


@event_type(name="OptionsSeriesSettled")
@dataclass(frozen=True, slots=True)
class OptionsSeriesSettled:
    safe: str
    series_id: int
    price: int  # quote base units per whole underlying
    tx_hash: str


@event_type(name="OptionsExercised")
@dataclass(frozen=True, slots=True)
class OptionsExercised:
    safe: str
    series_id: int
    amount: int  # longs burned, underlying base units
    payout: int  # collateral-asset base units received
    tx_hash: str


@event_type(name="OptionsRedeemed")
@dataclass(frozen=True, slots=True)
class OptionsRedeemed:
    safe: str
    series_id: int
    short: int  # the writer's short that was closed out
    payout: int  # collateral-asset base units returned
    tx_hash: str
