"""The policy co-signer against the real PolicyModule on anvil: `agent cosigner run` in a
process of its own with its own key and its own copy of the bound policy; the role requires
its co-signature on chain.

- an intent through the composition root (AGENT_COSIGNER_URL wiring) is co-signed and fills;
- a call the co-signer's policy denies is refused with its code: nothing signed or sent;
- the stolen-operator case: a direct ``execute`` reverts (COSIGNATURE_REQUIRED);
- bad requests and a replayed co-signature are refused with their codes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector as fsel

from agent.bootstrap import build_swap_app
from agent.chain.devnet import rpc_call
from agent.deploy.devworld import DEPLOYER_KEY, OWNER_KEYS, address_of
from agent.deploy.transactor import Transactor
from agent.errors import PolicyDeniedError, RpcError
from agent.journal import SqliteJournal
from agent.model import Side, SwapIntent
from agent.policy.model import Status
from agent.policy.onchain import decode_violation
from agent.signing.cosigner.client import CosignerClient
from agent.signing.cosigner.wire import ModuleCall, execute_cosigned_calldata
from agent.signing.local import LocalSigner
from agent.wallet.deploy import default_policy_template, deploy_wallet
from agent.wallet.executor import ModuleExecutor
from agent.wallet.module import execute_calldata
from agent.wallet.multisend import Call

ATTACKER = "0x00000000000000000000000000000000000a77ac"


class Cosigner:
    """`agent cosigner run` in a process of its own; ``url`` once it listens."""

    def __init__(self, config: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "cosigner", "run", "--config", config],
            stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=env,
        )  # fmt: skip
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError(f"cosigner did not start: {line} {log.read_text()}")
        self.url = "http://" + line.split()[1]
        self.address = line.split()[-1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.communicate(timeout=10)


@pytest.fixture(scope="module")
def cosigned(world, tmp_path_factory):
    d = tmp_path_factory.mktemp("cosign")
    url = world.devnets.l1.rpc_url
    op_key, co_key = "0x" + secrets.token_hex(32), "0x" + secrets.token_hex(32)
    operator, cosigner = address_of(op_key), address_of(co_key)
    template = d / "l1.cosigned.toml"
    text = default_policy_template(world.l1).read_text()
    marker = 'operators = ["${OPERATOR}"]\n'
    assert text.count(marker) == 1
    template.write_text(text.replace(marker, marker + 'requires_cosigner = "${COSIGNER}"\n'))
    tx = Transactor(url, DEPLOYER_KEY)
    w = deploy_wallet(
        tx, world.l1, owners=[address_of(k) for k in OWNER_KEYS], threshold=2, operator=operator,
        owner_keys=list(OWNER_KEYS), salt=1820, policy_template=template,
        policy_out=d / "policy.toml", policy_vars={"COSIGNER": cosigner},
    )  # fmt: skip
    usdc = world.l1.asset("USDC")
    tx.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(Decimal(100_000)))
    world.devnets.l1.rpc("anvil_setBalance", operator, hex(10**19))
    manifest = world.manifest_paths[0]
    cfg = d / "cosigner.toml"
    cfg.write_text(
        f'key_env = "TEST_COSIGNER_KEY"\npolicy = "{w.policy_file}"\nmanifest = "{manifest}"\n'
        f'rpc_url = "{url}"\nmodule = "{w.module}"\nport = 0\n'
    )
    svc = Cosigner(str(cfg), {**os.environ, "TEST_COSIGNER_KEY": co_key}, d / "cosigner.log")
    try:
        yield {
            "w": w, "op_key": op_key, "co_key": co_key, "operator": operator, "cosigner": cosigner,
            "svc": svc, "url": url, "dir": d, "cfg": cfg,
        }  # fmt: skip
    finally:
        svc.stop()


def _nonce(url: str, who: str) -> int:
    return int(rpc_call(url, "eth_getTransactionCount", [who, "latest"]), 16)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(
        url + "/v1/cosign", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def test_intent_fills_through_cosigner(world, cosigned, tmp_path, monkeypatch):
    c = cosigned
    assert c["svc"].address == c["cosigner"]
    from agent.policy.compiler import compile_policy, diff
    from agent.policy.onchain import ModuleReader
    from agent.policy.resolve import load_policy

    back = ModuleReader(c["url"], c["w"].module).config()  # read back, no diff left
    assert back.cosigners == {1: c["cosigner"].lower()}
    assert diff(back, compile_policy(load_policy(c["w"].policy_file, world.l1))) == []
    monkeypatch.setenv("AGENT_COSIGNER_URL", c["svc"].url)
    app = await build_swap_app(
        rpc_url=c["url"], manifest=world.l1, safe=c["w"].safe, module=c["w"].module,
        operator_key=c["op_key"], journal_path=tmp_path / "j.sqlite",
        policy_path=c["w"].policy_file,
    )  # fmt: skip
    try:
        assert app.executor.cosigner is not None
        assert app.executor.cosigner.cosigner == c["cosigner"]  # pinned to the module's
        rep = await app.pipeline.run(
            SwapIntent("cosign-1", Side.BUY, "WETH", "USDC", Decimal("0.5"), 50)
        )
        assert rep.status == "filled", (rep.code, rep.reason)
        assert rep.realized_out == 5 * 10**17
        mined = world.devnets.l1.rpc("eth_getTransactionByHash", rep.tx_hash)
        assert mined["from"].lower() == c["operator"].lower()
        assert mined["input"].startswith("0x" + fsel(
            "executeCosigned(address,uint256,bytes,uint8,uint256,uint256,bytes)").hex())  # fmt: skip
    finally:
        await app.close()
    # What you sign is what you see: the co-signer printed the swap's MultiSend batch, each
    # inner call by function name and argument names (abis/), and its decision. Checked here,
    # not in a test of its own: the log is this fill's, and another test may run on another
    # worker with a co-signer of its own. The co-signer logs before it answers (logging flushes
    # each record), so the lines are in the file once the fill returned.
    out = c["svc"].log.read_text()
    assert "co-sign request: [0] " in out and "co-sign request: [1] " in out, out
    assert "SwapRouter.exactOutputSingle" in out and "amountInMaximum: " in out, out
    assert "USDC.approve(address,uint256)" in out and "spender = " in out, out
    assert "co-signer SIGNED" in out


def test_policy_apply_prints_inner_calls_decoded(world, cosigned):
    """`policy apply` of a change to the co-signer and the guardian: a MultiSend of two module
    calls, each printed decoded; without owner signatures nothing is executed (exit 3)."""
    c = cosigned
    text = Path(c["w"].policy_file).read_text()
    new = address_of("0x" + "22" * 32)
    edited = c["dir"] / "edited.toml"
    edited.write_text(
        text.replace(c["cosigner"], new).replace(
            'guardian = "0x0000000000000000000000000000000000000000"', f'guardian = "{ATTACKER}"'
        )
    )
    r = subprocess.run(
        [sys.executable, "-m", "agent.cli", "policy", "apply", str(edited), "--manifest",
         str(world.manifest_paths[0]), "--rpc-url", c["url"]],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert r.returncode == 3, r.stdout + r.stderr
    assert f"role trader requires co-signer {new}" in r.stdout, r.stdout
    assert "batch[0] module.setCosigner(uint16,address)" in r.stdout and "role = 1" in r.stdout
    assert f"cosigner = {new}" in r.stdout or f"cosigner = {new.lower()}" in r.stdout, r.stdout
    assert "batch[1] module.setGuardian(address)" in r.stdout, r.stdout


async def test_denied_call_is_refused_with_its_code_nothing_sent(world, cosigned, tmp_path):
    c = cosigned
    signer = LocalSigner(c["op_key"])
    journal = SqliteJournal(tmp_path / "deny.sqlite")
    client = CosignerClient(c["svc"].url, cosigner=c["cosigner"])
    from agent.chain.rpc import RpcClient

    rpc = await RpcClient(c["url"], expected_chain_id=world.l1.chain_id).connect()
    # no local guard: the co-signer alone must refuse
    ex = ModuleExecutor(
        rpc, signer, module=c["w"].module, multisend=world.l1.address("MultiSendCallOnly"),
        chain_id=world.l1.chain_id, journal=journal, safe=c["w"].safe, cosigner=client,
    )  # fmt: skip
    usdc = world.l1.token("USDC").address
    steal = fsel("transfer(address,uint256)") + encode(["address", "uint256"], [ATTACKER, 10**12])
    router = world.l1.address("SwapRouter")
    weth = world.l1.token("WETH").address
    # exactInputSingle 1000 USDC -> WETH with amountOutMinimum = 1: the oracle price bound
    cheap = fsel(
        "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
    ) + encode(
        ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
        [(usdc, weth, 500, c["w"].safe, 2**40, 1000 * 10**6, 1, 0)],
    )
    before = _nonce(c["url"], c["operator"])
    try:
        for calls, code in (
            ([Call(usdc, steal)], Status.FUNCTION_NOT_ALLOWED.code),
            ([Call(router, cheap)], Status.PRICE_OUT_OF_BOUNDS.code),
        ):
            with pytest.raises(PolicyDeniedError) as e:
                await ex.execute(calls, client_order_id="deny-1")
            assert e.value.code == code, str(e.value)
            assert "co-signer refused" in str(e.value)
        assert _nonce(c["url"], c["operator"]) == before  # nothing sent
        assert not [r for r in journal.read_all() if r.type == "TxSigned"]
    finally:
        await ex.close()
        await rpc.close()
        journal.close()


def test_stolen_operator_key_direct_execute_reverts(world, cosigned):
    c = cosigned
    usdc = world.l1.token("USDC").address
    approve = fsel("approve(address,uint256)") + encode(
        ["address", "uint256"], [world.l1.address("SwapRouter"), 10**6]
    )
    call = {
        "from": c["operator"],
        "to": c["w"].module,
        "data": "0x" + execute_calldata(usdc, 0, approve).hex(),
    }
    with pytest.raises(RpcError) as e:
        rpc_call(c["url"], "eth_call", [call, "latest"])
    d = e.value.data.get("data") if isinstance(e.value.data, dict) else e.value.data
    got = decode_violation(d)
    assert got is not None and got[0] is Status.COSIGNATURE_REQUIRED


async def test_replayed_and_tampered_cosignatures_revert(world, cosigned):
    c = cosigned
    client = CosignerClient(c["svc"].url, cosigner=c["cosigner"])
    usdc = world.l1.token("USDC").address
    approve = fsel("approve(address,uint256)") + encode(
        ["address", "uint256"], [world.l1.address("SwapRouter"), 0]
    )
    mc = ModuleCall(usdc, 0, approve, 0)
    try:
        cs = await client.cosign(
            module=c["w"].module, chain_id=world.l1.chain_id, operator=c["operator"], call=mc
        )
    finally:
        await client.close()
    op = Transactor(c["url"], c["op_key"])
    op.send(c["w"].module, execute_cosigned_calldata(mc, cs.nonce, cs.deadline, cs.signature))
    bigger = fsel("approve(address,uint256)") + encode(
        ["address", "uint256"], [world.l1.address("SwapRouter"), 10**12]
    )
    for data, status in (
        (execute_cosigned_calldata(mc, cs.nonce, cs.deadline, cs.signature), Status.COSIGNATURE_REPLAYED),
        (
            execute_cosigned_calldata(ModuleCall(usdc, 0, bigger, 0), cs.nonce + 1, cs.deadline, cs.signature),
            Status.COSIGNATURE_INVALID,
        ),
    ):  # fmt: skip
        call = {"from": c["operator"], "to": c["w"].module, "data": "0x" + data.hex()}
        with pytest.raises(RpcError) as e:
            rpc_call(c["url"], "eth_call", [call, "latest"])
        d = e.value.data.get("data") if isinstance(e.value.data, dict) else e.value.data
        got = decode_violation(d)
        assert got is not None and got[0] is status


def test_bad_requests_refused_with_codes(world, cosigned):
    c = cosigned
    url = c["svc"].url
    st, body = _post(url, b"not json")
    assert st == 400 and body["code"] == "COSIGNER_BAD_REQUEST"
    good = {
        "chain_id": world.l1.chain_id, "module": c["w"].module, "operator": c["operator"],
        "to": world.l1.token("USDC").address, "value": "0", "data": "0x", "operation": 0,
    }  # fmt: skip
    st, body = _post(url, json.dumps({**good, "value": "-1"}).encode())
    assert st == 400 and body["code"] == "COSIGNER_BAD_REQUEST" and "value" in body["reason"]
    st, body = _post(url, json.dumps({**good, "chain_id": 1}).encode())
    assert st == 403 and body["code"] == "COSIGNER_WRONG_CHAIN"
    st, body = _post(url, json.dumps({**good, "module": ATTACKER}).encode())
    assert st == 403 and body["code"] == "COSIGNER_WRONG_MODULE"
    st, body = _post(url, json.dumps({**good, "operator": ATTACKER}).encode())
    assert st == 403 and body["code"] == Status.NOT_OPERATOR.code
    st, body = _post(url, json.dumps({**good, "operation": 1}).encode())
    assert st == 403 and body["code"] == Status.DELEGATECALL_NOT_ALLOWED.code


def test_cli_bad_config_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "agent.cli", "cosigner", "run", "--config", str(tmp_path / "no.toml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert "no.toml does not exist" in r.stderr and "Traceback" not in r.stderr
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'key_env = "X"\npolicy = "p.toml"\nmanifest = "m.json"\nrpc_url = "http://x"\nport = 99999\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "agent.cli", "cosigner", "run", "--config", str(cfg)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "port" in r.stderr and "Traceback" not in r.stderr


async def test_cosigners_own_stricter_policy_denies_an_intent_the_agent_allows(
    world, cosigned, tmp_path, monkeypatch
):
    """The co-signer's copy of the policy is its own: with its kill switch on, an intent the
    agent's policy allows is denied by the co-signer with its code, journaled as OrderDenied,
    and nothing is signed by the operator or sent."""
    c = cosigned
    strict = c["dir"] / "strict.toml"
    text = Path(c["w"].policy_file).read_text()
    assert text.count("kill_switch = false") == 1
    strict.write_text(text.replace("kill_switch = false", "kill_switch = true"))
    cfg = c["dir"] / "strict-cosigner.toml"
    cfg.write_text(c["cfg"].read_text().replace(str(c["w"].policy_file), str(strict)))
    env = {**os.environ, "TEST_COSIGNER_KEY": c["co_key"]}
    svc = Cosigner(str(cfg), env, c["dir"] / "strict.log")
    monkeypatch.setenv("AGENT_COSIGNER_URL", svc.url)
    before = _nonce(c["url"], c["operator"])
    app = await build_swap_app(
        rpc_url=c["url"], manifest=world.l1, safe=c["w"].safe, module=c["w"].module,
        operator_key=c["op_key"], journal_path=tmp_path / "j.sqlite",
        policy_path=c["w"].policy_file,
    )  # fmt: skip
    try:
        rep = await app.pipeline.run(
            SwapIntent("cosign-strict", Side.BUY, "WETH", "USDC", Decimal("0.1"), 50)
        )
        assert rep.status == "denied", (rep.status, rep.code, rep.reason)
        assert rep.code == "POLICY_KILL_SWITCH" and "co-signer refused" in rep.reason
        denied = [r for r in app.journal.read_all() if r.type == "OrderDenied"]
        assert denied and denied[-1].event.code == "POLICY_KILL_SWITCH"
        assert not [r for r in app.journal.read_all() if r.type == "TxSigned"]
        assert _nonce(c["url"], c["operator"]) == before
    finally:
        await app.close()
        svc.stop()


async def test_a_new_block_is_seen_by_the_next_request(world, cosigned, l1_isolated):
    """The co-signer caches its chain reads per block: the same request in the same block is
    answered from memory, but a block that moves the oracle is seen by the very next request
    (the policy reads and the simulation run on the head read at the request, by hash)."""
    import time

    from agent.chain.rpc import RpcClient
    from agent.execution.calls import parse_swap_intent, plan_swap
    from agent.signing.cosigner.wire import module_call
    from agent.signing.errors import SignerRefusedError
    from agent.venues.uniswap_v2 import UniswapV2Venue
    from agent.venues.uniswap_v3 import UniswapV3Venue

    c = cosigned
    m = world.l1
    feed = m.address("PriceFeedWETH")
    async with RpcClient(c["url"], expected_chain_id=m.chain_id) as rpc:
        venues = [UniswapV2Venue(rpc, m), UniswapV3Venue(rpc, m)]
        intent = parse_swap_intent("buy 1 WETH with USDC max-slippage 50bps")
        plan = await plan_swap(rpc, venues, intent, safe=c["w"].safe, now=int(time.time()))
    mc = module_call(list(plan.calls), m.address("MultiSendCallOnly"))
    client = CosignerClient(c["svc"].url, cosigner=c["cosigner"])
    ask = dict(module=c["w"].module, chain_id=m.chain_id, operator=c["operator"], call=mc)
    try:
        for _ in range(2):  # twice in one block: the second from the cache, same answer
            assert (await client.cosign(**ask)).signature
        # the oracle now says WETH is worth a tenth: buying at the pool's price is far out
        (_r, answer, *_rest) = decode(
            ["uint80", "int256", "uint256", "uint256", "uint80"],
            bytes.fromhex(rpc_call(c["url"], "eth_call", [
                {"to": feed, "data": "0x" + fsel("latestRoundData()").hex()}, "latest"
            ])[2:]),
        )  # fmt: skip
        deployer = Transactor(c["url"], DEPLOYER_KEY)
        push = fsel("pushAnswer(int256)")
        deployer.send(feed, push + encode(["int256"], [answer // 10]))
        with pytest.raises(SignerRefusedError) as e:
            await client.cosign(**ask)
        assert e.value.code == Status.PRICE_OUT_OF_BOUNDS.code, str(e.value)
        # refused by the co-signer's own policy on the new price, before signing (a stale
        # read would pass it and leave the refusal to the module in the simulation)
        assert "[rule: simulate]" not in str(e.value), str(e.value)
        deployer.send(feed, push + encode(["int256"], [answer]))  # and back: allowed again
        assert (await client.cosign(**ask)).signature
    finally:
        await client.close()


def test_routed_order_through_the_cosigner(world, cosigned, tmp_path):
    """`agent trade order` with $AGENT_COSIGNER_URL: the plan's one Safe transaction goes as
    executeCosigned with the co-signer's signature (its own policy and simulation), and
    fills; without the co-signer the same role cannot execute at all (29, above)."""
    from typer.testing import CliRunner

    from agent.cli.main import app as cli
    from agent.signing.cosigner.wire import EXECUTE_COSIGNED

    c = cosigned
    j = tmp_path / "order.sqlite"
    args = [
        "trade", "order", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", "1",
        "--client-id", "cosigned-order", "--safe", c["w"].safe, "--module", c["w"].module,
        "--rpc-url", c["url"], "--manifest", str(world.manifest_paths[0]),
        "--state-dir", str(tmp_path / "none"), "--journal", str(j), "--slippage-bps", "50",
        "--simulation", "trace", "--json",
    ]  # fmt: skip
    env = {"AGENT_OPERATOR_KEY": c["op_key"], "AGENT_COSIGNER_URL": c["svc"].url}
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{") :])
    assert out["state"] == "filled" and out["filled"] == 10**18, out
    (batch,) = out["batches"]
    mined = rpc_call(c["url"], "eth_getTransactionByHash", [batch["tx_hash"]])
    assert mined["from"].lower() == c["operator"].lower()
    assert bytes.fromhex(mined["input"][2:10]) == EXECUTE_COSIGNED
