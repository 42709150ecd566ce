"""The journal's interface: records, append results, verification, and the Store protocol.

A PostgreSQL store implements :class:`Store` the same way the SQLite one does: one global
order (``position``), per-stream optimistic concurrency (``version``), and each record
hash-chained to the previous one (see :mod:`agent.journal.hashing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable

from agent.errors import ConcurrencyConflictError, ValidationError
from agent.journal.codec import DECODE_ERRORS
from agent.journal.hashing import GENESIS, _dumps, chain_hash

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


# --- what every store's append path shares: argument checks, queued requests, answers -----
def encode_request(
    registry: Any, stream: str, expected: int, events: Sequence[Any]
) -> AppendRequest:
    """Check an append's arguments and encode its events (raises before anything is queued)."""
    if not isinstance(stream, str) or not stream or not stream.isprintable():
        raise ValidationError(
            "stream", f"{stream!r} must be a non-empty printable string", "e.g. 'order-<id>'"
        )
    if not isinstance(expected, int) or expected < ANY:
        raise ValidationError(
            "expected_version", f"{expected!r} is invalid", "give the stream's version, 0 or -1"
        )
    if not events:
        raise ValidationError("events", "is empty", "append at least one event")
    enc = registry.encode
    return AppendRequest(stream, expected, [enc(e) for e in events])


@dataclass(slots=True)
class AppendRequest:
    stream: str
    expected: int
    encoded: list[tuple[str, str]]
    future: Any = None  # concurrent Future (sync caller) or asyncio Future (loop batch)


@dataclass(slots=True)
class LoopBatch:
    """All appends one event loop made in one turn: handed to the writer as one item and
    answered with one thread-safe callback, not one wake-up per append."""

    loop: asyncio.AbstractEventLoop
    requests: list[AppendRequest]
    events: int  # sum of len(r.encoded): the writer sizes groups without walking requests


def resolve(requests: list[AppendRequest], outcomes: list[AppendResult | Exception]) -> None:
    for req, out in zip(requests, outcomes, strict=True):
        if req.future.done():  # the caller was cancelled; the append still happened
            continue
        if isinstance(out, Exception):
            req.future.set_exception(out)
        else:
            req.future.set_result(out)


def plan_group(
    batch: list[AppendRequest],
    head: tuple[int, bytes],
    versions: dict[str, int],
    ts: int,
    qtypes: dict[str, str],
) -> tuple[list[tuple[Any, ...]], list[AppendResult | Exception], dict[str, int]]:
    """One group's rows ``(position, stream, version, type, recorded_at, data, prev_hash,
    hash)`` chained from ``head``, each request's outcome (its result, or the conflict its
    expected version meets), and the streams' new versions. ``versions``: the streams'
    current versions (one missing is taken as new); ``ts``: the group's one timestamp (its
    records are committed, hence recorded, together); ``qtypes``: a cache of JSON-quoted
    type names. The stores' hot loop: both commit exactly these rows."""
    outcomes: list[AppendResult | Exception] = []
    pending: dict[str, int] = {}
    pos, prev = head
    rows: list[tuple[Any, ...]] = []
    sha256, q = hashlib.sha256, _dumps
    for req in batch:
        s = req.stream
        cur = pending[s] if s in pending else versions.get(s, 0)
        if req.expected != ANY and cur != req.expected:
            outcomes.append(conflict(s, cur, req.expected))
            continue
        first_pos, first_v = pos + 1, cur + 1
        qs = q(s)
        for type_, data in req.encoded:
            pos += 1
            cur += 1
            qt = qtypes.get(type_)
            if qt is None:
                qt = qtypes[type_] = q(type_)
            # = chain_hash(prev, s, cur, type_, ts, data), inlined (hot loop)
            h = sha256(prev + f"[{qs},{cur},{qt},{ts},{data}]".encode()).digest()
            rows.append((pos, s, cur, type_, ts, data, prev, h))
            prev = h
        pending[s] = cur
        outcomes.append(AppendResult(s, first_v, cur, first_pos, pos, prev))
    return rows, outcomes, pending


def conflict(stream: str, current: int, expected: int) -> ConcurrencyConflictError:
    return ConcurrencyConflictError(
        f"stream {stream!r} is at version {current}, not {expected}; reload the stream and retry"
    )


class ChainWalker:
    """Verification of the hash chain over rows ``(position, stream, version, type,
    recorded_at, data, prev_hash, hash)`` fed in position order, chunk by chunk: the FIRST
    edited, deleted or reordered record, or ok. Stores differ only in how they fetch rows.

    ``start``/``prev``: where the walk begins (1/GENESIS for a full verify; a verified
    checkpoint's next position and hash for an incremental one); ``version_before(stream)``:
    the stream's version before ``start`` (0 for a full walk)."""

    def __init__(
        self,
        start: int = 1,
        prev: bytes = GENESIS,
        version_before: Callable[[str], int] | None = None,
    ) -> None:
        self.expected_pos, self.prev, self.n = start, prev, 0
        self.versions: dict[str, int] = {}
        self._before = version_before
        self.report: VerifyReport | None = None  # set at the first finding

    @property
    def expected(self) -> int:
        return self.expected_pos

    @property
    def finding(self) -> TamperFinding | None:
        return self.report.finding if self.report is not None else None

    def _at(self, exp: int, prev: bytes, n: int) -> ChainWalker:
        """The walk's position as of the row that failed (the loop keeps it in locals)."""
        self.expected_pos, self.prev, self.n = exp, prev, n
        return self

    def _bad(self, pos: int, kind: TamperKind, detail: str, s: str = "", v: int = 0) -> bool:
        self.report = VerifyReport(
            False, self.n, self.expected_pos - 1, self.prev, TamperFinding(pos, kind, detail, s, v)
        )
        return False

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        """Check one chunk; False once a finding is made (see ``report``)."""
        versions, before = self.versions, self._before
        exp, prev, n = self.expected_pos, self.prev, self.n
        try:
            for p, s, v, t, ts, data, ph, h in rows:
                if type(ph) is not bytes or type(h) is not bytes or type(data) is not str:
                    # a NULL, a number, text where a hash is (what a careless edit leaves);
                    # a driver's memoryview for a blob is fine
                    if type(data) is not str or not all(
                        isinstance(x, bytes | memoryview) for x in (ph, h)
                    ):
                        return self._at(exp, prev, n)._bad(
                            p, TamperKind.EDITED, "the record is malformed", str(s), 0
                        )
                    ph, h = bytes(ph), bytes(h)
                if p != exp:
                    missing = f"#{exp}" + (f"..#{p - 1}" if p - 1 > exp else "")
                    return self._at(exp, prev, n)._bad(
                        exp, TamperKind.DELETED, f"record(s) {missing} are missing"
                    )
                if chain_hash(ph, s, v, t, ts, data) != h:
                    return self._at(exp, prev, n)._bad(
                        p, TamperKind.EDITED, "its content does not match its hash", s, v
                    )
                if ph != prev:
                    return self._at(exp, prev, n)._bad(
                        p,
                        TamperKind.REORDERED,
                        f"it does not chain to record #{p - 1} (records reordered or removed, "
                        f"or #{p - 1} rewritten with a recomputed hash)",
                        s,
                        v,
                    )
                last = versions.get(s)
                if last is None:
                    last = before(s) if before is not None else 0
                if v != last + 1:
                    return self._at(exp, prev, n)._bad(
                        p, TamperKind.STREAM_ORDER, f"expected version {last + 1}", s, v
                    )
                versions[s] = v
                prev, n, exp = h, n + 1, p + 1
        finally:
            self.expected_pos, self.prev, self.n = exp, prev, n
        return True

    def finish(self, head: tuple[int, bytes] | None) -> VerifyReport:
        """The report, given the head the store recorded with its last commit (if any): a
        tail cut off after the last record is only visible against it."""
        if self.report is not None:
            return self.report
        n = self.n
        if head is not None:
            hp, hh = head
            if hp > n:
                self._bad(
                    n + 1, TamperKind.DELETED, f"the journal ends at #{n} but its head says #{hp}"
                )
                return self.report  # type: ignore[return-value]
            if hp == n and hh != self.prev:
                self._bad(n, TamperKind.EDITED, "the last record's hash differs from the head")
                return self.report  # type: ignore[return-value]
        return VerifyReport(True, n, n, self.prev)


# --- what every store's read path shares ------------------------------------------------
as_record: Callable[[tuple[Any, ...]], RecordedEvent] = functools.partial(
    tuple.__new__, RecordedEvent
)
"""A row selected in RecordedEvent's field order -> that record, in one C call per row."""


def decode_chunk(
    rows: list[tuple[Any, ...]], decs: dict[str, Callable[[str], Any]], every: bool
) -> list[tuple[int, Any]]:
    if every:
        return [(p, decs[t](data)) for p, t, data in rows]
    return [(p, decs[t](data)) for p, t, data in rows if t in decs]


def records_of(registry: Any, rows: list[tuple[Any, ...]], decode: bool) -> list[RecordedEvent]:
    """Rows in RecordedEvent's field order with a NULL ``event`` column -> records, each
    built in one C call, decoded with msgspec where it can (the exact decoders judge the
    rest)."""
    if not decode:
        return list(map(as_record, rows))
    types = {r[3] for r in rows}
    try:
        decs = {t: registry.raw_decoder(t) for t in types}
        return [as_record((p, s, v, t, d, ts, h, decs[t](d))) for p, s, v, t, d, ts, h, _ in rows]
    except DECODE_ERRORS:
        decs = {t: registry.decoder(t) for t in types}
        return [as_record((p, s, v, t, d, ts, h, decs[t](d))) for p, s, v, t, d, ts, h, _ in rows]


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """No cyclic GC while one chunk of records is fetched and decoded (a few ms): the tens of
    thousands of fresh, acyclic objects would otherwise trigger young-generation collections
    that find nothing to free (~15% of replay time). Restores the caller's GC setting."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
