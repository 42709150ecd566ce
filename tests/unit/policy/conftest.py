from __future__ import annotations

from pathlib import Path

import pytest

from agent.deploy.manifest import Manifest, TokenInfo
from agent.policy import load_policy
from agent.policy.model import Policy

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "policy.toml"
SAFE = "0x0000000000000000000000000000000000005aFE"
OPERATOR = "0x0000000000000000000000000000000000000A6e"


def addr(byte: int) -> str:
    return "0x" + f"{byte:02x}" * 20


MANIFEST = Manifest(
    31337001,
    "l1",
    0,
    {
        "SwapRouter": addr(0x11),
        "UniswapV2Router02": addr(0x22),
        "MultiSendCallOnly": addr(0x33),
        "WETH9": addr(0x44),
        "PriceFeedWETH": addr(0x81),
        "PriceFeedUSDC": addr(0x82),
        "PriceFeedDAI": addr(0x83),
        "PriceFeedWBTC": addr(0x84),
        "SwapPriceChecker": addr(0x91),
        "OptionsFillChecker": addr(0x92),
        "BridgeDepositChecker": addr(0x93),
        "OptionsMarket": addr(0xA1),
        "BridgeEscrow": addr(0xA2),
    },
    {
        "WETH": TokenInfo("WETH", addr(0x44), 18),
        "USDC": TokenInfo("USDC", addr(0x55), 6),
        "DAI": TokenInfo("DAI", addr(0x66), 18),
        "WBTC": TokenInfo("WBTC", addr(0x77), 8),
    },
)


@pytest.fixture
def manifest() -> Manifest:
    return MANIFEST


@pytest.fixture
def policy() -> Policy:
    return load_policy(EXAMPLE, MANIFEST)


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


HEADER = f"""version = 1
name = "t"
safe = "{SAFE}"
[sets]
tokens = ["WETH", "USDC"]
[[roles]]
name = "trader"
id = 1
operators = ["{OPERATOR}"]
"""
