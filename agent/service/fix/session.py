"""The FIX 4.4 session layer (acceptor side) for one TCP connection.

What the spec prescribes, and what this does:

| received                                   | answer                                                   |
|--------------------------------------------|----------------------------------------------------------|
| bad CheckSum(10) or BodyLength(9) (garbled) | dropped, sequence number not consumed (``wire.Framer``)  |
| first message not a Logon                   | disconnect                                               |
| Logon with wrong CompIDs or credentials     | Logout with the reason, disconnect                       |
| MsgSeqNum(34) missing                       | Logout, disconnect                                       |
| MsgSeqNum too high                          | ResendRequest(7=expected, 16=0); the message is dropped  |
| MsgSeqNum too low, PossDupFlag(43)=Y        | ignored (already processed)                              |
| MsgSeqNum too low, not a PossDup            | Logout "MsgSeqNum too low", disconnect                    |
| required tag missing / bad value / bad type | Reject(3) with 45, 371, 372, 373 (1, 5, 6, 11); seq consumed |
| wrong CompID after logon                    | Reject(3) 373=9, Logout, disconnect                       |
| unsupported application message             | BusinessMessageReject(j) 380=3                            |
| TestRequest(1)                              | Heartbeat(0) with its TestReqID(112)                      |
| ResendRequest(2)                            | the application messages again (43=Y, 122), admin ones as SequenceReset-GapFill(4, 123=Y) |
| SequenceReset(4)                            | GapFill: expected number moves to NewSeqNo(36); Reset: the same, seq ignored; backwards: Reject 373=5 |
| Logout(5)                                   | Logout, disconnect                                        |
| silence for HeartBtInt                      | TestRequest; still silent after another interval: disconnect |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import simplefix

from agent.errors import AgentError
from agent.service.fix.store import ADMIN, SessionStore
from agent.service.fix.wire import Framer, Garbled, build, fields_of, text, utc_timestamp

log = logging.getLogger("agent.fix")

# SessionRejectReason(373)
REQUIRED_TAG_MISSING, TAG_NOT_DEFINED, VALUE_INCORRECT, INCORRECT_FORMAT = "1", "2", "5", "6"
COMPID_PROBLEM, INVALID_MSGTYPE = "9", "11"
_REQUIRED = {
    "1": (112,),
    "2": (7, 16),
    "4": (36,),
}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One client's session. ``sender_comp_id`` is the agent's CompID, ``target_comp_id``
    the client's; the Logon must carry ``username``/``password`` (553/554)."""

    sender_comp_id: str
    target_comp_id: str
    username: str
    password: str
    max_heartbeat_s: int = 300

    @property
    def key(self) -> str:
        return f"{self.sender_comp_id}-{self.target_comp_id}"


class SessionRejected(Exception):
    """A message that gets a session-level Reject(3)."""

    def __init__(self, reason: str, tag: int | None, why: str) -> None:
        super().__init__(why)
        self.reason, self.tag, self.why = reason, tag, why


class Disconnect(Exception):
    """End the connection (after any Logout already sent)."""


App = Callable[["Connection", str, simplefix.FixMessage], Awaitable[None]]


class Connection:
    """One TCP connection of one session. ``app(conn, msg_type, msg)`` handles application
    messages (raising SessionRejected for session-level problems)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sessions: dict[tuple[str, str], tuple[SessionConfig, SessionStore]],
        app: App,
        app_types: frozenset[str],
    ) -> None:
        self.reader, self.writer = reader, writer
        self._sessions = sessions
        self._app, self._app_types = app, app_types
        self.cfg: SessionConfig | None = None
        self.store: SessionStore | None = None
        self.heartbeat_s = 30
        self._send_lock = asyncio.Lock()
        self._last_in = self._last_out = time.monotonic()
        self._test_sent: float | None = None
        self._test_n = 0
        self._resend_asked_to = 0  # inbound number we asked a resend up to (0 = none out)
        self.logged_on = False
        self.on_logon: Callable[[Connection], None] | None = None

    # --- sending ----------------------------------------------------------------------------
    async def send(self, msg_type: str, fields: list[tuple[int, Any]], position: int = 0) -> int:
        """Journal, then write, one message with the next sequence number; returns it."""
        assert self.cfg is not None and self.store is not None
        async with self._send_lock:
            seq = self.store.next_out
            raw = build(
                msg_type,
                self.cfg.sender_comp_id,
                self.cfg.target_comp_id,
                seq,
                [(t, str(v)) for t, v in fields],
            )
            await self.store.record_sent(seq, msg_type, raw, position)
            pending = self.store._sent_pending
            if pending is not None:  # its record failed: hang up, as a failed append does
                pending.add_done_callback(self._record_failed)
            self.writer.write(raw)
            self._last_out = time.monotonic()
        await self.writer.drain()
        return seq

    def _record_failed(self, fut: Any) -> None:
        if fut.cancelled() or fut.exception() is None:
            return
        log.error("fix: a sent message's record failed, closing the session: %s", fut.exception())
        self.writer.close()

    async def _send_unsessioned(self, msg_type: str, target: str, sender: str, text_: str) -> None:
        """A Logout to a peer that never logged on: no session, no stored number."""
        self.writer.write(build(msg_type, sender, target, 1, [(58, text_)]))
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def reject(
        self, ref_seq: int, ref_type: str, reason: str, tag: int | None, why: str
    ) -> None:
        fields: list[tuple[int, Any]] = [(45, ref_seq)]
        if tag is not None:
            fields.append((371, tag))
        fields += [(372, ref_type), (373, reason), (58, why)]
        await self.send("3", fields)

    async def business_reject(
        self, ref_seq: int, ref_type: str, reason: str, why: str, ref_id: str = ""
    ) -> None:
        fields: list[tuple[int, Any]] = [(45, ref_seq), (372, ref_type)]
        if ref_id:
            fields.append((379, ref_id))
        fields += [(380, reason), (58, why)]
        await self.send("j", fields)

    async def logout(self, why: str) -> None:
        with contextlib.suppress(ConnectionError):
            await self.send("5", [(58, why)])
        raise Disconnect(why)

    # --- the connection's life --------------------------------------------------------------
    async def run(self) -> None:
        framer = Framer()
        hb = asyncio.create_task(self._heartbeats())
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return
                self._last_in = time.monotonic()
                self._test_sent = None
                for item in framer.feed(data):
                    if isinstance(item, Garbled):
                        log.warning("fix: dropped a garbled message: %s", item.reason)
                        continue
                    await self._on_message(item)
        except Disconnect as e:
            log.info("fix: disconnect: %s", e)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except AgentError as e:
            # the journal is unreachable: nothing may be sent that is not journaled first
            # (its number could be reused), so the session ends here; the client's next
            # Logon finds the gap and its resend brings the unanswered messages again
            log.error("fix: %s: disconnecting", e)
        finally:
            hb.cancel()
            with contextlib.suppress(BaseException):
                await hb
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _heartbeats(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._heartbeat_loop()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.heartbeat_s / 4))
            if not self.logged_on:
                continue
            now = time.monotonic()
            if self._test_sent is not None and now - self._test_sent > self.heartbeat_s:
                log.info("fix: no answer to TestRequest: disconnecting")
                self.writer.close()
                return
            if self._test_sent is None and now - self._last_in > self.heartbeat_s * 1.2:
                self._test_n += 1
                self._test_sent = now
                await self.send("1", [(112, f"TEST-{self._test_n}")])
            elif now - self._last_out >= self.heartbeat_s:
                await self.send("0", [])

    # --- receiving --------------------------------------------------------------------------
    async def _on_message(self, msg: simplefix.FixMessage) -> None:
        msg_type = text(msg, 35) or ""
        if not self.logged_on:
            await self._on_logon(msg, msg_type)
            return
        assert self.cfg is not None and self.store is not None
        seq_text = text(msg, 34)
        if seq_text is None or not seq_text.isdigit():
            await self.logout("MsgSeqNum(34) missing or not a number")
        seq = int(seq_text)
        if text(msg, 49) != self.cfg.target_comp_id or text(msg, 56) != self.cfg.sender_comp_id:
            await self.reject(seq, msg_type, COMPID_PROBLEM, 49, "CompID problem")
            await self.logout("SenderCompID(49) or TargetCompID(56) does not match the session")
        if msg_type == "4" and text(msg, 123) != "Y":  # SequenceReset-Reset: number ignored
            await self._sequence_reset(msg, seq, gap_fill=False)
            return
        expected = self.store.next_in
        if seq > expected:
            if msg_type == "2":  # answer their resend first, or both sides wait for ever
                await self._process(msg, msg_type, seq, consume=False)
            if msg_type == "5":
                await self.logout("logout")
            if self._resend_asked_to < seq:
                self._resend_asked_to = seq
                await self.send("2", [(7, expected), (16, 0)])
            return
        if seq < expected:
            if text(msg, 43) == "Y":
                return  # a duplicate of what was processed
            await self.logout(f"MsgSeqNum too low, expecting {expected} but received {seq}")
        if seq >= self._resend_asked_to:
            self._resend_asked_to = 0
        await self._process(msg, msg_type, seq, consume=True)

    async def _process(
        self, msg: simplefix.FixMessage, msg_type: str, seq: int, consume: bool
    ) -> None:
        assert self.store is not None
        try:
            if text(msg, 52) is None:
                raise SessionRejected(REQUIRED_TAG_MISSING, 52, "SendingTime(52) is missing")
            for tag in _REQUIRED.get(msg_type, ()):
                if msg.get(tag) is None:
                    raise SessionRejected(
                        REQUIRED_TAG_MISSING, tag, f"required tag {tag} is missing"
                    )
            if msg_type == "0":
                pass
            elif msg_type == "1":
                await self.send("0", [(112, text(msg, 112))])
            elif msg_type == "2":
                await self._resend(msg)
            elif msg_type == "4":
                await self._sequence_reset(msg, seq, gap_fill=True)
                return  # moved next_in itself
            elif msg_type == "5":
                if consume:
                    await self.store.record_received(seq, msg_type)
                await self.logout("logout acknowledged")
            elif msg_type == "3":
                log.warning(
                    "fix: the client rejected our message %s: %s", text(msg, 45), text(msg, 58)
                )
            elif msg_type == "A":
                raise SessionRejected(VALUE_INCORRECT, 35, "already logged on")
            elif msg_type in self._app_types:
                await self._app(self, msg_type, msg)
            elif len(msg_type) in (1, 2) and msg_type.isalnum():
                await self.business_reject(
                    seq, msg_type, "3", f"unsupported message type {msg_type!r}"
                )
            else:
                raise SessionRejected(INVALID_MSGTYPE, 35, f"invalid MsgType {msg_type!r}")
        except SessionRejected as r:
            await self.reject(seq, msg_type, r.reason, r.tag, r.why)
        if consume:
            await self.store.record_received(seq, msg_type)

    async def _on_logon(self, msg: simplefix.FixMessage, msg_type: str) -> None:
        sender, target = text(msg, 49) or "", text(msg, 56) or ""
        if msg_type != "A":
            raise Disconnect(f"first message is {msg_type!r}, not a Logon")
        hit = self._sessions.get((target, sender))  # (our CompID, theirs)
        if hit is None:
            await self._send_unsessioned("5", sender, target, "unknown SenderCompID/TargetCompID")
            raise Disconnect(f"Logon from unknown session {sender}->{target}")
        cfg, store = hit
        # refusals before the peer proved who it is are not the session's messages: they
        # take no sequence number and are not journaled (a stranger cannot move ours)
        if text(msg, 553) != cfg.username or text(msg, 554) != cfg.password:
            await self._send_unsessioned("5", sender, target, "invalid username or password")
            raise Disconnect(f"Logon for {cfg.key} with wrong credentials")
        hb_text = text(msg, 108)
        if hb_text is None or not hb_text.isdigit() or not 0 < int(hb_text) <= cfg.max_heartbeat_s:
            why = f"HeartBtInt(108) must be 1-{cfg.max_heartbeat_s} seconds"
            await self._send_unsessioned("5", sender, target, why)
            raise Disconnect(why)
        self.cfg, self.store = cfg, store
        seq_text = text(msg, 34)
        if seq_text is None or not seq_text.isdigit():
            await self.logout("MsgSeqNum(34) missing or not a number")
        seq = int(seq_text)
        reset = text(msg, 141) == "Y"
        if reset:
            await store.reset("ResetSeqNumFlag(141)=Y on Logon")
        elif seq < store.next_in:
            await self.logout(f"MsgSeqNum too low, expecting {store.next_in} but received {seq}")
        self.heartbeat_s = int(hb_text)
        reply: list[tuple[int, Any]] = [(98, 0), (108, self.heartbeat_s)]
        if reset:
            reply.append((141, "Y"))
        await self.send("A", reply)
        self.logged_on = True
        if seq == store.next_in:
            await store.record_received(seq, "A")
        else:  # they sent more than we processed: ask for the rest (the Logon's own number too)
            self._resend_asked_to = seq
            await self.send("2", [(7, store.next_in), (16, 0)])
        if self.on_logon is not None:
            self.on_logon(self)

    async def _sequence_reset(self, msg: simplefix.FixMessage, seq: int, gap_fill: bool) -> None:
        assert self.store is not None
        new = text(msg, 36)
        if new is None or not new.isdigit():
            await self.reject(
                seq,
                "4",
                REQUIRED_TAG_MISSING if new is None else INCORRECT_FORMAT,
                36,
                "NewSeqNo(36) missing or not a number",
            )
            return
        if int(new) <= self.store.next_in - (0 if gap_fill else 1):
            await self.reject(
                seq,
                "4",
                VALUE_INCORRECT,
                36,
                f"NewSeqNo {new} would move the sequence backwards (expecting {self.store.next_in})",
            )
            return
        await self.store.skip_to(int(new))

    async def _resend(self, msg: simplefix.FixMessage) -> None:
        assert self.cfg is not None and self.store is not None
        begin = int(text(msg, 7) or 0)
        end = int(text(msg, 16) or 0)
        last = self.store.next_out - 1
        end = last if end == 0 or end > last else end
        gap_from: int | None = None
        async with self._send_lock:
            for seq in range(max(1, begin), end + 1):
                sent = self.store.sent.get(seq)
                if sent is None:  # an admin message: gap-fill it
                    if gap_from is None:
                        gap_from = seq
                    continue
                if gap_from is not None:
                    self._write_gap_fill(gap_from, seq)
                    gap_from = None
                self.writer.write(self._as_resend(sent.raw.encode("latin-1")))
            if gap_from is not None:
                self._write_gap_fill(gap_from, end + 1)
            self._last_out = time.monotonic()
        await self.writer.drain()

    def _write_gap_fill(self, seq: int, new_seq: int) -> None:
        assert self.cfg is not None
        self.writer.write(
            build(
                "4",
                self.cfg.sender_comp_id,
                self.cfg.target_comp_id,
                seq,
                [(123, "Y"), (36, str(new_seq))],
                poss_dup=True,
                orig_sending_time=utc_timestamp(),
            )
        )

    def _as_resend(self, raw: bytes) -> bytes:
        """The stored message with PossDupFlag=Y, OrigSendingTime = its SendingTime, and a new
        SendingTime (same number, same body)."""
        assert self.cfg is not None
        f = fields_of(raw)
        head = {t: v.decode("latin-1") for t, v in f if t in (35, 34, 52)}
        body = [
            (t, v.decode("latin-1"))
            for t, v in f
            if t not in (8, 9, 35, 49, 56, 34, 43, 52, 122, 10)
        ]
        return build(
            head[35],
            self.cfg.sender_comp_id,
            self.cfg.target_comp_id,
            int(head[34]),
            body,
            poss_dup=True,
            orig_sending_time=head[52],
        )


__all__ = ["ADMIN", "Connection", "Disconnect", "SessionConfig", "SessionRejected"]
