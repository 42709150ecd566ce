"""`agent policy ...` against the session devnet: validate, apply (diff, signatures, execute),
explain, and bad input as one line with a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as fsel
from typer.testing import CliRunner

from agent.chain.devnet import rpc_call
from agent.cli.main import app
from agent.deploy.devworld import OWNER_KEYS
from agent.policy.install import bind
from agent.wallet.deploy import default_policy_template
from agent.wallet.safe_tx import ZERO

from .conftest import PolicyEnv

pytestmark = pytest.mark.integration
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


def policy_cli(env: PolicyEnv, command: str, file: Path, *args: str) -> tuple[int, str]:
    """`agent policy COMMAND FILE --manifest M [--rpc-url URL] ARGS` against the session L1."""
    common = ["--manifest", str(env.world.manifest_paths[0])]
    if command != "validate":
        common += ["--rpc-url", env.rpc_url]
    return cli("policy", command, str(file), *common, *args)


def test_validate_apply_explain(policy_env: PolicyEnv, l1_isolated: None, tmp_path: Path) -> None:
    env = policy_env
    code, out = policy_cli(env, "validate", env.policy_path)
    assert code == 0 and "6 rule(s)" in out, out
    code, out = policy_cli(env, "apply", env.policy_path)
    assert code == 0 and "up to date" in out, out

    edited = env.policy_path.with_name("cli.toml")
    edited.write_text(env.policy_path.read_text().replace('amount = "10"', 'amount = "12"'))
    one_owner = ("--owner-key", OWNER_KEYS[0])
    code, out = policy_cli(env, "apply", edited, *one_owner)
    assert (
        code == 3
        and "~ allowance weth-daily" in out
        and "safe_tx_hash" in out
        and "1 of 2 signatures" in out
    ), out
    code, out = policy_cli(env, "apply", edited, *one_owner, "--displayed-hash", "0x" + "12" * 32)
    assert code != 0 and "UNSAFE_PAYLOAD" in out and "refusing to sign" in out, out
    code, out = policy_cli(env, "apply", edited, *one_owner, "--owner-key", OWNER_KEYS[1])
    assert code == 0 and "executed" in out, out
    code, out = policy_cli(env, "apply", edited)
    assert "up to date" in out, out

    usdc = env.world.l1.token("USDC").address
    steal = fsel("approve(address,uint256)") + encode(
        ["address", "uint256"], [env.operator.address, 5]
    )
    code, out = policy_cli(
        env, "explain", edited, "--to", usdc, "--data", "0x" + steal.hex(),
        "--operator", env.operator.address,
    )  # fmt: skip
    assert (
        code == 1 and "FAIL where.spender.in_set" in out and "DENY POLICY_PARAM_NOT_IN_SET" in out
    ), out
    # arguments decoded with abis/DevToken.json's own parameter names
    assert f"spender = {env.operator.address.lower()}" in out, out


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


def test_explain_an_intent_builds_the_pipeline_calls(policy_env: PolicyEnv, tmp_path: Path) -> None:
    """The calls come from live quotes on anvil (both Uniswap venues), as the swap pipeline
    builds them; the verdict is the guard's, with reference prices from --price."""
    env = policy_env
    # The dev world's policy (exact-output swaps with a slippage bound, approvals) bound to
    # this Safe; its module is read only for allowance balances and the pause flag.
    f = tmp_path / "intent.toml"
    f.write_text(
        bind(
            default_policy_template(env.world.l1).read_text(),
            {
                "SAFE": env.safe,
                "MODULE": env.module,
                "OPERATOR": env.operator.address,
                "GUARDIAN": ZERO,
                "BRIDGE_RECIPIENT": env.safe,
            },
        )
    )
    sent = int(
        rpc_call(env.rpc_url, "eth_getTransactionCount", [env.operator.address, "latest"]), 16
    )
    buy = ("--intent", "buy 1 WETH with USDC max-slippage 30bps")

    # the exact module call simulated too: this env's module was configured from the
    # differential policy (no exact-output swap), so on chain the module refuses the calls
    code, out = policy_cli(env, "explain", f, *buy, "--price", "WETH=3000", "--price", "USDC=1")
    assert code == 1 and "simulation (debug_traceCall" in out, out
    assert "DENY SIMULATION_REVERTED" in out and "PolicyViolation" in out, out

    # the what-ifs below are about the off-chain rules: the simulation is left out
    buy = (*buy, "--simulation", "off")
    code, out = policy_cli(env, "explain", f, *buy, "--price", "WETH=3000", "--price", "USDC=1")
    assert code == 0 and "chosen" in out and "MultiSend batch of 3 calls" in out, out
    assert "ok   SwapPriceChecker (on-chain too)" in out and "200 bps" in out, out
    assert "decision: ALLOW" in out, out
    assert "amountInMax" in out  # decoded with the router's ABI (V3 or V2, whichever won)

    # the reference says WETH is worth 2900: paying ~3000 is more than 200 bps over it (a
    # deny exits 1)
    code, out = policy_cli(env, "explain", f, *buy, "--price", "WETH=2900", "--price", "USDC=1")
    assert code == 1 and "DENY POLICY_PRICE_OUT_OF_BOUNDS" in out, out
    assert "FAIL SwapPriceChecker" in out, out

    # without --price the oracle rules are priced from the chain's feeds (PriceFeedWETH/USDC)
    code, out = policy_cli(env, "explain", f, *buy)
    assert code == 0 and "decision: ALLOW" in out, out

    # the differential policy grants no exact-output swap: the pipeline's calls are refused
    code, out = policy_cli(env, "explain", env.policy_path, *buy, "--price", "WETH=3000")
    assert code == 1 and "DENY POLICY_FUNCTION_NOT_ALLOWED" in out and "Output" in out, out

    # explaining never signs or sends
    assert (
        int(rpc_call(env.rpc_url, "eth_getTransactionCount", [env.operator.address, "latest"]), 16)
        == sent
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--intent", "purchase lots of WETH"), "--intent"),
        (("--intent", "buy 1 WETH with USDC", "--price", "WETH=lots"), "--price"),
        (("--intent", "buy 1 WETH with USDC", "--to", "0x" + "11" * 20), "exactly one"),
        (("--intent", "buy 1 NOPE with USDC"), "NOPE"),
    ],
)
def test_explain_intent_bad_input(
    policy_env: PolicyEnv, args: tuple[str, ...], needle: str
) -> None:
    code, out = policy_cli(policy_env, "explain", policy_env.policy_path, *args)
    assert code == 2 and needle in out and len(out.strip().splitlines()) == 1, out
