"""Uniswap V3: quotes from QuoterV2 (per fee tier), swaps through SwapRouter by the Safe."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.errors import NoRouteError, RpcError
from agent.model import Instrument, Quote, Side, VenueKind
from agent.signing.abi import encode
from agent.venues.uniswap_common import AMM_CAPABILITIES, approved_swap, bound, resolve
from agent.wallet.multisend import Call

PARAMS = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
QUOTE_OUT = selector("quoteExactOutputSingle((address,address,uint256,uint24,uint160))")
QUOTE_IN = selector("quoteExactInputSingle((address,address,uint256,uint24,uint160))")
EXACT_OUT = selector(f"exactOutputSingle({PARAMS})")
EXACT_IN = selector(f"exactInputSingle({PARAMS})")
FEE_TIERS = (500, 3000)
SWAP_OVERHEAD_GAS = 60_000  # approvals + module + Safe on top of QuoterV2's swap estimate


class UniswapV3Venue:
    kind = VenueKind.AMM_V3
    capabilities = AMM_CAPABILITIES

    def __init__(
        self,
        rpc: RpcClient,
        manifest: Manifest,
        *,
        fee_tiers: tuple[int, ...] = FEE_TIERS,
        venue_id: str | None = None,
    ):
        self.rpc = rpc
        self.manifest = manifest
        self.router = manifest.address("SwapRouter")
        self.quoter = manifest.address("QuoterV2")
        self.fee_tiers = fee_tiers
        self.id = venue_id or f"uniswap_v3@{manifest.name}"

    async def _quote_tier(self, legs, fee: int, tag: str) -> tuple[int, int, int] | None:  # type: ignore[no-untyped-def]
        sel = QUOTE_OUT if legs.exact_out else QUOTE_IN
        data = sel + encode(
            ["(address,address,uint256,uint24,uint160)"],
            [(legs.token_in.address, legs.token_out.address, legs.amount, fee, 0)],
        )
        try:
            raw = await self.rpc.call(
                "eth_call", [{"to": self.quoter, "data": "0x" + data.hex()}, tag]
            )
        except RpcError:
            return None  # no pool at this tier, or not enough liquidity for the size
        amount, _sqrt_after, _ticks, gas = decode(
            ["uint256", "uint160", "uint32", "uint256"], bytes.fromhex(raw[2:])
        )
        return int(amount), int(gas), fee

    async def quote(
        self, instrument: Instrument, side: Side, size: Decimal, block: int | None = None
    ) -> Quote:
        """Best fee tier for the size: least paid for a buy, most received for a sell."""
        legs = resolve(self.manifest, instrument, side, size)  # type: ignore[arg-type]
        tag = hex(block) if block is not None else "latest"
        found = [
            r
            for r in await asyncio.gather(*(self._quote_tier(legs, f, tag) for f in self.fee_tiers))
            if r is not None
        ]
        if not found:
            raise NoRouteError(f"{self.id}: no V3 pool can fill {size} {instrument.symbol}")  # type: ignore[union-attr]
        pick = min(found) if legs.exact_out else max(found)
        amount, gas, fee = pick
        amount_in, amount_out = (amount, legs.amount) if legs.exact_out else (legs.amount, amount)
        return Quote(
            venue=self.id, side=side,
            asset_in=legs.token_in.symbol, asset_out=legs.token_out.symbol,
            amount_in=amount_in, amount_out=amount_out, fee_bps=fee // 100,
            gas_units=gas + SWAP_OVERHEAD_GAS, block=block,
            route=(legs.token_in.address, legs.token_out.address),
            extra=(("fee", str(fee)),),
        )  # fmt: skip

    def build_swap(
        self, quote: Quote, *, recipient: str, slippage_bps: int, deadline: int
    ) -> list[Call]:
        token_in, token_out = quote.route
        fee = int(dict(quote.extra)["fee"])
        if quote.side is Side.BUY:
            max_in = bound(quote.amount_in, slippage_bps, upper=True)
            params = (token_in, token_out, fee, recipient, deadline, quote.amount_out, max_in, 0)
            swap, allowance = EXACT_OUT + encode([PARAMS], [params]), max_in
        else:
            min_out = bound(quote.amount_out, slippage_bps, upper=False)
            params = (token_in, token_out, fee, recipient, deadline, quote.amount_in, min_out, 0)
            swap, allowance = EXACT_IN + encode([PARAMS], [params]), quote.amount_in
        return approved_swap(token_in, self.router, allowance, swap)

    async def close(self) -> None:
        return None
