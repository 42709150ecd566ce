"""Attack cases from the issue, each refused off-chain by the evaluator AND on-chain by the
module in a mined transaction (status 0, PolicyViolation status checked via eth_call)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as fsel

from agent.chain.devnet import rpc_call
from agent.deploy.devworld import GUARDIAN_KEY, OPERATOR_KEY
from agent.policy import PolicyCall, PolicyContext, evaluate
from agent.policy.model import Status
from agent.policy.onchain import decode_violation, execute_calldata

from .conftest import PolicyEnv

pytestmark = pytest.mark.integration

EIS = fsel("exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))")
EI = fsel("exactInput((bytes,address,uint256,uint256,uint256))")


def mined(env: PolicyEnv, key: str, to: str, data: bytes) -> int:
    """Send a real transaction with a fixed gas limit (no estimation), return receipt status."""
    acct = Account.from_key(key)
    nonce = int(rpc_call(env.rpc_url, "eth_getTransactionCount", [acct.address, "pending"]), 16)
    signed = acct.sign_transaction({
        "type": 2, "chainId": env.policy.chain_id, "nonce": nonce, "to": to, "value": 0, "data": data,
        "gas": 3_000_000, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 100 * 10**9,
    })  # fmt: skip
    h = rpc_call(env.rpc_url, "eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
    return int(env.operator.wait(h)["status"], 16)  # waits on the receipt, with a timeout


def refused_both(env: PolicyEnv, call: PolicyCall, status: Status, now: int | None = None) -> None:
    ctx = PolicyContext(
        operator=env.operator.address,
        chain_id=env.policy.chain_id,
        now=now or env.latest_timestamp(),
        allowances=env.reader.allowance_states(),
        paused=env.reader.paused(),
    )
    off = evaluate(env.policy, call, ctx)
    assert not off.allowed and off.code == status.code, off
    assert off.reason and off.rule
    v = decode_violation(env.onchain(call.to, call.value, call.data, call.operation))
    assert v is not None and v[0] == status
    assert (
        mined(
            env,
            OPERATOR_KEY,
            env.module,
            execute_calldata(call.to, call.value, call.data, call.operation),
        )
        == 0
    )


def swap(
    env: PolicyEnv, amount: int, recipient: str | None = None, token_out: str = "WETH"
) -> PolicyCall:
    m = env.world.l1
    args = (
        m.token("USDC").address,
        m.token(token_out).address,
        500,
        recipient or env.safe,
        2**40,
        amount,
        1,
        0,
    )
    return PolicyCall(
        m.address("SwapRouter"),
        EIS + encode(["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], [args]),
    )


def test_delegatecall_to_anything_but_multisend(policy_env: PolicyEnv, l1_isolated: None) -> None:
    call = PolicyCall(policy_env.world.l1.address("SwapRouter"), swap(policy_env, 10**6).data, 0, 1)
    refused_both(policy_env, call, Status.DELEGATECALL_NOT_ALLOWED)


def test_approve_to_a_spender_not_allowed(policy_env: PolicyEnv, l1_isolated: None) -> None:
    usdc = policy_env.world.l1.token("USDC").address
    call = PolicyCall(
        usdc,
        fsel("approve(address,uint256)")
        + encode(["address", "uint256"], [policy_env.operator.address, 10**6]),
    )
    refused_both(policy_env, call, Status.PARAM_NOT_IN_SET)


def test_swap_whose_recipient_is_not_the_safe(policy_env: PolicyEnv, l1_isolated: None) -> None:
    refused_both(
        policy_env,
        swap(policy_env, 10**6, recipient=policy_env.operator.address),
        Status.PARAM_NOT_SAFE,
    )


def test_token_not_in_set_inside_a_multi_hop_path(policy_env: PolicyEnv, l1_isolated: None) -> None:
    m = policy_env.world.l1
    fee = (500).to_bytes(3, "big")
    path = (
        bytes.fromhex(m.token("USDC").address[2:])
        + fee
        + bytes.fromhex(m.token("DAI").address[2:])
        + fee
        + bytes.fromhex(m.token("WETH").address[2:])
    )
    call = PolicyCall(
        m.address("SwapRouter"),
        EI
        + encode(
            ["(bytes,address,uint256,uint256,uint256)"], [(path, policy_env.safe, 2**40, 10**6, 0)]
        ),
    )
    refused_both(policy_env, call, Status.PATH_NOT_IN_SET)


def test_allowance_exhausted_then_available_after_the_refill_period(
    policy_env: PolicyEnv, l1_isolated: None
) -> None:
    env = policy_env
    aid = next(a.id for a in env.policy.allowances.values() if a.name == "usdc-daily")
    left = env.reader.allowance_states()[aid]

    def ctx(now: int) -> PolicyContext:
        return PolicyContext(
            operator=env.operator.address,
            chain_id=env.policy.chain_id,
            now=now,
            allowances=env.reader.allowance_states(),
        )

    # spend the rest with a real swap through the module
    spend = swap(env, left.balance)
    assert evaluate(env.policy, spend, ctx(env.latest_timestamp())).allowed
    assert mined(env, OPERATOR_KEY, env.module, execute_calldata(spend.to, 0, spend.data)) == 1
    assert env.reader.allowance_states()[aid].balance == 0
    refused_both(env, swap(env, 1), Status.ALLOWANCE_EXCEEDED)
    # a full period later the window has refilled: allowed off-chain, executed on-chain
    rpc_call(env.rpc_url, "evm_increaseTime", [left.period])
    rpc_call(env.rpc_url, "evm_mine", [])
    again = swap(env, 1000 * 10**6)
    assert evaluate(env.policy, again, ctx(env.latest_timestamp() + 1)).allowed
    assert mined(env, OPERATOR_KEY, env.module, execute_calldata(again.to, 0, again.data)) == 1


def test_refill_boundary_exact(policy_env: PolicyEnv, l1_isolated: None) -> None:
    env = policy_env
    aid = next(a.id for a in env.policy.allowances.values() if a.name == "usdc-daily")
    left = env.reader.allowance_states()[aid]
    spend = swap(env, left.balance)
    assert mined(env, OPERATOR_KEY, env.module, execute_calldata(spend.to, 0, spend.data)) == 1
    boundary = left.last_refill + left.period
    again = swap(env, 1000 * 10**6)
    # one second before the boundary: still exhausted, off-chain and in a mined tx
    rpc_call(env.rpc_url, "evm_setNextBlockTimestamp", [boundary - 1])
    off = evaluate(
        env.policy,
        again,
        PolicyContext(
            operator=env.operator.address,
            chain_id=env.policy.chain_id,
            now=boundary - 1,
            allowances=env.reader.allowance_states(),
        ),
    )
    assert off.code == Status.ALLOWANCE_EXCEEDED.code
    assert mined(env, OPERATOR_KEY, env.module, execute_calldata(again.to, 0, again.data)) == 0
    # at the boundary: refilled, allowed off-chain and executed on-chain
    rpc_call(env.rpc_url, "evm_setNextBlockTimestamp", [boundary])
    off = evaluate(
        env.policy,
        again,
        PolicyContext(
            operator=env.operator.address,
            chain_id=env.policy.chain_id,
            now=boundary,
            allowances=env.reader.allowance_states(),
        ),
    )
    assert off.allowed, off
    assert mined(env, OPERATOR_KEY, env.module, execute_calldata(again.to, 0, again.data)) == 1
    st = env.reader.allowance_states()[aid]
    assert (st.balance, st.last_refill) == (st.cap - 1000 * 10**6, boundary)


@pytest.mark.parametrize("sig,args,types", [
    ("enableModule(address)", ["op"], ["address"]),
    ("addOwnerWithThreshold(address,uint256)", ["op", 1], ["address", "uint256"]),
    ("swapOwner(address,address,address)", ["0x0000000000000000000000000000000000000001", "op", "op"], ["address", "address", "address"]),
])  # fmt: skip
def test_operator_cannot_enable_modules_or_change_owners(
    policy_env: PolicyEnv, l1_isolated: None, sig: str, args: list, types: list[str]
) -> None:
    args = [policy_env.operator.address if a == "op" else a for a in args]
    refused_both(
        policy_env,
        PolicyCall(policy_env.safe, fsel(sig) + encode(types, args)),
        Status.FUNCTION_NOT_ALLOWED,
    )


def test_guardian_kill_switch(policy_env: PolicyEnv, l1_isolated: None) -> None:
    assert mined(policy_env, GUARDIAN_KEY, policy_env.module, fsel("pause()")) == 1
    refused_both(policy_env, swap(policy_env, 10**6), Status.PAUSED)
    # the guardian cannot unpause; only the Safe can
    assert mined(policy_env, GUARDIAN_KEY, policy_env.module, fsel("unpause()")) == 0
