"""Simulate before sign, wired through the entry points on anvil (real Safe, PolicyModule,
Uniswap): the swap pipeline registers the intent's expected amounts, so a batch that does
something else than the intent is denied SIMULATION_MISMATCH with nothing signed; every
simulation is journaled and shown by `agent policy explain`; the policy guard's value-guard
pre-check gets the simulated deltas; `agent trade swap --signer threshold` fills from the
two-party joint address with the simulation on."""

from __future__ import annotations

import os
from dataclasses import replace
from decimal import Decimal

import pytest

from agent.bootstrap import build_swap_app
from agent.chain.simulate import ZERO, SimulationGuard
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    address_of,
    deploy_dev_wallet,
)
from agent.deploy.transactor import Transactor
from agent.journal import SqliteJournal
from agent.model import Side, SwapIntent
from agent.oms.events import TxSimulated, sim_stream
from agent.wallet.deploy import deploy_wallet

from .conftest import agent_cli


@pytest.fixture(scope="module")
def wallet(world):
    return deploy_dev_wallet(world, salt=1821, usdc=Decimal(100_000))


def _nonce(world, who: str) -> int:
    return int(world.devnets.l1.rpc("eth_getTransactionCount", who, "latest"), 16)


def _crafted(build, factor: Decimal):  # type: ignore[no-untyped-def]
    """A compromised builder: the batch swaps ``factor`` times the quoted amounts (the venue
    and the module's scope accept it; only the intent says otherwise)."""

    def build_swap(quote, **kw):  # type: ignore[no-untyped-def]
        q = replace(
            quote,
            amount_in=int(quote.amount_in * factor),
            amount_out=int(quote.amount_out * factor),
        )
        return build(q, **kw)

    return build_swap


async def test_a_batch_other_than_the_intent_is_denied_unsigned_and_journaled(
    world, wallet, l1_isolated, tmp_path, monkeypatch
):
    jpath = tmp_path / "j.sqlite"
    app = await build_swap_app(
        rpc_url=world.devnets.l1.rpc_url, manifest=world.l1, safe=wallet.safe,
        module=wallet.module, operator_key=OPERATOR_KEY, journal_path=jpath,
        policy_path=wallet.policy_file, simulation="trace",
    )  # fmt: skip
    operator = address_of(OPERATOR_KEY)
    sent = _nonce(world, operator)
    try:
        guard = app.executor.guard
        assert isinstance(guard, SimulationGuard) and guard.inner is app.policy
        for cid, factor, why in (
            ("half", Decimal("0.5"), "below the intent's"),  # receives less than bought
            ("double", Decimal(2), "above the intent's"),  # pays more than allowed
        ):
            for v in app.pipeline.venues:
                monkeypatch.setattr(
                    v, "build_swap", _crafted(type(v).build_swap.__get__(v), factor)
                )
            rep = await app.pipeline.run(SwapIntent(cid, Side.BUY, "WETH", "USDC", Decimal(1), 50))
            assert rep.status == "denied" and rep.code == "SIMULATION_MISMATCH", rep
            assert why in rep.reason, rep.reason
            o = app.manager.store.orders[cid]
            assert o.state.value == "denied" and o.code == "SIMULATION_MISMATCH"
            assert not [r for r in app.executor.engine.records.values()
                        if r.client_order_id == cid]  # fmt: skip
            monkeypatch.undo()
        assert _nonce(world, operator) == sent  # nothing signed, nothing sent

        # the honest batch: simulated, the policy given the simulated deltas, filled
        seen = []
        real = app.policy.check

        async def spy(calls, deltas=None):  # type: ignore[no-untyped-def]
            seen.append(deltas)
            return await real(calls, deltas=deltas)

        monkeypatch.setattr(app.policy, "check", spy)
        rep = await app.pipeline.run(SwapIntent("ok", Side.BUY, "WETH", "USDC", Decimal(1), 50))
        assert rep.status == "filled", (rep.code, rep.reason)
        weth, usdc = world.l1.token("WETH").address.lower(), world.l1.token("USDC").address.lower()
        assert seen == [{weth: rep.realized_out, usdc: -rep.realized_in}]
        assert ZERO not in seen[0]
    finally:
        await app.close()

    with SqliteJournal(jpath) as j:
        types = {r.type for r in j.read_all()}
        assert "TxSigned" in types  # the honest one only
        (half,) = [r.event for r in j.read_stream(sim_stream("half"))]
        (ok,) = [r.event for r in j.read_stream(sim_stream("ok"))]
        signed = [r.event for r in j.read_all() if r.type == "TxSigned"]
    assert isinstance(half, TxSimulated) and half.verdict == "deny" and half.traced
    assert half.code == "SIMULATION_MISMATCH" and "at least 10" in half.expected
    assert ok.verdict == "allow" and ok.chain_id == world.l1.chain_id
    assert {(d.asset, d.amount) for d in ok.deltas} == {
        (weth, rep.realized_out),
        (usdc, -rep.realized_in),
    }
    assert len(signed) == 1 and signed[0].client_order_id == "ok"

    # the journal is replayed with the new event, and `policy explain --order` shows it
    r = agent_cli("journal", "replay", "--journal", str(jpath))
    assert r.returncode == 0, r.stderr
    m = str(world.manifest_paths[0])
    r = agent_cli("policy", "explain", str(wallet.policy_file), "--order", "half",
                  "--journal", str(jpath), "--manifest", m)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "simulation (debug_traceCall" in r.stdout and "+0.5 WETH" in r.stdout, r.stdout
    assert "DENY SIMULATION_MISMATCH" in r.stdout and "nothing was signed" in r.stdout
    r = agent_cli("policy", "explain", str(wallet.policy_file), "--order", "nope",
                  "--journal", str(jpath), "--manifest", m)  # fmt: skip
    assert r.returncode == 1 and "no simulation journaled" in r.stderr + r.stdout
    assert "Traceback" not in r.stderr


def test_policy_explain_an_intent_simulates_the_exact_call(world, wallet):
    sent = _nonce(world, address_of(OPERATOR_KEY))
    base = ("policy", "explain", str(wallet.policy_file), "--intent",
            "buy 1 WETH with USDC max-slippage 30bps", "--rpc-url", world.devnets.l1.rpc_url,
            "--manifest", str(world.manifest_paths[0]))  # fmt: skip
    r = agent_cli(*base)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "decision: ALLOW" in out and "simulation (debug_traceCall" in out, out
    assert "Safe +1 WETH" in out and "USDC" in out and "simulation: ALLOW" in out, out
    assert "receive at least 1000000000000000000" in out
    r = agent_cli(*base, "--simulation", "off")
    assert r.returncode == 0 and "simulation (" not in r.stdout
    r = agent_cli(*base, "--simulation", "sometimes")
    assert r.returncode == 2 and "--simulation" in r.stderr and "Traceback" not in r.stderr
    assert _nonce(world, address_of(OPERATOR_KEY)) == sent  # explaining signs nothing


def test_trade_swap_with_the_threshold_signer(world, keys, serve, l1_isolated, tmp_path):
    joint = keys["address"]
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    w = deploy_wallet(
        tx, world.l1, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
        operator=joint, owner_keys=list(OWNER_KEYS), salt=1822,
    )  # fmt: skip
    usdc = world.l1.asset("USDC")
    tx.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(Decimal(100_000)))
    world.devnets.l1.rpc("anvil_setBalance", joint, hex(10**19))
    jpath = tmp_path / "j.sqlite"
    base = ("trade", "swap", "--side", "buy", "--base", "WETH", "--quote", "USDC",
            "--size", "0.25", "--slippage-bps", "50", "--rpc-url", world.devnets.l1.rpc_url,
            "--manifest", str(world.manifest_paths[0]), "--safe", w.safe, "--module", w.module,
            "--journal", str(jpath), "--policy", str(w.policy_file))  # fmt: skip
    env_key = os.environ.pop("AGENT_OPERATOR_KEY", None)
    try:
        # bad input: one line naming the field, nothing signed
        r = agent_cli(*base, "--client-id", "t0", "--signer", "threshold")
        assert r.returncode == 2 and "--share" in r.stderr and "Traceback" not in r.stderr
        r = agent_cli(*base, "--client-id", "t0", "--signer", "mpc")
        assert r.returncode == 2 and "--signer" in r.stderr
        r = agent_cli(*base, "--client-id", "t1", "--signer", "threshold",
                      "--share", str(keys["p1"]), "--peer", serve.peer)  # fmt: skip
    finally:
        if env_key is not None:
            os.environ["AGENT_OPERATOR_KEY"] = env_key
    assert r.returncode == 0, r.stdout + r.stderr
    assert "order t1: filled" in r.stdout, r.stdout
    assert _nonce(world, joint) == 1  # the joint address signed and sent the one transaction
    with SqliteJournal(jpath) as j:
        (sim,) = [x.event for x in j.read_stream(sim_stream("t1"))]
        (signed,) = [x.event for x in j.read_all() if x.type == "TxSigned"]
    assert sim.verdict == "allow" and sim.traced
    assert signed.sender.lower() == joint.lower()
    weth = world.l1.token("WETH").address.lower()
    assert (weth, 25 * 10**16) in {(d.asset, d.amount) for d in sim.deltas}
