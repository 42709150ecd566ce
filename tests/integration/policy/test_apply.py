"""`apply` end to end on anvil: read back, diff, one Safe tx signed by 2 of 3 owners."""

from __future__ import annotations

import pytest

from agent.deploy.devworld import OWNER_KEYS
from agent.errors import UnsafePayloadError
from agent.policy import compile_policy, load_policy
from agent.policy.apply import plan_apply, sign_as_owner
from agent.policy.install import apply_with_keys

from .conftest import PolicyEnv

pytestmark = pytest.mark.integration


def test_applied_policy_reads_back_identical(policy_env: PolicyEnv) -> None:
    current = policy_env.reader.config()
    assert current == compile_policy(policy_env.policy)
    plan = plan_apply(policy_env.policy, policy_env.rpc_url)
    assert plan.changes == [] and plan.safe_tx is None


def test_edit_diff_apply_roundtrip(policy_env: PolicyEnv, l1_isolated: None) -> None:
    text = policy_env.policy_path.read_text()
    edited = policy_env.policy_path.with_name("edited.toml")
    # drop the V2 rule and tighten the exactInput cap
    start = text.index('[[roles.rules]]\ntarget = "UniswapV2Router02"')
    end = text.index("[[roles.rules]]", start + 10)
    edited.write_text((text[:start] + text[end:]).replace('le = "20000 USDC"', 'le = "10000 USDC"'))
    new = load_policy(edited, policy_env.world.l1)
    plan = plan_apply(new, policy_env.rpc_url)
    assert sorted(c.kind for c in plan.changes) == ["-", "~"], [c.text for c in plan.changes]
    assert any("0x38ed1739" in c.text for c in plan.changes if c.kind == "-")
    assert apply_with_keys(new, policy_env.deployer, OWNER_KEYS, 2) == 2
    assert policy_env.reader.config() == compile_policy(new)
    assert plan_apply(new, policy_env.rpc_url).safe_tx is None


def test_displayed_fields_that_differ_from_the_signed_hash_are_refused(
    policy_env: PolicyEnv, l1_isolated: None
) -> None:
    """An owner is shown one Safe tx but asked to sign another's hash: refused before signing."""
    text = policy_env.policy_path.read_text().replace('amount = "50000"', 'amount = "60000"')
    p = policy_env.policy_path.with_name("bigger.toml")
    p.write_text(text)
    plan = plan_apply(load_policy(p, policy_env.world.l1), policy_env.rpc_url)
    assert plan.safe_tx is not None
    from dataclasses import replace

    shown = plan.safe_tx
    tampered = replace(shown, data=shown.data[:-1] + bytes([shown.data[-1] ^ 1]))
    with pytest.raises(UnsafePayloadError, match="refusing to sign"):
        sign_as_owner(tampered, OWNER_KEYS[0], displayed_hash=shown.hash())
    owner, sig = sign_as_owner(shown, OWNER_KEYS[0], displayed_hash=shown.hash())
    assert len(sig) == 65 and owner
