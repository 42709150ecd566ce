from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from agent.errors import ConcurrencyConflictError, JournalError, ValidationError
from agent.journal import ANY, GENESIS, NO_STREAM, EventRegistry, SqliteJournal, TamperKind
from agent.journal.codec import UnknownEventTypeError

reg = EventRegistry()


@reg.register
@dataclass(frozen=True, slots=True)
class Ping:
    n: int
    qty: Decimal = Decimal("1")


def counter_clock():
    t = [1_000]

    def clock() -> int:
        t[0] += 1
        return t[0]

    return clock


@pytest.fixture
def journal(backend):
    with backend.open(registry=reg, clock=counter_clock()) as j:
        yield j


def test_append_read_versions_and_positions(journal: SqliteJournal) -> None:
    r1 = journal.append("a", NO_STREAM, [Ping(1), Ping(2)])
    r2 = journal.append("b", NO_STREAM, [Ping(3)])
    r3 = journal.append("a", 2, [Ping(4)])
    assert (r1.first_version, r1.last_version, r1.first_position, r1.last_position) == (1, 2, 1, 2)
    assert (r2.first_position, r3.first_version, r3.last_position) == (3, 3, 4)
    assert journal.version("a") == 3 and journal.version("b") == 1 and journal.version("c") == 0
    assert [r.event.n for r in journal.read_stream("a")] == [1, 2, 4]
    assert [r.event.n for r in journal.read_stream("a", from_version=3)] == [4]
    recs = list(journal.read_all())
    assert [(r.position, r.stream, r.version) for r in recs] == [
        (1, "a", 1),
        (2, "a", 2),
        (3, "b", 1),
        (4, "a", 3),
    ]
    assert journal.head() == (4, recs[-1].hash)
    assert [r.event for r in journal.read_all(from_position=4)] == [Ping(4)]
    assert list(journal.iter_payloads(3)) == [
        ("Ping", '{"n":3,"qty":"1"}'),
        ("Ping", '{"n":4,"qty":"1"}'),
    ]


def test_expected_version_conflicts(journal: SqliteJournal) -> None:
    journal.append("a", NO_STREAM, [Ping(1)])
    with pytest.raises(ConcurrencyConflictError, match="at version 1, not 0"):
        journal.append("a", NO_STREAM, [Ping(2)])
    with pytest.raises(ConcurrencyConflictError):
        journal.append("a", 5, [Ping(2)])
    journal.append("a", ANY, [Ping(2)])
    assert journal.version("a") == 2 and journal.head()[0] == 2  # nothing half-written


def test_bad_input_is_refused_before_anything_is_written(journal: SqliteJournal) -> None:
    with pytest.raises(ValidationError, match="events"):
        journal.append("a", 0, [])
    with pytest.raises(ValidationError, match="stream"):
        journal.append("", 0, [Ping(1)])
    with pytest.raises(ValidationError, match="expected_version"):
        journal.append("a", -2, [Ping(1)])
    with pytest.raises(ValidationError, match="registered"):
        journal.append("a", 0, [object()])
    assert journal.head() == (0, GENESIS)


def test_same_events_same_clock_same_head_hash(backend) -> None:
    heads = []
    for name in ("x", "y"):
        with backend.open(name, registry=reg, clock=counter_clock()) as j:
            for i in range(20):
                j.append(f"s{i % 3}", ANY, [Ping(i, Decimal(i) / 4)])
            heads.append(j.head())
    assert heads[0] == heads[1] and heads[0][0] == 20


def test_durable_across_reopen(backend) -> None:
    with backend.open(registry=reg) as j:
        j.append("a", 0, [Ping(1)])
    with backend.open(registry=reg) as j:
        assert j.version("a") == 1
        j.append("a", 1, [Ping(2)])
        assert j.verify().ok


def test_two_instances_on_one_journal_see_each_others_writes(backend) -> None:
    with backend.open(registry=reg) as j1, backend.open(registry=reg) as j2:
        j1.append("a", 0, [Ping(1)])
        j2.append("a", 1, [Ping(2)])
        with pytest.raises(ConcurrencyConflictError):
            j1.append("a", 1, [Ping(3)])  # j1's cached version is stale: must not be trusted
        j1.append("a", 2, [Ping(3)])
        assert j2.verify().ok and j2.verify().records == 3


async def test_async_appends_are_group_committed(journal: SqliteJournal) -> None:
    n = 400
    results = await asyncio.gather(*(journal.append_async(f"s{i}", 0, [Ping(i)]) for i in range(n)))
    assert sorted(r.last_position for r in results) == list(range(1, n + 1))
    assert journal.verify().records == n
    assert journal.commits == 1  # all made in one loop turn: one transaction, one fsync


def test_concurrent_threads_on_one_stream_never_lose_or_duplicate(journal: SqliteJournal) -> None:
    wins: list[int] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for _ in range(30):
            while True:
                v = journal.version("shared")
                try:
                    journal.append("shared", v, [Ping(k)])
                    with lock:
                        wins.append(k)
                    break
                except ConcurrencyConflictError:
                    continue

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    recs = list(journal.read_stream("shared"))
    assert [r.version for r in recs] == list(range(1, 181))
    assert sorted(r.event.n for r in recs) == sorted(wins)


def test_unknown_event_type_on_read(backend) -> None:
    with backend.open(registry=reg) as j:
        j.append("a", 0, [Ping(1)])
    with backend.open(registry=EventRegistry()) as j:
        with pytest.raises(UnknownEventTypeError, match="Ping"):
            list(j.read_all())
        assert [r.type for r in j.read_all(decode=False)] == ["Ping"]


# --- tamper detection ------------------------------------------------------------------------
@pytest.fixture
def filled(backend):
    with backend.open("t", registry=reg) as j:
        for i in range(1, 11):
            j.append(f"s{i % 2}", ANY, [Ping(i)])
        assert j.verify().ok
    return backend


def tamper(b, *sql: str) -> None:
    b.tamper("t", *sql)


def finding(b):
    with b.open("t", registry=reg) as j:
        rep = j.verify()
    assert not rep.ok
    return rep.finding


def test_verify_names_an_edited_record(filled) -> None:
    tamper(filled, """UPDATE events SET data = '{"n":99,"qty":"1"}' WHERE position = 6""")
    f = finding(filled)
    assert (f.position, f.kind) == (6, TamperKind.EDITED)
    assert "record #6" in f.describe()


def test_verify_names_a_deleted_record(filled) -> None:
    tamper(filled, "DELETE FROM events WHERE position = 4")
    f = finding(filled)
    assert (f.position, f.kind) == (4, TamperKind.DELETED)


def test_verify_detects_a_truncated_tail(filled) -> None:
    tamper(filled, "DELETE FROM events WHERE position >= 9")
    f = finding(filled)
    assert (f.position, f.kind) == (9, TamperKind.DELETED)


def test_verify_names_reordered_records(filled) -> None:
    tamper(
        filled,
        "CREATE TEMP TABLE t AS SELECT * FROM events WHERE position IN (3, 4)",
        "DELETE FROM events WHERE position IN (3, 4)",
        "INSERT INTO events SELECT 7 - position, stream, version, type, recorded_at, data, "
        "prev_hash, hash FROM t",
    )
    f = finding(filled)
    assert (f.position, f.kind) == (3, TamperKind.REORDERED)


def test_verify_detects_renumbered_deletion(filled) -> None:
    tamper(
        filled,
        "DELETE FROM events WHERE position = 2",
        # in two steps: PostgreSQL checks the primary key row by row
        "UPDATE events SET position = -position WHERE position > 2",
        "UPDATE events SET position = -position - 1 WHERE position < 0",
    )
    filled.drop_head("t")
    f = finding(filled)
    assert f.position == 2 and f.kind in (TamperKind.REORDERED, TamperKind.STREAM_ORDER)


async def test_a_conflict_fails_alone_inside_its_group(journal: SqliteJournal) -> None:
    out = await asyncio.gather(
        journal.append_async("x", NO_STREAM, [Ping(1)]),
        journal.append_async("x", NO_STREAM, [Ping(2)]),
        journal.append_async("y", NO_STREAM, [Ping(3)]),
        return_exceptions=True,
    )
    assert isinstance(out[1], ConcurrencyConflictError)
    assert out[0].last_position == 1 and out[2].last_position == 2 and journal.commits == 1


async def test_a_large_loop_group_commits_in_place_a_small_one_on_the_writer(
    tmp_path: Path,
) -> None:
    with SqliteJournal(tmp_path / "j.sqlite", registry=reg, inline_min=8) as j:
        small = await asyncio.gather(*(j.append_async(f"a{i}", 0, [Ping(i)]) for i in range(3)))
        assert j.commits == 1 and j.inline_commits == 0
        big = await asyncio.gather(*(j.append_async(f"b{i}", 0, [Ping(i)]) for i in range(8)))
        assert j.commits == 2 and j.inline_commits == 1
        assert [r.last_position for r in small + big] == list(range(1, 12))
    # durable: a fresh instance reads the same chain
    with SqliteJournal(tmp_path / "j.sqlite", registry=reg) as again:
        rep = again.verify()
        assert rep.ok and rep.records == 11


async def test_a_large_group_waits_behind_the_loops_group_still_at_the_writer(backend) -> None:
    """Versions claimed in call order (as the tx engine's background appends do) stay in
    order: a large group must not be committed in place ahead of a small one the writer has
    not answered yet, or its expected versions would conflict."""
    with backend.open(registry=reg, inline_min=4) as j:
        first = j.append_async("s", 0, [Ping(0)])  # 1 request: goes to the writer
        await asyncio.sleep(0)  # the turn ends: that group is handed over, not yet answered
        rest = [j.append_async("s", v, [Ping(v)]) for v in range(1, 6)]  # 5 >= inline_min
        out = await asyncio.gather(first, *rest)
        assert [r.last_version for r in out] == [1, 2, 3, 4, 5, 6]
        if backend.kind == "sqlite":
            assert j.inline_commits == 0  # it queued behind the first group instead
        assert [r.event.n for r in j.read_stream("s")] == [0, 1, 2, 3, 4, 5]


async def test_in_place_commits_and_other_threads_share_one_chain(backend) -> None:
    with backend.open(registry=reg, inline_min=16) as j:

        def sync_writer(k: int) -> None:
            for i in range(40):
                j.append(f"t{k}", i, [Ping(i)])

        ts = [threading.Thread(target=sync_writer, args=(k,)) for k in range(3)]
        for t in ts:
            t.start()
        for round_ in range(10):
            await asyncio.gather(*(j.append_async(f"l{i}", round_, [Ping(i)]) for i in range(32)))
        for t in ts:
            t.join()
        if backend.kind == "sqlite":
            assert j.inline_commits >= 1
        rep = j.verify()
        assert rep.ok and rep.records == 3 * 40 + 10 * 32


async def test_appends_pending_when_the_journal_closes_fail_not_hang(backend) -> None:
    j = backend.open(registry=reg)
    fut = j.append_async("s", 0, [Ping(1)])
    j.close()  # before the loop turn ends and the group is flushed
    with pytest.raises(JournalError, match="closed before"):
        await fut
    with pytest.raises(JournalError, match="closed"):
        j.append_async("s", 0, [Ping(2)])
