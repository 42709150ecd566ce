"""SQLite journal: WAL mode, synchronous=FULL, hash-chained records, group commit.

Appends from any thread (``append``) or any event loop (``append_async``) are grouped: each
group's expected versions are checked, its records chained and inserted in ONE transaction
and committed once (one fsync for the whole group), then each request is answered. A request
returns only after that commit, so "append, then send" is write-ahead by construction.

Who commits a group: a writer thread owns the queue of groups from threads, and of small
groups from event loops (a lone append never blocks its loop for an fsync). An event loop
whose turn produced ``inline_min`` or more appends is saturated; it commits that group on its
own thread, which saves the hand-off between threads (bench: journal.append vs
journal.append_threaded). Both use one write connection under one lock.

Several processes may open the same file: each group starts with ``BEGIN IMMEDIATE`` (the
SQLite write lock) and re-reads the head, so a stale in-memory version cache is detected
and dropped rather than trusted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from agent.errors import (
    JournalError,
    NotAJournalError,
    ValidationError,
)
from agent.journal.base import (
    AppendRequest,
    AppendResult,
    LoopBatch,
    RecordedEvent,
    as_record,
    decode_chunk,
    no_gc,
    plan_group,
    records_of,
    resolve,
)
from agent.journal.codec import DECODE_ERRORS, EventRegistry
from agent.journal.codec import registry as default_registry
from agent.journal.hashing import GENESIS, Checkpoint, checkpoint_key
from agent.journal.sqlite_verify import SqliteVerify
from agent.journal.threaded import ThreadedStore

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY,
    stream      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    prev_hash   BLOB    NOT NULL,
    hash        BLOB    NOT NULL,
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_READ_CHUNK = 1024  # rows per query: a chunk that stays in the CPU cache decodes ~25% faster
_REPLAY_CHUNK = 1024  # rows per query when replaying: small enough to stay in the CPU cache (32k rows: 1.4x slower)
# Rows per INSERT statement. executemany steps the statement once per row and the sqlite3
# module releases and re-takes the GIL around every step: while the event loop thread runs
# Python, each re-take can wait a whole switch interval (5 ms), so a 256-row group paid up
# to a second in GIL hand-offs. One multi-row INSERT is one step: one hand-off per chunk.
_INSERT_ROWS = 500  # x 8 parameters, far below SQLite's variable limit (32,766 since 3.32)
_ROW_MARKS = "(?,?,?,?,?,?,?,?)"


_as_record = as_record  # shared with the PostgreSQL store (agent.journal.base)
_decode_chunk = decode_chunk
_no_gc = no_gc


def _insert(conn: sqlite3.Connection, params: list[Any]) -> None:
    """Insert rows given as one flat parameter list (8 per row)."""
    step = _INSERT_ROWS * 8
    for i in range(0, len(params), step):
        chunk = params[i : i + step]
        conn.execute(
            "INSERT INTO events VALUES " + ",".join([_ROW_MARKS] * (len(chunk) // 8)), chunk
        )


_Request = AppendRequest  # shared with the PostgreSQL store (agent.journal.base)
_LoopBatch = LoopBatch
_resolve = resolve


class SqliteJournal(ThreadedStore, SqliteVerify):
    """The default :class:`agent.journal.base.Store`. Use as a context manager or ``close()``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        registry: EventRegistry | None = None,
        max_batch_events: int = 20_000,
        loop_chunk: int = 1024,
        inline_min: int = 64,
        clock: Callable[[], int] = time.time_ns,
        checkpoint_secret: bytes | None = None,
        read_only: bool = False,
    ) -> None:
        """``checkpoint_secret`` (the operator key on the signing path): keeps a MAC'd
        checkpoint of the last record known good, so :meth:`verify_incremental` re-hashes
        only what came after it. ``read_only``: open an existing journal without writing
        anything into the file (``agent journal verify``); appends then fail."""
        self.path = Path(path)
        self.read_only = read_only
        self._ckey = checkpoint_key(checkpoint_secret) if checkpoint_secret else None
        self.registry = registry or default_registry
        self._clock = clock
        if self.path.parent and not self.path.parent.exists():
            raise ValidationError(
                "journal.path", f"directory {self.path.parent} does not exist", "create it first"
            )
        if read_only and not self.path.is_file():
            raise ValidationError("journal.path", f"{self.path} does not exist")
        try:
            if read_only:  # mode=ro: SQLite itself refuses every write to the file
                uri = self.path.resolve().as_uri() + "?mode=ro"
                self._rconn = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30
                )
                self._check_is_journal()
            else:
                self._rconn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=30
                )
                self._check_is_journal()
                self._rconn.execute("PRAGMA journal_mode=WAL")
                self._rconn.executescript(_SCHEMA)
                self._rconn.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?), "
                    "('journal_id', ?)",
                    (SCHEMA_VERSION, secrets.token_hex(16)),
                )
            ids = self._rconn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchall()
        except sqlite3.DatabaseError as e:
            with contextlib.suppress(Exception):
                self._rconn.close()
            if "not a database" in str(e):
                raise NotAJournalError(
                    f"{self.path} is not an agent journal (not an SQLite database); "
                    "nothing was written to it: pass the journal's own file"
                ) from e
            raise JournalError(f"cannot open journal {self.path}: {e}") from e
        # journals made before the checkpoint existed have no id: their checkpoint uses ""
        self.journal_id: str = ids[0][0] if ids else ""
        self._rlock = threading.Lock()
        self._init_writer(max_batch_events, loop_chunk, inline_min)
        self._wconn: sqlite3.Connection | None = None
        # committer state: touched only while holding _txn (writer thread or in-place commit)
        self._w_versions: dict[str, int] = {}
        self._w_head: tuple[int, bytes] | None = None
        self._w_qtypes: dict[str, str] = {}  # event type -> its JSON-quoted form, for hashing
        # (position, hash) this instance verified or wrote itself: a commit on top of it
        # advances the MAC'd checkpoint; a commit on top of another process's records does
        # not (they are verified at the next open). Touched only while holding _txn.
        self._trusted: tuple[int, bytes] | None = None

    def _check_is_journal(self) -> None:
        """Refuse someone else's SQLite file before anything is written into it."""
        tables = {
            r[0] for r in self._rconn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        ours = {"events", "meta"} <= tables and bool(
            self._rconn.execute("SELECT 1 FROM meta WHERE key = 'schema'").fetchall()
        )
        if ours or (not tables and not self.read_only):
            return
        self._rconn.close()
        what = "an empty database" if not tables else "tables " + ", ".join(sorted(tables))
        raise NotAJournalError(
            f"{self.path} is not an agent journal ({what}); nothing was written to it: "
            "pass the journal's own file (default .state/journal.sqlite)"
        )

    # --- writing ---------------------------------------------------------------------------
    def _label(self) -> str:
        return f"journal {self.path}"

    def _commit_group(
        self, reqs: list[_Request], retry: Any = None
    ) -> list[AppendResult | Exception]:
        with self._txn:
            return self._commit(self._write_conn(), reqs)

    def _commit_inline(self, batch: _LoopBatch) -> None:
        with self._txn:
            if self._closed:  # another thread closed the journal meanwhile
                self._refuse_closed(batch)
                return
            outcomes = self._commit(self._write_conn(), batch.requests)
        self.inline_commits += 1
        _resolve(batch.requests, outcomes)

    def _write_conn(self) -> sqlite3.Connection:
        """The write connection (caller holds ``_txn``), opened on first use."""
        if self._wconn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is fsync'd at every commit, so a returned append survives power loss.
            conn.execute("PRAGMA synchronous=FULL")
            self._wconn = conn
        return self._wconn

    def _load_versions(self, conn: sqlite3.Connection, streams: set[str]) -> None:
        """Fill the version cache for ``streams`` with one query per 500 (not one each):
        new streams (every new order) would otherwise cost a query per append."""
        missing = [s for s in streams if s not in self._w_versions]
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            for s in chunk:
                self._w_versions[s] = 0
            marks = ",".join("?" * len(chunk))
            for s, v in conn.execute(
                f"SELECT stream, MAX(version) FROM events WHERE stream IN ({marks}) GROUP BY stream",
                chunk,
            ):
                self._w_versions[s] = v

    def _commit(
        self, conn: sqlite3.Connection, batch: list[_Request]
    ) -> list[AppendResult | Exception]:
        clock = self._clock
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone()
            head = (row[0], bytes(row[1])) if row else (0, GENESIS)
            if head != self._w_head:  # first batch, or another process appended
                self._w_versions.clear()
            pos, prev = head
            self._load_versions(conn, {r.stream for r in batch})
            versions = self._w_versions
            # one timestamp per group: its records are committed, hence recorded, together
            rows, outcomes, pending = plan_group(batch, head, versions, clock(), self._w_qtypes)
            if rows:
                pos, prev = rows[-1][0], rows[-1][7]
            params = list(chain.from_iterable(rows))  # flat: 8 per row, for the multi-row INSERT
            trusted = self._trusted
            if params:
                _insert(conn, params)
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('head', ?)",
                    (f"{pos}:{prev.hex()}",),
                )
                if self._ckey is not None and trusted == head:
                    # one HMAC per commit, not per record; same transaction as the records
                    cp = Checkpoint.make(self._ckey, self.journal_id, pos, prev)
                    conn.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('checkpoint', ?)",
                        (cp.encode(),),
                    )
                    trusted = (pos, prev)
                else:
                    trusted = None
            conn.execute("COMMIT")
        except Exception as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._w_versions.clear()
            self._w_head = None
            self._trusted = None
            err = JournalError(f"journal write failed, nothing was appended: {e}")
            return [err] * len(batch)
        self._w_versions.update(pending)
        self._w_head = (pos, prev)
        self._trusted = trusted
        self.commits += 1
        return outcomes

    # --- reading ---------------------------------------------------------------------------
    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._rlock:
            return self._rconn.execute(sql, args).fetchall()

    def version(self, stream: str) -> int:
        return self._query("SELECT MAX(version) FROM events WHERE stream = ?", (stream,))[0][0] or 0

    def head(self) -> tuple[int, bytes]:
        rows = self._query("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1", ())
        return (rows[0][0], bytes(rows[0][1])) if rows else (0, GENESIS)

    def _records(self, rows: list[tuple[Any, ...]], decode: bool) -> list[RecordedEvent]:
        """Rows come in RecordedEvent's field order with a NULL ``event`` column, so without
        decoding each row becomes its record in one C call."""
        return records_of(self.registry, rows, decode)

    def read_all(self, from_position: int = 1, *, decode: bool = True) -> Iterator[RecordedEvent]:
        pos = from_position
        while True:
            with _no_gc():
                rows = self._query(
                    "SELECT position, stream, version, type, data, recorded_at, hash, NULL "
                    "FROM events WHERE position >= ? ORDER BY position LIMIT ?",
                    (pos, _READ_CHUNK),
                )
                if not rows:
                    return
                out = self._records(rows, decode)
            yield from out
            pos = rows[-1][0] + 1

    def read_stream(
        self, stream: str, from_version: int = 1, *, decode: bool = True
    ) -> Iterator[RecordedEvent]:
        v = from_version
        while True:
            rows = self._query(
                "SELECT position, stream, version, type, data, recorded_at, hash, NULL "
                "FROM events WHERE stream = ? AND version >= ? ORDER BY version LIMIT ?",
                (stream, v, _READ_CHUNK),
            )
            if not rows:
                return
            yield from self._records(rows, decode)
            v = rows[-1][2] + 1

    def replay(
        self, from_position: int = 1, types: Collection[str] | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(position, typed event) for every record from ``from_position`` on, in order: what
        rebuilding state needs. Reads only position, type and data (no hashes: ``verify`` is
        the integrity check) and decodes only records whose type is in ``types`` (all when
        None), so events of areas a process does not know are skipped without decoding."""
        reg = self.registry
        fast: dict[str, Callable[[str], Any]] = {}
        safe: dict[str, Callable[[str], Any]] = {}
        pos = from_position
        while True:
            with _no_gc():
                rows = self._query(
                    "SELECT position, type, data FROM events WHERE position >= ? "
                    "ORDER BY position LIMIT ?",
                    (pos, _REPLAY_CHUNK),
                )
                if not rows:
                    return
                for t in {r[1] for r in rows}.difference(fast):
                    if types is None or t in types:
                        fast[t], safe[t] = reg.raw_decoder(t), reg.decoder(t)
                try:
                    out = _decode_chunk(rows, fast, types is None)
                except DECODE_ERRORS:  # a record msgspec refuses: the exact decoders judge
                    out = _decode_chunk(rows, safe, types is None)
            yield from out
            pos = rows[-1][0] + 1

    def iter_payloads(self, from_position: int = 1) -> Iterator[tuple[str, str]]:
        """(type, data) only: the fastest way to fold the whole journal."""
        pos = from_position
        while True:
            rows = self._query(
                "SELECT position, type, data FROM events WHERE position >= ? "
                "ORDER BY position LIMIT ?",
                (pos, _READ_CHUNK),
            )
            if not rows:
                return
            for _, t, d in rows:
                yield t, d
            pos = rows[-1][0] + 1

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._stop_writer()
        with contextlib.suppress(OSError, sqlite3.Error):  # a lagging checkpoint file is safe
            self._final_checkpoint()
        with self._txn:
            if self._wconn is not None:
                self._wconn.close()
        with self._rlock:
            self._rconn.close()

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
