"""SessionStore's sequence numbers across a restart: an ExecutionReport is written before its
record's fsync, so after a crash one number is skipped (never reused); after a clean stop
(FixSessionSettled) none is."""

from __future__ import annotations

from pathlib import Path

from agent.journal import SqliteJournal
from agent.service.fix.store import SessionStore


async def test_a_crash_skips_one_number_a_clean_stop_none(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with SqliteJournal(path) as j:
        s = SessionStore(j, "AGENT-DESK")
        await s.record_sent(1, "A", b"logon")
        await s.record_sent(2, "8", b"report-1", position=7)
        assert s.next_out == 3 and s.reported == 7
        await s.settle_sent()  # durable now; the process then dies without settle()
    with SqliteJournal(path) as j:
        after_crash = SessionStore(j, "AGENT-DESK")
        assert after_crash.next_out == 4  # 3 might be on the wire without a record
        assert set(after_crash.sent) == {2}  # the report is resendable
        await after_crash.record_sent(4, "8", b"report-2", position=9)
        await after_crash.settle()  # a clean stop
    with SqliteJournal(path) as j:
        clean = SessionStore(j, "AGENT-DESK")
        assert clean.next_out == 5 and clean.reported == 9
