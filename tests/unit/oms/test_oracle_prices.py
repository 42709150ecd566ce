"""The guard's reference prices prefer the manifest's oracles: a symbol with a feed is priced
by it (never by the fallback, even when the feed has no usable answer); the fallback prices
only symbols without a feed. The fake RPC answers eth_call like a Chainlink-style feed."""

from __future__ import annotations

from decimal import Decimal

from eth_abi import encode

from agent.deploy.manifest import Manifest
from agent.execution.risk import QuotePrices
from agent.policy.prices import DECIMALS, LATEST_ROUND, OraclePrices, feed_prices

FEED = "0x" + "fe" * 20


class FeedRpc:
    """eth_call on FEED: decimals() = 8, latestRoundData().answer = ``answer``."""

    def __init__(self, answer: int) -> None:
        self.answer = answer
        self.calls = 0

    async def call(self, method: str, params: list) -> str:
        assert method == "eth_call" and params[0]["to"] == FEED
        self.calls += 1
        sel = bytes.fromhex(params[0]["data"][2:10])
        if sel == DECIMALS:
            return "0x" + encode(["uint8"], [8]).hex()
        assert sel == LATEST_ROUND
        out = encode(
            ["uint80", "int256", "uint256", "uint256", "uint80"], [1, self.answer, 0, 0, 1]
        )
        return "0x" + out.hex()


def manifest() -> Manifest:
    return Manifest(1, "t", 0, contracts={"PriceFeedWETH": FEED})


def quotes(weth: str) -> QuotePrices:
    q = QuotePrices()
    q.observe("WETH", "USDC", Decimal(weth))
    q.observe("WBTC", "USDC", Decimal(90_000))
    return q


async def test_the_feed_wins_over_the_quotes_and_the_fallback_prices_the_rest() -> None:
    rpc = FeedRpc(2500 * 10**8)
    p = OraclePrices(rpc, manifest(), fallback=quotes("3000"))
    assert await p("WETH", "USD") == 2500  # the oracle, not the quotes' 3000
    assert await p("USDC", "USD") == 1  # no feed: the fallback's stablecoin
    assert await p("WBTC", "USD") == 90_000  # no feed: the quote median
    assert await p("WETH", "USDC") == 2500
    assert p.source("WETH") == f"oracle PriceFeedWETH at {FEED}"
    assert (p.source("WBTC"), p.source("USD")) == ("fallback", "fixed")
    rpc.answer = 2600 * 10**8
    assert await p("WETH", "USD") == 2600  # read at each call


async def test_a_feed_without_a_usable_answer_does_not_fall_back() -> None:
    p = OraclePrices(FeedRpc(0), manifest(), fallback=quotes("3000"))
    assert await p("WETH", "USD") is None  # the guard then denies: fail closed


async def test_without_a_fallback_only_feeds_and_fixed_prices() -> None:
    p = feed_prices(FeedRpc(3000 * 10**8), manifest(), {"USDC": 1})
    assert await p("WETH", "USDC") == 3000
    assert await p("WBTC", "USD") is None
    assert OraclePrices(FeedRpc(1), manifest()).source("DAI") == "none"
