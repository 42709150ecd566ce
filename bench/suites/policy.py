"""policy.eval and policy.gas_overhead.

``policy.eval``: off-chain evaluation of one decoded Uniswap V3 exactInputSingle swap against
the example policy (5 parameter conditions, an allowance, the SwapPriceChecker mirror against
two oracle readings, and the value-guard pre-check of the window), p50 and p99 in
microseconds. Baseline, same run: ``eth_abi.decode`` of the same calldata alone, i.e. what
merely decoding the call with the ABI costs.

``policy.gas_overhead``: gas of the same USDC->WETH swap executed through the PolicyModule by
the operator (the dev policy: word conditions, the allowance, the SwapPriceChecker with two
oracle reads, and the value guard over four tracked assets, of which it reads the two the
swap's OP_TOUCHES declarations name) vs executed by the Safe's owners
directly (execTransaction, 2-of-3 signatures), on the L1 devnet with the real Uniswap V3 and
Safe 1.4.1 bytecode; reported as a ratio, with the gas the value guard adds (the same module
swap with the value guard switched off by the owners) and its share of the module's cost.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector as fsel

from agent.deploy.manifest import Manifest, TokenInfo
from bench.common import latency_metric, sample_us

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.toml"
EIS_T = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
EIS = fsel(f"exactInputSingle({EIS_T})")


def a(b: int) -> str:
    return "0x" + f"{b:02x}" * 20


def _example_policy():  # type: ignore[no-untyped-def]
    """examples/policy.toml against a small fixed manifest (no chain needed)."""
    from agent.policy import load_policy

    m = Manifest(
        31337001, "l1", 0,
        {"SwapRouter": a(0x11), "UniswapV2Router02": a(0x22), "MultiSendCallOnly": a(0x33),
         "PriceFeedWETH": a(0x81), "PriceFeedUSDC": a(0x82), "PriceFeedDAI": a(0x83),
         "SwapPriceChecker": a(0x91)},
        {"WETH": TokenInfo("WETH", a(0x44), 18), "USDC": TokenInfo("USDC", a(0x55), 6),
         "DAI": TokenInfo("DAI", a(0x66), 18)},
    )  # fmt: skip
    return load_policy(EXAMPLE, m)


def _eval_metric() -> dict:
    from agent.policy import PolicyCall, PolicyContext, evaluate

    policy = _example_policy()
    safe = policy.safe
    args = (a(0x55), a(0x44), 500, safe, 2**40, 3000 * 10**6, 10**18 - 10**15, 0)
    call = PolicyCall(a(0x11), EIS + encode([EIS_T], [args]))
    now = int(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp())
    from agent.policy.checkers import E18, FeedRead, Window

    feeds = {a(0x44): FeedRead(3000 * 10**8, now - 60, 8), a(0x55): FeedRead(10**8, now - 60, 8),
             a(0x66): FeedRead(10**8, now - 60, 8)}  # fmt: skip
    ctx = PolicyContext(
        operator=next(iter(policy.operators)), chain_id=31337001, now=now,
        prices_usd={a(0x44): Decimal(3000), a(0x55): Decimal(1)},
        notional_usd=Decimal(3000), feeds=feeds,
        window=Window(now - 3600, 10**7 * E18, 0), balances={a(0x55): 10**13},
    )  # fmt: skip
    d = evaluate(policy, call, ctx)
    assert d.allowed, d  # a benchmark of a denial would measure the wrong path
    samples = sample_us(lambda: evaluate(policy, call, ctx), 20_000, warmup=500)
    base = sample_us(lambda: decode([EIS_T], call.data[4:]), 20_000, warmup=500)
    return latency_metric("policy.eval", samples, baseline=("eth_abi.decode", base), goal_p50_us=20)


def _guard_metric() -> dict:
    """PolicyGuard.check on a 3-call approve/swap/approve batch (what the swap pipeline sends):
    the ABI shape check, reference prices, the batch evaluation and the allowance spend.
    Baseline, same run: evaluate() of the same batch with a ready context."""
    import asyncio

    from agent.policy import PolicyCall, PolicyContext, evaluate
    from agent.policy.guard import PolicyGuard, static_prices
    from agent.wallet.multisend import Call

    policy = _example_policy()
    operator = next(iter(policy.operators))
    now = int(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp())
    approve = fsel("approve(address,uint256)")
    amount = 3000 * 10**6
    swap = EIS + encode(
        [EIS_T], [(a(0x55), a(0x44), 500, policy.safe, 2**40, amount, 10**18 - 10**15, 0)]
    )
    calls = [
        Call(a(0x55), approve + encode(["address", "uint256"], [a(0x11), amount])),
        Call(a(0x11), swap),
        Call(a(0x55), approve + encode(["address", "uint256"], [a(0x11), 0])),
    ]
    # A clock that moves a day per check keeps the allowance refilling, so every sample
    # measures an allowed batch (a denial would measure the short path).
    t = [now]

    def clock() -> int:
        t[0] += 86400
        return t[0]

    guard = PolicyGuard(
        policy, operator=operator, safe=policy.safe, chain_id=31337001,
        prices=static_prices({"WETH": 3000, "USDC": 1}), clock=clock,
    )  # fmt: skip
    loop = asyncio.new_event_loop()
    try:
        d = loop.run_until_complete(guard.check(calls))
        assert d.allowed, d
        check = guard.check

        def once() -> None:
            try:
                check(calls).send(None)  # the static price source never suspends
            except StopIteration:
                return
            raise AssertionError("the check suspended; this loop measures synchronous runs")

        samples = sample_us(once, 20_000, warmup=500)
    finally:
        loop.close()
    from agent.policy.checkers import FeedRead

    feeds = {a(0x44): FeedRead(3000 * 10**8, now, 8), a(0x55): FeedRead(10**8, now, 8)}
    ctx = PolicyContext(
        operator=operator, chain_id=31337001, now=now,
        prices_usd={a(0x44): Decimal(3000), a(0x55): Decimal(1)}, notional_usd=Decimal(3000),
        feeds=feeds,
    )  # fmt: skip
    pcs = [PolicyCall(c.to, c.data) for c in calls]
    assert evaluate(policy, pcs, ctx).allowed
    base = sample_us(lambda: evaluate(policy, pcs, ctx), 20_000, warmup=500)
    return latency_metric(
        "policy.guard", samples, baseline=("evaluate_batch_ready_context", base), calls=3
    )


def _gas_metric() -> dict:
    from agent.deploy.devworld import (
        DEPLOYER_KEY,
        OPERATOR_KEY,
        OWNER_KEYS,
        bring_up,
        deploy_dev_wallet,
    )
    from agent.deploy.transactor import Transactor
    from agent.policy.compiler import SET_VALUE_GUARD
    from agent.policy.onchain import execute_calldata
    from agent.wallet.deploy import execute_safe_tx
    from agent.wallet.safe_tx import Operation, SafeTx

    with tempfile.TemporaryDirectory() as d:
        world = bring_up(Path(d))
        try:
            url, m = world.devnets.l1.rpc_url, world.l1
            w = deploy_dev_wallet(world, salt=99, usdc=Decimal(1_000_000))
            dep = Transactor(url, DEPLOYER_KEY)  # after: it reads the deployer's nonce now
            safe, module = w.safe, w.module
            usdc, weth, router = (
                m.token("USDC").address,
                m.token("WETH").address,
                m.address("SwapRouter"),
            )
            op = Transactor(url, OPERATOR_KEY)
            approve = fsel("approve(address,uint256)") + encode(
                ["address", "uint256"], [router, 2 * 10**11]
            )
            op.send(module, execute_calldata(usdc, 0, approve))
            amount = 1000 * 10**6
            min_out = amount * 10**12 * 985 // (1000 * 3000)  # 150 bps under the oracle

            def swap_data() -> bytes:
                args = (usdc, weth, 500, safe, 2**40, amount, min_out, 0)
                return EIS + encode([EIS_T], [args])

            def via_module() -> int:
                return int(op.send(module, execute_calldata(router, 0, swap_data()))["gasUsed"], 16)

            def owners(to: str, data: bytes) -> int:
                nonce = int(dep.call("Safe", safe, "nonce"))
                tx = SafeTx(safe, m.chain_id, to, 0, data, Operation.CALL, nonce)
                return int(execute_safe_tx(dep, tx, list(OWNER_KEYS), 2)["gasUsed"], 16)

            via_module(), owners(router, swap_data())  # warm the pool's storage for both alike
            mod = [via_module() for _ in range(5)]
            own = [owners(router, swap_data()) for _ in range(5)]
            # the owners switch the value guard off: the same module swap without it
            off = SET_VALUE_GUARD + encode(
                ["address[]", "uint16", "uint16", "uint32"], [[], 0, 0, 0]
            )
            owners(module, off)
            unguarded = [via_module() for _ in range(5)]
        finally:
            world.stop()
    mv, ov, uv = sorted(mod)[2], sorted(own)[2], sorted(unguarded)[2]
    return {
        "name": "policy.gas_overhead",
        "value": mv,
        "unit": "gas",
        "baseline": {"name": "safe_owners_exec_transaction_2of3", "value": ov},
        "ratio": round(mv / ov, 3),
        "goal_ratio": 1.5,
        "without_value_guard": uv,
        "ratio_without_value_guard": round(uv / ov, 3),
        "value_guard_gas": mv - uv,
        "value_guard_share_of_module_overhead": round((mv - uv) / max(mv - ov, 1), 3),
        "module_checks": "5 word conditions + SwapPriceChecker (2 oracles) + value guard (4 tracked, the 2 declared read)",
    }


def run() -> list[dict]:
    return [_eval_metric(), _guard_metric(), _gas_metric()]
