"""Journal events of the bridge (relayer and venue). Names are part of the journal format:
never rename one, add a new type instead."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agent.journal.codec import event_type

STREAM_RELAYER = "bridge.relayer"


class Direction(StrEnum):
    DEPOSIT = "deposit"  # L1 -> L2
    WITHDRAWAL = "withdrawal"  # L2 -> L1


@event_type(name="BridgeMessageRelayed")
@dataclass(frozen=True, slots=True)
class BridgeMessageRelayed:
    direction: Direction
    message_id: str
    source_tx: str
    dest_tx: str
    token: str
    recipient: str
    amount: int
    signers: tuple[str, ...]


@event_type(name="BridgeMessageRejected")
@dataclass(frozen=True, slots=True)
class BridgeMessageRejected:
    """A relay or a submission the contract would refuse: nothing was sent."""

    direction: Direction
    message_id: str
    code: str
    reason: str
    source_tx: str = ""


@event_type(name="BridgeWithdrawalFinalized")
@dataclass(frozen=True, slots=True)
class BridgeWithdrawalFinalized:
    message_id: str
    tx: str
    recipient: str
    amount: int


@event_type(name="BridgeTransferInitiated")
@dataclass(frozen=True, slots=True)
class BridgeTransferInitiated:
    """The venue sent a deposit (L1 Safe) or a withdrawal (L2 Safe) through the Safe."""

    client_order_id: str
    message_id: str
    tx: str
    token: str
    amount_in: int
    amount_out: int
    fee: int


@event_type(name="BridgeTransferProven")
@dataclass(frozen=True, slots=True)
class BridgeTransferProven:
    """A withdrawal of ours was proven on L1 by the relayers; releasable from ``release_at``."""

    client_order_id: str
    message_id: str
    release_at: int  # L1 unix seconds


@event_type(name="BridgeTransferCompleted")
@dataclass(frozen=True, slots=True)
class BridgeTransferCompleted:
    client_order_id: str
    message_id: str
    dest_tx: str
    amount_out: int
    elapsed_ms: int


@event_type(name="BridgeTransferRejected")
@dataclass(frozen=True, slots=True)
class BridgeTransferRejected:
    """The venue refused a transfer before sending anything (bad size, asset, balance)."""

    client_order_id: str
    code: str
    reason: str
