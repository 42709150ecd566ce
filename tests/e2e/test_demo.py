"""The demo as a user runs it: from nothing to trades, an iron condor and a bridge transfer.
(That no anvil outlives its parent is tested in tests/integration/foundation/test_devnet.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_runs_from_nothing_and_cleans_up() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "agent.demo"], capture_output=True, text=True, timeout=240,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = r.stdout
    assert out.count(": FILLED") == 3 and "DUPLICATE" in out
    for quoted, realized in re.findall(r"quoted vs realized in\s*│\s*(\d+) vs (\d+)", out):
        assert quoted == realized
    assert "iron condor" in out and "(same tx)" in out and "max loss" in out
    assert "2-of-3 relayer signatures" in out
    # refused before signing by the risk gate, with its stable code; nothing sent for it
    assert "demo-too-large: DENIED" in out and "[RISK_" in out
    # one parent order split over the L1 pools, the CEX book and the L2 pool, every child
    # filled exactly as planned, one Safe transaction per chain
    assert re.search(r"order demo-split-250: buy 250\.0000 WETH with USDC -> FILLED", out)
    kids = re.findall(r"^  (demo-split-250\.\d+) .* (= plan|units vs plan|NOT FILLED)", out, re.M)
    assert len(kids) >= 3 and all(k[1] == "= plan" for k in kids), kids
    assert {"cex", "l2_amm"} <= set(re.findall(r"demo-split-250\.\d+ +\S+ +(\w+)", out))
    assert out.count("ONE Safe transaction") == 2
    # the orders as the journal rebuilds them, and the hash chain verified
    table = out[out.index("orders in the journal") :]
    filled = len(re.findall(r"│ filled", table))
    # one OMS for every venue kind: the condor (parent, 4 legs, hedge) and the bridge hop
    # are orders there too, filled
    options = re.findall(r"^│ ml-\S+ .*│ filled", table, re.M)
    bridged = re.findall(r"^│ demo-bridge-\S+ .*│ filled", table, re.M)
    assert len(options) == 1 + 4 + 1 and len(bridged) == 1, table
    swaps = 3 + 1 + len(kids)
    assert filled == swaps + len(options) + len(bridged)
    assert len(re.findall(r"│ denied", table)) == 1
    assert re.search(r"journal .*journal\.sqlite: ok: \d+ records", out)
    assert "demo finished" in out
