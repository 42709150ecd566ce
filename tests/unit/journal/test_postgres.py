"""What only the PostgreSQL store has: a server that goes away under it."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import psycopg
import pytest

from agent.errors import ConcurrencyConflictError, JournalError, ValidationError
from agent.journal import ANY, EventRegistry
from agent.journal.postgres import PostgresJournal
from agent.journal.stores import open_store, postgres_location

reg = EventRegistry()


@reg.register
@dataclass(frozen=True, slots=True)
class Tick:
    n: int


def fresh(pg_server, **kw) -> PostgresJournal:
    return PostgresJournal(pg_server.dsn, schema=f"r_{uuid.uuid4().hex[:10]}", registry=reg, **kw)


def test_a_server_restart_mid_run_loses_nothing_and_doubles_nothing(pg_server) -> None:
    n = 400
    with fresh(pg_server, backoff=(0.02, 0.5)) as j:
        started = threading.Event()
        errors: list[Exception] = []

        def writer() -> None:
            for v in range(n):
                try:
                    j.append("s", v, [Tick(v)])  # expected version: a doubled append conflicts
                except Exception as e:
                    errors.append(e)
                    return
                if v == 50:
                    started.set()

        t = threading.Thread(target=writer)
        t.start()
        assert started.wait(60)
        pg_server.restart("immediate")  # as if the server crashed: every connection dropped
        t.join(120)
        assert not errors
        assert j.reconnects >= 1  # the writer really lost its connection and came back
        assert [r.event.n for r in j.read_stream("s")] == list(range(n))
        rep = j.verify()
        assert rep.ok and rep.records == n


def test_a_server_gone_for_longer_than_retry_for_fails_the_append_cleanly(pg_server) -> None:
    with fresh(pg_server, retry_for=0.3, backoff=(0.05, 0.1)) as j:
        j.append("s", 0, [Tick(0)])
        pg_server.stop("fast")
        try:
            with pytest.raises(JournalError, match="nothing was appended"):
                j.append("s", 1, [Tick(1)])
        finally:
            pg_server.start()
        assert j.version("s") == 1  # the refused append is not there
        j.append("s", 1, [Tick(1)])  # and the journal carries on once the server is back
        assert j.verify().records == 2


def test_a_commit_whose_answer_is_lost_is_found_not_doubled(
    pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COMMIT reaches the server, the connection dies before its answer: the writer looks
    the group up instead of writing it a second time (ANY would not catch a double)."""
    real_commit = psycopg.Connection.commit
    lost = {"n": 0}

    def commit_then_lose(self: psycopg.Connection) -> None:
        real_commit(self)
        if lost["n"] == 0:
            lost["n"] += 1
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    with fresh(pg_server) as j:
        j.append("s", ANY, [Tick(0)])
        monkeypatch.setattr(psycopg.Connection, "commit", commit_then_lose)
        res = j.append("s", ANY, [Tick(1)])
        monkeypatch.undo()
        assert lost["n"] == 1 and j.reconnects == 1
        assert (res.first_position, res.last_version) == (2, 2)
        assert [r.event.n for r in j.read_stream("s")] == [0, 1]
        assert j.verify().ok


def test_a_commit_lost_before_the_server_saw_it_is_written_again(
    pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = psycopg.Connection.commit
    lost = {"n": 0}

    def lose_before(self: psycopg.Connection) -> None:
        if lost["n"] == 0:
            lost["n"] += 1
            self.rollback()  # the server never got COMMIT
            raise psycopg.OperationalError("connection reset")
        real_commit(self)

    with fresh(pg_server) as j:
        monkeypatch.setattr(psycopg.Connection, "commit", lose_before)
        res = j.append("s", 0, [Tick(7)])
        monkeypatch.undo()
        assert lost["n"] == 1 and res.last_position == 1
        assert [r.event.n for r in j.read_stream("s")] == [7] and j.verify().ok


def test_a_stale_version_cache_in_another_instance_is_not_trusted(pg_server) -> None:
    schema = f"c_{uuid.uuid4().hex[:8]}"
    with (
        PostgresJournal(pg_server.dsn, schema=schema, registry=reg) as a,
        PostgresJournal(pg_server.dsn, schema=schema, registry=reg) as b,
    ):
        a.append("s", 0, [Tick(0)])
        b.append("s", 1, [Tick(1)])
        with pytest.raises(ConcurrencyConflictError, match="at version 2, not 1"):
            a.append("s", 1, [Tick(2)])
        assert a.verify().records == 2


def test_the_fast_path_takes_an_unknown_stream_as_new_and_the_table_checks_it(
    pg_server,
) -> None:
    """The fast commit path (this instance wrote the head last) does not ask for the version
    of a stream it has never seen when the append expects it new: a stream that existed
    before this instance's first commit fails on UNIQUE (stream, version), and the group is
    redone on the locked path, which reports the real conflict and writes nothing."""
    schema = f"f_{uuid.uuid4().hex[:8]}"
    with PostgresJournal(pg_server.dsn, schema=schema, registry=reg) as b:
        b.append("old", 0, [Tick(0)])
    with PostgresJournal(pg_server.dsn, schema=schema, registry=reg) as a:
        a.append("mine", 0, [Tick(1)])  # locked path: the first group of this instance
        a.append("new", 0, [Tick(2)])  # fast path: "new" taken as new, and it is
        assert a.fast_commits == 1
        with pytest.raises(ConcurrencyConflictError, match="at version 1, not 0"):
            a.append("old", 0, [Tick(3)])  # taken as new: it was not
        a.append("old", 1, [Tick(4)])  # the cache now knows it: fast again
        assert a.fast_commits == 2
        assert [r.event.n for r in a.read_stream("old")] == [0, 4]
        rep = a.verify()
        assert rep.ok and rep.records == 4


def test_locations_and_bad_settings(pg_server) -> None:
    assert postgres_location("postgresql:/u@h:1/db#x") == ("postgresql://u@h:1/db", "x")
    assert postgres_location("postgres://h/db") == ("postgres://h/db", "agent_journal")
    url = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/postgres#loc_{uuid.uuid4().hex[:6]}"
    with open_store(url, registry=reg) as j:
        assert isinstance(j, PostgresJournal) and j.head()[0] == 0
    with pytest.raises(ValidationError, match=r"journal\.schema"):
        PostgresJournal(pg_server.dsn, schema="x; DROP TABLE y")
    with pytest.raises(JournalError, match="cannot open the PostgreSQL journal"):
        PostgresJournal("host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=2")


async def test_a_restart_under_in_place_loop_commits_loses_nothing(pg_server) -> None:
    """Large loop groups commit on the loop's thread; a connection lost there hands the
    group to the writer thread, which retries it (and looks it up first if in doubt)."""
    import asyncio

    with fresh(pg_server, backoff=(0.02, 0.5), inline_min=8) as j:
        rounds, width = 60, 32

        async def one_round(r: int) -> None:
            await asyncio.gather(*(j.append_async(f"w{i}", r, [Tick(r)]) for i in range(width)))

        for r in range(rounds):
            if r == 20:
                assert j.inline_commits >= 1
                await asyncio.to_thread(pg_server.restart, "immediate")
            await one_round(r)
        assert j.reconnects >= 1
        for i in range(width):
            assert [x.event.n for x in j.read_stream(f"w{i}")] == list(range(rounds))
        rep = j.verify()
        assert rep.ok and rep.records == rounds * width


def test_the_cli_works_on_a_postgresql_journal(pg_server) -> None:
    import typer
    from typer.testing import CliRunner

    from agent.cli import journal as journal_cli
    from agent.cli import trading as trading_cli
    from agent.oms import OrderStore

    root = typer.Typer()
    root.add_typer(journal_cli.app, name="journal")
    trading_cli.register(root)
    url = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/postgres#cli_{uuid.uuid4().hex[:6]}"
    run = CliRunner().invoke
    r = run(root, ["halt", "-j", url, "-r", "drill"])
    assert r.exit_code == 0, r.output
    r = run(root, ["journal", "verify", "-j", url])
    assert r.exit_code == 0 and "ok: 1 records" in r.output
    with open_store(url) as j:
        assert OrderStore.replay(j).trading_state.value == "halted"


def test_verify_is_one_snapshot_while_another_writer_appends(pg_server) -> None:
    """The head and the records come from one snapshot: a writer appending meanwhile never
    makes an intact journal look truncated."""
    schema = f"v_{uuid.uuid4().hex[:8]}"
    with (
        PostgresJournal(pg_server.dsn, schema=schema, registry=reg) as w,
        PostgresJournal(pg_server.dsn, schema=schema, registry=reg) as v,
    ):
        w.append("s", 0, [Tick(0)])
        stop = threading.Event()

        def writer() -> None:
            i = 1
            while not stop.is_set():
                w.append("s", i, [Tick(i)])
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        try:
            reports = [v.verify() for _ in range(30)]
        finally:
            stop.set()
            t.join()
        assert all(r.ok for r in reports), next(r.describe() for r in reports if not r.ok)
        assert reports[-1].records > reports[0].records  # the writer really ran meanwhile
