"""Errors of the options venue. Each has a stable code; the message names the field and the fix.

A quote that fails our checks is refused with :class:`QuoteRejectedError` carrying the
check's code (QUOTE_EXPIRED, QUOTE_FORGED, QUOTE_REPLAYED, SERIES_MISMATCH, ...), so callers
branch on ``.code`` and the journal records the same code.
"""

from __future__ import annotations

from agent.errors import ValidationError, VenueError, VenueRejectedError


class OptionsError(VenueError):
    code = "OPTIONS_ERROR"


class QuoteRejectedError(VenueRejectedError):
    """One or more quotes failed validation; nothing was signed or sent."""

    code = "QUOTE_REJECTED"

    def __init__(self, code: str, reason: str, *, leg: int | None = None) -> None:
        self.reason = reason
        self.leg = leg
        where = f"leg {leg}: " if leg is not None else ""
        super().__init__(f"{where}{reason}", code=code)


class MarketMakerUnavailableError(OptionsError):
    code = "MM_UNAVAILABLE"


class UnknownSeriesError(ValidationError):
    code = "SERIES_UNKNOWN"


class ExecutionRevertedError(OptionsError):
    """The Safe transaction was mined but reverted: no leg executed."""

    code = "MULTILEG_REVERTED"


class SettlementRefusedError(ValidationError):
    """Settle, exercise or redeem was refused before anything was signed (the series is not
    expired, its feed is stale, it is not settled yet, or there is nothing to claim)."""

    code = "OPTIONS_SETTLEMENT_REFUSED"
