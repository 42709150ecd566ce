"""The demo as a user runs it: from nothing to trades, an iron condor, a bridge transfer, a
routed order, then the daemon as its own process driven through its API (orders, a TWAP,
positions and risk, the kill switch, SIGTERM). Run from a scratch directory without
``--state-dir``: its state goes to ``./.state/demo`` there, not into the package.
(That no anvil outlives its parent is tested in tests/integration/foundation/test_devnet.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import agent

pytestmark = pytest.mark.e2e


def test_demo_runs_from_nothing_and_cleans_up(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "agent.demo"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"}, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = r.stdout
    state = tmp_path / ".state" / "demo"
    assert (state / "journal.sqlite").is_file() and (state / "agent.toml").is_file()
    assert not (Path(agent.__file__).parent / ".state").exists()

    # the daemon: its own process, serving, then drained by SIGTERM (exit 0)
    assert re.search(
        r"daemon agent run --config \S+agent\.toml: serving http://127\.0\.0\.1:\d+", out
    )
    assert "daemon drained and stopped (exit 0)" in out
    # the swap intents through POST /v1/orders: each filled in full, the resubmit answered
    # from the journal, the one beyond the risk limits denied with its code (422, unsigned)
    assert out.count(": FILLED") == 3 and "DUPLICATE" in out
    filled = re.findall(r"│ filled\s*│ ([\d.]+) of ([\d.]+) WETH at", out)
    assert len(filled) == 4 and all(Decimal(a) == Decimal(b) for a, b in filled), filled
    denied = out[out.index("Trade demo-too-large: DENIED") :][:1500]
    assert "[RISK_MAX_NOTIONAL]" in denied[: denied.index("└")], denied
    assert "iron condor" in out and "(same tx)" in out and "max loss" in out
    assert "2-of-3 relayer signatures" in out
    # one parent order split over the L1 pools, the CEX book and the L2 pool, every child
    # filled exactly as planned, one Safe transaction per chain
    assert re.search(r"order demo-split-250: buy 250\.0000 WETH with USDC -> FILLED", out)
    kids = re.findall(r"^  (demo-split-250\.\d+) .* (= plan|units vs plan|NOT FILLED)", out, re.M)
    assert len(kids) >= 3 and all(k[1] == "= plan" for k in kids), kids
    assert {"cex", "l2_amm"} <= set(re.findall(r"demo-split-250\.\d+ +\S+ +(\w+)", out))
    assert out.count("ONE Safe transaction") == 2
    # the TWAP in the daemon and its execution report (`agent report execution`)
    assert "accepted (accepted), journaled on algo-demo-twap-5" in out
    assert re.search(r"parent demo-twap-5: buy 5\.0+ of 5 in 5 slice", out)
    assert "shortfall" in out and "realized average" in out
    # ... with the market's trades over the interval (agent.algos.wiring.with_interval_market):
    # the interval VWAP and every part of the shortfall are numbers, not "n/a"
    assert re.search(r"^ *interval VWAP +\d+\.\d{4}", out, re.M), out
    m = re.search(
        r"shortfall +(-?\d+\.\d\d) bps = delay (-?\d+\.\d\d) \+ impact (-?\d+\.\d\d) "
        r"\+ fees (-?\d+\.\d\d) \+ gas (-?\d+\.\d\d)", out,
    )  # fmt: skip
    assert m, out
    total, *parts = (Decimal(x) for x in m.groups())
    assert abs(total - sum(parts)) <= Decimal("0.02")  # rounding of the printed parts
    # 5 WETH in 5 slices on pools 250 WETH deep: the arrival price is the market's (gas left
    # out of the probe), so the shortfall is a few bps, not the probe's gas (~-125 bps once)
    assert abs(total) < 30, total
    # GET /v1/risk: the condor's four legs in the Safe (the sold ones short, with the
    # collateral the market holds), Greeks, VaR/ES of three methods, margin
    legs = re.findall(
        r"^    option (WETH-\S+-([CP])) +(long|short) 1(, collateral ([\d,.]+) (\w+))?", out, re.M
    )
    assert len(legs) == 4, legs
    assert sorted(side for *_, side, _, _, _ in legs) == ["long", "long", "short", "short"]
    assert all((side == "short") == bool(coll) for _, _, side, coll, _, _ in legs)
    # and the desk's Deribit account through ccxt fetch_positions: a long perp, a short call
    assert re.search(r"^    perp ETH/USDC:USDC +long 2$", out, re.M)
    assert re.search(r"^    option ETH/USDC:USDC-\d+-3000-C +short 1$", out, re.M)
    assert re.search(r"greeks WETH: delta -?[\d,.]+ gamma -?[\d.]+ vega", out)
    assert len(re.findall(r"VaR [\d,.]+ ES [\d,.]+ \(99%, 1d\)", out)) == 3
    assert re.search(r"margin: maintenance [\d,.]+ initial [\d,.]+ ratio [\d.]+", out)
    # the kill switch through the API: an order refused while halted, then resumed
    assert "POST /v1/halt -> halted" in out and "POST /v1/resume -> active" in out
    assert "demo-while-halted: DENIED while halted [TRADING_HALTED]" in out
    # the orders as the journal rebuilds them, and the hash chain verified
    table = out[out.index("orders in the journal") :]
    rows = re.findall(r"^│ (\S+) +│ (\w+) ", table, re.M)
    states = dict(rows)
    # every order filled but the one over the risk limits: journaled denied, or (a daemon
    # that refuses it before accepting it) not journaled at all
    assert [c for c, st in rows if st != "filled"] in ([], ["demo-too-large"]), rows
    assert states.get("demo-too-large", "denied") == "denied"
    for cid in ("demo-buy-weth", "demo-buy-weth-large", "demo-sell-weth", "demo-split-250"):
        assert states[cid] == "filled"
    assert {k for k, _ in kids} <= set(states)
    # one OMS for every venue kind: the condor (parent, 4 legs, hedge) and the bridge hop
    assert len([c for c in states if c.startswith("ml-")]) == 1 + 4 + 1, table
    assert len([c for c in states if c.startswith("demo-bridge-")]) == 1, table
    # the TWAP's slices: each a routed parent order (demo-twap-5.s<i>) with its children
    assert len([c for c in states if re.fullmatch(r"demo-twap-5\.s\d+", c)]) == 5, table
    assert re.search(r"journal .*journal\.sqlite: ok: \d+ records", out)
    assert "demo finished" in out
