"""The market maker's view of the chain: spot from the series' price feed, whether one of
its quotes was filled (its nonce used), for quoting on a devnet or in paper trading."""

from __future__ import annotations

from decimal import Decimal

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.rpc import RpcClient
from agent.venues.options import calldata
from agent.venues.options.series import SeriesTerms

LATEST_ROUND = selector("latestRoundData()")
DECIMALS = selector("decimals()")


class ChainView:
    def __init__(self, rpc: RpcClient, market: str, maker: str) -> None:
        self.rpc = rpc
        self.market = market
        self.maker = maker
        self._decimals: dict[str, int] = {}

    async def _call(self, to: str, data: bytes) -> bytes:
        return await self.rpc.eth_call(to, data)

    async def spot(self, terms: SeriesTerms) -> Decimal:
        feed = terms.feed
        if feed not in self._decimals:
            (self._decimals[feed],) = decode(["uint8"], await self._call(feed, DECIMALS))
        _r, answer, _s, _u, _a = decode(
            ["uint80", "int256", "uint256", "uint256", "uint80"],
            await self._call(feed, LATEST_ROUND),
        )
        return Decimal(answer).scaleb(-self._decimals[feed])

    async def is_filled(self, nonce: int) -> bool:
        raw = await self._call(self.market, calldata.nonce_used(self.maker, nonce))
        return bool(decode(["bool"], raw)[0])
