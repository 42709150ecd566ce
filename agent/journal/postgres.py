"""PostgreSQL journal: the same records, hash chain and Store interface as the SQLite one,
for several agent processes (on several machines) sharing one journal.

Writing: appends from threads (``append``) or event loops (``append_async``) are committed
in groups: one transaction per group, durable when COMMIT returns (``synchronous_commit`` is
forced on for the write connection). Who commits a group (the writer thread, or a saturated
loop on its own thread) is agent.journal.threaded's, shared with SqliteJournal. Every group
holds the lock of the one-row ``journal_head`` table: writers in every process are
serialised on it, so positions stay gap-free and each record chains to the one committed
before it, whichever process wrote that. An instance that wrote the head last takes it with
a guarded UPDATE that also moves it (the fast path: nobody appended since, so the version
cache is exact); otherwise it locks it (``SELECT ... FOR UPDATE``), reads it and the
versions it lacks, and drops its version cache if another writer appended.
``UNIQUE (stream, version)`` backs the expected-version check.

A lost connection: the group's transaction either committed whole or not at all. The writer
reconnects with exponential backoff (up to ``retry_for`` seconds); if COMMIT's answer was
lost it checks whether its last record is in the table (same position, same hash) before
answering, so an append is never doubled and never reported lost when it is durable. While
it retries, appends wait: a caller that journals before it sends sends nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.errors import ConcurrencyConflictError, JournalError, ValidationError
from agent.journal.base import (
    NO_STREAM,
    AppendRequest,
    AppendResult,
    LoopBatch,
    plan_group,
    resolve,
)
from agent.journal.codec import EventRegistry
from agent.journal.codec import registry as default_registry
from agent.journal.hashing import GENESIS
from agent.journal.postgres_read import PgReads, connection_lost
from agent.journal.threaded import Retry, ThreadedStore

try:  # an optional dependency: only a PostgreSQL journal needs it
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover - exercised only where psycopg is missing
    psycopg = None  # type: ignore[assignment]

SCHEMA_VERSION = "1"
_COLUMNS = "position, stream, version, type, recorded_at, data, prev_hash, hash"


def _schema_sql(schema: str) -> list[Any]:
    s = sql.Identifier(schema)
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s),
        sql.SQL(
            """CREATE TABLE IF NOT EXISTS {}.events (
                position    BIGINT  PRIMARY KEY,
                stream      TEXT    NOT NULL,
                version     INTEGER NOT NULL,
                type        TEXT    NOT NULL,
                recorded_at BIGINT  NOT NULL,
                data        TEXT    NOT NULL,
                prev_hash   BYTEA   NOT NULL,
                hash        BYTEA   NOT NULL,
                UNIQUE (stream, version))"""
        ).format(s),
        sql.SQL(
            """CREATE TABLE IF NOT EXISTS {}.journal_head (
                id       SMALLINT PRIMARY KEY CHECK (id = 1),
                position BIGINT   NOT NULL,
                hash     BYTEA    NOT NULL,
                schema_version TEXT NOT NULL)"""
        ).format(s),
        sql.SQL(
            "INSERT INTO {}.journal_head VALUES (1, 0, %s, %s) ON CONFLICT (id) DO NOTHING"
        ).format(s),
    ]


class PostgresJournal(ThreadedStore, PgReads):
    """A :class:`agent.journal.base.Store` on PostgreSQL. ``dsn`` is a libpq connection
    string (``postgresql://user@host:port/db`` or ``host=... dbname=...``); ``schema`` holds
    the journal's tables, so one database can hold several journals."""

    _thread_name = "pg-journal-writer"
    # reads wait on a server: code on an event loop reads in a thread (OrderManager.sync_async)
    reads_wait = True

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "agent_journal",
        registry: EventRegistry | None = None,
        max_batch_events: int = 20_000,
        loop_chunk: int = 1024,
        inline_min: int = 64,
        retry_for: float = 30.0,
        read_retry_for: float = 2.0,
        backoff: tuple[float, float] = (0.05, 2.0),
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if psycopg is None:
            raise ValidationError(
                "journal.url",
                "needs psycopg, which is not installed",
                "pip install 'psycopg[binary]'",
            )
        if not schema.isidentifier():
            raise ValidationError(
                "journal.schema", f"{schema!r} is not an identifier", "e.g. agent_journal"
            )
        self.dsn = dsn
        self.schema = schema
        self.registry = registry or default_registry
        self._retry_for = retry_for
        self._read_retry_for = read_retry_for
        self._backoff = backoff
        self._clock = clock
        s = sql.Identifier(schema)
        self._sql_head_lock = sql.SQL(
            "SELECT position, hash FROM {}.journal_head WHERE id = 1 FOR UPDATE"
        ).format(s)
        self._sql_set_head = sql.SQL(
            "UPDATE {}.journal_head SET position = %s, hash = %s WHERE id = 1"
        ).format(s)
        self._sql_versions = sql.SQL(
            "SELECT stream, MAX(version) FROM {}.events WHERE stream = ANY(%s) GROUP BY stream"
        ).format(s)
        self._sql_copy = sql.SQL("COPY {}.events (" + _COLUMNS + ") FROM STDIN").format(s)
        # the fast path's lock: moves the head only if it is still the one this instance
        # wrote (READ COMMITTED re-checks the condition after waiting for another writer)
        self._sql_move_head = sql.SQL(
            "UPDATE {}.journal_head SET position = %s, hash = %s "
            "WHERE id = 1 AND position = %s AND hash = %s"
        ).format(s)
        self._sql_hash_at = sql.SQL("SELECT hash FROM {}.events WHERE position = %s").format(s)
        self._t = f'"{schema}".events'  # for the read queries (schema checked above)
        self._rlock = threading.Lock()
        self._rconn: Any = None
        self._reads_down = threading.Event()
        self._known_head = None
        self._reviver = None
        try:
            with self._connect() as c:
                # one process creates the schema at a time (CREATE ... IF NOT EXISTS races)
                c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"journal:{schema}",))
                stmts = _schema_sql(schema)
                for st in stmts[:-1]:
                    c.execute(st)
                c.execute(stmts[-1], (GENESIS, SCHEMA_VERSION))
        except psycopg.Error as e:
            raise JournalError(f"cannot open the PostgreSQL journal ({self._where()}): {e}") from e
        self._init_writer(max_batch_events, loop_chunk, inline_min)
        self._wconn: Any = None
        self.reconnects = 0  # write connections re-opened after a loss
        self.read_retries = 0  # reads retried after a lost connection
        # committer state: touched only while holding _txn (writer thread or in-place commit)
        self._w_versions: dict[str, int] = {}
        self._w_head: tuple[int, bytes] | None = None
        self._w_qtypes: dict[str, str] = {}
        # the head row was found moved by another writer: commit through the locked path
        # (one wasted round trip a group otherwise) until a group finds the head unmoved
        self._contended = False
        self.fast_commits = 0  # commits that took the fast path (telemetry)

    def _where(self) -> str:
        """The server and database, without a password, for error messages."""
        try:
            info = psycopg.conninfo.conninfo_to_dict(self.dsn)
        except psycopg.Error:
            return "bad connection string"
        return f"host={info.get('host', 'localhost')} port={info.get('port', 5432)} dbname={info.get('dbname', '')}"

    def _connect(self) -> Any:
        return psycopg.connect(self.dsn, autocommit=False, connect_timeout=10)

    # --- writing ---------------------------------------------------------------------------
    def _label(self) -> str:
        return "the PostgreSQL journal"

    def _commit_group(
        self, reqs: list[AppendRequest], retry: InDoubt | None = None
    ) -> list[AppendResult | Exception]:
        return self._commit_retrying(reqs, retry)

    def _commit_inline(self, batch: LoopBatch) -> None:
        """One attempt on the loop's thread; a lost connection hands the group to the writer,
        which retries with backoff without blocking this loop."""
        if not self._txn.acquire(blocking=False):  # the writer is committing: queue behind it
            self._hand_over(batch)
            return
        try:
            if self._closed:
                self._refuse_closed(batch)
                return
            try:
                outcomes = self._commit(self._write_conn(), batch.requests)
            except InDoubt as d:
                self._hand_over(Retry(batch, d))
                return
            except Exception as e:
                if connection_lost(e):
                    self._drop_write_conn()
                    self._hand_over(Retry(batch, None))
                    return
                outcomes = [JournalError(f"journal write failed, nothing was appended: {e}")] * len(
                    batch.requests
                )
        finally:
            self._txn.release()
        self.inline_commits += 1
        resolve(batch.requests, outcomes)

    def _write_conn(self) -> Any:
        """The write connection (caller holds ``_txn``), opened on first use."""
        if self._wconn is None:
            conn = self._connect()
            conn.execute(
                "SET synchronous_commit = on"
            )  # durable at COMMIT, whatever the server default
            conn.commit()
            self._wconn = conn
        return self._wconn

    def _commit_retrying(
        self, reqs: list[AppendRequest], in_doubt: InDoubt | None = None
    ) -> list[AppendResult | Exception]:
        """Commit one group, riding out lost connections with exponential backoff. A group
        whose COMMIT went out but whose answer was lost is looked up before it is retried."""
        with self._txn:
            return self._retrying(reqs, in_doubt)

    def _retrying(
        self, reqs: list[AppendRequest], in_doubt: InDoubt | None
    ) -> list[AppendResult | Exception]:
        delay, cap = self._backoff
        deadline = time.monotonic() + self._retry_for
        while True:
            try:
                if in_doubt is not None:
                    if self._committed_anyway(in_doubt.position, in_doubt.hash):
                        self._w_versions.update(in_doubt.pending)
                        self._w_head = (in_doubt.position, in_doubt.hash)
                        self.commits += 1
                        return in_doubt.outcomes
                    in_doubt = None  # it was not committed: write the group again
                return self._commit(self._write_conn(), reqs)
            except InDoubt as d:
                in_doubt = d
            except Exception as e:
                if not connection_lost(e):
                    return [JournalError(f"journal write failed, nothing was appended: {e}")] * len(
                        reqs
                    )
                self._drop_write_conn()
                if self._closed or time.monotonic() + delay > deadline:
                    what = (
                        "these appends may or may not be durable"
                        if in_doubt
                        else "nothing was appended"
                    )
                    err = JournalError(
                        f"lost the PostgreSQL journal ({self._where()}) for {self._retry_for:g} s, "
                        f"{what}: {e}"
                    )
                    return [err] * len(reqs)
            time.sleep(delay)
            delay = min(delay * 2, cap)

    def _drop_write_conn(self) -> None:
        if self._wconn is not None:
            with contextlib.suppress(Exception):
                self._wconn.close()
            self.reconnects += 1
        self._wconn = None
        self._w_versions.clear()
        self._w_head = None

    def _committed_anyway(self, pos: int, h: bytes) -> bool:
        """Is the group's last record in the table? Its hash covers the whole chain before
        it, so an equal hash at that position is this very group."""
        with self._connect() as c:
            row = c.execute(self._sql_hash_at, (pos,)).fetchone()
        return row is not None and bytes(row[0]) == h

    def _commit(self, conn: Any, batch: list[AppendRequest]) -> list[AppendResult | Exception]:
        """Commit one group: the fast path when this instance wrote the head last, else (or
        when the fast path finds it did not) the locked path."""
        if self._w_head is not None and not self._contended:
            outcomes = self._commit_fast(conn, batch)
            if outcomes is not None:
                return outcomes
        return self._commit_locked(conn, batch)

    def _plan(
        self, batch: list[AppendRequest], head: tuple[int, bytes], versions: dict[str, int]
    ) -> tuple[list[tuple[Any, ...]], list[AppendResult | Exception], dict[str, int]]:
        """The group's rows, outcomes and new versions (agent.journal.base.plan_group); a
        stream missing from ``versions`` is taken as new: the fast path's assumption,
        checked by the table."""
        return plan_group(batch, head, versions, self._clock(), self._w_qtypes)

    def _copy(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        # COPY: psycopg's C row writer, the cheapest way in (1 µs a row; a pipelined
        # executemany of the same rows costs 7x its CPU, bench/suites/journal.py)
        with conn.cursor().copy(self._sql_copy) as cp:
            for r in rows:
                cp.write_row(r)

    def _commit_fast(
        self, conn: Any, batch: list[AppendRequest]
    ) -> list[AppendResult | Exception] | None:
        """The common case, this instance the last writer: 3 round trips, as a bare COPY
        and COMMIT take. The head moves only by a commit, so "the head row is still the one
        we wrote" (checked by the guarded UPDATE, which also takes its lock) means nobody
        appended since, and the version cache is exact. A stream the cache does not know and
        the request expects to be new is taken as new: were it not, its version 1 exists and
        the COPY fails on UNIQUE (stream, version). None: use the locked path (the head
        moved, a stream was not new, or nothing in the group is to be written)."""
        versions, head = self._w_versions, self._w_head
        assert head is not None
        if any(r.expected != NO_STREAM for r in batch if r.stream not in versions):
            return None  # a version only the table knows: the locked path reads it
        rows, outcomes, pending = self._plan(batch, head, versions)
        if not rows:
            return None  # only conflicts: confirm them against the table, under the lock
        pos, prev = rows[-1][0], rows[-1][7]
        try:
            cur = conn.execute(self._sql_move_head, (pos, prev, head[0], head[1]), prepare=True)
            if cur.rowcount != 1:  # another instance appended: its records come first
                conn.rollback()
                self._w_versions.clear()
                self._w_head = None
                self._contended = True  # the locked path until this instance is alone again
                return None
            self._copy(conn, rows)
        except psycopg.errors.UniqueViolation:  # a stream taken as new was not
            with contextlib.suppress(Exception):
                conn.rollback()
            self._w_versions.clear()
            self._w_head = None
            return None
        except Exception as e:
            return self._failed(conn, e, batch)
        return self._finish(conn, batch, (pos, prev), rows, outcomes, pending, fast=True)

    def _commit_locked(
        self, conn: Any, batch: list[AppendRequest]
    ) -> list[AppendResult | Exception]:
        """Lock the head row first, then read the head and the versions the cache lacks."""
        try:
            versions = self._w_versions
            row = conn.execute(self._sql_head_lock, prepare=True).fetchone()
            head = (row[0], bytes(row[1]))
            if head != self._w_head:  # first group, or another process appended
                versions.clear()
            # nobody appended since this instance's last commit: the fast path again
            self._contended = self._contended and head != self._w_head
            missing = list({r.stream for r in batch if r.stream not in versions})
            if missing:
                for s in missing:
                    versions[s] = 0
                for s, v in conn.execute(self._sql_versions, (missing,), prepare=True):
                    versions[s] = v
            rows, outcomes, pending = self._plan(batch, head, versions)
            if rows:
                self._copy(conn, rows)
                head = (rows[-1][0], rows[-1][7])
                conn.execute(self._sql_set_head, head, prepare=True)
        except Exception as e:
            return self._failed(conn, e, batch)
        return self._finish(conn, batch, head, rows, outcomes, pending)

    def _failed(
        self, conn: Any, e: Exception, batch: list[AppendRequest]
    ) -> list[AppendResult | Exception]:
        """Before COMMIT: nothing of the group was written. A lost connection propagates
        (the caller retries); anything else answers every request."""
        with contextlib.suppress(Exception):
            conn.rollback()
        return self._failure(e, batch)

    def _failure(self, e: Exception, batch: list[AppendRequest]) -> list[AppendResult | Exception]:
        """What a group that failed before COMMIT answers (its transaction rolled back)."""
        self._w_versions.clear()
        self._w_head = None
        if connection_lost(e):
            raise e
        if isinstance(e, psycopg.errors.UniqueViolation):  # the head lock makes this rare
            return [
                ConcurrencyConflictError(
                    f"another writer appended the same stream version ({e}); "
                    "reload the stream and retry"
                )
            ] * len(batch)
        return [JournalError(f"journal write failed, nothing was appended: {e}")] * len(batch)

    def _finish(
        self,
        conn: Any,
        batch: list[AppendRequest],
        head: tuple[int, bytes],
        rows: list[tuple[Any, ...]],
        outcomes: list[AppendResult | Exception],
        pending: dict[str, int],
        fast: bool = False,
    ) -> list[AppendResult | Exception]:
        """COMMIT (the head row already says ``head``, the group's last record, or the head
        the lock read when nothing was written)."""
        try:
            conn.commit()
        except Exception as e:
            if connection_lost(e):
                self._drop_write_conn()
            return self._commit_failed(e, batch, head, rows, outcomes, pending)
        return self._committed(head, outcomes, pending, fast)

    def _commit_failed(
        self,
        e: Exception,
        batch: list[AppendRequest],
        head: tuple[int, bytes],
        rows: list[tuple[Any, ...]],
        outcomes: list[AppendResult | Exception],
        pending: dict[str, int],
    ) -> list[AppendResult | Exception]:
        """COMMIT raised: refused (nothing written), or its answer lost (in doubt)."""
        self._w_versions.clear()
        self._w_head = None
        if not connection_lost(e):
            return [JournalError(f"journal commit failed, nothing was appended: {e}")] * len(batch)
        if not rows:
            raise e
        raise InDoubt(head[0], head[1], outcomes, pending) from e

    def _committed(
        self,
        head: tuple[int, bytes],
        outcomes: list[AppendResult | Exception],
        pending: dict[str, int],
        fast: bool,
    ) -> list[AppendResult | Exception]:
        self._w_versions.update(pending)
        self._w_head = head
        if self._known_head is None or head[0] > self._known_head[0]:
            self._known_head = head
        self.commits += 1
        if fast:
            self.fast_commits += 1
        return outcomes

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._stop_writer()
        with self._txn:
            if self._wconn is not None:
                with contextlib.suppress(Exception):
                    self._wconn.close()
                self._wconn = None
        with self._rlock:
            if self._rconn is not None:
                with contextlib.suppress(Exception):
                    self._rconn.close()
                self._rconn = None

    def __enter__(self) -> PostgresJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InDoubt(Exception):
    """COMMIT was sent and the connection died before its answer: the group is durable or
    absent, and only a look at the table tells which."""

    def __init__(
        self,
        position: int,
        hash_: bytes,
        outcomes: list[AppendResult | Exception],
        pending: dict[str, int],
    ) -> None:
        super().__init__(f"commit of records up to #{position} is in doubt")
        self.position, self.hash, self.outcomes, self.pending = position, hash_, outcomes, pending
