"""The execution report's interval VWAP from the market's own trades: after a TWAP on anvil +
the exchange simulator, the exchange's public trades (ccxt) and the pools' Swap events over the
execution are journaled once (IntervalMarket) and `agent report execution` prints the interval
VWAP and the whole shortfall split with numbers. Checked against a VWAP computed apart: the
simulator's public trades read by another ccxt client, plus the pool legs' fills in the OMS
(on this static world the pools trade only for us)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.algos.events import IntervalMarket
from agent.cli.main import app as cli
from agent.deploy.devworld import DevWorld
from agent.journal.sqlite import SqliteJournal
from agent.oms.store import OrderStore
from agent.wallet.deploy import WalletDeployment
from tests.integration.algos.sim_thread import SimThread
from tests.integration.algos.test_algo_cli import ENV, _args, _events

pytestmark = pytest.mark.integration


def test_interval_vwap_from_the_venues_tape(
    world: DevWorld, route_wallet: WalletDeployment, sim: SimThread, tmp_path: Path, isolated: None
) -> None:
    runner = CliRunner()
    j = tmp_path / "j.sqlite"
    args = _args(world, route_wallet, sim.url, j, "twap-v", "40")  # big: both venues fill
    res = runner.invoke(cli, [*args, "--horizon", "4s", "--interval", "2s", "--json"], env=ENV)
    assert res.exit_code == 0, res.output
    tape = [e for e in _events(j, "twap-v") if isinstance(e, IntervalMarket)]
    assert len(tape) == 1 and tape[0].trades > 0 and tape[0].volume >= 40
    t = tape[0]
    assert any(s.startswith("pool:") for s in t.sources) and "binance" in t.sources

    # the same VWAP computed apart
    pub = [x for x in sim.client().fetch_trades("ETH/USDC", since=t.start_ms, limit=1000)
           if t.start_ms <= x["timestamp"] <= t.end_ms]  # fmt: skip
    vol = sum((Decimal(str(x["amount"])) for x in pub), Decimal(0))
    notional = sum((Decimal(str(x["amount"])) * Decimal(str(x["price"])) for x in pub), Decimal(0))
    with SqliteJournal(j) as store:
        orders = OrderStore.replay(store).orders
    pool_legs = [o for o in orders.values() if o.venue.startswith("uniswap") and o.filled > 0]
    assert pool_legs and vol > 0
    vol += sum((o.filled for o in pool_legs), Decimal(0))
    notional += sum((o.notional for o in pool_legs), Decimal(0))
    assert t.volume == vol
    assert abs(t.notional - notional) <= Decimal("0.000001") * notional

    rep = runner.invoke(cli, ["report", "execution", "twap-v", "-j", str(j), "--json"])
    assert rep.exit_code == 0, rep.output
    out = json.loads(rep.output)
    assert Decimal(out["interval_vwap"]) == t.notional / t.volume
    for k in ("arrival", "average", "shortfall_bps", "delay_bps", "impact_bps", "fees_bps"):
        assert out[k] is not None, (k, out)
    assert "n/a" not in "\n".join(out["lines"]), out["lines"]
    # a second run of the same parent sends nothing and journals no second tape
    again = runner.invoke(cli, [*args, "--horizon", "4s", "--interval", "2s", "--json"], env=ENV)
    assert again.exit_code == 0, again.output
    assert len([e for e in _events(j, "twap-v") if isinstance(e, IntervalMarket)]) == 1
