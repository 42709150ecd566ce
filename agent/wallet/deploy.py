"""Deploy a Safe proxy (owners, threshold) and enable the PolicyModule on it, configured from a
policy file.

Used by ``scripts/deploy_wallet.py`` and ``agent wallet deploy``; works against any RPC URL.
Configuring the module is a Safe transaction (enableModule + the compiled policy in one
MultiSend batch), so it needs ``threshold`` owner signatures: given owner keys it executes at once;
otherwise it returns the Safe tx (fields and hash) for the owners to sign.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import to_checksum_address

from agent.deploy.manifest import Manifest
from agent.deploy.transactor import PlannedTx, Transactor
from agent.errors import ValidationError
from agent.policy import ModuleConfig, compile_policy, diff, load_policy
from agent.policy.compiler import module_calls
from agent.policy.install import bind
from agent.wallet.multisend import Call, multisend_calldata
from agent.wallet.safe_tx import (
    ZERO,
    Operation,
    SafeTx,
    check_owners,
    exec_transaction_calldata,
    pack_signatures,
    sign_safe_tx,
)

POLICIES = Path(__file__).resolve().parents[1] / "deploy" / "policies"


@dataclass(frozen=True, slots=True)
class WalletDeployment:
    safe: str
    module: str
    owners: tuple[str, ...]
    threshold: int
    operator: str
    config_tx: SafeTx
    executed: bool
    policy_file: Path  # the bound policy: what the module was configured from
    multisend: str


def setup_calldata(owners: list[str], threshold: int, fallback_handler: str) -> bytes:
    return selector(
        "setup(address[],uint256,address,bytes,address,address,uint256,address)"
    ) + encode(
        ["address[]", "uint256", "address", "bytes", "address", "address", "uint256", "address"],
        [owners, threshold, ZERO, b"", fallback_handler, ZERO, 0, ZERO],
    )


def _create_proxy_call(
    tx: Transactor, manifest: Manifest, owners: list[str], threshold: int, salt: int
) -> tuple[str, bytes]:
    owners = check_owners(owners, threshold)
    init = setup_calldata(owners, threshold, manifest.address("CompatibilityFallbackHandler"))
    factory = tx.contract("SafeProxyFactory", manifest.address("SafeProxyFactory"))
    fn = factory.functions.createProxyWithNonce(manifest.address("Safe"), init, salt)
    return factory.address, bytes.fromhex(fn._encode_transaction_data()[2:])


def predict_safe(
    tx: Transactor, manifest: Manifest, owners: list[str], threshold: int, salt: int = 0
) -> str:
    """The address :func:`deploy_safe` will create (CREATE2), asked from the factory by an
    eth_call, which sends nothing, so a dry run shows the real address too."""
    factory, data = _create_proxy_call(tx, manifest, owners, threshold, salt)
    raw = tx.rpc(
        "eth_call", {"from": tx.address, "to": factory, "data": "0x" + data.hex()}, "latest"
    )
    return to_checksum_address("0x" + raw[-40:])


def deploy_safe(
    tx: Transactor, manifest: Manifest, owners: list[str], threshold: int, salt: int = 0
) -> str:
    safe = predict_safe(tx, manifest, owners, threshold, salt)
    factory, data = _create_proxy_call(tx, manifest, owners, threshold, salt)
    tx.send(
        factory, data,
        description=f"SafeProxyFactory.createProxyWithNonce({len(owners)} owners, threshold {threshold})",
    )  # fmt: skip
    return safe


def safe_nonce(tx: Transactor, safe: str) -> int:
    if tx.dry_run:
        return 0
    return int(tx.call("Safe", safe, "nonce"))


def execute_safe_tx(tx: Transactor, safe_tx: SafeTx, owner_keys: list[str], threshold: int) -> dict:
    sigs = dict(sign_safe_tx(safe_tx, k) for k in owner_keys[:threshold])
    if len(sigs) < threshold:
        raise ValidationError(
            "owner_keys", f"{len(sigs)} distinct owner signatures, {threshold} needed"
        )
    data = exec_transaction_calldata(safe_tx, pack_signatures(sigs))
    return tx.send(safe_tx.safe, data, description="Safe.execTransaction")


def deploy_wallet(
    tx: Transactor,
    manifest: Manifest,
    *,
    owners: list[str],
    threshold: int,
    operator: str,
    owner_keys: list[str] | None = None,
    salt: int = 0,
    policy_template: Path | None = None,
    policy_out: Path | None = None,
    guardian: str | None = None,
    policy_vars: dict[str, str] | None = None,
) -> WalletDeployment:
    """Safe proxy + PolicyModule, and ONE owners' Safe transaction that enables the module and
    configures it from the policy (the same document the agent enforces off-chain).

    ``policy_template`` defaults to the dev world's policy for the manifest's layer
    (agent/deploy/policies/); its ``${SAFE}``, ``${MODULE}``, ``${OPERATOR}``, ``${GUARDIAN}``,
    ``${BRIDGE_RECIPIENT}`` (default: this Safe's own address) and ``policy_vars`` are filled
    in and the bound policy is written to ``policy_out`` (default: a temp file)."""
    owners = check_owners(owners, threshold)
    try:
        operator = to_checksum_address(operator)
    except ValueError:
        raise ValidationError("operator", f"{operator!r} is not an address") from None
    safe = deploy_safe(tx, manifest, owners, threshold, salt)
    multisend = manifest.address("MultiSendCallOnly")
    module = tx.deploy(
        "PolicyModule", safe, multisend, description="deploy PolicyModule(safe, MultiSendCallOnly)"
    )
    template = policy_template or default_policy_template(manifest)
    text = bind(
        template.read_text(),
        {
            "SAFE": safe, "MODULE": module, "OPERATOR": operator,
            "GUARDIAN": to_checksum_address(guardian) if guardian else ZERO,
            "BRIDGE_RECIPIENT": safe, **(policy_vars or {}),
        },
        str(template),
    )  # fmt: skip
    out = policy_out or Path(tempfile.mkdtemp(prefix="agent-policy-")) / f"policy.{safe}.toml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    policy = load_policy(out, manifest)
    if policy.safe.lower() != safe.lower():
        raise ValidationError(
            "policy.safe",
            f"{policy.safe} is not the deployed Safe {safe}",
            'write safe = "${SAFE}"',
        )
    changes = diff(ModuleConfig(), compile_policy(policy), policy)
    calls = [Call(safe, selector("enableModule(address)") + encode(["address"], [module]))]
    calls += module_calls(module, changes)
    config = SafeTx(
        safe=safe, chain_id=tx.chain_id, to=multisend, value=0,
        data=multisend_calldata(calls), operation=Operation.DELEGATECALL,
        nonce=safe_nonce(tx, safe),
    )  # fmt: skip
    executed = False
    keys = owner_keys or []
    if len(keys) >= threshold:
        execute_safe_tx(tx, config, keys, threshold)
        executed = True
    else:
        tx.planned.append(
            PlannedTx(
                f"Safe tx for the owners to sign (enableModule + {len(changes)} policy "
                f"changes), safeTxHash 0x{config.hash().hex()}",
                config.to,
                config.data,
                0,
            )
        )
    return WalletDeployment(
        safe, module, tuple(owners), threshold, operator, config, executed, out, multisend
    )


def default_policy_template(manifest: Manifest) -> Path:
    """The dev world's policy for this manifest's layer (L2 when it has the L2 bridge)."""
    return POLICIES / ("l2.toml" if "BridgeL2" in manifest.contracts else "l1.toml")
