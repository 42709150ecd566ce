from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ValidationError
from agent.risk.loader import load_portfolio, parse_portfolio

EXAMPLE = Path(__file__).parents[3] / "examples" / "portfolio.toml"

BASE = {
    "as_of": "2026-11-21T12:00:00Z",
    "market": {"ETH": {"spot": "3000", "vol": "0.6"}},
}


def test_example_loads():
    pf = load_portfolio(EXAMPLE)
    assert len(pf.portfolio.positions) == 9
    assert set(pf.market.underlyings) == {"ETH", "BTC"}
    assert pf.market.option_vols  # the smile override on the 2600 put
    assert pf.settings.confidence == 0.99


@pytest.mark.parametrize(
    ("position", "field"),
    [
        ({"type": "future", "size": "1", "venue": "x"}, "positions[0].type"),
        (
            {"type": "spot", "base": "ETH", "quote": "USDC", "size": "abc", "venue": "x"},
            "positions[0].size",
        ),
        (
            {
                "type": "option",
                "underlying": "ETH",
                "strike": "-1",
                "expiry": "2027-01-01T00:00:00Z",
                "kind": "call",
                "size": "1",
                "venue": "x",
            },
            "positions[0].strike",
        ),
        (
            {
                "type": "option",
                "underlying": "ETH",
                "strike": "3000",
                "expiry": "2027-01-01",
                "kind": "call",
                "size": "1",
                "venue": "x",
            },
            "positions[0].expiry",
        ),
        (
            {
                "type": "option",
                "underlying": "ETH",
                "strike": "3000",
                "expiry": "2027-01-01T00:00:00Z",
                "kind": "straddle",
                "size": "1",
                "venue": "x",
            },
            "positions[0].kind",
        ),
        (
            {"type": "spot", "base": "SOL", "quote": "USDC", "size": "1", "venue": "x"},
            "positions[0]",
        ),
        ({"type": "perp", "base": "ETH", "quote": "USD", "size": "1", "venue": "x"}, "entry_price"),
    ],
)
def test_bad_positions_name_the_field(position, field):
    with pytest.raises(ValidationError) as e:
        parse_portfolio(BASE | {"positions": [position]})
    assert field in str(e.value)


def test_market_required():
    with pytest.raises(ValidationError, match="market"):
        parse_portfolio({"positions": []})
    with pytest.raises(ValidationError, match=r"market\.ETH\.spot"):
        parse_portfolio({"market": {"ETH": {"spot": "nan", "vol": "0.5"}}})
