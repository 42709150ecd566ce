"""The market maker's on-chain hedger: buys or sells the underlying on Uniswap V3 from the
maker's own account (an EOA on devnets) so its book's delta stays inside its limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from agent.chain.txengine.account import EngineAccount
from agent.errors import TransactionFailedError
from agent.venues.options import calldata
from agent.venues.options.series import SeriesTerms

MAX_UINT = 2**256 - 1


class UniswapHedger:
    def __init__(
        self,
        chain: EngineAccount,
        router: str,
        spot: Callable[[SeriesTerms], Awaitable[Decimal]],
        *,
        fee: int = 500,
        slippage_bps: int = 100,
        deadline_s: int = 300,
    ) -> None:
        self.chain = chain
        self.router = router
        self.spot = spot
        self.fee = fee
        self.slippage_bps = slippage_bps
        self.deadline_s = deadline_s
        self._approved: set[str] = set()
        self.trades: list[str] = []  # tx hashes

    async def _approve(self, token: str) -> None:
        if token.lower() in self._approved:
            return
        res = await self.chain.send(token, calldata.approve(self.router, MAX_UINT))
        if not res.ok:
            raise TransactionFailedError(f"approve {token} for the router reverted: {res.tx_hash}")
        self._approved.add(token.lower())

    async def __call__(self, terms: SeriesTerms, delta: Decimal) -> None:
        """Add ``delta`` whole units of the underlying (buy if > 0, sell if < 0)."""
        amount = int(abs(delta).scaleb(terms.underlying_decimals).to_integral_value(ROUND_FLOOR))
        if amount == 0:
            return
        spot = await self.spot(terms)
        notional = abs(delta) * spot
        me = self.chain.address
        deadline = await self.chain.now() + self.deadline_s
        if delta > 0:
            max_in = notional * (10_000 + self.slippage_bps) / 10_000
            max_units = int(max_in.scaleb(terms.quote_decimals).to_integral_value(ROUND_CEILING))
            await self._approve(terms.quote_asset)
            data = calldata.exact_output_single(
                terms.quote_asset, terms.underlying, self.fee, me, deadline, amount, max_units
            )
        else:
            min_out = notional * (10_000 - self.slippage_bps) / 10_000
            min_units = int(min_out.scaleb(terms.quote_decimals).to_integral_value(ROUND_FLOOR))
            await self._approve(terms.underlying)
            data = calldata.exact_input_single(
                terms.underlying, terms.quote_asset, self.fee, me, deadline, amount, min_units
            )
        res = await self.chain.send(self.router, data)
        if not res.ok:
            raise TransactionFailedError(f"hedge swap reverted: {res.tx_hash}")
        self.trades.append(res.tx_hash)
