"""SqliteJournal.replay (position, typed event) and read_all's chunked fast decoding."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from agent.errors import JournalError
from agent.journal import EventRegistry, SqliteJournal
from agent.journal import postgres_read as journal_pg
from agent.journal import sqlite as journal_sqlite

reg = EventRegistry()


@reg.register
@dataclass(frozen=True, slots=True)
class Ping:
    n: int
    qty: Decimal = Decimal("1")


@reg.register
@dataclass(frozen=True, slots=True)
class Blob:
    raw: bytes


@pytest.fixture
def journal(backend, monkeypatch: pytest.MonkeyPatch):
    # small chunks so every test crosses chunk boundaries
    for mod in (journal_sqlite, journal_pg):
        monkeypatch.setattr(mod, "_REPLAY_CHUNK", 4)
        monkeypatch.setattr(mod, "_READ_CHUNK", 4)
    with backend.open(registry=reg) as j:
        for i in range(1, 11):
            j.append(f"s-{i % 3}", -1, [Ping(i, Decimal(i) / 4)])
            if i % 4 == 0:
                j.append("blobs", -1, [Blob(bytes([i]) * 3)])
        yield j


def test_replay_yields_every_event_in_position_order(journal: SqliteJournal) -> None:
    got = list(journal.replay())
    recs = list(journal.read_all())
    assert [p for p, _ in got] == [r.position for r in recs] == list(range(1, 13))
    assert [e for _, e in got] == [r.event for r in recs]
    assert [e.n for _, e in got if isinstance(e, Ping)] == list(range(1, 11))
    assert Blob(b"\x04\x04\x04") in [e for _, e in got]


def test_replay_from_a_position_and_only_chosen_types(journal: SqliteJournal) -> None:
    assert [p for p, _ in journal.replay(from_position=7)] == list(range(7, 13))
    pings = list(journal.replay(types={"Ping"}))
    assert len(pings) == 10 and all(isinstance(e, Ping) for _, e in pings)
    assert list(journal.replay(types=set())) == []


def test_a_record_the_fast_decoder_refuses_is_decoded_exactly(
    journal: SqliteJournal, backend
) -> None:
    # an older writer put the int as a string: msgspec refuses the chunk, the exact decoder
    # takes it as written (the record is still readable, as before the fast path existed)
    backend.tamper(
        "j", "UPDATE events SET data = ? WHERE position = 2", args=('{"n":"2","qty":"0.5"}',)
    )
    got = dict(journal.replay())
    assert got[2] == Ping("2", Decimal("0.5"))  # type: ignore[arg-type]
    assert got[3] == Ping(3, Decimal("0.75"))
    assert [r.event for r in journal.read_all()][1] == got[2]


def test_a_record_that_does_not_decode_is_a_journal_error(journal: SqliteJournal, backend) -> None:
    backend.tamper("j", 'UPDATE events SET data = \'{"qty":"1"}\' WHERE position = 6')
    with pytest.raises(JournalError, match="Ping"):
        list(journal.replay())
    with pytest.raises(JournalError, match="Ping"):
        list(journal.read_all())
    assert len(list(journal.replay(types={"Blob"}))) == 2  # other types still replay
