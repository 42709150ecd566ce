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
    table = {k.upper(): Decimal(str(v)) for k, v in (fixed or {}).items()}
    table.setdefault(USD, Decimal(1))
    scale: dict[str, int] = {}

    async def eth_call(to: str, data: bytes) -> bytes:
        raw = await rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
        return bytes.fromhex(raw[2:])

    async def usd(sym: str) -> Decimal | None:
        if sym in table:
            return table[sym]
        feed = manifest.contracts.get(f"PriceFeed{sym}")
        if feed is None:
            return None
        if feed not in scale:
            (scale[feed],) = decode(["uint8"], await eth_call(feed, DECIMALS))
        _r, answer, _s, _u, _a = decode(
            ["uint80", "int256", "uint256", "uint256", "uint80"], await eth_call(feed, LATEST_ROUND)
        )
        return Decimal(answer).scaleb(-scale[feed]) if answer > 0 else None

    async def price(base: str, quote: str) -> Decimal | None:
        b, q = await usd(base.upper()), await usd(quote.upper())
        return None if b is None or not q else b / q

    return price
