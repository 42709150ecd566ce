"""The PostgreSQL journal's read side: records, streams, replay and verify, on one shared
autocommit connection that is re-opened with backoff when the server goes away.

A mixin of :class:`agent.journal.postgres.PostgresJournal` (kept apart so each module holds
one concern: this one reads, that one writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

from agent.errors import JournalError
from agent.journal.base import (
    ChainWalker,
    RecordedEvent,
    VerifyReport,
    decode_chunk,
    no_gc,
    records_of,
)
from agent.journal.codec import DECODE_ERRORS, EventRegistry
from agent.journal.hashing import GENESIS

try:  # an optional dependency: only a PostgreSQL journal needs it
    import psycopg
except ImportError:  # pragma: no cover - exercised only where psycopg is missing
    psycopg = None  # type: ignore[assignment]

_READ_CHUNK = 1024
_REPLAY_CHUNK = 4096  # one round trip per chunk: larger than SQLite's, which has none


def _on_loop() -> bool:
    """Is this thread running an event loop (whose every blocking wait stalls it)?"""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def connection_lost(e: BaseException) -> bool:
    """An error after which the connection cannot be trusted (server gone, restarted, or
    the network cut): reconnect and retry. Anything else is a real refusal."""
    return isinstance(e, psycopg.OperationalError | psycopg.InterfaceError)


class PgReads:
    """What the reads need from the store (set by PostgresJournal.__init__)."""

    dsn: str
    schema: str
    registry: EventRegistry
    read_retries: int
    _t: str
    _rlock: threading.Lock
    _rconn: Any
    _backoff: tuple[float, float]
    _read_retry_for: float

    def _where(self) -> str:  # pragma: no cover - PostgresJournal defines it
        raise NotImplementedError

    # --- reading ---------------------------------------------------------------------------
    # An event loop must never wait on an unreachable server: a read made on a loop's
    # thread is tried once, and if the connection is lost the store marks reads down and a
    # background thread ("pg-journal-reads") re-opens the connection with backoff. Until it
    # has, reads on a loop are tried at most once per backoff step and otherwise fail at
    # once (JournalError), and ``head()`` there answers the last head this instance knows
    # (what it read or committed itself: while the server is unreachable nobody commits
    # through it, so a halt cannot be missed by answering it). Code that would rather wait
    # for the server reads in a thread (OrderManager.sync_async: ``reads_wait``).
    # A read on any other thread (CLI, tests, tools) retries for ``read_retry_for`` seconds.
    _reads_down: threading.Event
    _loop_retry_at: float = 0.0
    _known_head: tuple[int, bytes] | None
    _reviver: threading.Thread | None

    @property
    def reads_down(self) -> bool:
        """True while the read connection is lost and being re-opened in the background."""
        return self._reads_down.is_set()

    def _query(self, query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """One read on the shared read connection (autocommit); see the note above."""
        if _on_loop():
            now = time.monotonic()
            if self._reads_down.is_set() and now < self._loop_retry_at:
                raise JournalError(
                    f"cannot read the PostgreSQL journal ({self._where()}): the server is "
                    "unreachable; reconnecting in the background"
                )
            try:
                return self._read_once(query, args)
            except psycopg.Error as e:
                if not connection_lost(e):
                    raise JournalError(f"journal read failed: {e}") from e
                # one try per backoff step from a loop (a refused connection fails at once;
                # the reader thread keeps trying in between)
                self._loop_retry_at = time.monotonic() + self._backoff[0]
                self._mark_reads_down()
                raise JournalError(
                    f"cannot read the PostgreSQL journal ({self._where()}): {e}; "
                    "reconnecting in the background"
                ) from e
        delay, cap = self._backoff
        deadline = time.monotonic() + self._read_retry_for
        while True:
            try:
                return self._read_once(query, args)
            except psycopg.Error as e:
                if not connection_lost(e):
                    raise JournalError(f"journal read failed: {e}") from e
                self.read_retries += 1
                if time.monotonic() + delay > deadline:
                    self._mark_reads_down()
                    raise JournalError(
                        f"cannot read the PostgreSQL journal ({self._where()}): {e}"
                    ) from e
            time.sleep(delay)  # without the lock: a loop's read is not held up by it
            delay = min(delay * 2, cap)

    def _read_once(self, query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._rlock:
            try:
                if self._rconn is None:
                    self._rconn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
                rows = self._rconn.execute(query, args, prepare=True).fetchall()
            except psycopg.Error as e:
                if connection_lost(e):
                    with contextlib.suppress(Exception):
                        self._rconn.close()
                    self._rconn = None
                raise
        self._reads_down.clear()
        return rows

    def _mark_reads_down(self) -> None:
        self._reads_down.set()
        with self._rlock:
            if self._reviver is not None and self._reviver.is_alive():
                return
            self._reviver = threading.Thread(
                target=self._revive_reads, name="pg-journal-reads", daemon=True
            )
            self._reviver.start()

    def _revive_reads(self) -> None:
        delay, cap = self._backoff
        while self._reads_down.is_set() and not getattr(self, "_closed", False):
            try:
                self._read_once("SELECT 1", ())
                if getattr(self, "_closed", False):  # closed meanwhile: leave nothing open
                    with self._rlock:
                        if self._rconn is not None:
                            with contextlib.suppress(Exception):
                                self._rconn.close()
                            self._rconn = None
                return  # _read_once cleared the flag
            except psycopg.Error:
                self.read_retries += 1
            time.sleep(delay)
            delay = min(delay * 2, cap)

    def version(self, stream: str) -> int:
        return (
            self._query(f"SELECT MAX(version) FROM {self._t} WHERE stream = %s", (stream,))[0][0]
            or 0
        )

    def head(self) -> tuple[int, bytes]:
        on_loop = _on_loop()
        if on_loop and self._reads_down.is_set() and self._known_head is not None:
            return self._known_head  # see the note above
        try:
            rows = self._query(
                f"SELECT position, hash FROM {self._t} ORDER BY position DESC LIMIT 1", ()
            )
        except JournalError:
            if on_loop and self._reads_down.is_set() and self._known_head is not None:
                return self._known_head  # the read that found the server gone
            raise
        head = (rows[0][0], bytes(rows[0][1])) if rows else (0, GENESIS)
        self._known_head = head
        return head

    def read_all(self, from_position: int = 1, *, decode: bool = True) -> Iterator[RecordedEvent]:
        pos = from_position
        q = (
            f"SELECT position, stream, version, type, data, recorded_at, hash, NULL "
            f"FROM {self._t} WHERE position >= %s ORDER BY position LIMIT %s"
        )
        while True:
            with no_gc():
                rows = self._query(q, (pos, _READ_CHUNK))
                if not rows:
                    return
                out = records_of(self.registry, rows, decode)
            yield from out
            pos = rows[-1][0] + 1

    def read_stream(
        self, stream: str, from_version: int = 1, *, decode: bool = True
    ) -> Iterator[RecordedEvent]:
        v = from_version
        q = (
            f"SELECT position, stream, version, type, data, recorded_at, hash, NULL "
            f"FROM {self._t} WHERE stream = %s AND version >= %s ORDER BY version LIMIT %s"
        )
        while True:
            rows = self._query(q, (stream, v, _READ_CHUNK))
            if not rows:
                return
            yield from records_of(self.registry, rows, decode)
            v = rows[-1][2] + 1

    def replay(
        self, from_position: int = 1, types: Collection[str] | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(position, typed event) in order; see SqliteJournal.replay."""
        reg = self.registry
        fast: dict[str, Callable[[str], Any]] = {}
        safe: dict[str, Callable[[str], Any]] = {}
        pos = from_position
        q = f"SELECT position, type, data FROM {self._t} WHERE position >= %s ORDER BY position LIMIT %s"
        while True:
            with no_gc():
                rows = self._query(q, (pos, _REPLAY_CHUNK))
                if not rows:
                    return
                for t in {r[1] for r in rows}.difference(fast):
                    if types is None or t in types:
                        fast[t], safe[t] = reg.raw_decoder(t), reg.decoder(t)
                try:
                    out = decode_chunk(rows, fast, types is None)
                except DECODE_ERRORS:
                    out = decode_chunk(rows, safe, types is None)
            yield from out
            pos = rows[-1][0] + 1

    def iter_payloads(self, from_position: int = 1) -> Iterator[tuple[str, str]]:
        """(type, data) only: the fastest way to fold the whole journal."""
        pos = from_position
        q = f"SELECT position, type, data FROM {self._t} WHERE position >= %s ORDER BY position LIMIT %s"
        while True:
            rows = self._query(q, (pos, _READ_CHUNK))
            if not rows:
                return
            for _, t, d in rows:
                yield t, d
            pos = rows[-1][0] + 1

    def verify(self) -> VerifyReport:
        """Walk the whole chain; report the FIRST edited, deleted or reordered record.

        In one REPEATABLE READ snapshot: other processes keep appending while a journal is
        verified, and a head read after the walk would name records the walk never saw."""
        walker = ChainWalker()
        q = (
            f"SELECT position, stream, version, type, recorded_at, data, prev_hash, hash "
            f"FROM {self._t} WHERE position >= %s ORDER BY position LIMIT %s"
        )
        try:
            with (
                psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as c,
                c.transaction(),
            ):
                c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                pos = 1
                while True:
                    rows = c.execute(q, (pos, _READ_CHUNK)).fetchall()
                    if not rows or not walker.feed(rows):
                        break
                    pos = rows[-1][0] + 1
                h = c.execute(
                    f'SELECT position, hash FROM "{self.schema}".journal_head WHERE id = 1'
                ).fetchall()
        except psycopg.Error as e:
            raise JournalError(
                f"cannot verify the PostgreSQL journal ({self._where()}): {e}"
            ) from e
        return walker.finish((h[0][0], bytes(h[0][1])) if h else None)
