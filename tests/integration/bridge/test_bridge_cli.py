"""`agent bridge estimate` against the live escrow; bad input exits non-zero with one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.cli.main import app

pytestmark = pytest.mark.integration


def test_estimate_reads_the_live_fee(bridge_world, tmp_path):
    bw = bridge_world
    bw.l1.save(tmp_path / "l1.manifest.json")
    (tmp_path / "devnets.json").write_text(json.dumps({"l1": {"rpc_url": bw.l1_url}}))
    r = CliRunner().invoke(app, ["bridge", "estimate", "250000", "--state-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "fee 125" in r.output and "(5 bps)" in r.output and "received 249875" in r.output
    bad = CliRunner().invoke(app, ["bridge", "estimate", "1.0000001", "--state-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "decimal places" in bad.output
    bad = CliRunner().invoke(app, ["bridge", "estimate", "abc", "--state-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "not a number" in bad.output
