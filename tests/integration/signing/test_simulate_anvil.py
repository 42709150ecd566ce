"""Simulate before sign on anvil, with the real Safe, PolicyModule and Uniswap: the deltas of
the exact module call the executor would sign equal what the mined transaction then does,
and a call that does something else than the intent is denied SIMULATION_MISMATCH."""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.simulate import (
    CallRequest,
    Expectation,
    SimulationGuard,
    check,
    simulate,
)
from agent.deploy.devworld import OPERATOR_KEY, address_of, deploy_dev_wallet
from agent.execution.calls import parse_swap_intent, plan_swap, swap_calls
from agent.execution.fills import safe_legs
from agent.journal import SqliteJournal
from agent.signing import LocalSigner
from agent.venues.uniswap_v2 import UniswapV2Venue
from agent.venues.uniswap_v3 import UniswapV3Venue
from agent.wallet.executor import ModuleExecutor
from agent.wallet.module import module_calldata

RECORD = os.environ.get("AGENT_RECORD_TRACE")  # path: save the raw traces for unit tests


@pytest.fixture(scope="module")
def wallet(world):
    return deploy_dev_wallet(world, salt=1818, usdc=Decimal(2_000_000))


async def _plan(rpc, world, wallet, text, recipient=None):
    venues = [UniswapV2Venue(rpc, world.l1), UniswapV3Venue(rpc, world.l1)]
    intent = parse_swap_intent(text)
    plan = await plan_swap(rpc, venues, intent, safe=wallet.safe, now=int(time.time()))
    calls = plan.calls
    if recipient is not None:  # the same quote, built to pay someone else
        calls = swap_calls(venues, plan.quote, intent, safe=recipient, now=int(time.time()))
    return plan, calls


def _expect(world, plan, bps=None):
    q = plan.quote
    slip = plan.intent.max_slippage_bps if bps is None else bps
    tin = world.l1.token(plan.intent.quote if plan.intent.side.value == "buy" else plan.intent.base)
    tout = world.l1.token(
        plan.intent.base if plan.intent.side.value == "buy" else plan.intent.quote
    )
    return (
        Expectation(
            tin.address,
            q.amount_in * (10_000 + slip) // 10_000,
            tout.address,
            q.amount_out * (10_000 - slip) // 10_000,
            frozenset({c.to for c in plan.calls} | {getattr(q, "spender", "")} - {""}),
        ),
        tin,
        tout,
    )


async def test_simulated_deltas_equal_the_mined_transaction(world, wallet, l1_isolated, tmp_path):
    ms = world.l1.address("MultiSendCallOnly")
    operator = address_of(OPERATOR_KEY)
    async with RpcClient(world.devnets.l1.rpc_url, expected_chain_id=world.l1.chain_id) as rpc:
        plan, calls = await _plan(rpc, world, wallet, "buy 2 WETH with USDC max-slippage 50bps")
        call = CallRequest(operator, wallet.module, module_calldata(list(calls), ms))
        sim = await simulate(rpc, call, wallet.safe)
        assert sim.ok and sim.traced, sim.error
        if RECORD:
            req = call.to_rpc()
            raw = await rpc.batch(
                [
                    ("debug_traceCall", [req, "latest", {"tracer": "callTracer", "tracerConfig": {"withLog": True}}]),
                    ("debug_traceCall", [req, "latest", {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}]),
                ]
            )  # fmt: skip
            Path(RECORD).write_text(
                json.dumps({"safe": wallet.safe, "calls": raw[0], "prestate": raw[1]})
            )
        exp, tin, tout = _expect(world, plan)
        d = sim.deltas
        assert d.net(tout.address) == 2 * 10**18  # exact-out buy
        assert 0 < -d.net(tin.address) <= exp.max_in
        assert all(a.amount == 0 for a in d.approvals)  # approve, swap, approve(0)
        assert check(sim, exp).allowed
        # now sign and send exactly that call: the chain does what the simulation said
        ex = ModuleExecutor(
            rpc, LocalSigner(OPERATOR_KEY), module=wallet.module, multisend=ms,
            chain_id=world.l1.chain_id, journal=SqliteJournal(tmp_path / "j.db"),
        )  # fmt: skip
        res = await ex.execute(list(calls))
        paid, got = safe_legs(res.logs, wallet.safe, tin.address, tout.address)
        assert (paid, got) == (-d.net(tin.address), d.net(tout.address))
        await ex.close()


async def test_calls_that_differ_from_the_intent_are_denied(world, wallet):
    ms = world.l1.address("MultiSendCallOnly")
    operator = address_of(OPERATOR_KEY)
    attacker = "0x" + "a7" * 20
    async with RpcClient(world.devnets.l1.rpc_url, expected_chain_id=world.l1.chain_id) as rpc:
        plan, calls = await _plan(
            rpc, world, wallet, "buy 1 WETH with USDC max-slippage 50bps", recipient=attacker
        )
        foreign = calls
        exp, _tin, _tout = _expect(world, plan)
        guard = SimulationGuard(rpc, operator=operator, module=wallet.module, multisend=ms,
                                safe=wallet.safe)  # fmt: skip
        guard.expect(exp)
        d = await guard.check(list(calls))
        # refused either way: the module's scope reverts it, or the deltas miss the WETH
        assert not d.allowed and d.code in ("SIMULATION_REVERTED", "SIMULATION_MISMATCH")
        # calls of another (smaller) order than the intent's: they pass on chain, but the
        # Safe would receive less than the intent expects
        _small, small_calls = await _plan(rpc, world, wallet, "buy 0.5 WETH with USDC")
        guard.expect(exp)
        d = await guard.check(list(small_calls))
        assert not d.allowed and d.code == "SIMULATION_MISMATCH" and "below the intent" in d.reason
        # the honest calls pass the same guard; a tighter bound than the quote does not
        plan, calls = await _plan(rpc, world, wallet, "buy 1 WETH with USDC max-slippage 50bps")
        exp, *_ = _expect(world, plan)
        guard.expect(exp)
        assert (await guard.check(list(calls))).allowed
        tight = Expectation(exp.token_in, exp.max_in // 2, exp.token_out, exp.min_out, exp.spenders)
        guard.expect(tight)
        d = await guard.check(list(calls))
        assert not d.allowed and d.code == "SIMULATION_MISMATCH" and "would pay" in d.reason
        assert guard.last is not None and guard.last.traced
        # no expectation registered: the batch's own approvals bound what may leave
        d = await guard.check(list(calls))
        assert d.allowed and "approvals" in d.note
        # ...and a batch that pays someone else fails that bound too (or reverts on chain)
        d = await guard.check(list(foreign))
        assert not d.allowed and d.code in ("SIMULATION_REVERTED", "SIMULATION_MISMATCH")


async def test_cli_simulate(world, wallet):
    from .conftest import agent_cli

    ms = world.l1.address("MultiSendCallOnly")
    operator = address_of(OPERATOR_KEY)
    async with RpcClient(world.devnets.l1.rpc_url, expected_chain_id=world.l1.chain_id) as rpc:
        plan, calls = await _plan(rpc, world, wallet, "buy 1 WETH with USDC max-slippage 50bps")
    data = "0x" + module_calldata(list(calls), ms).hex()
    exp, tin, tout = _expect(world, plan)
    base = ["signer", "simulate", "--rpc-url", world.devnets.l1.rpc_url, "--from", operator,
            "--to", wallet.module, "--data", data, "--account", wallet.safe]  # fmt: skip
    spenders = [a for s in exp.spenders for a in ("--spender", s)]
    r = agent_cli(*base, "--expect-in", f"{tin.address}:{exp.max_in}",
                  "--expect-out", f"{tout.address}:{10**18}", *spenders)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"token {tout.address.lower()} +{10**18}" in r.stdout and "allowed" in r.stdout
    r = agent_cli(
        *base, "--expect-in", f"{tin.address}:1", "--expect-out", f"{tout.address}:1", *spenders
    )
    assert r.returncode == 3 and "[SIMULATION_MISMATCH]" in r.stdout and "would pay" in r.stdout
    r = agent_cli(*base, "--expect-in", "nope:1", "--expect-out", f"{tout.address}:1")
    assert r.returncode == 2 and "--expect-in" in r.stderr and "Traceback" not in r.stderr


async def test_eth_from_the_call_tree_equals_the_prestate_diff(world, l1_isolated):
    """One trace (the call tree's values) and two (the prestate balance diff) agree on ETH
    into and out of WETH: a deposit from the operator, a withdrawal back to it."""
    weth = world.l1.token("WETH").address
    operator = address_of(OPERATOR_KEY)
    deposit = bytes.fromhex("d0e30db0")
    withdraw = bytes.fromhex("2e1a7d4d") + (10**18).to_bytes(32, "big")
    async with RpcClient(world.devnets.l1.rpc_url, expected_chain_id=world.l1.chain_id) as rpc:
        await rpc.call("anvil_setBalance", [operator, hex(10 * 10**18)])
        # the operator holds WETH for the withdrawal (a real deposit, mined)
        await rpc.call("anvil_impersonateAccount", [operator])
        tx = {"from": operator, "to": weth, "data": "0x" + deposit.hex(), "value": hex(3 * 10**18)}
        h = await rpc.call("eth_sendTransaction", [tx])
        rc = await rpc.get_transaction_receipt(h)
        if rc is None:  # not in a block yet: mine it now
            await rpc.call("evm_mine", [])
            rc = await rpc.get_transaction_receipt(h)
        assert rc["status"] == "0x1"
        await rpc.call("anvil_stopImpersonatingAccount", [operator])
        cases = (
            (CallRequest(operator, weth, deposit, value=2 * 10**18), 2 * 10**18),
            (CallRequest(operator, weth, withdraw), -(10**18)),
        )
        for call, weth_gains in cases:
            for account, want in ((weth, weth_gains), (operator, -weth_gains)):
                one = await simulate(rpc, call, account)
                two = await simulate(rpc, call, account, prestate=True)
                assert one.ok and two.ok, (one.error, two.error)
                assert one.deltas.eth == two.deltas.eth == want
                assert one.deltas == two.deltas
