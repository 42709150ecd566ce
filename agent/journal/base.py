"""The journal's interface: records, append results, verification, and the Store protocol.

A PostgreSQL store implements :class:`Store` the same way the SQLite one does: one global
order (``position``), per-stream optimistic concurrency (``version``), and each record
hash-chained to the previous one (see :mod:`agent.journal.hashing`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable

ANY: Final = -1
"""``expected_version`` that skips the concurrency check (use sparingly: audit streams)."""
NO_STREAM: Final = 0
"""``expected_version`` for a stream that must not exist yet."""


class RecordedEvent(NamedTuple):
    """One durable record (immutable; a NamedTuple because replay builds one per record and
    a tuple is 4x cheaper to build than a frozen dataclass). ``data`` is the canonical JSON
    text the hash covers; ``event`` is the decoded object (None with ``decode=False``)."""

    position: int  # global order, 1-based, gap-free
    stream: str
    version: int  # per-stream, 1-based, gap-free
    type: str
    data: str
    recorded_at_ns: int
    hash: bytes
    event: Any = None


class AppendResult(NamedTuple):
    """Where an append landed (immutable; a NamedTuple because the writer builds one per
    append on the group-commit path, 5x cheaper than a frozen dataclass)."""

    stream: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    head_hash: bytes


class TamperKind(StrEnum):
    EDITED = "edited"  # the record's own hash does not match its content
    DELETED = "deleted"  # a gap in positions, or the tail is shorter than the recorded head
    REORDERED = "reordered"  # a record is intact but does not follow the one before it
    STREAM_ORDER = "stream_order"  # a stream's versions are not 1, 2, 3, ... in position order
    # the journal does not match its MAC'd checkpoint: the file was replaced, truncated or
    # rewritten, or the checkpoint was moved (see agent.journal.hashing.Checkpoint)
    CHECKPOINT = "checkpoint"


@dataclass(frozen=True, slots=True)
class TamperFinding:
    position: int
    kind: TamperKind
    detail: str
    stream: str = ""
    version: int = 0

    def describe(self) -> str:
        where = f"record #{self.position}"
        if self.stream:
            where += f" (stream {self.stream!r} v{self.version})"
        return f"{where} {self.kind.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    records: int
    head_position: int
    head_hash: bytes
    finding: TamperFinding | None = None  # the FIRST problem, in position order

    def describe(self) -> str:
        if self.ok:
            return f"ok: {self.records} records, head #{self.head_position} {self.head_hash.hex()}"
        assert self.finding is not None
        return f"TAMPERED: {self.finding.describe()}"


@runtime_checkable
class Store(Protocol):
    """What the OMS and the tx engine need from a journal.

    ``append`` returns only once the events are durable (committed and fsync'd): callers
    append the "about to send" event and only then send (write-ahead). Concurrent appends
    may be committed together (group commit); each still gets its own result or error.
    """

    def append(self, stream: str, expected_version: int, events: Sequence[Any]) -> AppendResult:
        """Raise ConcurrencyConflictError unless the stream is at ``expected_version``
        (``NO_STREAM`` = must not exist, ``ANY`` = no check)."""
        ...

    def append_async(
        self, stream: str, expected_version: int, events: Sequence[Any]
    ) -> Awaitable[AppendResult]:
        """``await store.append_async(...)``: same as ``append`` without blocking the loop.
        Bad arguments raise at the call, before anything is queued."""
        ...

    def version(self, stream: str) -> int:
        """Current version of ``stream`` (0 when it does not exist)."""
        ...

    def read_stream(
        self, stream: str, from_version: int = 1, *, decode: bool = True
    ) -> Iterator[RecordedEvent]: ...

    def read_all(
        self, from_position: int = 1, *, decode: bool = True
    ) -> Iterator[RecordedEvent]: ...

    def replay(
        self, from_position: int = 1, types: Collection[str] | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(position, event) in order, decoding only records whose type is in ``types``
        (all when None): what rebuilding state reads."""
        ...

    def head(self) -> tuple[int, bytes]:
        """(last position, its hash); (0, GENESIS) for an empty journal."""
        ...

    def verify(self) -> VerifyReport: ...

    def close(self) -> None: ...
