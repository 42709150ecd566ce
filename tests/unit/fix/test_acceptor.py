"""The FIX acceptor over real TCP against an independent initiator (tests/unit/fix/initiator.py),
with the OMS and a SQLite journal on disk behind it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import agent.oms
from agent.journal import SqliteJournal
from agent.model import TradingState
from agent.oms import OrderManager, SetTradingState
from agent.oms.events import OrderFilled, OrderPartiallyFilled, OrderSubmitted
from agent.service.fix.acceptor import FixAcceptor
from agent.service.fix.orderentry import OmsOrderEntry
from agent.service.fix.session import SessionConfig

from .initiator import Initiator, get

CFG = SessionConfig("AGENT", "DESK", "desk", "secret")


class Agent:
    """The acceptor side: journal, OMS, order entry, acceptor; restartable on the same file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = 0

    async def start(self) -> None:
        self.journal = SqliteJournal(self.path)
        self.manager = OrderManager.open(self.journal)
        self.entry = OmsOrderEntry(self.manager)
        self.acceptor = FixAcceptor(self.journal, self.entry, [CFG], port=self.port)
        self.port = await self.acceptor.start()

    async def stop(self) -> None:
        await self.acceptor.stop()
        self.journal.close()

    def venue_fills(self, cl: str, *events) -> None:
        """What a venue's fills look like to the OMS (written by the tracker in the agent)."""
        self.manager.record(events)


@pytest.fixture
async def agent(tmp_path: Path):
    a = Agent(tmp_path / "j.sqlite")
    await a.start()
    yield a
    await a.stop()


def nos(
    cl: str, qty: str = "2", price: str | None = "3000", extra: tuple[tuple[int, object], ...] = ()
) -> list[tuple[int, object]]:
    f: list[tuple[int, object]] = [
        (11, cl),
        (55, "WETH/USDC"),
        (54, 1),
        (60, "20260101-00:00:00"),
        (38, qty),
        (40, 2 if price else 1),
    ]
    if price:
        f.append((44, price))
    f += list(extra)
    return f


async def test_logon_with_wrong_password_is_logged_out(agent: Agent) -> None:
    c = Initiator(agent.port)
    await c.connect()
    await c.send("A", [(98, 0), (108, 30), (553, "desk"), (554, "wrong")])
    m = await c.expect("5")
    assert "password" in get(m, 58)
    assert await c.closed()
    # the refusal took none of the session's numbers: the real client starts at 1
    ok = Initiator(agent.port)
    await ok.connect()
    assert get(await ok.logon(), 34) == "1"


async def test_first_message_must_be_a_logon(agent: Agent) -> None:
    c = Initiator(agent.port)
    await c.connect()
    await c.send("D", nos("x1"))
    assert await c.closed() and c.received == []


async def test_order_lifecycle_reports_every_state_change(agent: Agent) -> None:
    c = Initiator(agent.port)
    await c.connect()
    ack = await c.logon()
    assert (get(ack, 108), get(ack, 34)) == ("30", "1")
    await c.send("D", nos("o1", qty="2", extra=((847, "TWAP"),)))
    new = await c.expect("8")
    assert (get(new, 150), get(new, 39), get(new, 11)) == ("0", "0", "o1")
    order_id, exec_ids = get(new, 37), {get(new, 17)}
    assert order_id and order_id != "NONE"
    assert agent.manager.store.get("DESK.o1").strategy == "twap"

    agent.venue_fills(
        "o1",
        OrderSubmitted("DESK.o1", "uni", "0xabc"),
        OrderPartiallyFilled("DESK.o1", "t1", Decimal("0.5"), Decimal("2999")),
        OrderFilled("DESK.o1", "t2", Decimal("1.5"), Decimal("3001")),
    )
    part = await c.expect("8")
    full = await c.expect("8")
    assert (get(part, 150), get(part, 39), get(part, 32), get(part, 14), get(part, 151)) == (
        "F",
        "1",
        "0.5",
        "0.5",
        "1.5",
    )
    assert (get(full, 150), get(full, 39), get(full, 14), get(full, 151)) == ("F", "2", "2.0", "0")
    assert Decimal(get(full, 6)) == Decimal("3000.5")
    assert get(part, 37) == get(full, 37) == order_id
    exec_ids |= {get(part, 17), get(full, 17)}
    assert len(exec_ids) == 3

    # status, cancel of a filled order (rejected), cancel of an unknown one
    await c.send("H", [(11, "o1"), (55, "WETH/USDC"), (54, 1), (790, "st1")])
    st = await c.expect("8")
    assert (get(st, 150), get(st, 39), get(st, 790)) == ("I", "2", "st1")
    await c.send(
        "F", [(41, "o1"), (11, "c1"), (55, "WETH/USDC"), (54, 1), (60, "20260101-00:00:00")]
    )
    rej = await c.expect("9")
    assert (get(rej, 41), get(rej, 11), get(rej, 434), get(rej, 102)) == ("o1", "c1", "1", "0")
    await c.send(
        "F", [(41, "nope"), (11, "c2"), (55, "WETH/USDC"), (54, 1), (60, "20260101-00:00:00")]
    )
    assert get(await c.expect("9"), 102) == "1"


async def test_cancel_and_replace(agent: Agent) -> None:
    c = Initiator(agent.port)
    await c.connect()
    await c.logon()
    await c.send("D", nos("r1"))
    await c.expect("8")
    g = [(41, "r1"), *nos("r2", qty="3", price="2990")]
    await c.send("G", g)
    rep = await c.expect("8")
    assert (
        get(rep, 150),
        get(rep, 39),
        get(rep, 11),
        get(rep, 41),
        get(rep, 38),
        get(rep, 44),
    ) == ("5", "0", "r2", "r1", "3", "2990")
    await c.send(
        "F", [(41, "r2"), (11, "c9"), (55, "WETH/USDC"), (54, 1), (60, "20260101-00:00:00")]
    )
    cx = await c.expect("8")
    assert (get(cx, 150), get(cx, 39), get(cx, 11), get(cx, 41)) == ("4", "4", "c9", "r2")
    assert agent.manager.store.get("DESK.r1").reason == "replaced by DESK.r2"


async def test_a_halt_rejects_new_orders(agent: Agent) -> None:
    c = Initiator(agent.port)
    await c.connect()
    await c.logon()
    agent.manager.set_trading_state(SetTradingState(TradingState.HALTED, "test"))
    await c.send("D", nos("h1"))
    r = await c.expect("8")
    assert (get(r, 150), get(r, 39), get(r, 103)) == ("8", "8", "99")
    assert get(r, 58).startswith("TRADING_HALTED")


async def test_malformed_messages_get_the_prescribed_answers(agent: Agent) -> None:
    c = Initiator(agent.port)
    await c.connect()
    await c.logon()
    # missing required tag: Reject 373=1 naming it; the number is consumed
    await c.send("D", [t for t in nos("m1") if t[0] != 38])
    r = await c.expect("3")
    assert (get(r, 373), get(r, 371), get(r, 372), get(r, 45)) == ("1", "38", "D", "2")
    # a bad value: Reject 373=5
    await c.send("D", [(54, 7) if t[0] == 54 else t for t in nos("m2")])
    assert (get(r := await c.expect("3"), 373), get(r, 371)) == ("5", "54")
    # limit without a price: BusinessMessageReject 380=5
    await c.send("D", [t for t in nos("m3") if t[0] != 44] + [(40, 2)])
    assert get(await c.expect("j"), 380) == "5"
    # unsupported application message: BusinessMessageReject 380=3
    await c.send("R", [(131, "q1")])
    assert (get(r := await c.expect("j"), 380), get(r, 372)) == ("3", "R")
    # a bad checksum and a bad body length: dropped, nothing answered, number not consumed
    raw = c.build("D", nos("g1"))
    wrong = (int(raw[-4:-1]) + 1) % 256  # never the right sum (a fixed "000" is right 1 in 256)
    await c.send_raw(raw[:-4] + b"%03d\x01" % wrong)
    raw2 = bytearray(c.build("1", [(112, "x")]))
    raw2[raw2.index(b"9=") + 2] = ord("9")  # BodyLength now wrong
    await c.send_raw(bytes(raw2))
    # the next message arrives one number too high: ResendRequest from the garbled one's number
    c.seq += 1
    await c.send("1", [(112, "after")])
    rr = await c.expect("2")
    assert (get(rr, 7), get(rr, 16)) == (str(c.seq - 2), "0")
    # the initiator resends: the order (PossDup) then the test request
    await c.send_raw(c.build("D", nos("g1"), seq=c.seq - 2, poss_dup=True))
    assert get(await c.expect("8"), 11) == "g1"
    await c.send_raw(c.build("1", [(112, "after")], seq=c.seq - 1, poss_dup=True))
    assert get(await c.expect("0"), 112) == "after"
    # a duplicate below the expected number with PossDup: ignored; without: Logout
    await c.send_raw(c.build("1", [(112, "dup")], seq=2, poss_dup=True))
    await c.send("1", [(112, "live")])
    assert get(await c.expect("0"), 112) == "live"
    await c.send_raw(c.build("1", [(112, "low")], seq=2))
    lo = await c.expect("5")
    assert "too low" in get(lo, 58) and await c.closed()


async def test_test_request_heartbeat_and_silence(agent: Agent) -> None:
    c = Initiator(agent.port)
    await c.connect()
    await c.logon(hb=1)
    await c.send("1", [(112, "ping")])
    assert get(await c.expect("0"), 112) == "ping"
    # the initiator goes silent: heartbeats, then a TestRequest, then a disconnect
    kinds = []
    while (m := await c.recv(timeout=10)) is not None:
        kinds.append(get(m, 35))
    assert "1" in kinds and kinds[-1] in ("0", "1")


async def test_resend_after_a_disconnect_and_sequence_numbers_survive_a_restart(
    agent: Agent,
) -> None:
    c = Initiator(agent.port)
    await c.connect()
    await c.logon()
    await c.send("D", nos("s1"))
    first = await c.expect("8")
    await c.close()  # connection lost before the next report
    agent.venue_fills(
        "s1",
        OrderSubmitted("DESK.s1", "uni", "0x1"),
        OrderFilled("DESK.s1", "t1", Decimal("2"), Decimal("3000")),
    )

    # restart the agent: same journal file, new process state
    await agent.stop()
    await agent.start()
    c2 = Initiator(agent.port)
    c2.seq = c.seq
    await c2.connect()
    ack = await c2.logon()
    assert int(get(ack, 34)) == int(get(first, 34)) + 1  # the acceptor's numbers went on
    fill = await c2.expect("8")  # the fill that happened while nobody was connected
    assert (get(fill, 11), get(fill, 150), get(fill, 39)) == ("s1", "F", "2")
    # the initiator missed nothing, but asks for everything from 1 to check the resend
    await c2.send("2", [(7, 1), (16, 0)])
    gap = await c2.expect("4")
    assert (get(gap, 123), get(gap, 43), get(gap, 34), get(gap, 36)) == ("Y", "Y", "1", "2")
    again = await c2.expect("8")
    assert (get(again, 34), get(again, 43), get(again, 11), get(again, 150)) == (
        get(first, 34),
        "Y",
        "s1",
        "0",
    )
    assert get(again, 122) == get(first, 52)
    # the initiator's own number carried over too: a too-low one is refused
    await c2.send_raw(c2.build("0", [], seq=1))
    assert "too low" in get(await c2.expect("5", skip=("0", "8", "4")), 58)


async def test_logon_reset_starts_both_sequences_again(agent: Agent) -> None:
    c = Initiator(agent.port)
    await c.connect()
    await c.logon()
    await c.send("D", nos("z1"))
    await c.expect("8")
    await c.send("5", [])
    await c.expect("5")
    c2 = Initiator(agent.port)
    await c2.connect()
    ack = await c2.logon(reset=True)
    assert (get(ack, 34), get(ack, 141)) == ("1", "Y")
