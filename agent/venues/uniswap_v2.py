"""Uniswap V2 through Router02: quotes from getAmountsIn/Out, swaps executed by the Safe."""

from __future__ import annotations

from decimal import Decimal

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.errors import NoRouteError, RpcError
from agent.model import Instrument, Quote, Side, VenueKind
from agent.routing.curves import PoolCurve, V2Pair
from agent.signing.abi import encode
from agent.venues.uniswap_common import (
    AMM_CAPABILITIES,
    approved_swap,
    bound,
    pools_for,
    resolve,
    view_calls,
)
from agent.wallet.multisend import Call

GET_AMOUNTS_IN = selector("getAmountsIn(uint256,address[])")
GET_AMOUNTS_OUT = selector("getAmountsOut(uint256,address[])")
SWAP_EXACT_IN = selector("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)")
SWAP_EXACT_OUT = selector("swapTokensForExactTokens(uint256,uint256,address[],address,uint256)")
GET_RESERVES = selector("getReserves()")
TOKEN0 = selector("token0()")
FEE_BPS = 30
FEE_PIPS = FEE_BPS * 100
SWAP_GAS = 130_000  # Router02 single-hop swap incl. approvals, measured on the devnet


class UniswapV2Venue:
    kind = VenueKind.AMM_V2
    capabilities = AMM_CAPABILITIES

    def __init__(self, rpc: RpcClient, manifest: Manifest, *, venue_id: str | None = None):
        self.rpc = rpc
        self.manifest = manifest
        self.router = manifest.address("UniswapV2Router02")
        self.id = venue_id or f"uniswap_v2@{manifest.name}"

    async def quote(
        self, instrument: Instrument, side: Side, size: Decimal, block: int | None = None
    ) -> Quote:
        legs = resolve(self.manifest, instrument, side, size)  # type: ignore[arg-type]
        path = [legs.token_in.address, legs.token_out.address]
        sel = GET_AMOUNTS_IN if legs.exact_out else GET_AMOUNTS_OUT
        data = sel + encode(["uint256", "address[]"], [legs.amount, path])
        tag = hex(block) if block is not None else "latest"
        try:
            raw = await self.rpc.call(
                "eth_call", [{"to": self.router, "data": "0x" + data.hex()}, tag]
            )
        except RpcError as e:  # the router reverts when the pair cannot fill the size
            if "revert" not in str(e).lower():
                raise
            raise NoRouteError(
                f"{self.id}: the V2 pair cannot fill {size} {instrument.symbol}: {e.message}"
            ) from e  # type: ignore[union-attr]
        (amounts,) = decode(["uint256[]"], bytes.fromhex(raw[2:]))
        amount_in, amount_out = int(amounts[0]), int(amounts[-1])
        return Quote(
            venue=self.id, side=side,
            asset_in=legs.token_in.symbol, asset_out=legs.token_out.symbol,
            amount_in=amount_in, amount_out=amount_out, fee_bps=FEE_BPS, gas_units=SWAP_GAS,
            block=block, route=tuple(path),
        )  # fmt: skip

    def build_swap(
        self, quote: Quote, *, recipient: str, slippage_bps: int, deadline: int
    ) -> list[Call]:
        """approve -> swap (recipient = the Safe) -> approve(0), as one all-or-nothing batch."""
        path = list(quote.route)
        token_in = path[0]
        if quote.side is Side.BUY:
            max_in = bound(quote.amount_in, slippage_bps, upper=True)
            swap = SWAP_EXACT_OUT + encode(
                ["uint256", "uint256", "address[]", "address", "uint256"],
                [quote.amount_out, max_in, path, recipient, deadline],
            )
            allowance = max_in
        else:
            min_out = bound(quote.amount_out, slippage_bps, upper=False)
            swap = SWAP_EXACT_IN + encode(
                ["uint256", "uint256", "address[]", "address", "uint256"],
                [quote.amount_in, min_out, path, recipient, deadline],
            )
            allowance = quote.amount_in
        return approved_swap(token_in, self.router, allowance, swap)

    # --- the exact curve at a pinned block (agent.routing) ---------------------------------
    def pair_for(self, instrument: Instrument) -> str:
        """The manifest's V2 pair of ``instrument`` (the one Router02's single-hop path uses)."""
        found = pools_for(self.manifest, "v2", instrument.base, instrument.quote)  # type: ignore[attr-defined]
        if not found:
            raise NoRouteError(f"{self.id}: the manifest lists no V2 pair for {instrument.symbol}")
        return found[0][1]

    async def curve(
        self, instrument: Instrument, side: Side, at: int | None, *, pair: str | None = None
    ) -> PoolCurve:
        """The pair's curve at block ``at``: getAmountIn/Out's closed form on the reserves
        read at that block (exactly Router02's numbers for the same block)."""
        pair = pair or self.pair_for(instrument)
        raw_res, raw_t0 = await view_calls(self.rpc, [(pair, GET_RESERVES), (pair, TOKEN0)], at)
        r0, r1, _ts = decode(["uint112", "uint112", "uint32"], raw_res)
        (token0,) = decode(["address"], raw_t0)
        base = self.manifest.token(instrument.base).address  # type: ignore[attr-defined]
        r_base, r_quote = (r0, r1) if base.lower() == str(token0).lower() else (r1, r0)
        if side is Side.BUY:  # quote in, base out
            return PoolCurve(V2Pair(int(r_quote), int(r_base), FEE_PIPS), side)
        return PoolCurve(V2Pair(int(r_base), int(r_quote), FEE_PIPS), side)

    async def close(self) -> None:
        return None
