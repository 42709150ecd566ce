"""A dev Safe with the dev L1 policy (what `scripts/demo` installs: oracles, price bounds,
options bounds, value guard) on the session world, and helpers that judge one execution both
ways: the off-chain evaluator with the context the guard reads from the chain
(agent.policy.onchain.ChainState), and the module in an eth_call and in a mined transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as fsel

from agent.chain.devnet import rpc_call
from agent.chain.rpc import RpcClient
from agent.deploy.devworld import DEPLOYER_KEY, OPERATOR_KEY, DevWorld, deploy_dev_wallet
from agent.deploy.transactor import Transactor
from agent.errors import RpcError
from agent.model.decisions import Decision
from agent.policy import PolicyCall, PolicyContext, evaluate, load_policy
from agent.policy.model import Policy, Status
from agent.policy.onchain import ChainState, ModuleReader, decode_violation, execute_calldata
from agent.wallet.multisend import Call, multisend_calldata


@dataclass
class DevEnv:
    world: DevWorld
    rpc_url: str
    safe: str
    module: str
    policy: Policy
    operator: Transactor

    @property
    def deployer(self) -> Transactor:
        """A fresh one each time: a test's snapshot revert rewinds the account's nonce."""
        return Transactor(self.rpc_url, DEPLOYER_KEY)

    @property
    def m(self):  # type: ignore[no-untyped-def]
        return self.world.l1

    def now(self) -> int:
        b = rpc_call(self.rpc_url, "eth_getBlockByNumber", ["latest", False])
        return int(b["timestamp"], 16)

    def context(
        self, calls: Sequence[PolicyCall], deltas: Mapping[str, int] | None = None
    ) -> PolicyContext:
        """What the guard reads before signing, at the next block's time."""

        async def read() -> dict[str, Any]:
            async with RpcClient(self.rpc_url) as rpc:
                return await ChainState(rpc, self.policy).read(list(calls))

        view = asyncio.run(read())
        reader = ModuleReader(self.rpc_url, self.module)
        return PolicyContext(
            operator=self.operator.address, chain_id=self.policy.chain_id, now=self.now() + 1,
            allowances=reader.allowance_states(), paused=reader.paused(), deltas=deltas, **view,
        )  # fmt: skip

    def offchain(
        self, calls: Sequence[PolicyCall], deltas: Mapping[str, int] | None = None
    ) -> Decision:
        subject: Any = calls[0] if len(calls) == 1 else list(calls)
        return evaluate(self.policy, subject, self.context(calls, deltas))

    def module_call(self, calls: Sequence[PolicyCall]) -> bytes:
        if len(calls) == 1:
            c = calls[0]
            return execute_calldata(c.to, c.value, c.data, 0)
        ms = multisend_calldata([Call(c.to, c.data, c.value) for c in calls])
        return execute_calldata(self.m.address("MultiSendCallOnly"), 0, ms, 1)

    def onchain(self, calls: Sequence[PolicyCall]) -> Status | None:
        """None when module.execute would succeed, else the PolicyViolation status."""
        call = {"from": self.operator.address, "to": self.module,
                "data": "0x" + self.module_call(calls).hex()}  # fmt: skip
        try:
            rpc_call(self.rpc_url, "eth_call", [call, "latest"])
            return None
        except RpcError as e:
            d = e.data
            raw = d if isinstance(d, str) else (d or {}).get("data") if isinstance(d, dict) else ""
            v = decode_violation(raw)
            assert v is not None, f"revert without PolicyViolation: {raw!r}"
            return v[0]

    def mined(self, calls: Sequence[PolicyCall]) -> int:
        """Send module.execute as a real transaction (fixed gas, no estimation): status."""
        acct = Account.from_key(OPERATOR_KEY)
        nonce = int(
            rpc_call(self.rpc_url, "eth_getTransactionCount", [acct.address, "pending"]), 16
        )
        signed = acct.sign_transaction({
            "type": 2, "chainId": self.policy.chain_id, "nonce": nonce, "to": self.module,
            "value": 0, "data": self.module_call(calls), "gas": 5_000_000,
            "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 100 * 10**9,
        })  # fmt: skip
        h = rpc_call(self.rpc_url, "eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
        return int(self.operator.wait(h)["status"], 16)

    def refused_both(
        self, calls: Sequence[PolicyCall], status: Status, deltas: Mapping[str, int] | None = None
    ) -> Decision:
        off = self.offchain(calls, deltas)
        assert not off.allowed and off.code == status.code, off
        assert off.reason and off.rule
        assert self.onchain(calls) == status
        assert self.mined(calls) == 0
        return off

    def balance(self, token: str, who: str | None = None) -> int:
        data = fsel("balanceOf(address)") + encode(["address"], [who or self.safe])
        raw = rpc_call(
            self.rpc_url, "eth_call", [{"to": token, "data": "0x" + data.hex()}, "latest"]
        )
        return int(raw, 16)


def make_dev_env(world: DevWorld, salt: int, usdc: Decimal) -> DevEnv:
    url = world.devnets.l1.rpc_url
    w = deploy_dev_wallet(world, salt=salt, usdc=usdc)
    policy = load_policy(w.policy_file, world.l1)
    return DevEnv(world, url, w.safe, w.module, policy, Transactor(url, OPERATOR_KEY))


def approve(token: str, spender: str, amount: int) -> PolicyCall:
    return PolicyCall(
        token, fsel("approve(address,uint256)") + encode(["address", "uint256"], [spender, amount])
    )


def with_deltas(ctx: PolicyContext, deltas: Mapping[str, int]) -> PolicyContext:
    return replace(ctx, deltas=deltas)
