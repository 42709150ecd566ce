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
from agent.routing import v3math
from agent.routing.curves import PoolCurve, V3Pool
from agent.signing.abi import encode
from agent.venues.uniswap_common import (
    AMM_CAPABILITIES,
    SwapLegs,
    approved_swap,
    block_tag,
    bound,
    resolve,
    view_calls,
)
from agent.wallet.multisend import Call

PARAMS = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
QUOTE_OUT = selector("quoteExactOutputSingle((address,address,uint256,uint24,uint160))")
QUOTE_IN = selector("quoteExactInputSingle((address,address,uint256,uint24,uint160))")
EXACT_OUT = selector(f"exactOutputSingle({PARAMS})")
EXACT_IN = selector(f"exactInputSingle({PARAMS})")
FEE_TIERS = (500, 3000)
SLOT0 = selector("slot0()")
LIQUIDITY = selector("liquidity()")
POOL_FEE = selector("fee()")
TICK_SPACING = selector("tickSpacing()")
TOKEN0 = selector("token0()")
TOKEN1 = selector("token1()")
TICK_BITMAP = selector("tickBitmap(int16)")
TICKS = selector("ticks(int24)")
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

    # --- the exact curve at a pinned block (agent.routing) ---------------------------------
    async def read_pool(
        self, pool: str, block: int | None, *, words: int | None = None
    ) -> tuple[v3math.V3State, str, str]:
        """(state, token0, token1) of ``pool`` at ``block``. See :func:`read_pool`."""
        return await read_pool(self.rpc, pool, block, words=words)

    async def curve(
        self, instrument: Instrument, side: Side, at: int | None, *, pool: str
    ) -> PoolCurve:
        """The pool's executable curve for ``side`` of ``instrument`` at block ``at``: the
        pool's own integer swap, tick by tick, on the state read at that block."""
        state, token0, _token1 = await read_pool(self.rpc, pool, at)
        base = self.manifest.token(instrument.base).address  # type: ignore[attr-defined]
        base_is_0 = base.lower() == token0.lower()
        # BUY pays quote for base: token0 goes in iff quote is token0
        zero_for_one = (not base_is_0) if side is Side.BUY else base_is_0
        return PoolCurve(V3Pool(state, zero_for_one), side)

    async def quoter_amount(
        self, instrument: Instrument, side: Side, base_amount: int, fee: int, at: int | None
    ) -> tuple[int, int] | None:
        """QuoterV2 at block ``at`` for exactly ``base_amount`` of base: (quote amount, gas
        estimate of the pool's swap), or None when it reverts. The router checks every
        curve against this before it plans on it."""
        base = self.manifest.token(instrument.base)  # type: ignore[attr-defined]
        quote = self.manifest.token(instrument.quote)  # type: ignore[attr-defined]
        if side is Side.BUY:
            legs = SwapLegs(quote, base, True, base_amount)
        else:
            legs = SwapLegs(base, quote, False, base_amount)
        r = await self._quote_tier(legs, fee, block_tag(at))
        return None if r is None else (r[0], r[1])

    async def close(self) -> None:
        return None


async def read_pool(
    rpc: RpcClient, pool: str, block: int | None, *, words: int | None = None
) -> tuple[v3math.V3State, str, str]:
    """A V3 pool's swap state at ``block``: slot0, liquidity, fee, tick spacing, and every
    initialized tick's liquidityNet found through the tick bitmap. ``words`` limits the bitmap
    words read to that many on each side of the current one (None: the whole tick range);
    a swap past them stops instead of guessing."""
    meta = await view_calls(
        rpc, [(pool, s) for s in (SLOT0, LIQUIDITY, POOL_FEE, TICK_SPACING, TOKEN0, TOKEN1)], block
    )
    sqrt_p, tick = decode(["uint160", "int24"], meta[0][:64])
    (liq,) = decode(["uint128"], meta[1])
    (fee,) = decode(["uint24"], meta[2])
    (spacing,) = decode(["int24"], meta[3])
    (t0,) = decode(["address"], meta[4])
    (t1,) = decode(["address"], meta[5])
    if sqrt_p == 0:
        raise NoRouteError(f"V3 pool {pool} is not initialized at block {block_tag(block)}")
    w_min = (v3math.MIN_TICK // spacing) >> 8
    w_max = (v3math.MAX_TICK // spacing) >> 8
    here = (tick // spacing) >> 8
    lo, hi = (
        (w_min, w_max) if words is None else (max(w_min, here - words), min(w_max, here + words))
    )
    raw = await view_calls(
        rpc, [(pool, TICK_BITMAP + encode(["int16"], [w])) for w in range(lo, hi + 1)], block
    )
    ticks = []
    for w, word in zip(range(lo, hi + 1), raw, strict=True):
        bits = int.from_bytes(word, "big")
        while bits:
            low = bits & -bits
            ticks.append((w * 256 + low.bit_length() - 1) * spacing)
            bits ^= low
    infos = await view_calls(rpc, [(pool, TICKS + encode(["int24"], [t])) for t in ticks], block)
    nets = {
        t: decode(["uint128", "int128"], info[:64])[1] for t, info in zip(ticks, infos, strict=True)
    }
    state = v3math.V3State(
        int(sqrt_p), int(tick), int(liq), int(fee), int(spacing), nets,
        word_lo=None if lo == w_min else lo, word_hi=None if hi == w_max else hi,
    )  # fmt: skip
    return state, str(t0), str(t1)
