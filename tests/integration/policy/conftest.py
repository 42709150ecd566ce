"""Policy integration fixtures: a 2-of-3 Safe on the session L1 with a PolicyModule enabled and
configured from a policy file by the real apply path (read back, diff, Safe tx, owner
signatures, execTransaction)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as fsel

from agent.chain.devnet import rpc_call
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    GUARDIAN_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    DevWorld,
    address_of,
)
from agent.deploy.transactor import Transactor
from agent.policy.install import install_policy_module
from agent.policy.model import Policy
from agent.policy.onchain import REPO, ModuleReader, execute_calldata
from agent.wallet.deploy import deploy_safe

CEX = "0x000000000000000000000000000000000000Ce0d"  # a "known counterparty" deposit address
PAYEE = "0x00000000000000000000000000000000000Fee01"  # native transfers allowed up to 1 ETH

POLICY = """
version = 1
name = "differential"
safe = "${SAFE}"
module = "${MODULE}"
guardian = "${GUARDIAN}"

[screening]
allowlist = "counterparties.txt"

[sets]
tokens = ["WETH", "USDC", "WBTC"]
spenders = ["SwapRouter", "UniswapV2Router02"]

[allowances.usdc-daily]
token = "USDC"
amount = "50000"
period = "1d"

[allowances.weth-daily]
token = "WETH"
amount = "10"
period = "1d"

[[roles]]
name = "trader"
id = 1
operators = ["${OPERATOR}"]

[[roles.rules]]
target = "SwapRouter"
function = "exactInputSingle((address tokenIn,address tokenOut,uint24 fee,address recipient,uint256 deadline,uint256 amountIn,uint256 amountOutMinimum,uint160 sqrtPriceLimitX96) params)"
acknowledge = ["no-price-bound", "no-value-guard"]  # the word conditions alone (the oracle rules: test_oracle_attacks.py)
[roles.rules.where]
"params.tokenIn" = { eq = "USDC" }
"params.tokenOut" = { in_set = "tokens" }
"params.fee" = { one_of = [500, 3000] }
"params.recipient" = { is_safe = true }
"params.amountIn" = { allowance = "usdc-daily" }
"params.amountOutMinimum" = { ge = 1 }

[[roles.rules]]
target = "SwapRouter"
function = "exactInput((bytes path,address recipient,uint256 deadline,uint256 amountIn,uint256 amountOutMinimum) params)"
acknowledge = ["no-price-bound", "no-value-guard"]  # the word conditions alone (the oracle rules: test_oracle_attacks.py)
[roles.rules.where]
"params.path" = { every_in_set = "tokens" }
"params.recipient" = { is_safe = true }
"params.amountIn" = { le = "20000 USDC" }

[[roles.rules]]
target = "UniswapV2Router02"
function = "swapExactTokensForTokens(uint256 amountIn,uint256 amountOutMin,address[] path,address to,uint256 deadline)"
acknowledge = ["no-price-bound", "no-value-guard"]  # the word conditions alone (the oracle rules: test_oracle_attacks.py)
[roles.rules.where]
"path" = { every_in_set = "tokens" }
"to" = { is_safe = true }
"amountIn" = { le = "20000 USDC" }

[[roles.rules]]
target = "USDC"
function = "approve(address spender,uint256 amount)"
[roles.rules.where]
"spender" = { in_set = "spenders" }
"amount" = { le = "1000000 USDC" }

[[roles.rules]]
target = "WETH"
function = "transfer(address to,uint256 amount)"
[roles.rules.where]
"to" = { counterparty = true }
"amount" = { allowance = "weth-daily" }

[[roles.rules]]
target = "${PAYEE}"
function = "receive()"
max_value = "1"
"""


@dataclass
class PolicyEnv:
    world: DevWorld
    rpc_url: str
    safe: str
    module: str
    policy: Policy
    policy_path: Path
    operator: Transactor
    deployer: Transactor

    @property
    def reader(self) -> ModuleReader:
        return ModuleReader(self.rpc_url, self.module)

    def onchain(
        self, to: str, value: int, data: bytes, operation: int = 0, sender: str | None = None
    ) -> str | None:
        """eth_call of module.execute from ``sender``: None when it would execute, else revert data."""
        from agent.errors import RpcError

        call = {
            "from": sender or self.operator.address,
            "to": self.module,
            "data": "0x" + execute_calldata(to, value, data, operation).hex(),
        }
        try:
            rpc_call(self.rpc_url, "eth_call", [call, "latest"])
            return None
        except RpcError as e:
            d = e.data
            return d if isinstance(d, str) else (d or {}).get("data") if isinstance(d, dict) else ""

    def latest_timestamp(self) -> int:
        return int(
            rpc_call(self.rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16
        )


def ensure_module_built() -> None:
    if (REPO / "out" / "PolicyModule.sol" / "PolicyModule.json").exists() or (
        REPO / "out-policy" / "PolicyModule.sol" / "PolicyModule.json"
    ).exists():
        return
    forge = REPO / "node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
    env = {
        **os.environ,
        "FOUNDRY_OUT": "out-policy",
        "FOUNDRY_CACHE_PATH": "cache/policy",
        "FOUNDRY_SPARSE_MODE": "true",
    }
    subprocess.run(
        [str(forge), "build", "contracts/policy/PolicyModule.sol"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=280,
    )


@pytest.fixture(scope="session")
def policy_env(world: DevWorld, tmp_path_factory: pytest.TempPathFactory) -> PolicyEnv:
    ensure_module_built()
    url = world.devnets.l1.rpc_url
    m = world.l1
    dep = Transactor(url, DEPLOYER_KEY)
    safe = deploy_safe(dep, m, [address_of(k) for k in OWNER_KEYS], 2, salt=3301)
    # Fund the Safe: USDC and WBTC minted, WETH wrapped, some ETH.
    for sym, amount in (("USDC", Decimal(10_000_000)), ("WBTC", Decimal(100))):
        a = m.asset(sym)
        dep.transact("DevToken", a.address, "mint", safe, a.to_base(amount))
    weth = m.token("WETH").address
    dep.send(weth, fsel("deposit()"), value=1000 * 10**18)
    dep.send(
        weth,
        fsel("transfer(address,uint256)") + encode(["address", "uint256"], [safe, 1000 * 10**18]),
    )
    dep.send(safe, b"", value=100 * 10**18)

    d = tmp_path_factory.mktemp("policy")
    (d / "counterparties.txt").write_text(f"# CEX deposit address\n{CEX}\n")
    installed = install_policy_module(
        dep, m, safe, POLICY, OWNER_KEYS, 2, path=d / "policy.toml",
        variables={"GUARDIAN": address_of(GUARDIAN_KEY), "OPERATOR": address_of(OPERATOR_KEY),
                   "PAYEE": PAYEE},
    )  # fmt: skip
    module, policy, path = installed.module, installed.policy, installed.path
    op = Transactor(url, OPERATOR_KEY)
    env = PolicyEnv(world, url, safe, module, policy, path, op, dep)
    # The operator approves the routers through the module (so swaps can really execute).
    usdc = m.token("USDC").address
    for spender in (m.address("SwapRouter"), m.address("UniswapV2Router02")):
        data = fsel("approve(address,uint256)") + encode(["address", "uint256"], [spender, 10**12])
        op.send(module, execute_calldata(usdc, 0, data), description="approve via module")
    return env
