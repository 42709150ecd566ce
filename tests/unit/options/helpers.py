"""Shared builders for the options unit tests (pure: no chain)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from agent.model import OptionContract, OptionKind
from agent.venues.options.series import SeriesTerms

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SAFE = "0x1111111111111111111111111111111111111111"
WETH = "0x2222222222222222222222222222222222222222"
USDC = "0x3333333333333333333333333333333333333333"
FEED = "0x4444444444444444444444444444444444444444"
MAKER_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
OTHER_KEY = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"
CHAIN_ID = 31_337_001
NOW = 1_800_000_000
EXPIRY = NOW + 30 * 86400


def put_terms(strike: int = 3000 * 10**6, expiry: int = EXPIRY) -> SeriesTerms:
    return SeriesTerms(WETH, USDC, USDC, FEED, strike, 0, expiry, False, 18, 6)


def call_terms(strike: int = 3000 * 10**6, expiry: int = EXPIRY) -> SeriesTerms:
    return SeriesTerms(WETH, USDC, WETH, FEED, strike, 0, expiry, True, 18, 6)


def option(kind: OptionKind, strike: str, expiry: int = EXPIRY) -> OptionContract:
    return OptionContract(
        "WETH", "USDC", Decimal(strike), datetime.fromtimestamp(expiry, UTC), kind
    )
