"""The gate inside the real OMS (OrderManager over an on-disk SQLite journal)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from agent.errors import ValidationError
from agent.journal import SqliteJournal
from agent.model import OrderType, Side, Spot
from agent.model.positions import Portfolio, Position
from agent.oms import OrderManager, OrderState, SubmitOrder
from agent.risk.context import build_context
from agent.risk.oms_check import RiskGateCheck, proposal_from_command

from .conftest import NOW
from .test_checks import LIMITS

ETH = Spot("ETH", "USDC")
LIMIT = OrderType.LIMIT


@pytest.fixture
def journal(tmp_path: Path):
    with SqliteJournal(tmp_path / "oms.sqlite") as j:
        yield j


def test_gate_decides_in_the_oms_and_verdicts_are_kept(journal, market):
    pf = Portfolio((Position(ETH, D(5), "cex"),), (("USDC", D(100_000)),))
    ctx = build_context(pf, market, LIMITS, now=NOW, instruments=[(ETH, D(1))])
    results = {}

    def resolve(cmd):
        if cmd.instrument != "ETH/USDC":
            raise ValidationError("instrument", f"{cmd.instrument} is unknown to risk")
        return proposal_from_command(cmd, ETH, quote_price=D("3005"))

    check = RiskGateCheck(resolve, lambda p: ctx, on_result=lambda cid, r: results.update({cid: r}))
    m = OrderManager(journal, checks=[check])

    ok = m.submit(SubmitOrder("a", "ETH/USDC", Side.BUY, D(1), venue="cex", max_slippage_bps=30))
    assert ok.state is OrderState.ACCEPTED
    assert all(e["verdict"] == "allow" for e in results["a"].to_events())

    bad = m.submit(SubmitOrder("b", "ETH/USDC", Side.BUY, D(1), LIMIT, D(3300), venue="cex"))
    assert bad.state is OrderState.DENIED and bad.code == "RISK_PRICE_BAND"
    assert len(results["b"].to_events()) == 10

    unk = m.submit(SubmitOrder("c", "SOL/USDC", Side.BUY, D(1), venue="cex"))
    assert unk.state is OrderState.DENIED and unk.code == "RISK_INPUT_MISSING"

    denied = [r.event for r in journal.read_all() if type(r.event).__name__ == "OrderDenied"]
    assert [d.rule for d in denied] == ["price_band", "risk_gate"]
    # The journal keeps every check's verdict with the order, code and reason included.
    accepted = [r.event for r in journal.read_all() if type(r.event).__name__ == "OrderAccepted"]
    names = list(check.gate.names)
    assert [v.check for v in accepted[0].verdicts][-10:] == names
    band = {v.check: v for v in denied[0].verdicts}["price_band"]
    assert band.verdict == "deny" and band.code == "RISK_PRICE_BAND" and "reference" in band.reason
    assert [v.check for v in denied[0].verdicts][-10:] == names  # the gate runs every check
    assert denied[1].verdicts[-1].code == "RISK_INPUT_MISSING"


def test_explain_gives_the_oms_every_inner_verdict(market):
    pf = Portfolio((Position(ETH, D(5), "cex"),), (("USDC", D(100_000)),))
    ctx = build_context(pf, market, LIMITS, now=NOW, instruments=[(ETH, D(1))])

    def resolve(cmd):
        if cmd.instrument != "ETH/USDC":
            raise ValidationError("instrument", f"{cmd.instrument} is unknown to risk")
        return proposal_from_command(cmd, ETH, quote_price=D("3005"))

    check = RiskGateCheck(resolve, lambda p: ctx)
    d, inner = check.explain(
        SubmitOrder("b", "ETH/USDC", Side.BUY, D(1), LIMIT, D(3300), venue="cex"), None
    )
    assert d.code == "RISK_PRICE_BAND"
    assert [n for n, _ in inner] == list(check.gate.names)
    assert dict(inner)["price_band"] == d
    d, inner = check.explain(SubmitOrder("c", "SOL/USDC", Side.BUY, D(1), venue="cex"), None)
    assert d.code == "RISK_INPUT_MISSING" and inner == ()
