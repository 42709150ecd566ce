"""Reference prices for the bridge's tokens: a bridged token (``WETH.B``) is redeemable 1:1 for
its L1 token, so the signing policy on the L2 prices it by the L1 token's own reference (the L1
oracle ``PriceFeedWETH``), never by the L2 pool's quotes the swap is built from."""

from __future__ import annotations

from decimal import Decimal

from agent.policy.prices import PriceSource

SUFFIX = ".B"


class BridgedPrices:
    """A ``PriceSource``: ``X.B`` -> ``X`` (other symbols unchanged), asked of ``underlying``
    (e.g. the L1's OraclePrices). Use it as the L2 OraclePrices' fallback: an L2 feed, where
    one exists, still wins."""

    def __init__(self, underlying: PriceSource) -> None:
        self.underlying = underlying

    @staticmethod
    def unbridged(symbol: str) -> str:
        s = symbol.upper()
        return s[: -len(SUFFIX)] if s.endswith(SUFFIX) else s

    async def __call__(self, base: str, quote: str) -> Decimal | None:
        return await self.underlying(self.unbridged(base), self.unbridged(quote))
