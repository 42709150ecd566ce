"""Append-only, hash-chained event journal (SQLite by default). See docs/journal.md."""

from agent.journal.base import (
    ANY,
    NO_STREAM,
    AppendResult,
    RecordedEvent,
    Store,
    TamperFinding,
    TamperKind,
    VerifyReport,
)
from agent.journal.codec import (
    EventRegistry,
    UnknownEventTypeError,
    canonical_json,
    event_type,
    registry,
)
from agent.journal.hashing import GENESIS, chain_hash
from agent.journal.sqlite import SqliteJournal

__all__ = [
    "ANY",
    "GENESIS",
    "NO_STREAM",
    "AppendResult",
    "EventRegistry",
    "RecordedEvent",
    "SqliteJournal",
    "Store",
    "TamperFinding",
    "TamperKind",
    "UnknownEventTypeError",
    "VerifyReport",
    "canonical_json",
    "chain_hash",
    "event_type",
    "registry",
]
