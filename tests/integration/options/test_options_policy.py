"""The fund's signing policy (agent.policy) is evaluated on the whole batch before signing:
the Safe's own policy without its options-market grants refuses the strategy and nothing is
sent; the policy as installed lets the same strategy through."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.deploy.devworld import OPERATOR_KEY, address_of
from agent.policy import Policy, load_policy
from agent.policy.install import bind
from agent.venues.options.errors import QuoteRejectedError
from agent.venues.options.events import OptionsQuoteRejected
from agent.wallet.deploy import default_policy_template
from agent.wallet.safe_tx import ZERO

from .options_it_helpers import snapshot

pytestmark = pytest.mark.integration


def _bound_policy(tmp_path: Path, ow) -> Policy:  # type: ignore[no-untyped-def]
    """The dev world's policy bound to this Safe and module: the document the module enforces."""
    m = ow.manifest
    text = bind(
        default_policy_template(m).read_text(),
        {"SAFE": ow.safe, "MODULE": ow.module, "OPERATOR": address_of(OPERATOR_KEY),
         "GUARDIAN": ZERO, "BRIDGE_RECIPIENT": ow.safe},
    )  # fmt: skip
    p = tmp_path / "policy.toml"
    p.write_text(text)
    policy = load_policy(p, m)
    # The multileg executor gives the evaluator no reference prices, so the off-chain
    # slippage bound (the hedge's swap) is left to the executor's own limits here.
    roles = {i: replace(r, max_slippage_bps=None) for i, r in policy.roles.items()}
    return replace(policy, roles=roles)


async def test_signing_policy_gates_the_batch(options_world, executor_parts, tmp_path):
    ex, chain, journal = executor_parts
    m = options_world.manifest
    market = m.address("OptionsMarket").lower()
    condor = options_world.condor()
    granted = _bound_policy(tmp_path, options_world)
    # the same policy without its OptionsMarket grants
    denied = replace(granted, rules={k: r for k, r in granted.rules.items() if k[1] != market})
    assert len(denied.rules) < len(granted.rules)
    ex.cfg.signing_policy = denied
    before = await snapshot(chain, m, options_world.safe, [])
    sent = await chain.rpc.get_transaction_count(chain.address)
    with pytest.raises(QuoteRejectedError) as e:
        await ex.run(condor)
    assert e.value.code == "POLICY_FUNCTION_NOT_ALLOWED" and "OptionsMarket" in str(e.value)
    assert await chain.rpc.get_transaction_count(chain.address) == sent
    assert await snapshot(chain, m, options_world.safe, []) == before
    assert [
        r.event.code for r in journal.read_all() if isinstance(r.event, OptionsQuoteRejected)
    ] == [e.value.code]

    ex.cfg.signing_policy = granted
    result = await ex.run(condor)
    assert result.tx_hash.startswith("0x")
