"""Deploy "the world" on a devnet from real artifacts: WETH9, three dev ERC-20s, Uniswap V2
(factory, Router02, seeded pairs), Uniswap V3 (factory, SwapRouter, QuoterV2,
NonfungiblePositionManager, pools at two fee tiers with liquidity over several tick ranges),
and Safe 1.4.1 (singleton, or SafeL2 on an L2; proxy factory; MultiSendCallOnly;
CompatibilityFallbackHandler). Returns a :class:`Manifest`.

Prices are realistic (ETH about 3,000 USDC, BTC about 90,000) so routing decisions and
price-impact figures look like the real thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from math import isqrt

from agent.deploy.manifest import Manifest, TokenInfo
from agent.deploy.transactor import Transactor

MAX_UINT = 2**256 - 1
DEADLINE = 2**48  # far future; world seeding is not time-sensitive


@dataclass(frozen=True, slots=True)
class TokenSpec:
    symbol: str
    name: str
    decimals: int
    usd: Fraction


TOKENS = (
    TokenSpec("USDC", "USD Coin (dev)", 6, Fraction(1)),
    TokenSpec("WBTC", "Wrapped BTC (dev)", 8, Fraction(90_000)),
    TokenSpec("DAI", "Dai Stablecoin (dev)", 18, Fraction(1)),
)
WETH_USD = Fraction(3_000)

# (a, b, usd per side) V2 pairs
V2_PAIRS = (("WETH", "USDC", 6_000_000), ("WBTC", "USDC", 3_000_000), ("WETH", "DAI", 2_000_000))
# (a, b, fee, [(half-width as a fraction of price, usd per side)]) V3 pools
V3_POOLS = (
    ("WETH", "USDC", 500, [(Fraction(2, 100), 1_500_000), (Fraction(10, 100), 3_000_000)]),
    ("WETH", "USDC", 3000, [(Fraction(5, 100), 1_000_000), (Fraction(50, 100), 2_000_000)]),
    ("WBTC", "USDC", 3000, [(Fraction(10, 100), 2_000_000)]),
)
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


def sqrt_price_x96(price_raw: Fraction) -> int:
    """sqrt(token1 base units per token0 base unit) in Q64.96, exact to the integer."""
    return isqrt(price_raw.numerator * 2**192 // price_raw.denominator)


def price_to_tick(price_raw: Fraction) -> int:
    return math.floor(math.log(price_raw.numerator / price_raw.denominator) / math.log(1.0001))


def deploy_world(
    tx: Transactor,
    *,
    name: str,
    l2: bool = False,
    progress: Callable[[str], None] = lambda _m: None,
) -> Manifest:
    c: dict[str, str] = {}
    tokens: dict[str, TokenInfo] = {}
    pools: dict[str, str] = {}

    progress("tokens")
    c["WETH9"] = tx.deploy("WETH9")
    tokens["WETH"] = TokenInfo("WETH", c["WETH9"], 18)
    usd = {"WETH": WETH_USD}
    for t in TOKENS:
        addr = tx.deploy("DevToken", t.name, t.symbol, t.decimals)
        tokens[t.symbol] = TokenInfo(t.symbol, addr, t.decimals)
        c[t.symbol] = addr
        usd[t.symbol] = t.usd

    progress("uniswap v2")
    c["UniswapV2Factory"] = tx.deploy("UniswapV2Factory", tx.address)
    c["UniswapV2Router02"] = tx.deploy("UniswapV2Router02", c["UniswapV2Factory"], c["WETH9"])
    progress("uniswap v3")
    c["UniswapV3Factory"] = tx.deploy("UniswapV3Factory")
    c["SwapRouter"] = tx.deploy("SwapRouter", c["UniswapV3Factory"], c["WETH9"])
    c["QuoterV2"] = tx.deploy("QuoterV2", c["UniswapV3Factory"], c["WETH9"])
    c["NonfungiblePositionManager"] = tx.deploy(
        "NonfungiblePositionManager", c["UniswapV3Factory"], c["WETH9"], "0x" + "00" * 20
    )

    progress("safe")
    c["Safe"] = tx.deploy("SafeL2" if l2 else "Safe")
    c["SafeProxyFactory"] = tx.deploy("SafeProxyFactory")
    c["MultiSendCallOnly"] = tx.deploy("MultiSendCallOnly")
    c["CompatibilityFallbackHandler"] = tx.deploy("CompatibilityFallbackHandler")

    progress("funding liquidity")

    def units(sym: str, usd_amount: Fraction | int) -> int:
        return int(Fraction(usd_amount) / usd[sym] * 10 ** tokens[sym].decimals)

    # Budget: what all pools need, plus headroom; WETH comes from wrapping ETH.
    need: dict[str, int] = {s: 0 for s in tokens}
    for a, b, per_side in V2_PAIRS:
        need[a] += units(a, per_side)
        need[b] += units(b, per_side)
    for a, b, _fee, ranges in V3_POOLS:
        for _w, per_side in ranges:
            need[a] += units(a, per_side)
            need[b] += units(b, per_side)
    eth_needed = need["WETH"] + 10**18
    tx.rpc("anvil_setBalance", tx.address, hex(eth_needed + 10_000 * 10**18))
    tx.transact("WETH9", c["WETH9"], "deposit", value=need["WETH"])
    for t in TOKENS:
        tx.transact("DevToken", c[t.symbol], "mint", tx.address, need[t.symbol])
    for sym, info in tokens.items():
        name_ = "WETH9" if sym == "WETH" else "DevToken"
        for spender in (c["UniswapV2Router02"], c["NonfungiblePositionManager"]):
            tx.transact(name_, info.address, "approve", spender, MAX_UINT)

    progress("v2 pairs")
    for a, b, per_side in V2_PAIRS:
        tx.transact(
            "UniswapV2Router02", c["UniswapV2Router02"], "addLiquidity",
            tokens[a].address, tokens[b].address, units(a, per_side), units(b, per_side),
            0, 0, tx.address, DEADLINE,
        )  # fmt: skip
        pools[f"v2:{a}/{b}"] = tx.call(
            "UniswapV2Factory",
            c["UniswapV2Factory"],
            "getPair",
            tokens[a].address,
            tokens[b].address,
        )

    progress("v3 pools")
    for a, b, fee, ranges in V3_POOLS:
        t0, t1 = sorted((a, b), key=lambda s: int(tokens[s].address, 16))
        # raw price: token1 base units per token0 base unit
        price = (usd[t0] / usd[t1]) * Fraction(10 ** tokens[t1].decimals, 10 ** tokens[t0].decimals)
        npm = c["NonfungiblePositionManager"]
        tx.transact(
            "NonfungiblePositionManager", npm, "createAndInitializePoolIfNecessary",
            tokens[t0].address, tokens[t1].address, fee, sqrt_price_x96(price),
        )  # fmt: skip
        spacing = TICK_SPACING[fee]
        for half_width, per_side in ranges:
            lo = price_to_tick(price * (1 - half_width)) // spacing * spacing
            hi = -(-price_to_tick(price * (1 + half_width)) // spacing) * spacing
            params = (
                tokens[t0].address, tokens[t1].address, fee, lo, hi,
                units(t0, per_side), units(t1, per_side), 0, 0, tx.address, DEADLINE,
            )  # fmt: skip
            tx.transact("NonfungiblePositionManager", npm, "mint", params)
        pools[f"v3:{a}/{b}/{fee}"] = tx.call(
            "UniswapV3Factory", c["UniswapV3Factory"], "getPool",
            tokens[t0].address, tokens[t1].address, fee,
        )  # fmt: skip

    block = int(tx.rpc("eth_blockNumber"), 16)
    return Manifest(
        chain_id=tx.chain_id, name=name, block=block, contracts=c, tokens=tokens, pools=pools
    )
