"""The contracts every chain's PolicyModule needs besides itself: a USD feed for each token
of the world (``PriceFeed<SYMBOL>``, DevPriceFeed, 8 decimals: the options deployment already
made WETH's and WBTC's on L1; USDC and DAI are pegged at 1.00) and the three stateless
checkers the module staticcalls (SwapPriceChecker, OptionsFillChecker, BridgeDepositChecker),
deployed once per chain. Returns {name: address} for ``manifest.with_contracts(**names)``.
"""

from __future__ import annotations

from decimal import Decimal

from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.deploy.world import TOKENS, WETH_USD

FEED_DECIMALS = 8
CHECKERS = ("SwapPriceChecker", "OptionsFillChecker", "BridgeDepositChecker")
USD_PRICES: dict[str, Decimal] = {
    "WETH": Decimal(int(WETH_USD)),
    **{t.symbol: Decimal(t.usd.numerator) / t.usd.denominator for t in TOKENS},
}


def deploy_policy_contracts(tx: Transactor, manifest: Manifest) -> dict[str, str]:
    """Deploy what ``manifest`` lacks of the feeds and checkers (idempotent by name)."""
    out: dict[str, str] = {}
    for sym in sorted(manifest.tokens):
        name = f"PriceFeed{sym}"
        if name in manifest.contracts or sym not in USD_PRICES:
            continue
        answer = int(USD_PRICES[sym].scaleb(FEED_DECIMALS))
        out[name] = tx.deploy(
            "DevPriceFeed", FEED_DECIMALS, f"{sym} / USD", answer, tx.address,
            description=f"deploy {name}",
        )  # fmt: skip
    for name in CHECKERS:
        if name not in manifest.contracts:
            out[name] = tx.deploy(name)
    return out
