"""The FIX acceptor inside the daemon, driven by the independent simplefix initiator over TCP:
orders go through the daemon's real pipeline on anvil (gate, OMS, risk, policy, signer,
chain) and every state change comes back as an ExecutionReport, through a disconnect and a
restart of the daemon (sequence numbers persist, resend works)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.unit.fix.initiator import Initiator, get

pytestmark = pytest.mark.integration

FIX_TOML = """
[fix]
port = 0

[[fix.sessions]]
target_comp_id = "DESK"
username = "desk"
password_env = "AGENT_FIX_DESK_PASSWORD"
"""


@pytest.fixture
def fix_config(svc_config: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = svc_config[0]
    cfg.write_text(cfg.read_text() + FIX_TOML)
    monkeypatch.setenv("AGENT_FIX_DESK_PASSWORD", "secret")
    return cfg


async def _daemon(cfg: Path) -> Any:
    from agent.bootstrap import build_daemon
    from agent.service.config import load

    d = await build_daemon(load(cfg))
    try:
        await d.start()
    except BaseException:
        for rt in d.chains.values():
            await rt.app.close()
        raise
    return d


@pytest.fixture
async def fixd(fix_config: Path) -> AsyncIterator[Any]:
    d = await _daemon(fix_config)
    try:
        yield d
    finally:
        if not d.draining:
            await d.stop()


def nos(cl: str, qty: str = "0.01", **kw: Any) -> list[tuple[int, object]]:
    f: list[tuple[int, object]] = [
        (11, cl), (55, "WETH/USDC"), (54, 1), (60, "20260101-00:00:00"), (38, qty),
        (40, kw.get("ord_type", 1)),
    ]  # fmt: skip
    if "price" in kw:
        f.append((44, kw["price"]))
    return f


def _port(d: Any) -> int:
    return int(d.fix_address.rsplit(":", 1)[1])


async def test_an_order_fills_through_the_pipeline_and_survives_a_restart(
    fixd: Any, fix_config: Path
) -> None:
    c = Initiator(_port(fixd))
    await c.connect()
    await c.logon()
    await c.send("D", nos("f1"))
    new = await c.expect("8")
    assert (get(new, 150), get(new, 39), get(new, 11)) == ("0", "0", "f1"), new
    order_id = get(new, 37)
    fill = await c.expect("8")
    assert (get(fill, 150), get(fill, 39), get(fill, 37)) == ("F", "2", order_id), fill
    assert Decimal(get(fill, 32)) == Decimal("0.01") and Decimal(get(fill, 14)) == Decimal("0.01")
    assert Decimal(get(fill, 31)) > 0 and get(fill, 31) == get(fill, 6)
    assert get(fill, 17) != get(new, 17)
    # the same order the API sees, filled on chain by the daemon's pipeline
    o = fixd.order("DESK.f1")
    assert o.state.value == "filled" and o.avg_price == Decimal(get(fill, 31))
    assert str(o.filled) == get(fill, 14)

    # an order sent, then the connection lost before its reports
    f2_seq = c.seq
    await c.send("D", nos("f2"))
    await c.close()
    session = fixd.fix.sessions()[0]
    async with asyncio.timeout(30):  # until the acceptor has taken the message in
        while session.next_in <= f2_seq:
            await asyncio.sleep(0.01)
    await fixd.intake.join()  # the intake executes what it accepted
    assert fixd.order("DESK.f2").state.value == "filled"

    # the daemon restarts on the same journal
    await fixd.stop()
    d2 = await _daemon(fix_config)
    try:
        c2 = Initiator(_port(d2))
        c2.seq = c.seq
        await c2.connect()
        ack = await c2.logon()
        n = int(get(ack, 34))
        # the acceptor's numbers went on; f2's New may have been sent into the closing socket
        assert n >= int(get(fill, 34)) + 1
        f2 = await c2.expect("8")  # its fill, which happened while nobody was connected
        assert (get(f2, 11), get(f2, 150), get(f2, 39), get(f2, 43)) == ("f2", "F", "2", None)
        # the initiator asks for everything before the logon again: the reports come as
        # PossDup with their first sending time, the admin messages as a gap fill
        await c2.send("2", [(7, 1), (16, n - 1)])
        resent = []
        while True:
            m = await c2.recv()
            assert m is not None
            if get(m, 35) == "0":
                continue
            resent.append(m)
            last = int(get(m, 36)) - 1 if get(m, 35) == "4" else int(get(m, 34))
            if last >= n - 1:
                break
        ers = [m for m in resent if get(m, 35) == "8"]
        assert all(get(m, 43) == "Y" for m in ers)
        assert [(get(m, 11), get(m, 150)) for m in ers][:2] == [("f1", "0"), ("f1", "F")]
        assert get(ers[0], 17) == get(new, 17) and get(ers[0], 122) == get(new, 52)
        if n > int(get(fill, 34)) + 1:  # f2's New went out before the close: it is resent too
            assert (get(ers[2], 11), get(ers[2], 150)) == ("f2", "0")
        # status of the first order, from the restarted daemon
        await c2.send(
            "H",
            [(11, "f1"), (55, "WETH/USDC"), (54, 1), (790, "s1")],
        )
        st = await c2.expect("8", skip=("0", "8", "4"))
        while get(st, 150) != "I":
            st = await c2.expect("8", skip=("0", "4"))
        assert (get(st, 39), get(st, 37), get(st, 790)) == ("2", order_id, "s1")
        await c2.close()
    finally:
        await d2.stop()


async def test_refusals_cancel_and_halt(fixd: Any) -> None:
    c = Initiator(_port(fixd))
    await c.connect()
    await c.logon()
    # a TimeInForce a routed plan cannot keep: rejected, nothing journaled as an order
    await c.send("D", [*nos("l1", ord_type=2, price="3000"), (59, "1")])
    rej = await c.expect("8")
    assert (get(rej, 150), get(rej, 39), get(rej, 37)) == ("8", "8", "NONE")
    assert get(rej, 58).startswith("UNSUPPORTED_TIME_IN_FORCE: TimeInForce(59)"), rej
    assert fixd.manager.store.get("DESK.l1") is None
    # a limit order without Price(44): the session's BusinessMessageReject naming the tag
    await c.send("D", nos("l2", ord_type=2))
    bmr = await c.expect("j")
    assert (get(bmr, 380), get(bmr, 372)) == ("5", "D") and "Price(44)" in get(bmr, 58)
    assert fixd.manager.store.get("DESK.l2") is None
    # an unknown token
    await c.send("D", [*nos("u1")[:1], (55, "DOGE/USDC"), *nos("u1")[2:]])
    assert get(await c.expect("8"), 150) == "8"

    # a filled order cannot be cancelled
    await c.send("D", nos("c1"))
    assert get(await c.expect("8"), 150) == "0"
    assert get(await c.expect("8"), 150) == "F"
    await c.send(
        "F", [(41, "c1"), (11, "c1x"), (55, "WETH/USDC"), (54, 1), (60, "20260101-00:00:00")]
    )
    cxl = await c.expect("9")
    assert (get(cxl, 41), get(cxl, 434), get(cxl, 102)) == ("c1", "1", "0")
    await c.send("G", [(41, "c1"), *nos("c1r")])  # nor replaced
    rep = await c.expect("9")
    assert (get(rep, 41), get(rep, 11), get(rep, 434), get(rep, 39)) == ("c1", "c1r", "2", "2")
    assert fixd.manager.store.get("DESK.c1r") is None

    # a halt through the daemon (as POST /v1/halt does) refuses the next FIX order
    await fixd.set_trading("halted", "fix test", "test")
    await c.send("D", nos("h1"))
    h = await c.expect("8")
    assert (get(h, 150), get(h, 39)) == ("8", "8") and get(h, 58).startswith("TRADING_HALTED")
    assert fixd.manager.store.get("DESK.h1") is None  # the id is not burnt
    await fixd.set_trading("active", "fix test over", "test")
    await c.send("D", nos("h1"))
    assert get(await c.expect("8"), 150) == "0"
    assert get(await c.expect("8"), 150) == "F"
    await c.close()


async def test_a_fix_order_is_routed_across_venues(fixd: Any, l1_isolated: None) -> None:
    """250 WETH through FIX: New at once, then a Trade report per child's fill on the parent
    (PartiallyFilled ... Filled), the children over several venues."""
    c = Initiator(_port(fixd))
    await c.connect()
    await c.logon()
    await c.send("D", nos("big", "250"))
    assert get(await c.expect("8"), 150) == "0"
    trades = []
    while not trades or get(trades[-1], 39) != "2":
        m = await c.expect("8")
        assert get(m, 150) == "F", m
        trades.append(m)
    assert len(trades) >= 2 and all(get(m, 39) == "1" for m in trades[:-1])
    assert sum(Decimal(get(m, 32)) for m in trades) == 250 == Decimal(get(trades[-1], 14))
    fixd.manager.sync()
    kids = fixd.manager.store.parent_view("DESK.big").children
    assert len({k.venue for k in kids if k.filled}) >= 2, [(k.venue, k.filled) for k in kids]
    await c.close()


async def test_limit_orders_are_routed_within_their_limit(fixd: Any, l1_isolated: None) -> None:
    """OrdType=2 with Price: New at once, then filled by the router within the limit, or, when
    no venue reaches the limit, Rejected with the router's code: nothing sent below/above it."""
    c = Initiator(_port(fixd))
    await c.connect()
    await c.logon()
    await c.send("D", nos("lim-ok", "0.5", ord_type=2, price="4000"))
    assert get(await c.expect("8"), 150) == "0"
    fill = await c.expect("8")
    assert (get(fill, 150), get(fill, 39), get(fill, 44)) == ("F", "2", "4000"), fill
    assert Decimal(get(fill, 6)) <= 4000
    nonce = len(fixd.primary.app.executor.engine.records)
    await c.send("D", nos("lim-far", "0.5", ord_type=2, price="1000"))
    assert get(await c.expect("8"), 150) == "0"  # accepted: the router has not run yet
    end = await c.expect("8")
    assert (get(end, 150), get(end, 39), get(end, 14)) == ("8", "8", "0"), end
    assert get(end, 58).startswith("ROUTE_LIMIT_UNREACHABLE"), end
    assert len(fixd.primary.app.executor.engine.records) == nonce  # nothing signed
    await c.close()


async def test_a_busy_fix_port_is_one_line_naming_the_field(fix_config: Path, fixd: Any) -> None:
    from agent.errors import ConfigError

    cfg = fix_config.read_text().replace("[fix]\nport = 0", f"[fix]\nport = {_port(fixd)}")
    fix_config.write_text(cfg)
    with pytest.raises(ConfigError) as e:
        await _daemon(fix_config)
    assert "fix.port" in str(e.value) and "\n" not in str(e.value)
