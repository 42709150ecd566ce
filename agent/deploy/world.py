"""Deploy "the world" on a devnet from real artifacts: WETH9, three dev ERC-20s, Uniswap V2
(factory, Router02, seeded pairs), Uniswap V3 (factory, SwapRouter, QuoterV2,
NonfungiblePositionManager, pools at two fee tiers with liquidity over several tick ranges;
:func:`deploy_routing_liquidity` adds the third tier and more depth),
and Safe 1.4.1 (singleton, or SafeL2 on an L2; proxy factory; MultiSendCallOnly;
CompatibilityFallbackHandler). Returns a :class:`Manifest`.

Prices are realistic (ETH about 3,000 USDC, BTC about 90,000) so routing decisions and
price-impact figures look like the real thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
        pools[f"v3:{a}/{b}/{fee}"] = add_v3_pool(
            tx, c, tokens[a], tokens[b], usd[a] / usd[b], fee, ranges
        )

    block = int(tx.rpc("eth_blockNumber"), 16)
    return Manifest(
        chain_id=tx.chain_id, name=name, block=block, contracts=c, tokens=tokens, pools=pools
    )


def add_v3_pool(
    tx: Transactor,
    contracts: dict[str, str],
    a: TokenInfo,
    b: TokenInfo,
    price_ab: Fraction,
    fee: int,
    ranges: Sequence[tuple[Fraction, int | Fraction]],
) -> str:
    """Create (if needed) the V3 pool of ``a``/``b`` at ``fee`` priced ``price_ab`` (human units
    of ``b`` per ``a``) and mint one position per (half-width, usd-per-side-in-``b``) range.
    The deployer holds the tokens and has approved the position manager. Returns the pool."""
    t0, t1 = sorted((a, b), key=lambda t: int(t.address, 16))
    # raw price: token1 base units per token0 base unit
    p01 = price_ab if t0 is a else 1 / price_ab
    price = p01 * Fraction(10**t1.decimals, 10**t0.decimals)
    usd0 = price_ab if t0 is a else Fraction(1)  # in units of b per one t0
    usd1 = Fraction(1) if t1 is b else price_ab
    npm = contracts["NonfungiblePositionManager"]
    tx.transact(
        "NonfungiblePositionManager", npm, "createAndInitializePoolIfNecessary",
        t0.address, t1.address, fee, sqrt_price_x96(price),
    )  # fmt: skip
    spacing = TICK_SPACING[fee]
    for half_width, per_side in ranges:
        lo = price_to_tick(price * (1 - half_width)) // spacing * spacing
        hi = -(-price_to_tick(price * (1 + half_width)) // spacing) * spacing
        amount0 = int(Fraction(per_side) / usd0 * 10**t0.decimals)
        amount1 = int(Fraction(per_side) / usd1 * 10**t1.decimals)
        params = (
            t0.address, t1.address, fee, lo, hi, amount0, amount1, 0, 0, tx.address, DEADLINE,
        )  # fmt: skip
        tx.transact("NonfungiblePositionManager", npm, "mint", params)
    return tx.call(
        "UniswapV3Factory", contracts["UniswapV3Factory"], "getPool",
        t0.address, t1.address, fee,
    )  # fmt: skip


# --- liquidity worth routing (issue 15) -------------------------------------------------------
# On top of the base pools: every WETH/USDC fee tier with several ranges of different widths
# and depths, and a deeper V2 pair, so a large order's best plan splits across venues (a 250
# WETH buy ends with its marginal price ~40 bp over mid on V3 500 and 3000, the CEX book, the
# L2 pool and V2; the 1 % tier joins beyond ~1,000 WETH). See docs/routing.md.
ROUTING_V2 = (("WETH", "USDC", 34_000_000),)  # added to the base pair: $40M per side in all
ROUTING_V3 = (
    ("WETH", "USDC", 3000, [(Fraction(15, 1000), 1_500_000)]),
    ("WETH", "USDC", 10000, [(Fraction(20, 100), 2_000_000), (Fraction(3, 100), 1_000_000)]),
)
# The L2 pool of the bridge's tokens (BridgedWETH/BridgedUSDC), seeded with bridged inventory
L2_BRIDGED_V3 = (
    ("WETH", "USDC", 500, [(Fraction(2, 100), 500_000), (Fraction(10, 100), 1_000_000)]),
)


def _prices(manifest: Manifest) -> dict[str, Fraction]:
    usd = {t.symbol: t.usd for t in TOKENS}
    usd["WETH"] = WETH_USD
    return {s: usd[s] for s in manifest.tokens if s in usd}


def _fund(
    tx: Transactor, manifest: Manifest, need: dict[str, int], spenders: Sequence[str]
) -> None:
    """Mint/wrap what ``need`` says to the deployer and approve ``spenders`` for it."""
    c = manifest.contracts
    for sym, amount in need.items():
        t = manifest.token(sym)
        if sym == "WETH":
            bal = int(tx.rpc("eth_getBalance", tx.address, "latest"), 16)
            tx.rpc("anvil_setBalance", tx.address, hex(bal + amount))
            tx.transact("WETH9", c["WETH9"], "deposit", value=amount)
        else:
            tx.transact("DevToken", t.address, "mint", tx.address, amount)
    for sym in need:
        name_ = "WETH9" if sym == "WETH" else "DevToken"
        for spender in spenders:
            tx.transact(name_, manifest.token(sym).address, "approve", spender, MAX_UINT)


def deploy_routing_liquidity(tx: Transactor, manifest: Manifest) -> Manifest:
    """Add :data:`ROUTING_V2` and :data:`ROUTING_V3` to a deployed world (L1). Returns the
    manifest with the new pools named like the base ones (``v3:WETH/USDC/10000``)."""
    usd = _prices(manifest)
    c = manifest.contracts

    def units(sym: str, usd_amount: Fraction | int) -> int:
        return int(Fraction(usd_amount) / usd[sym] * 10 ** manifest.token(sym).decimals)

    need: dict[str, int] = {}
    for a, b, per_side in ROUTING_V2:
        need[a] = need.get(a, 0) + units(a, per_side)
        need[b] = need.get(b, 0) + units(b, per_side)
    for a, b, _fee, ranges in ROUTING_V3:
        for _w, per_side in ranges:
            need[a] = need.get(a, 0) + units(a, per_side) + 1
            need[b] = need.get(b, 0) + units(b, per_side) + 1
    # approvals from deploy_world are MAX already; _fund re-approves only what it mints for
    _fund(tx, manifest, need, ())
    pools = dict(manifest.pools)
    for a, b, per_side in ROUTING_V2:
        ta, tb = manifest.token(a), manifest.token(b)
        tx.transact(
            "UniswapV2Router02", c["UniswapV2Router02"], "addLiquidity",
            ta.address, tb.address, units(a, per_side), units(b, per_side),
            0, 0, tx.address, DEADLINE,
        )  # fmt: skip
    for a, b, fee, ranges in ROUTING_V3:
        pools[f"v3:{a}/{b}/{fee}"] = add_v3_pool(
            tx, c, manifest.token(a), manifest.token(b), usd[a] / usd[b], fee, ranges
        )
    return _with_pools(manifest, pools, int(tx.rpc("eth_blockNumber"), 16))


def _with_pools(m: Manifest, pools: dict[str, str], block: int) -> Manifest:
    return Manifest(m.chain_id, m.name, block, dict(m.contracts), dict(m.tokens), pools)
