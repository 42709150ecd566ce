"""Deploy a Safe proxy (owners, threshold) and enable the agent module on it.

Used by ``scripts/deploy_wallet.py`` and ``agent wallet deploy``; works against any RPC URL.
Configuring the module is a Safe transaction (enableModule + allowlist in one MultiSend
batch), so it needs ``threshold`` owner signatures: given owner keys it executes at once;
otherwise it returns the Safe tx (fields and hash) for the owners to sign.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import to_checksum_address

from agent.deploy.manifest import Manifest
from agent.deploy.transactor import PlannedTx, Transactor
from agent.errors import ValidationError
from agent.wallet.module import set_allowed_call, skeleton_allowlist
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


@dataclass(frozen=True, slots=True)
class WalletDeployment:
    safe: str
    module: str
    owners: tuple[str, ...]
    threshold: int
    operator: str
    config_tx: SafeTx
    executed: bool


def setup_calldata(owners: list[str], threshold: int, fallback_handler: str) -> bytes:
    return selector(
        "setup(address[],uint256,address,bytes,address,address,uint256,address)"
    ) + encode(
        ["address[]", "uint256", "address", "bytes", "address", "address", "uint256", "address"],
        [owners, threshold, ZERO, b"", fallback_handler, ZERO, 0, ZERO],
    )


def deploy_safe(
    tx: Transactor, manifest: Manifest, owners: list[str], threshold: int, salt: int = 0
) -> str:
    owners = check_owners(owners, threshold)
    init = setup_calldata(owners, threshold, manifest.address("CompatibilityFallbackHandler"))
    factory = tx.contract("SafeProxyFactory", manifest.address("SafeProxyFactory"))
    fn = factory.functions.createProxyWithNonce(manifest.address("Safe"), init, salt)
    data = bytes.fromhex(fn._encode_transaction_data()[2:])
    # The proxy address is deterministic (CREATE2); ask the factory before sending. An
    # eth_call sends nothing, so a dry run shows the real address too.
    raw = tx.rpc(
        "eth_call", {"from": tx.address, "to": factory.address, "data": "0x" + data.hex()}, "latest"
    )
    safe = to_checksum_address("0x" + raw[-40:])
    tx.send(
        factory.address, data,
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
    allowlist: list[tuple[str, str]] | None = None,
) -> WalletDeployment:
    owners = check_owners(owners, threshold)
    try:
        operator = to_checksum_address(operator)
    except ValueError:
        raise ValidationError("operator", f"{operator!r} is not an address") from None
    safe = deploy_safe(tx, manifest, owners, threshold, salt)
    multisend = manifest.address("MultiSendCallOnly")
    module = tx.deploy(
        "AgentModule",
        safe,
        operator,
        multisend,
        description="deploy AgentModule(safe, operator, MultiSendCallOnly)",
    )
    calls = [Call(safe, selector("enableModule(address)") + encode(["address"], [module]))]
    for target, sig in allowlist if allowlist is not None else skeleton_allowlist(manifest):
        calls.append(set_allowed_call(module, target, sig))
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
                f"Safe tx for the owners to sign (enableModule + {len(calls) - 1} allowlist "
                f"entries), safeTxHash 0x{config.hash().hex()}",
                config.to,
                config.data,
                0,
            )
        )
    return WalletDeployment(safe, module, tuple(owners), threshold, operator, config, executed)
