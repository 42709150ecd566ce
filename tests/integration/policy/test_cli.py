"""`agent policy ...` against the session devnet: validate, apply (diff, signatures, execute),
explain, and bad input as one line with a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as fsel
from typer.testing import CliRunner

from agent.cli.main import app
from agent.deploy.devworld import OWNER_KEYS

from .conftest import PolicyEnv

pytestmark = pytest.mark.integration
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


def test_validate_apply_explain(policy_env: PolicyEnv, l1_isolated: None, tmp_path: Path) -> None:
    env = policy_env
    man = str(env.world.manifest_paths[0])
    code, out = cli("policy", "validate", str(env.policy_path), "--manifest", man)
    assert code == 0 and "6 rule(s)" in out, out
    code, out = cli(
        "policy", "apply", str(env.policy_path), "--manifest", man, "--rpc-url", env.rpc_url
    )
    assert code == 0 and "up to date" in out, out

    edited = env.policy_path.with_name("cli.toml")
    edited.write_text(env.policy_path.read_text().replace('amount = "10"', 'amount = "12"'))
    code, out = cli(
        "policy",
        "apply",
        str(edited),
        "--manifest",
        man,
        "--rpc-url",
        env.rpc_url,
        "--owner-key",
        OWNER_KEYS[0],
    )
    assert (
        code == 3
        and "~ allowance weth-daily" in out
        and "safe_tx_hash" in out
        and "1 of 2 signatures" in out
    ), out
    code, out = cli(
        "policy",
        "apply",
        str(edited),
        "--manifest",
        man,
        "--rpc-url",
        env.rpc_url,
        "--owner-key",
        OWNER_KEYS[0],
        "--displayed-hash",
        "0x" + "12" * 32,
    )
    assert code != 0 and "UNSAFE_PAYLOAD" in out and "refusing to sign" in out, out
    code, out = cli(
        "policy",
        "apply",
        str(edited),
        "--manifest",
        man,
        "--rpc-url",
        env.rpc_url,
        "--owner-key",
        OWNER_KEYS[0],
        "--owner-key",
        OWNER_KEYS[1],
    )
    assert code == 0 and "executed" in out, out
    code, out = cli("policy", "apply", str(edited), "--manifest", man, "--rpc-url", env.rpc_url)
    assert "up to date" in out, out

    usdc = env.world.l1.token("USDC").address
    steal = fsel("approve(address,uint256)") + encode(
        ["address", "uint256"], [env.operator.address, 5]
    )
    code, out = cli(
        "policy",
        "explain",
        str(edited),
        "--manifest",
        man,
        "--rpc-url",
        env.rpc_url,
        "--to",
        usdc,
        "--data",
        "0x" + steal.hex(),
        "--operator",
        env.operator.address,
    )
    assert (
        code == 0 and "FAIL where.spender.in_set" in out and "DENY POLICY_PARAM_NOT_IN_SET" in out
    ), out


def test_bad_input_is_one_line_with_file_and_line(tmp_path: Path, policy_env: PolicyEnv) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        policy_env.policy_path.read_text().replace(
            'name = "trader"', 'name = "trader"\nmax_slippage_bps = "lots"'
        )
    )
    code, out = cli(
        "policy", "validate", str(bad), "--manifest", str(policy_env.world.manifest_paths[0])
    )
    assert code == 2
    assert f"{bad}:" in out and "roles[0].max_slippage_bps" in out and "POLICY_INVALID" in out, out
    unlimited = policy_env.policy_path.with_name("unlimited.toml")
    unlimited.write_text(
        policy_env.policy_path.read_text().replace('"amount" = { le = "1000000 USDC" }', "")
    )
    code, out = cli(
        "policy", "validate", str(unlimited), "--manifest", str(policy_env.world.manifest_paths[0])
    )
    assert code == 2 and "POLICY_UNSAFE" in out and "unlimited approval" in out, out


def test_init_writes_a_valid_example(tmp_path: Path, policy_env: PolicyEnv) -> None:
    p = tmp_path / "policy.toml"
    code, out = cli(
        "policy",
        "init",
        str(p),
        "--safe",
        policy_env.safe,
        "--operator",
        policy_env.operator.address,
    )
    assert code == 0, out
    code, out = cli(
        "policy", "validate", str(p), "--manifest", str(policy_env.world.manifest_paths[0])
    )
    assert code == 0, out
    code, out = cli("policy", "init", str(p))
    assert code == 2 and "exists" in out
