"""A FIX session's persistent state, in the agent's journal (stream ``fix-<session>``).

What must survive a restart: the next sequence number each way, and every application
message sent since the last reset (a ResendRequest may ask for any of them). Each sent
message is journaled before it is written to the socket, so a message the client may have
seen is always resendable and its number never reused; a received message is journaled after
it was processed (and not waited for), so a crash in between makes the client resend it
(orders are idempotent on their ClOrdID, so that is harmless) rather than lose it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from agent.journal.base import ANY, Store
from agent.journal.codec import event_type

log = logging.getLogger("agent.fix")


@event_type
@dataclass(frozen=True, slots=True)
class FixMessageSent:
    session: str
    seq: int
    msg_type: str
    raw: str  # the encoded message (latin-1 text, SOH kept): what a resend repeats
    position: int = 0  # for an ExecutionReport, the journal position of the update it reports


@event_type
@dataclass(frozen=True, slots=True)
class FixMessageReceived:
    session: str
    seq: int
    msg_type: str


@event_type
@dataclass(frozen=True, slots=True)
class FixSessionReset:
    """Sequence numbers start again at 1 both ways (Logon with ResetSeqNumFlag=Y)."""

    session: str
    reason: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class FixSessionSettled:
    """Every sent message's record is durable (journaled on a clean stop): a restart after it
    goes on with the next number; after a crash one number is skipped (see record_sent)."""

    session: str
    next_out: int


ADMIN = frozenset("0125A4")
UNAWAITED = frozenset(
    "89"
)  # ExecutionReport, OrderCancelReject: written before their fsync  # Heartbeat, TestRequest, ResendRequest, Logout, Logon, SeqReset


def _log_failure(fut: Any) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("fix: could not journal a received sequence number: %s", fut.exception())


def stream_of(session: str) -> str:
    return f"fix-{session}"


class SessionStore:
    def __init__(self, journal: Store, session: str) -> None:
        self.journal = journal
        self.session = session
        self.stream = stream_of(session)
        self.next_out = 1
        self.next_in = 1
        self.sent: dict[int, FixMessageSent] = {}  # application messages since the reset
        self.reported = 0  # the last journal position reported in an ExecutionReport
        self._pending: set[Any] = set()  # received numbers not yet durable
        self._sent_pending: Any = None  # the last sent message's record, if not yet durable
        clean = True
        for rec in journal.read_stream(self.stream):
            self._apply(rec.event)
            if isinstance(rec.event, FixMessageSent):
                clean = False
            elif isinstance(rec.event, FixSessionSettled):
                clean = True
        if not clean:  # a crash: the last message may be on the wire without its record;
            self.next_out += 1  # its number is never reused (a resend gap-fills it)

    def _apply(self, ev: object) -> None:
        if isinstance(ev, FixMessageSent):
            self.next_out = max(self.next_out, ev.seq + 1)
            if ev.msg_type not in ADMIN:
                self.sent[ev.seq] = ev
            self.reported = max(self.reported, ev.position)
        elif isinstance(ev, FixMessageReceived):
            self.next_in = max(self.next_in, ev.seq + 1)
        elif isinstance(ev, FixSessionReset):
            self.next_out = self.next_in = 1
            self.sent.clear()

    async def record_sent(self, seq: int, msg_type: str, raw: bytes, position: int = 0) -> None:
        """Journal a message about to be written. The PREVIOUS message's record is awaited
        to durability first; this one's append is issued and its number taken, and the caller writes the message
        without waiting for its fsync. So at most one sent message can lack a durable
        record at a crash, and the restart skips one number (``__init__``): no number is
        ever used twice, and a report whose record was lost is sent again after the restart
        (``reported`` did not move; same ExecID, so the client can tell)."""
        await self.settle_sent()  # the previous record: durable (or failed and hung up)
        ev = FixMessageSent(self.session, seq, msg_type, raw.decode("latin-1"), position)
        fut = self.journal.append_async(self.stream, ANY, [ev])
        if msg_type in UNAWAITED:  # the order reports: the hot path, see above
            self._sent_pending = fut
        else:  # session messages and rejects (a journal outage must stop them): durable first
            await fut
        self._apply(ev)

    async def settle_sent(self) -> None:
        """Wait for the last sent message's record. A failed one is not raised again: the
        session hung up when it failed (Connection._record_failed), its number stays taken
        (a resend gap-fills it)."""
        fut, self._sent_pending = self._sent_pending, None
        if fut is not None:
            try:
                await fut
            except Exception as e:
                log.error("fix: a sent message has no record (its number is skipped): %s", e)

    async def record_received(self, seq: int, msg_type: str) -> None:
        """Not awaited to durability: the next message need not wait for this fsync. If it
        is lost in a crash the client resends the message, which the OMS takes as the same
        order (idempotent on ClOrdID) and the session as already reported."""
        ev = FixMessageReceived(self.session, seq, msg_type)
        fut = self.journal.append_async(self.stream, ANY, [ev])
        self._pending.add(fut)
        fut.add_done_callback(self._done)
        self._apply(ev)

    def _done(self, fut: Any) -> None:
        self._pending.discard(fut)
        _log_failure(fut)

    async def settle(self) -> None:
        """Wait for the sent and received records still being journaled, then mark the
        session settled (a clean stop: the restart skips no number)."""
        if self._pending:
            await asyncio.wait(list(self._pending))
        await self.settle_sent()
        await self.journal.append_async(
            self.stream, ANY, [FixSessionSettled(self.session, self.next_out)]
        )

    async def skip_to(self, next_in: int) -> None:
        """A SequenceReset moved the inbound number forward."""
        await self.record_received(next_in - 1, "4")

    async def reset(self, reason: str) -> None:
        ev = FixSessionReset(self.session, reason)
        await self.journal.append_async(self.stream, ANY, [ev])
        self._apply(ev)
