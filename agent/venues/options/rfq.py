"""RFQ client: ask a market maker's quote service for a signed quote over HTTP.

Wire format (JSON): POST {url}/rfq with {"series": SeriesTerms wire, "side": "buy"|"sell"
(our side), "amount": "<underlying base units>", "taker": "0x..."}; the answer is a
SignedQuote wire object, or {"error": {"code", "message"}} with a 4xx status.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from agent.errors import ValidationError
from agent.model import Side
from agent.venues.options.eip712 import SignedQuote
from agent.venues.options.errors import MarketMakerUnavailableError, QuoteRejectedError
from agent.venues.options.series import SeriesTerms


def rfq_payload(series: SeriesTerms, side: Side, amount: int, taker: str) -> dict[str, Any]:
    return {"series": series.to_wire(), "side": side.value, "amount": str(amount), "taker": taker}


class RfqClient:
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _sess(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, series: SeriesTerms, side: Side, amount: int, taker: str, *, leg: int | None = None
    ) -> SignedQuote:
        s = await self._sess()
        try:
            async with s.post(
                f"{self.url}/rfq", json=rfq_payload(series, side, amount, taker)
            ) as r:
                body = await r.json(content_type=None)
                status = r.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise MarketMakerUnavailableError(
                f"market maker at {self.url} did not answer the RFQ: {e}; is it running?"
            ) from e
        if status != 200:
            err = body.get("error", {}) if isinstance(body, dict) else {}
            raise QuoteRejectedError(
                str(err.get("code", "MM_REFUSED")),
                f"market maker refused: {err.get('message', body)}",
                leg=leg,
            )
        try:
            return SignedQuote.from_wire(body)
        except ValidationError as e:
            raise QuoteRejectedError("QUOTE_MALFORMED", str(e), leg=leg) from e
