from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent.cli import journal as journal_cli
from agent.cli import orders as orders_cli
from agent.cli import trading as trading_cli
from agent.journal import SqliteJournal
from agent.model import Side
from agent.oms import OrderManager, SubmitOrder
from agent.oms.events import OrderSubmitted

runner = CliRunner()
root = typer.Typer()
root.add_typer(journal_cli.app, name="journal")
root.add_typer(orders_cli.app, name="orders")
trading_cli.register(root)


@pytest.fixture
def jp(tmp_path: Path) -> Path:
    p = tmp_path / "j.sqlite"
    with SqliteJournal(p) as j:
        m = OrderManager(j)
        for i in range(3):
            m.submit(SubmitOrder(f"o{i}", "WETH/USDC", Side.BUY, Decimal(1), venue="uni"))
        m.record([OrderSubmitted("o1", "uni", "0x1")])
    return p


def cli(*args: str):
    return runner.invoke(root, list(args))


def test_verify_ok_then_names_the_edited_record(jp: Path) -> None:
    r = cli("journal", "verify", "-j", str(jp))
    assert r.exit_code == 0 and "ok: 7 records" in r.output
    c = sqlite3.connect(jp)
    c.execute("UPDATE events SET data = replace(data, '\"1\"', '\"100\"') WHERE position = 3")
    c.commit()
    c.close()
    r = cli("journal", "verify", "-j", str(jp))
    assert r.exit_code == 1
    assert "JOURNAL_TAMPERED" in r.output and "record #3" in r.output and "edited" in r.output


def test_replay_is_deterministic_and_tail_shows_records(jp: Path) -> None:
    a = json.loads(cli("journal", "replay", "-j", str(jp), "--json").output)
    b = json.loads(cli("journal", "replay", "-j", str(jp), "--json").output)
    assert a["state_hash"] == b["state_hash"] and a["events"] == 7 and a["orders"] == 3
    r = cli("journal", "tail", "-j", str(jp), "-n", "2")
    lines = r.output.strip().splitlines()
    assert (
        r.exit_code == 0
        and len(lines) == 2
        and lines[-1].startswith("#7 order-o1@3 OrderSubmitted")
    )
    assert "order-o2@1" in cli("journal", "tail", "-j", str(jp), "--stream", "order-o2").output


def test_halt_resume_and_orders(jp: Path) -> None:
    assert cli("halt", "-j", str(jp), "-r", "incident").exit_code == 0
    rows = json.loads(cli("orders", "-j", str(jp), "--json").output)
    assert {r["client_order_id"]: r["state"] for r in rows} == {
        "o0": "accepted", "o1": "submitted", "o2": "accepted"
    }  # fmt: skip
    with SqliteJournal(jp) as j:
        o = OrderManager.open(j).submit(SubmitOrder("new", "WETH/USDC", Side.BUY, Decimal(1)))
        assert o.code == "TRADING_HALTED"
    assert "halted" in cli("orders", "-j", str(jp)).output
    assert cli("resume", "-j", str(jp)).exit_code == 0
    denied = json.loads(cli("orders", "-j", str(jp), "--state", "denied", "--json").output)
    assert [r["code"] for r in denied] == ["TRADING_HALTED"]


def test_missing_journal_and_bad_state_are_one_line_errors(tmp_path: Path, jp: Path) -> None:
    r = cli("journal", "verify", "-j", str(tmp_path / "nope.sqlite"))
    assert r.exit_code == 2 and "does not exist" in r.output
    r = cli("orders", "-j", str(jp), "--state", "bogus")
    assert r.exit_code == 2 and "--state" in r.output


def test_verify_refuses_someone_elses_sqlite_file_and_writes_nothing(tmp_path: Path) -> None:
    p = tmp_path / "crm.db"
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    c.commit()
    c.close()
    before = p.read_bytes()
    r = cli("journal", "verify", "--journal", str(p))
    assert r.exit_code == 1
    assert "[NOT_A_JOURNAL]" in r.output and "not an agent journal" in r.output
    assert p.read_bytes() == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["crm.db"]  # no -wal, no checkpoint


def test_verify_is_read_only_on_a_real_journal(jp: Path) -> None:
    before = jp.read_bytes()
    r = cli("journal", "verify", "--journal", str(jp))
    assert r.exit_code == 0 and r.output.startswith("ok: ")
    assert jp.read_bytes() == before
