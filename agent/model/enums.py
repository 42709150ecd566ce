from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OptionKind(StrEnum):
    CALL = "call"
    PUT = "put"


class VenueKind(StrEnum):
    AMM_V2 = "amm_v2"
    AMM_V3 = "amm_v3"
    OPTIONS = "options"
    BRIDGE = "bridge"
    CEX = "cex"


class TradingState(StrEnum):
    """The desk-wide switch (NautilusTrader's trading states). HALTED is the kill switch:
    nothing new is sent, but cancels always pass. REDUCING lets only risk-reducing orders out."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"
