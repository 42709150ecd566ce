"""The fund's signing policy gates the multi-leg batch in the module executor, before signing
(the same PolicyGuard as every other Safe module call, with the WETH oracle as the reference
price): the Safe's own policy without its options-market grants refuses the strategy, a hedge
whose limit is further from the oracle than the policy's slippage bound is refused, and in
both cases nothing is sent and the refusal is journaled; the policy as installed lets the
same strategy and its hedge through."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from agent.algos.multileg import HedgeSpec
from agent.errors import PolicyDeniedError
from agent.policy import load_policy
from agent.policy.guard import PolicyGuard
from agent.venues.options.events import MultilegExecuted, MultilegFailed

from .options_it_helpers import snapshot

pytestmark = pytest.mark.integration


async def _refused(ex, chain, journal, ow, strategy, code: str) -> PolicyDeniedError:  # type: ignore[no-untyped-def]
    before = await snapshot(chain, ow.manifest, ow.safe, [])
    sent = await chain.rpc.get_transaction_count(chain.address)
    with pytest.raises(PolicyDeniedError) as e:
        await ex.run(strategy)
    assert e.value.code == code, e.value
    assert await chain.rpc.get_transaction_count(chain.address) == sent  # nothing signed
    assert await snapshot(chain, ow.manifest, ow.safe, []) == before
    failed = [r.event for r in journal.read_all() if isinstance(r.event, MultilegFailed)]
    assert failed[-1].code == code and "nothing was sent" in failed[-1].reason
    return e.value


async def test_signing_policy_gates_the_batch(options_world, executor_parts):
    ex, chain, journal = executor_parts
    ow = options_world
    guard = ex.executor.guard
    assert isinstance(guard, PolicyGuard) and guard.role.max_slippage_bps == 200
    assert guard.prices.source("WETH").startswith("oracle PriceFeedWETH")
    market = ow.manifest.address("OptionsMarket").lower()
    policy = load_policy(ow.policy_file, ow.manifest)

    # the same policy without its OptionsMarket grants
    denied = replace(policy, rules={k: r for k, r in policy.rules.items() if k[1] != market})
    assert len(denied.rules) < len(policy.rules)
    ex.executor.guard = PolicyGuard(
        denied, operator=chain.address, safe=ow.safe, chain_id=ow.manifest.chain_id,
        prices=guard.prices,
    )  # fmt: skip
    err = await _refused(ex, chain, journal, ow, ow.condor(), "POLICY_FUNCTION_NOT_ALLOWED")
    assert "OptionsMarket" in str(err)

    # the installed policy, but a hedge limit 400 bps from the oracle (the policy: 150)
    ex.executor.guard = guard
    ex.cfg.hedge = HedgeSpec(fee=500, slippage_bps=400)
    # (the policy's SwapPriceChecker mirror, against the oracles: the module would refuse it too)
    err = await _refused(
        ex, chain, journal, ow, ow.condor(Decimal(2)), "POLICY_PRICE_OUT_OF_BOUNDS"
    )
    assert "oracle price" in err.reason

    # as installed, with the hedge 100 bps from the oracle: every leg and the hedge, one tx
    ex.cfg.hedge = HedgeSpec(fee=500, slippage_bps=100)
    result = await ex.run(ow.condor(Decimal(2)))
    assert result.hedge is not None and result.tx_hash.startswith("0x")
    done = [r.event for r in journal.read_all() if isinstance(r.event, MultilegExecuted)]
    assert [d.tx_hash for d in done] == [result.tx_hash]
