"""Events the transaction engine adds to the OMS's tx events (agent.oms.events)."""

from __future__ import annotations

from dataclasses import dataclass

from agent.journal.codec import event_type


@event_type
@dataclass(frozen=True, slots=True)
class TxRefused:
    """Nothing was sent: bad input or a bad node (chain id mismatch, nonce far ahead, garbage
    or error answers before broadcast, fee caps). ``code`` is the AgentError's stable code."""

    chain_id: int
    sender: str
    code: str
    reason: str
    client_order_id: str | None = None
    nonce: int | None = None
