"""Verification of the SQLite journal: the full walk and the incremental one from the MAC'd
checkpoint (see docs/journal.md, "Checkpoint and incremental verify"). A mixin of
:class:`agent.journal.sqlite.SqliteJournal`, split out to keep each module one concern; the
chain logic it feeds rows to (``base.ChainWalker``, ``hashing.Checkpoint``) is
store-independent.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from agent.errors import JournalError
from agent.journal.base import ChainWalker, TamperFinding, TamperKind, VerifyReport
from agent.journal.hashing import GENESIS, Checkpoint

_READ_CHUNK = 1024


class SqliteVerify:
    """Needs from the journal: ``path``, ``read_only``, ``journal_id``, ``_ckey``,
    ``_query``, ``_txn``, ``_write_conn`` and ``_trusted`` (see SqliteJournal)."""

    path: Path
    read_only: bool
    journal_id: str
    _ckey: bytes | None
    _txn: threading.Lock
    _trusted: tuple[int, bytes] | None

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write_conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    # --- verification ----------------------------------------------------------------------
    _ROWS = (
        "SELECT position, stream, version, type, recorded_at, data, prev_hash, hash "
        "FROM events WHERE position >= ? ORDER BY position LIMIT ?"
    )

    def _walk(self, walk: ChainWalker) -> bool:
        pos = walk.expected
        while True:
            rows = self._query(self._ROWS, (pos, _READ_CHUNK))
            if not rows:
                return True
            if not walk.feed(rows):
                return False
            pos = rows[-1][0] + 1

    def _meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _hash_at(self, position: int) -> bytes | None:
        rows = self._query("SELECT hash FROM events WHERE position = ?", (position,))
        return rows[0][0] if rows and type(rows[0][0]) is bytes else None

    def _report(self, walk: ChainWalker, finding: TamperFinding | None = None) -> VerifyReport:
        finding = finding or walk.finding
        head = walk.expected - 1
        return VerifyReport(finding is None, walk.n, head, walk.prev, finding)

    def _check_head(self, walk: ChainWalker) -> TamperFinding | None:
        """The head the last commit wrote vs where the walk ended (tail deleted/rewritten)."""
        meta = self._meta("head")
        end = walk.expected - 1
        if meta:
            hp, _, hh = meta.partition(":")
            if not hp.isdigit():
                return TamperFinding(end, TamperKind.EDITED, f"the head {meta[:80]!r} is malformed")
            if int(hp) > end:
                return TamperFinding(
                    end + 1,
                    TamperKind.DELETED,
                    f"the journal ends at #{end} but its head says #{hp}",
                )
            if int(hp) == end and hh != walk.prev.hex():
                return TamperFinding(
                    end, TamperKind.EDITED, "the last record's hash differs from the head"
                )
        return None

    def _check_checkpoint(self, cp: Checkpoint, end: int) -> TamperFinding | None:
        """A checkpoint (MAC already checked, or not checkable) against the records."""
        if cp.position > end:
            return TamperFinding(
                end + 1,
                TamperKind.DELETED,
                f"the journal ends at #{end} but record #{cp.position} was verified before "
                "(records deleted, or the file replaced by an older copy)",
            )
        if cp.position and self._hash_at(cp.position) != cp.hash:
            return TamperFinding(
                cp.position,
                TamperKind.CHECKPOINT,
                "it differs from the verified checkpoint (records rewritten, or the file replaced)",
            )
        return None

    def verify(self) -> VerifyReport:
        """Walk the whole chain; report the FIRST edited, deleted or reordered record (and
        a journal shorter than, or different from, its checkpoint: MACs are checked only by
        :meth:`verify_incremental`, which has the key)."""
        walk = ChainWalker()
        if not self._walk(walk):
            return self._report(walk)
        found = self._check_head(walk)
        for text in (self._meta("checkpoint"), self._read_sidecar()):
            cp = Checkpoint.decode(text) if text else None
            if found is None and cp is not None:
                found = self._check_checkpoint(cp, walk.expected - 1)
        return self._report(walk, found)

    @property
    def checkpoint_path(self) -> Path:
        """The checkpoint's copy outside the file: it survives the file being replaced."""
        return self.path.with_name(self.path.name + ".checkpoint")

    def _read_sidecar(self) -> str | None:
        try:
            return self.checkpoint_path.read_text().strip()
        except FileNotFoundError:
            return None

    def verify_incremental(self, full_below: int = 0) -> VerifyReport:
        """Verify from the MAC'd checkpoint on: the cost is a count and a link check over the
        records in SQLite's C code, then the records since the last verify hashed in
        Python, not the whole chain re-hashed (bench: journal.verify). On success the checkpoint
        moves to the head (in the file and in ``<journal>.checkpoint``). Needs the
        ``checkpoint_secret``. Without any checkpoint yet (a new or older journal) the whole
        chain is verified once. What it does not re-check: the content of records before the
        checkpoint whose stored hashes were left as they were (:meth:`verify` does), unless
        the journal has fewer than ``full_below`` records: it is then re-hashed in full too
        (the MACs still checked), closing that gap while it is cheap."""
        if self._ckey is None:
            raise JournalError("verify_incremental needs the journal's checkpoint_secret")
        rep = self._verify_incremental()
        if rep.ok and rep.head_position < full_below:
            full = self.verify()
            if not full.ok:
                return full
        return rep

    def _verify_incremental(self) -> VerifyReport:
        assert self._ckey is not None
        key, jid = self._ckey, self.journal_id
        count, last = self._query("SELECT COUNT(*), MAX(position) FROM events", ())[0]
        last = last or 0
        if count != last:  # a gap somewhere: the full walk names it
            full = self.verify()
            if not full.ok:
                return full
            gap = TamperFinding(1, TamperKind.DELETED, f"{last - count} record(s) are missing")
            return VerifyReport(False, count, last, full.head_hash, gap)
        texts = {"journal": self._meta("checkpoint"), "file": self._read_sidecar()}
        cps: dict[str, Checkpoint] = {}
        for where, text in texts.items():
            if text is None:
                continue
            cp = Checkpoint.decode(text)
            if cp is None or not cp.valid(key, jid):
                name = "journal's" if where == "journal" else f"file {self.checkpoint_path.name}"
                bad = TamperFinding(
                    cp.position if cp else 0,
                    TamperKind.CHECKPOINT,
                    f"the {name} checkpoint was not written by this operator for this journal "
                    "(moved, forged, or another journal's)",
                )
                return VerifyReport(False, 0, last, GENESIS, bad)
            cps[where] = cp
        if not cps:  # never checkpointed: the whole chain, once
            rep = self.verify()
            if rep.ok:
                self._advance(rep.head_position, rep.head_hash)
            return rep
        side = cps.get("file")
        cp = cps.get("journal")
        if cp is None or (side is not None and side.position > cp.position):
            assert side is not None
            old = TamperFinding(
                cp.position + 1 if cp else 1,
                TamperKind.CHECKPOINT,
                f"the journal is older than its checkpoint file (verified up to "
                f"#{side.position}): the file was replaced or its records deleted",
            )
            return VerifyReport(False, 0, last, GENESIS, old)
        for c in (side, cp):
            found = self._check_checkpoint(c, last) if c is not None else None
            if found is not None:
                return VerifyReport(False, 0, last, GENESIS, found)
        if self._links_broken(cp.position):  # reordered/renumbered before it: full names it
            full = self.verify()
            if not full.ok:
                return full
        walk = ChainWalker(
            cp.position + 1, cp.hash, functools.partial(self._version_at, cp.position)
        )
        if not self._walk(walk):
            return self._report(walk)
        found = self._check_head(walk)
        if found is None:
            if walk.n or side != cp:  # nothing new and both copies agree: nothing to write
                self._advance(walk.expected - 1, walk.prev)
            else:
                with self._txn:
                    self._trusted = (cp.position, cp.hash)
        return self._report(walk, found)

    def _links_broken(self, until: int) -> bool:
        """Does any record up to ``until`` not chain to the one before it? One join in
        SQLite's C code (no hashing: ~0.4 us a record), so records swapped or renumbered
        before the checkpoint are caught without walking them in Python."""
        rows = self._query(
            "SELECT COUNT(*) FROM events a JOIN events b ON b.position = a.position + 1 "
            "WHERE b.position <= ? AND b.prev_hash != a.hash",
            (until,),
        )
        first = self._query("SELECT prev_hash FROM events WHERE position = 1", ())
        return bool(rows[0][0]) or bool(first and first[0][0] != GENESIS)

    def _version_at(self, position: int, stream: str) -> int:
        rows = self._query(
            "SELECT MAX(version) FROM events WHERE stream = ? AND position <= ?",
            (stream, position),
        )
        return rows[0][0] or 0

    def _advance(self, position: int, hash_: bytes) -> None:
        """Move the checkpoint to a verified (position, hash): in the file, then beside it."""
        assert self._ckey is not None
        if self.read_only:
            return
        with self._txn:
            conn = self._write_conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
                ).fetchone()
                now = (row[0], bytes(row[1])) if row else (0, GENESIS)
                if now != (position, hash_):
                    return  # appended meanwhile: the next verify moves it
                cp = Checkpoint.make(self._ckey, self.journal_id, position, hash_)
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('checkpoint', ?)",
                    (cp.encode(),),
                )
                self._trusted = (position, hash_)
            finally:
                conn.execute("COMMIT")
            self._write_sidecar(cp)

    def _write_sidecar(self, cp: Checkpoint) -> None:
        tmp = self.checkpoint_path.with_name(self.checkpoint_path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(cp.encode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.checkpoint_path)

    def _final_checkpoint(self) -> None:
        """At close: the checkpoint file follows the journal's, if this instance wrote last."""
        if self._ckey is None or self.read_only or self._trusted is None:
            return
        text = self._meta("checkpoint")
        cp = Checkpoint.decode(text) if text else None
        if cp is not None and (cp.position, cp.hash) == self._trusted:
            self._write_sidecar(cp)
