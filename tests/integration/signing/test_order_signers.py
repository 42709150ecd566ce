"""`agent trade order --signer / --simulation` on anvil, with the same semantics as `agent
trade swap`: a parent order routed over the dev world's L1 pools (one Safe transaction) is

- signed by the two-party threshold signer (party 2 in its own process): mined from the
  joint address, simulated first against the plan's summed legs;
- simulated per --simulation: trace (traced deltas journaled), call (eth_call only, with a
  warning), off (no simulation record);
- refused on a bad value with one line naming the flag, exit 2, nothing sent.

The co-signed routed order is in test_cosigner_anvil.py (it shares that file's co-signer)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app as cli
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    address_of,
    deploy_dev_wallet,
)
from agent.deploy.transactor import Transactor
from agent.journal import SqliteJournal
from agent.wallet.deploy import deploy_wallet


@pytest.fixture(scope="module")
def wallet(world):
    return deploy_dev_wallet(world, salt=1831, usdc=Decimal(500_000))


def _args(world, w, journal: Path, client_id: str, size: str = "1") -> list[str]:
    return [
        "trade", "order", "--side", "buy", "--base", "WETH", "--quote", "USDC",
        "--size", size, "--client-id", client_id, "--safe", w.safe, "--module", w.module,
        "--rpc-url", world.devnets.l1.rpc_url,
        "--manifest", str(world.state_dir / "l1.manifest.json"),
        "--state-dir", str(journal.parent / "no-state"), "--journal", str(journal),
        "--slippage-bps", "50", "--json",
    ]  # fmt: skip


def _simulations(journal: Path) -> list:
    j = SqliteJournal(journal)
    try:
        return [r.event for r in j.read_all() if r.type == "TxSimulated"]
    finally:
        j.close()


def _nonce(world, who: str) -> int:
    return int(world.devnets.l1.rpc("eth_getTransactionCount", who, "latest"), 16)


def _json(output: str) -> dict:
    return json.loads(output[output.index("{") :])  # after any warning line


def test_simulation_modes(world, wallet, tmp_path, l1_isolated):
    runner = CliRunner()
    env = {"AGENT_OPERATOR_KEY": OPERATOR_KEY}
    weth = world.l1.token("WETH").address.lower()
    for mode, cid in (("trace", "sim-t"), ("call", "sim-c"), ("off", "sim-o")):
        j = tmp_path / f"{mode}.sqlite"
        res = runner.invoke(cli, [*_args(world, wallet, j, cid), "--simulation", mode], env=env)
        assert res.exit_code == 0, res.output
        out = _json(res.output)
        assert out["state"] == "filled" and out["filled"] == 10**18, out
        sims = _simulations(j)
        if mode == "off":
            assert sims == []
            continue
        (sim,) = sims  # the one Safe transaction of the plan, before it was signed
        assert sim.ok and sim.verdict == "allow" and sim.client_order_id.startswith(cid)
        if mode == "trace":
            assert sim.traced and not sim.warning
            assert dict((d.asset, d.amount) for d in sim.deltas)[weth] == 10**18
            assert f"receive at least {10**18} of" in sim.expected  # the plan's summed legs
        else:
            assert not sim.traced and "eth_call" in sim.warning
            assert "--simulation call" in res.output  # the CLI's warning


def test_bad_values_are_one_line_naming_the_flag(world, wallet, tmp_path):
    runner = CliRunner()
    env = {"AGENT_OPERATOR_KEY": OPERATOR_KEY}
    before = _nonce(world, address_of(OPERATOR_KEY))
    j = tmp_path / "bad.sqlite"
    for extra, flag in (
        (["--simulation", "bogus"], "--simulation"),
        (["--signer", "hsm"], "--signer"),
        (["--signer", "threshold"], "--share"),
        (["--signer", "threshold", "--share", str(tmp_path / "p1.json")], "--peer"),
    ):
        res = runner.invoke(cli, [*_args(world, wallet, j, "bad-1"), *extra], env=env)
        assert res.exit_code == 2, (extra, res.output)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and flag in lines[0], (extra, res.output)
        assert "Traceback" not in res.output
    assert _nonce(world, address_of(OPERATOR_KEY)) == before  # nothing was sent


def test_routed_order_signed_by_the_threshold_signer(world, keys, serve, tmp_path):
    joint = keys["address"]
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    w = deploy_wallet(
        tx, world.l1, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
        operator=joint, owner_keys=list(OWNER_KEYS), salt=1832,
    )  # fmt: skip
    usdc = world.l1.asset("USDC")
    tx.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(Decimal(100_000)))
    world.devnets.l1.rpc("anvil_setBalance", joint, hex(10**19))
    j = tmp_path / "tss.sqlite"
    args = [*_args(world, w, j, "tss-order", size="2"), "--signer", "threshold",
            "--share", str(keys["p1"]), "--peer", serve.peer]  # fmt: skip
    res = CliRunner().invoke(cli, args, env={"AGENT_OPERATOR_KEY": ""})  # no local key at all
    assert res.exit_code == 0, res.output
    out = _json(res.output)
    assert out["state"] == "filled" and out["filled"] == 2 * 10**18, out
    (batch,) = out["batches"]
    mined = world.devnets.l1.rpc("eth_getTransactionByHash", batch["tx_hash"])
    assert mined["from"].lower() == joint.lower()  # signed by the two parties together
    (sim,) = _simulations(j)  # and simulated before the two signed it
    assert sim.traced and sim.verdict == "allow"
