"""Differential test: for >= 1,000 generated calls around every on-chain rule's edges, the
off-chain evaluator's decision equals the module's outcome on anvil (eth_call of
module.execute from the caller: executed, or reverted with PolicyViolation(status)); when both
deny, the Deny code is the module's status."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as fsel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.deploy.devworld import address_of
from agent.policy import PolicyCall, PolicyContext, evaluate
from agent.policy.model import Status
from agent.policy.onchain import decode_violation
from agent.wallet.multisend import multisend_calldata

from .conftest import CEX, PAYEE, PolicyEnv

pytestmark = pytest.mark.integration

EXAMPLES = 1100
EIS = fsel("exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))")
EI = fsel("exactInput((bytes,address,uint256,uint256,uint256))")
V2 = fsel("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)")
APPROVE = fsel("approve(address,uint256)")
TRANSFER = fsel("transfer(address,uint256)")
DEADLINE = 2**40


def edges(limit: int) -> st.SearchStrategy[int]:
    """Values at and around a limit, plus the odd one anywhere up to twice it."""
    return st.one_of(
        st.sampled_from([0, 1, max(limit - 1, 0), limit, limit + 1, 2 * limit]),
        st.integers(0, 2 * limit + 1),
    )


class Gen:
    def __init__(self, env: PolicyEnv):
        m = env.world.l1
        self.env = env
        self.t = {s: m.token(s).address for s in ("USDC", "WETH", "WBTC", "DAI")}
        self.router, self.v2r = m.address("SwapRouter"), m.address("UniswapV2Router02")
        self.ms = m.address("MultiSendCallOnly")
        self.safe, self.module = env.safe, env.module
        al = {a.name: a for a in env.policy.allowances.values()}
        st_ = env.reader.allowance_states()
        self.usdc_left = st_[al["usdc-daily"].id].balance
        self.weth_left = st_[al["weth-daily"].id].balance
        rnd = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
        self.rnd = rnd
        self.recipient = st.one_of(
            st.just(self.safe),
            st.just(self.safe),
            st.just(self.safe),
            rnd,
            st.just(env.operator.address),
        )
        self.token = st.one_of(st.sampled_from(list(self.t.values())), rnd)

    def eis(self) -> st.SearchStrategy[PolicyCall]:
        return st.builds(
            lambda ti, to, fee, r, amt, mo: PolicyCall(
                self.router,
                EIS
                + encode(
                    ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
                    [(ti, to, fee, r, DEADLINE, amt, mo, 0)],
                ),
            ),
            st.one_of(st.just(self.t["USDC"]), st.just(self.t["USDC"]), self.token),
            st.one_of(st.sampled_from([self.t["WETH"], self.t["WBTC"]]), self.token),
            st.sampled_from([500, 3000, 500, 3000, 100, 10000]),
            self.recipient,
            edges(self.usdc_left),
            st.sampled_from([0, 1, 1, 2]),
        )

    def ei(self) -> st.SearchStrategy[PolicyCall]:
        def path(tokens: list[str], fee: int) -> bytes:
            out = b""
            for i, t in enumerate(tokens):
                out += bytes.fromhex(t[2:]) + (
                    fee.to_bytes(3, "big") if i < len(tokens) - 1 else b""
                )
            return out

        return st.builds(
            lambda toks, fee, r, amt: PolicyCall(
                self.router,
                EI
                + encode(
                    ["(bytes,address,uint256,uint256,uint256)"],
                    [(path(toks, fee), r, DEADLINE, amt, 0)],
                ),
            ),
            st.one_of(
                st.just([self.t["USDC"], self.t["WETH"]]),
                st.lists(self.token, min_size=1, max_size=3),
            ),
            st.sampled_from([500, 3000]),
            self.recipient,
            edges(20_000 * 10**6),
        )

    def v2(self) -> st.SearchStrategy[PolicyCall]:
        return st.builds(
            lambda toks, r, amt: PolicyCall(
                self.v2r,
                V2
                + encode(
                    ["uint256", "uint256", "address[]", "address", "uint256"],
                    [amt, 0, toks, r, DEADLINE],
                ),
            ),
            st.one_of(
                st.just([self.t["USDC"], self.t["WETH"]]),
                st.lists(self.token, min_size=0, max_size=3),
            ),
            self.recipient,
            edges(20_000 * 10**6),
        )

    def approve(self) -> st.SearchStrategy[PolicyCall]:
        return st.builds(
            lambda tok, sp, amt: PolicyCall(
                tok, APPROVE + encode(["address", "uint256"], [sp, amt])
            ),
            st.one_of(st.just(self.t["USDC"]), st.just(self.t["USDC"]), st.just(self.t["WETH"])),
            st.one_of(st.sampled_from([self.router, self.v2r]), self.rnd),
            st.one_of(edges(10**12), st.just(2**256 - 1)),
        )

    def transfer(self) -> st.SearchStrategy[PolicyCall]:
        return st.builds(
            lambda to, amt: PolicyCall(
                self.t["WETH"], TRANSFER + encode(["address", "uint256"], [to, amt])
            ),
            st.one_of(st.just(CEX), st.just(self.safe), self.rnd),
            edges(self.weth_left),
        )

    def native(self) -> st.SearchStrategy[PolicyCall]:
        return st.builds(
            lambda to, v, data: PolicyCall(to, data, v),
            st.one_of(st.just(PAYEE), st.just(PAYEE), self.rnd),
            edges(10**18),
            st.sampled_from([b"", b"", b"\x01\x02"]),
        )

    def dangerous(self) -> st.SearchStrategy[PolicyCall]:
        op = self.env.operator.address
        return st.sampled_from(
            [
                PolicyCall(self.safe, fsel("enableModule(address)") + encode(["address"], [op])),
                PolicyCall(
                    self.safe,
                    fsel("addOwnerWithThreshold(address,uint256)")
                    + encode(["address", "uint256"], [op, 1]),
                ),
                PolicyCall(self.safe, fsel("changeThreshold(uint256)") + encode(["uint256"], [1])),
                PolicyCall(
                    self.module,
                    fsel("setOperator(address,uint16)") + encode(["address", "uint16"], [op, 1]),
                ),
                PolicyCall(
                    self.router, EIS + b"\x00" * 31, 0, 1
                ),  # delegatecall to a non-MultiSend target
                PolicyCall(self.t["USDC"], TRANSFER + encode(["address", "uint256"], [op, 1])),
            ]
        )

    def single(self) -> st.SearchStrategy[tuple[str, PolicyCall]]:
        kinds: dict[str, Callable[[], st.SearchStrategy[PolicyCall]]] = {
            "exactInputSingle": self.eis, "exactInput": self.ei, "v2": self.v2, "approve": self.approve,
            "transfer": self.transfer, "native": self.native, "dangerous": self.dangerous,
        }  # fmt: skip
        return st.one_of(*[f().map(lambda c, k=k: (k, c)) for k, f in kinds.items()])

    def batch(self) -> st.SearchStrategy[tuple[str, PolicyCall]]:
        simple = st.one_of(self.eis(), self.approve(), self.transfer(), self.native())

        def build(calls: list[PolicyCall], inner_dc: bool, to_ms: bool) -> PolicyCall:
            data = multisend_calldata(calls)
            if inner_dc:  # flip the first entry's operation byte to delegatecall
                data = data[:68] + b"\x01" + data[69:]
            return PolicyCall(self.ms if to_ms else self.router, data, 0, 1)

        return st.builds(
            build,
            st.lists(simple, min_size=1, max_size=3),
            st.booleans().map(lambda b: b and False)
            | st.just(True).filter(lambda _: False)
            | st.booleans(),
            st.sampled_from([True, True, True, False]),
        ).map(lambda c: ("batch", c))


def test_offchain_decision_equals_onchain_outcome(policy_env: PolicyEnv) -> None:
    env, gen = policy_env, Gen(policy_env)
    now = env.latest_timestamp()
    ctx_states = env.reader.allowance_states()
    stranger = address_of("0x" + "5" * 64)
    seen: Counter[tuple[str, bool]] = Counter()
    executed: Counter[str] = Counter()
    mismatches: list[Any] = []

    # derandomized: the coverage asserts below (every kind both allowed-and-executed and
    # denied) must not depend on the luck of one run; POLICY_DIFF_RANDOM=1 explores afresh
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not os.environ.get("POLICY_DIFF_RANDOM"),
    )  # fmt: skip
    @given(
        st.one_of(gen.single(), gen.single(), gen.batch()),
        st.sampled_from([env.operator.address] * 9 + [stranger]),
    )
    def run(kind_call: tuple[str, PolicyCall], caller: str) -> None:
        kind, call = kind_call
        ctx = PolicyContext(
            operator=caller, chain_id=env.policy.chain_id, now=now, allowances=ctx_states
        )
        off = evaluate(env.policy, call, ctx)
        revert = env.onchain(call.to, call.value, call.data, call.operation, sender=caller)
        if revert is None:
            on_allowed, status = True, None
            executed[kind] += 1
        else:
            v = decode_violation(revert)
            assert v is not None, f"revert without PolicyViolation: {revert!r} for {kind} {call}"
            status = v[0]
            on_allowed = status == Status.EXECUTION_FAILED  # the policy passed; the target reverted
        seen[(kind, off.allowed)] += 1
        if off.allowed != on_allowed or (
            not off.allowed and status is not None and off.code != status.code
        ):
            mismatches.append((kind, caller, call, off, status))
        assert off.allowed == on_allowed, (kind, off, status)
        if not off.allowed:
            assert status is not None and off.code == status.code, (kind, off, status)

    run()
    total = sum(seen.values())
    print(f"\ndifferential: {total} calls, outcomes {dict(seen)}, executed {dict(executed)}")
    assert not mismatches
    assert total >= 1000, total
    for kind in ("exactInputSingle", "exactInput", "v2", "approve", "transfer", "native", "batch"):
        assert seen[(kind, True)] > 0 and seen[(kind, False)] > 0, (kind, seen)
        assert executed[kind] > 0, (kind, executed)  # allowed calls really execute, not only pass
    assert seen[("dangerous", True)] == 0
