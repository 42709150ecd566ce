"""`agent risk report` end to end on the example portfolio (no chain needed)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app

EXAMPLE = Path(__file__).parents[3] / "examples" / "portfolio.toml"
runner = CliRunner()


def test_report_prints_tables_and_writes_png(tmp_path):
    png = tmp_path / "payoff.png"
    r = runner.invoke(
        app, ["risk", "report", str(EXAMPLE), "--png", str(png), "--scenarios", "2000"]
    )
    assert r.exit_code == 0, r.output
    for heading in ("Greeks per underlying", "VaR / ES", "Portfolio margin", "Liquidation prices"):
        assert heading in r.output
    assert "monte_carlo" in r.output and "delta_gamma" in r.output and "historical" in r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_json_portfolio_and_bad_fields(tmp_path):
    doc = {
        "as_of": "2026-11-21T12:00:00Z",
        "market": {"ETH": {"spot": "3000", "vol": "0.6"}},
        "collateral": {"USDC": "10000"},
        "positions": [
            {"type": "spot", "base": "ETH", "quote": "USDC", "size": "2", "venue": "cex"}
        ],
    }
    f = tmp_path / "p.json"
    f.write_text(json.dumps(doc))
    r = runner.invoke(
        app, ["risk", "report", str(f), "--png", str(tmp_path / "x.png"), "--scenarios", "500"]
    )
    assert r.exit_code == 0, r.output

    doc["positions"][0]["size"] = "NaN"
    f.write_text(json.dumps(doc))
    r = runner.invoke(app, ["risk", "report", str(f)])
    assert r.exit_code == 2
    assert "positions[0].size" in r.output

    doc["positions"][0]["size"] = "1"
    doc["market"]["ETH"]["vol"] = "0"
    f.write_text(json.dumps(doc))
    r = runner.invoke(app, ["risk", "report", str(f)])
    assert r.exit_code == 2 and "market.ETH.vol" in r.output
    assert not (tmp_path / "p-payoff.png").exists()  # nothing written on bad input


def test_bad_confidence_and_missing_file(tmp_path):
    r = runner.invoke(
        app,
        ["risk", "report", str(EXAMPLE), "--confidence", "1.5", "--png", str(tmp_path / "x.png")],
    )
    assert r.exit_code == 2 and "confidence" in r.output
    r = runner.invoke(app, ["risk", "report", str(tmp_path / "nope.toml")])
    assert r.exit_code == 2 and "does not exist" in r.output
