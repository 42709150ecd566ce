"""The CLI as a user runs it (subprocesses): devnet lifecycle, wallet deploy, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from agent.chain.devnet import rpc_call
from agent.deploy.devworld import DEPLOYER_KEY, OPERATOR_KEY, OWNER_KEYS, DevWorld, address_of

pytestmark = pytest.mark.integration
AGENT = [sys.executable, "-m", "agent.cli"]


def agent(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENT, *args], capture_output=True, text=True, timeout=timeout,
        # TMPDIR: the CLI's own temp files go under the session scratch dir (tests/conftest.py)
        env={**os.environ, "COLUMNS": "200", "TMPDIR": tempfile.gettempdir(), **(env or {})},
    )  # fmt: skip


def _owners() -> list[str]:
    out = []
    for k in OWNER_KEYS:
        out += ["--owner", address_of(k)]
    return out


def test_wallet_deploy_dry_run_decodes_and_sends_nothing(world: DevWorld) -> None:
    url = world.devnets.l1.rpc_url
    deployer = address_of(DEPLOYER_KEY)
    nonce = rpc_call(url, "eth_getTransactionCount", [deployer, "latest"])
    r = agent(
        "wallet", "deploy", "--rpc-url", url, "--manifest", str(world.manifest_paths[0]),
        *_owners(), "--threshold", "2", "--operator", address_of(OPERATOR_KEY),
        "--key-env", "DEPLOYER", "--dry-run", env={"DEPLOYER": DEPLOYER_KEY},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "dry run: nothing sent" in r.stdout
    assert "SafeProxyFactory.createProxyWithNonce" in r.stdout and "PolicyModule" in r.stdout
    assert "selector 0x610b5925" in r.stdout  # enableModule(address), decoded from the batch
    assert rpc_call(url, "eth_getTransactionCount", [deployer, "latest"]) == nonce


def test_wallet_deploy_for_real_then_module_enabled(world: DevWorld, l1_isolated: None) -> None:
    env = {"DEPLOYER": DEPLOYER_KEY, **{f"OWNER{i}": k for i, k in enumerate(OWNER_KEYS)}}
    r = agent(
        "wallet", "deploy", "--rpc-url", world.devnets.l1.rpc_url, "--manifest",
        str(world.manifest_paths[0]), *_owners(), "--threshold", "2", "--operator",
        address_of(OPERATOR_KEY), "--key-env", "DEPLOYER", "--owner-key-env", "OWNER0",
        "--owner-key-env", "OWNER1", "--salt", "99", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "PolicyModule enabled and configured" in r.stdout
    safe = re.search(r"safe\s+(0x[0-9a-fA-F]{40})", r.stdout).group(1)  # type: ignore[union-attr]
    module = re.search(r"module\s+(0x[0-9a-fA-F]{40})", r.stdout).group(1)  # type: ignore[union-attr]
    data = "0x2d9ad53d" + "00" * 12 + module[2:].lower()  # isModuleEnabled(address)
    enabled = rpc_call(world.devnets.l1.rpc_url, "eth_call", [{"to": safe, "data": data}, "latest"])
    assert int(enabled, 16) == 1


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--owner", "0x" + "11" * 20, "--owner", "0x" + "11" * 20, "--threshold", "1"], "owners"),
        (["--owner", "0x" + "11" * 20, "--threshold", "2"], "threshold"),
    ],
)
def test_wallet_deploy_bad_owner_sets_fail_in_one_line(
    world: DevWorld, extra: list[str], field: str
) -> None:
    r = agent(
        "wallet", "deploy", "--rpc-url", world.devnets.l1.rpc_url, "--manifest",
        str(world.manifest_paths[0]), *extra, "--operator", address_of(OPERATOR_KEY),
        "--key-env", "DEPLOYER", env={"DEPLOYER": DEPLOYER_KEY},
    )  # fmt: skip
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and f"{field}:" in r.stderr


def test_unanswering_rpc_url_fails_in_one_line(world: DevWorld) -> None:
    r = agent(
        "wallet", "deploy", "--rpc-url", "http://127.0.0.1:9", "--manifest",
        str(world.manifest_paths[0]), *_owners(), "--threshold", "2", "--operator",
        address_of(OPERATOR_KEY), "--key-env", "DEPLOYER", env={"DEPLOYER": DEPLOYER_KEY},
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "RPC_UNAVAILABLE" in r.stderr


def test_trade_bad_input_fails_before_anything_is_sent(world: DevWorld) -> None:
    base = ["trade", "swap", "--side", "buy", "--quote", "USDC", "--client-id", "x", "--rpc-url",
            world.devnets.l1.rpc_url, "--manifest", str(world.manifest_paths[0]), "--safe",
            "0x" + "11" * 20, "--module", "0x" + "22" * 20]  # fmt: skip
    for extra, needle in (
        (["--base", "XYZ", "--size", "1"], "unknown token 'XYZ'"),
        (["--base", "WETH", "--size", "0"], "--size: 0 must be a positive number"),
        (["--base", "WETH", "--size", "1", "--slippage-bps", "10001"], "intent.max_slippage_bps"),
        # issue 17, item 7: one line naming the field, never a traceback
        (["--base", "WETH", "--size", "1e400"], "intent.size: 1E+400 WETH is more than any"),
        (["--base", "WETH", "--size", "nan"], "--size: nan must be a positive number"),
        (["--base", "WETH", "--size", "1", "--safe", "0x123"], "--safe: '0x123' is not an address"),
        (["--base", "WETH", "--size", "1", "--module", "0xZZ"], "--module: '0xZZ' is not an"),
        (["--base", "WETH", "--size", "1", "--safe", "0x" + "aB" * 20], "wrong EIP-55 checksum"),
        (["--base", "WETH", "--size", "1", "--max-notional", "abc"], "--max-notional: 'abc' is"),
        (["--base", "WETH", "--size", "1", "--max-notional", "-5"], "--max-notional: -5 must"),
    ):
        r = agent(*base, *extra)
        assert r.returncode == 2, r.stderr
        assert needle in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr


def test_trade_swap_help_names_every_connection_option() -> None:
    r = agent("trade", "swap", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for needle in ("JSON-RPC URL", "Deployment manifest", "The fund's Safe", "PolicyModule"):
        assert needle in text, text


def test_devnet_up_status_down(tmp_path: Path) -> None:
    state = tmp_path / "dn"
    proc = subprocess.Popen(
        [*AGENT, "devnet", "up", "--state-dir", str(state)], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        assert "L1 http://127.0.0.1:" in text and "L2 http://127.0.0.1:" in text, text
        assert "l1.manifest.json" in text and "l2.manifest.json" in text
        assert "bridge relayers: 3 processes" in text
        info = json.loads((state / "devnets.json").read_text())
        relayer_pids = [r["pid"] for r in info["relayers"]]
        assert len(set(relayer_pids)) == 3 and all(_alive(p) for p in relayer_pids)
        st = agent("devnet", "status", "--state-dir", str(state))
        assert st.returncode == 0 and st.stdout.count(": up") == 5, st.stdout
        dn = agent("devnet", "down", "--state-dir", str(state))
        assert dn.returncode == 0
        proc.wait(20)
        deadline = time.monotonic() + 10
        pids = [info[n]["pid"] for n in ("l1", "l2")] + relayer_pids
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)  # polling /proc for process exit
        assert not any(_alive(p) for p in pids)
        st = agent("devnet", "status", "--state-dir", str(state))
        assert st.returncode == 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False
