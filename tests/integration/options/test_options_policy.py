"""The fund's signing policy (agent.policy) is evaluated on the whole batch before signing:
a policy that does not grant the options market refuses the strategy and nothing is sent; one
that grants it lets the same strategy through."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.deploy.devworld import OPERATOR_KEY, address_of
from agent.policy import load_policy
from agent.venues.options.errors import QuoteRejectedError
from agent.venues.options.events import OptionsQuoteRejected

from .options_it_helpers import snapshot

pytestmark = pytest.mark.integration

FILL = (
    "fillQuotes(((address maker,address taker,uint256 seriesId,uint8 side,uint256 price,"
    "uint256 size,uint64 expiry,uint256 nonce) quote,bytes signature,uint256 amount)[] orders)"
)


def _policy(tmp_path: Path, safe: str, market: str, grant_market: bool) -> Path:
    market_rule = (
        f'[[roles.rules]]\ntarget = "{market}"\nfunction = "{FILL}"\n' if grant_market else ""
    )
    text = f"""
version = 1
name = "options-test"
safe = "{safe}"
kill_switch = false

[sets]
spenders = ["{market}", "SwapRouter"]

[[roles]]
name = "trader"
id = 1
operators = ["{address_of(OPERATOR_KEY)}"]
multisend = true

[[roles.rules]]
target = "USDC"
function = "approve(address spender,uint256 amount)"
[roles.rules.where]
"spender" = {{ in_set = "spenders" }}
"amount" = {{ le = "1000000 USDC" }}

[[roles.rules]]
target = "WETH"
function = "approve(address spender,uint256 amount)"
[roles.rules.where]
"spender" = {{ in_set = "spenders" }}
"amount" = {{ le = "1000 WETH" }}

[[roles.rules]]
target = "SwapRouter"
function = "exactOutputSingle((address tokenIn,address tokenOut,uint24 fee,address recipient,uint256 deadline,uint256 amountOut,uint256 amountInMaximum,uint160 sqrtPriceLimitX96) params)"
[roles.rules.where]
"params.recipient" = {{ is_safe = true }}

{market_rule}"""
    p = tmp_path / "policy.toml"
    p.write_text(text)
    return p


async def test_signing_policy_gates_the_batch(options_world, executor_parts, tmp_path):
    ex, chain, journal = executor_parts
    m = options_world.manifest
    market = m.address("OptionsMarket")
    condor = options_world.condor()
    denied = load_policy(_policy(tmp_path, options_world.safe, market, False), m)
    ex.cfg.signing_policy = denied
    before = await snapshot(chain, m, options_world.safe, [])
    sent = await chain.rpc.get_transaction_count(chain.address)
    with pytest.raises(QuoteRejectedError) as e:
        await ex.run(condor)
    assert e.value.code.startswith("POLICY_")
    assert await chain.rpc.get_transaction_count(chain.address) == sent
    assert await snapshot(chain, m, options_world.safe, []) == before
    assert [
        r.event.code for r in journal.read_all() if isinstance(r.event, OptionsQuoteRejected)
    ] == [e.value.code]

    ex.cfg.signing_policy = load_policy(_policy(tmp_path, options_world.safe, market, True), m)
    result = await ex.run(condor)
    assert result.tx_hash.startswith("0x")
