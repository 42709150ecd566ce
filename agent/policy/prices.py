"""Reference-price sources for the policy's slippage rule and second-signer notional.

A source is ``async (base_symbol, quote_symbol) -> Decimal | None``: the price of one
``base`` in ``quote``, or None when it has none (the policy then denies what needs it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as fsel

from agent.deploy.manifest import Manifest

PriceSource = Callable[[str, str], Awaitable[Decimal | None]]
USD = "USD"
LATEST_ROUND = fsel("latestRoundData()")
DECIMALS = fsel("decimals()")


def static_prices(usd: Mapping[str, Decimal | int | str]) -> PriceSource:
    """Fixed USD prices by symbol (tests, paper trading, the CLI's --price SYM=USD)."""
    table = {k.upper(): Decimal(str(v)) for k, v in usd.items()}
    table.setdefault(USD, Decimal(1))

    async def price(base: str, quote: str) -> Decimal | None:
        b, q = table.get(base.upper()), table.get(quote.upper())
        return None if b is None or not q else b / q

    return price


def feed_prices(
    rpc: Any, manifest: Manifest, fixed: Mapping[str, Decimal | int | str] | None = None
) -> PriceSource:
    """USD prices from the manifest's Chainlink-style feeds (``PriceFeed<SYMBOL>``:
    latestRoundData().answer scaled by decimals()), read at each call; ``fixed`` prices
    (by symbol) take precedence. A symbol with neither has no price. ``rpc`` is an
    agent.chain.rpc.RpcClient."""
    return OraclePrices(rpc, manifest, fixed=fixed)


class OraclePrices:
    """A :data:`PriceSource` that prefers the manifest's oracles: for each symbol, in order,
    a ``fixed`` price, then its feed ``PriceFeed<SYMBOL>`` (read at each call), and only for
    a symbol WITHOUT a feed the ``fallback`` source (e.g. the median of the venues' own
    quotes, agent.execution.risk.QuotePrices). A symbol whose feed exists but answers
    nothing usable (answer <= 0) has no price: a broken oracle denies what needs it rather
    than silently trusting the quotes the swap was built from. :meth:`source` names where a
    symbol's price comes from (for people and logs)."""

    def __init__(
        self,
        rpc: Any,
        manifest: Manifest,
        *,
        fallback: PriceSource | None = None,
        fixed: Mapping[str, Decimal | int | str] | None = None,
    ) -> None:
        self.rpc = rpc
        self.manifest = manifest
        self.fallback = fallback
        self.fixed = {k.upper(): Decimal(str(v)) for k, v in (fixed or {}).items()}
        self.fixed.setdefault(USD, Decimal(1))
        self._scale: dict[str, int] = {}  # feed -> decimals (constant per feed)

    def feed(self, symbol: str) -> str | None:
        return self.manifest.contracts.get(f"PriceFeed{symbol.upper()}")

    def source(self, symbol: str) -> str:
        """``fixed`` | ``oracle PriceFeed<SYM> at 0x..`` | ``fallback`` | ``none``."""
        s = symbol.upper()
        if s in self.fixed:
            return "fixed"
        feed = self.feed(s)
        if feed is not None:
            return f"oracle PriceFeed{s} at {feed}"
        return "fallback" if self.fallback is not None else "none"

    async def _eth_call(self, to: str, data: bytes) -> bytes:
        raw = await self.rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
        return bytes.fromhex(raw[2:])

    async def usd(self, symbol: str) -> Decimal | None:
        s = symbol.upper()
        if s in self.fixed:
            return self.fixed[s]
        feed = self.feed(s)
        if feed is None:
            return await self.fallback(s, USD) if self.fallback is not None else None
        if feed not in self._scale:
            (self._scale[feed],) = decode(["uint8"], await self._eth_call(feed, DECIMALS))
        _r, answer, _s, _u, _a = decode(
            ["uint80", "int256", "uint256", "uint256", "uint80"],
            await self._eth_call(feed, LATEST_ROUND),
        )
        return Decimal(answer).scaleb(-self._scale[feed]) if answer > 0 else None

    async def __call__(self, base: str, quote: str) -> Decimal | None:
        b, q = await self.usd(base), await self.usd(quote)
        return None if b is None or not q else b / q
