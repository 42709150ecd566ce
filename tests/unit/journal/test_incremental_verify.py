"""The incremental verify (from the MAC'd checkpoint) against what a tamperer with the file
does: random tamper operations on a real SQLite journal are always detected, and an honest
journal always verifies, however its appends and verifies interleave."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.journal import SqliteJournal, TamperKind
from agent.journal.hashing import GENESIS, Checkpoint, chain_hash, checkpoint_key
from agent.oms.events import OrderCancelRequested

SECRET = bytes(range(1, 33))
OTHER = bytes(range(2, 34))


def ev(i: int) -> OrderCancelRequested:
    return OrderCancelRequested(f"o{i}", f"r{i}")


def open_j(p: Path, secret: bytes = SECRET) -> SqliteJournal:
    return SqliteJournal(p, checkpoint_secret=secret)


def fill(p: Path, streams: list[int]) -> None:
    """Append one event per entry (stream s-<n>), each a commit of its own."""
    with open_j(p) as j:
        assert j.verify_incremental().ok
        for n in streams:
            s = f"s-{n}"
            j.append(s, j.version(s), [ev(n)])


def sql(p: Path, q: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    c = sqlite3.connect(p)
    try:
        out = c.execute(q, args).fetchall()
        c.commit()
        return out
    finally:
        c.close()


def rehash_from(p: Path, position: int) -> None:
    c = sqlite3.connect(p)
    row = c.execute("SELECT hash FROM events WHERE position = ?", (position - 1,)).fetchone()
    prev = bytes(row[0]) if row else GENESIS
    rows = c.execute(
        "SELECT position, stream, version, type, recorded_at, data FROM events "
        "WHERE position >= ? ORDER BY position",
        (position,),
    ).fetchall()
    for pos, s, v, t, ts, d in rows:
        h = chain_hash(prev, s, v, t, ts, d)
        c.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?", (prev, h, pos))
        prev = h
    last = c.execute("SELECT MAX(position) FROM events").fetchone()[0] or 0
    c.execute("UPDATE meta SET value = ? WHERE key = 'head'", (f"{last}:{prev.hex()}",))
    c.commit()
    c.close()


# --- tamper operations: each takes the file and a random number, changes something -------
def t_delete_row(p: Path, k: int) -> None:
    n = sql(p, "SELECT MAX(position) FROM events")[0][0]
    sql(p, "DELETE FROM events WHERE position = ?", 1 + k % n)


def t_delete_tail(p: Path, k: int) -> None:  # tail deleted, chain and head made consistent
    n = sql(p, "SELECT MAX(position) FROM events")[0][0]
    sql(p, "DELETE FROM events WHERE position > ?", n - 1 - k % n)
    rehash_from(p, n + 1)


def t_delete_stream(p: Path, k: int) -> None:  # a whole order forgotten, positions closed up
    streams = [s for (s,) in sql(p, "SELECT DISTINCT stream FROM events ORDER BY 1")]
    s = streams[k % len(streams)]
    first = sql(p, "SELECT MIN(position) FROM events WHERE stream = ?", s)[0][0]
    sql(p, "DELETE FROM events WHERE stream = ?", s)
    left = [
        x for (x,) in sql(p, "SELECT position FROM events WHERE position > ? ORDER BY 1", first)
    ]
    for new, old in enumerate(left, start=first):
        sql(p, "UPDATE events SET position = ? WHERE position = ?", new, old)
    rehash_from(p, first)


def t_edit_rehash(p: Path, k: int) -> None:  # content edited, every later hash recomputed
    n = sql(p, "SELECT MAX(position) FROM events")[0][0]
    pos = 1 + k % n
    sql(p, "UPDATE events SET data = replace(data, '\"r', '\"x') WHERE position = ?", pos)
    rehash_from(p, pos)


def t_swap_rows(p: Path, k: int) -> None:
    n = sql(p, "SELECT MAX(position) FROM events")[0][0]
    if n < 2:
        return t_delete_row(p, k)
    a = 1 + k % (n - 1)
    sql(p, "UPDATE events SET position = -1 WHERE position = ?", a)
    sql(p, "UPDATE events SET position = ? WHERE position = ?", a, a + 1)
    sql(p, "UPDATE events SET position = ? WHERE position = -1", a + 1)
    return None


def t_move_checkpoint(p: Path, k: int) -> None:  # tail deleted, checkpoint rewritten (no key)
    t_delete_tail(p, k)
    head = sql(p, "SELECT value FROM meta WHERE key = 'head'")[0][0]
    fake = head + ":" + "ab" * 32
    sql(p, "UPDATE meta SET value = ? WHERE key = 'checkpoint'", fake)
    Path(str(p) + ".checkpoint").write_text(fake)


def t_checkpoint_of_other_key(p: Path, k: int) -> None:  # a MAC made with another key
    t_delete_tail(p, k)
    pos, _, h = sql(p, "SELECT value FROM meta WHERE key = 'head'")[0][0].partition(":")
    jid = sql(p, "SELECT value FROM meta WHERE key = 'journal_id'")[0][0]
    cp = Checkpoint.make(checkpoint_key(OTHER), jid, int(pos), bytes.fromhex(h)).encode()
    sql(p, "UPDATE meta SET value = ? WHERE key = 'checkpoint'", cp)
    Path(str(p) + ".checkpoint").write_text(cp)


def t_replace_with_new(p: Path, k: int) -> None:  # another journal in its place
    for f in (p, Path(str(p) + "-wal"), Path(str(p) + "-shm")):
        f.unlink(missing_ok=True)
    with open_j(p) as j:  # a fresh, valid journal opened with the same key: its id differs
        j.append("s-1", 0, [ev(1)])


def t_replace_with_older_copy(p: Path, k: int) -> None:
    shutil.copy(Path(str(p) + ".older"), p)


def t_garbage(p: Path, k: int) -> None:  # what a careless edit leaves: wrong types, NULLs
    n = sql(p, "SELECT MAX(position) FROM events")[0][0]
    pos = 1 + k % n
    if k % 3 == 0:
        sql(p, "UPDATE events SET hash = 'x' WHERE position = ?", pos)
    elif k % 3 == 1:
        sql(p, "UPDATE meta SET value = 'garbage' WHERE key = 'checkpoint'")
    else:
        sql(p, "UPDATE meta SET value = 'x:y' WHERE key = 'head'")
        sql(p, "UPDATE events SET data = data || ' ' WHERE position = ?", n)


TAMPERS = [t_delete_row, t_delete_tail, t_delete_stream, t_edit_rehash, t_swap_rows,
           t_move_checkpoint, t_checkpoint_of_other_key, t_replace_with_new,
           t_replace_with_older_copy, t_garbage]  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.lists(st.integers(0, 4), min_size=1, max_size=8),
    more=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    tamper=st.sampled_from(TAMPERS),
    k=st.integers(0, 1000),
)
def test_random_tamper_is_always_detected(tmp_path_factory, first, more, tamper, k) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path_factory.mktemp("j") / "j.sqlite"
    fill(p, first)
    shutil.copy(p, str(p) + ".older")  # an older copy, checkpoint and all
    fill(p, more)  # the checkpoint moves past the older copy's
    tamper(p, k)
    with open_j(p) as j:
        rep = j.verify_incremental()
        assert not rep.ok, (tamper.__name__, rep)
        assert rep.finding is not None
        assert rep.finding.kind in set(TamperKind)
    with open_j(p) as j:  # a refused journal stays refused: the checkpoint did not move
        assert not j.verify_incremental().ok


@settings(max_examples=20, deadline=None)
@given(rounds=st.lists(st.lists(st.integers(0, 6), max_size=5), min_size=1, max_size=4))
def test_honest_journal_always_verifies(tmp_path_factory, rounds) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path_factory.mktemp("j") / "j.sqlite"
    for r in rounds:
        fill(p, r)
        with SqliteJournal(p) as other:  # a writer without the key (e.g. `agent halt`)
            other.append("trading", other.version("trading"), [ev(99)])
    with open_j(p) as j:
        rep = j.verify_incremental()
        assert rep.ok, rep
        assert j.verify().ok


def test_incremental_walks_only_the_records_after_the_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "j.sqlite"
    fill(p, list(range(50)))
    with SqliteJournal(p) as other:  # not checkpointed: written without the key
        for i in range(3):
            other.append(f"x-{i}", 0, [ev(i)])
    with open_j(p) as j:
        rep = j.verify_incremental()
        assert rep.ok and rep.records == 3 and rep.head_position == 53
        assert j.verify_incremental().records == 0  # the checkpoint is at the head now


def test_content_edit_before_the_checkpoint_is_left_to_the_full_verify(tmp_path: Path) -> None:
    """The documented limit: an old record edited with its stored hashes left as they were
    is not re-hashed by the incremental verify; the full verify names it."""
    p = tmp_path / "j.sqlite"
    fill(p, [1, 2, 3])
    sql(p, "UPDATE events SET data = replace(data, '\"r', '\"x') WHERE position = 1")
    with open_j(p) as j:
        assert j.verify_incremental().ok
        full = j.verify()
        assert not full.ok and full.finding.kind is TamperKind.EDITED  # type: ignore[union-attr]
        # below full_below (what the trade path passes) the full walk runs too
        small = j.verify_incremental(full_below=10)
        assert not small.ok and small.finding.kind is TamperKind.EDITED  # type: ignore[union-attr]
        assert j.verify_incremental(full_below=3).ok  # 3 records: not below 3


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    from agent.errors import NotAJournalError

    p = tmp_path / "theirs.db"
    sql(p, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    before = p.read_bytes()
    for ro in (True, False):
        with pytest.raises(NotAJournalError, match="not an agent journal"):
            SqliteJournal(p, read_only=ro)
    assert p.read_bytes() == before
    assert sql(p, "SELECT name FROM sqlite_master") == [("customers",)]
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    with pytest.raises(NotAJournalError, match="not an SQLite database"):
        SqliteJournal(text, read_only=True)
    assert text.read_text() == "hello\n" * 100


def test_read_only_journal_writes_nothing(tmp_path: Path) -> None:
    from agent.errors import JournalError

    p = tmp_path / "j.sqlite"
    fill(p, [1, 2])
    before = p.read_bytes()
    with SqliteJournal(p, read_only=True, checkpoint_secret=SECRET) as j:
        assert j.verify().ok and j.verify_incremental().ok
        with pytest.raises(JournalError, match="read-only"):
            j.append("s-9", 0, [ev(9)])
    assert p.read_bytes() == before
