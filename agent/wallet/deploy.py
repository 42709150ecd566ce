"""Deploy a Safe proxy (owners, threshold) and enable the PolicyModule on it, configured from a
policy file.

Used by ``scripts/deploy_wallet.py`` and ``agent wallet deploy``; works against any RPC URL.
Configuring the module is a Safe transaction (enableModule + the compiled policy in one
MultiSend batch), so it needs ``threshold`` owner signatures: given owner keys it executes at once;
otherwise it returns the Safe tx (fields and hash) for the owners to sign.

Resumable: a run killed mid-way is finished by running it again with the same arguments.
Every address is deterministic (the Safe by the factory's CREATE2 from owners, threshold and
salt; the module by CREATE2 through the chain's deterministic deployment proxy, salted with
the Safe's address), so a rerun finds what was deployed, skips it (``WalletDeployment.skipped``
names it) and continues; the configuration is one atomic Safe transaction, done once the
module is enabled.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import keccak, to_checksum_address

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
# the keyless CREATE2 deployer (Arachnid's deterministic-deployment-proxy) at the same address
# on anvil and on most public chains: calldata = salt (32 bytes) ++ init code
CREATE2_PROXY = "0x4e59b44847b379578588920cA78FbF26c0B4956C"


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
    skipped: tuple[str, ...] = ()  # what an earlier (interrupted) run had done already


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
    """The address :func:`deploy_safe` creates: SafeProxyFactory 1.4.1's CREATE2 (salt
    ``keccak(keccak(initializer) ++ saltNonce)``, init code ``proxyCreationCode ++
    singleton``), computed here rather than by an eth_call of the creation, which reverts
    once the Safe exists (the rerun of an interrupted deploy must find it)."""
    owners = check_owners(owners, threshold)
    init = setup_calldata(owners, threshold, manifest.address("CompatibilityFallbackHandler"))
    factory = manifest.address("SafeProxyFactory")
    creation = tx.call("SafeProxyFactory", factory, "proxyCreationCode")
    code = bytes(creation) + encode(["uint256"], [int(manifest.address("Safe"), 16)])
    s = keccak(keccak(init) + encode(["uint256"], [salt]))
    raw = keccak(b"\xff" + bytes.fromhex(factory[2:]) + s + keccak(code))
    return to_checksum_address(raw[12:])


def has_code(tx: Transactor, address: str) -> bool:
    return tx.rpc("eth_getCode", address, "latest") not in ("0x", "0x0", None)


def deploy_safe(
    tx: Transactor, manifest: Manifest, owners: list[str], threshold: int, salt: int = 0
) -> str:
    safe = predict_safe(tx, manifest, owners, threshold, salt)
    if has_code(tx, safe):  # an earlier run deployed it: the same CREATE2 would revert
        return safe
    factory, data = _create_proxy_call(tx, manifest, owners, threshold, salt)
    tx.send(
        factory, data,
        description=f"SafeProxyFactory.createProxyWithNonce({len(owners)} owners, threshold {threshold})",
    )  # fmt: skip
    return safe


def module_init_code(tx: Transactor, safe: str, multisend: str) -> bytes:
    return bytes.fromhex(
        tx.contract("PolicyModule").constructor(safe, multisend).data_in_transaction[2:]
    )


def predict_module(tx: Transactor, safe: str, multisend: str) -> str:
    """The module's CREATE2 address: the proxy, salted with the Safe (one module per Safe)."""
    salt = bytes.fromhex(to_checksum_address(safe)[2:]).rjust(32, b"\0")
    code_hash = keccak(module_init_code(tx, safe, multisend))
    raw = keccak(b"\xff" + bytes.fromhex(CREATE2_PROXY[2:]) + salt + code_hash)
    return to_checksum_address(raw[12:])


def deploy_module(tx: Transactor, safe: str, multisend: str) -> tuple[str, bool]:
    """(PolicyModule of ``safe``, whether it existed already). Through the CREATE2 proxy when
    the chain has it, so a rerun finds it; else a plain CREATE (a rerun deploys a new one,
    harmless until the configuration transaction enables it)."""
    if not has_code(tx, CREATE2_PROXY):
        desc = "deploy PolicyModule(safe, MultiSendCallOnly)"
        return tx.deploy("PolicyModule", safe, multisend, description=desc), False
    module = predict_module(tx, safe, multisend)
    if has_code(tx, module):
        return module, True
    salt = bytes.fromhex(to_checksum_address(safe)[2:]).rjust(32, b"\0")
    tx.send(
        CREATE2_PROXY, salt + module_init_code(tx, safe, multisend),
        description="deploy PolicyModule(safe, MultiSendCallOnly) by CREATE2",
    )  # fmt: skip
    return module, False


def module_enabled(tx: Transactor, safe: str, module: str) -> bool:
    if tx.dry_run and not has_code(tx, safe):
        return False
    return bool(tx.call("Safe", safe, "isModuleEnabled", module))


def safe_nonce(tx: Transactor, safe: str) -> int:
    if tx.dry_run and not has_code(tx, safe):
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
    skipped: list[str] = []
    if has_code(tx, predict_safe(tx, manifest, owners, threshold, salt)):
        skipped.append("safe")
    safe = deploy_safe(tx, manifest, owners, threshold, salt)
    multisend = manifest.address("MultiSendCallOnly")
    module, existed = deploy_module(tx, safe, multisend)
    if existed:
        skipped.append("module")
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
    if module_enabled(tx, safe, module):  # the configuration ran (it is one atomic Safe tx)
        skipped.append("configuration")
        executed = True
    elif len(keys) >= threshold:
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
        safe, module, tuple(owners), threshold, operator, config, executed, out, multisend,
        tuple(skipped),
    )  # fmt: skip


def default_policy_template(manifest: Manifest) -> Path:
    """The dev world's policy for this manifest's layer (L2 when it has the L2 bridge)."""
    return POLICIES / ("l2.toml" if "BridgeL2" in manifest.contracts else "l1.toml")
