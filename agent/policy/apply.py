"""`agent policy apply`: read the module's configuration back, diff it against the policy,
and turn the diff into ONE Safe transaction (a MultiSendCallOnly batch of module calls, plus
enableModule if the module is not enabled yet) for the owners to sign.

Safe hashing and signatures are the wallet area's (agent.wallet.safe_tx): every signer sees
the fields and the hash recomputed from them, and a displayed hash that differs is refused
before signing.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector as fsel
from eth_utils import to_checksum_address

from agent.chain.devnet import rpc_call
from agent.deploy.transactor import Transactor
from agent.errors import ValidationError
from agent.policy.compiler import Change, ModuleConfig, compile_policy, diff, module_calls
from agent.policy.model import Policy
from agent.policy.onchain import ModuleReader, deploy_code
from agent.wallet.multisend import Call, multisend_calldata
from agent.wallet.safe_tx import (
    Operation,
    SafeTx,
    exec_transaction_calldata,
    pack_signatures,
    sign_safe_tx,
)


@dataclass(frozen=True)
class ApplyPlan:
    current: ModuleConfig
    desired: ModuleConfig
    changes: list[Change]
    enable_module: bool
    safe_tx: SafeTx | None


def _view(
    url: str, to: str, sig: str, types: list[str], args: list[object], out: list[str]
) -> object:
    data = fsel(sig) + encode(types, args)
    raw = rpc_call(url, "eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    return decode(out, bytes.fromhex(raw[2:]))[0]


def plan_apply(policy: Policy, rpc_url: str) -> ApplyPlan:
    if not policy.module:
        raise ValidationError(
            "module",
            "the policy names no module",
            'deploy one (`agent policy apply --deploy`) and set module = "0x..."',
        )
    chain_id = int(rpc_call(rpc_url, "eth_chainId"), 16)
    if chain_id != policy.chain_id:
        raise ValidationError(
            "rpc_url",
            f"chain {chain_id} is not the policy's chain {policy.chain_id}",
            "point --rpc-url at the manifest's chain",
        )
    current = ModuleReader(rpc_url, policy.module).config()
    desired = compile_policy(policy)
    changes = diff(current, desired, policy)
    enabled = bool(
        _view(
            rpc_url, policy.safe, "isModuleEnabled(address)", ["address"], [policy.module], ["bool"]
        )
    )
    calls: list[Call] = []
    if not enabled:
        calls.append(
            Call(policy.safe, fsel("enableModule(address)") + encode(["address"], [policy.module]))
        )
    calls += module_calls(policy.module, changes)
    if not calls:
        return ApplyPlan(current, desired, changes, False, None)
    nonce = int(_view(rpc_url, policy.safe, "nonce()", [], [], ["uint256"]))  # type: ignore[call-overload]
    if len(calls) == 1:
        c = calls[0]
        tx = SafeTx(policy.safe, chain_id, c.to, 0, c.data, Operation.CALL, nonce)
    else:
        if not policy.multisend:
            raise ValidationError(
                "manifest",
                "no MultiSendCallOnly in the manifest",
                "deploy the world's Safe contracts",
            )
        tx = SafeTx(
            policy.safe,
            chain_id,
            policy.multisend,
            0,
            multisend_calldata(calls),
            Operation.DELEGATECALL,
            nonce,
        )
    return ApplyPlan(current, desired, changes, not enabled, tx)


def sign_as_owner(tx: SafeTx, key: str, displayed_hash: bytes | None = None) -> tuple[str, bytes]:
    """One owner's signature over the hash recomputed from the fields; refuses (raises
    UnsafePayloadError) when ``displayed_hash`` - what the owner was shown - differs."""
    return sign_safe_tx(tx, key, expected_hash=displayed_hash)


def execute(sender: Transactor, tx: SafeTx, signatures: dict[str, bytes]) -> dict:
    return sender.send(
        tx.safe,
        exec_transaction_calldata(tx, pack_signatures(signatures)),
        description="Safe.execTransaction (policy apply)",
    )


def deploy_module(sender: Transactor, safe: str, multisend: str) -> str:
    """Deploy a PolicyModule for ``safe`` (enabling it is part of the next apply)."""
    receipt = sender.send(
        None,
        deploy_code(to_checksum_address(safe), to_checksum_address(multisend)),
        description="deploy PolicyModule",
    )
    if sender.dry_run:
        return "0x" + "00" * 20
    return to_checksum_address(receipt["contractAddress"])


def safe_threshold(rpc_url: str, safe: str) -> int:
    return int(_view(rpc_url, safe, "getThreshold()", [], [], ["uint256"]))  # type: ignore[call-overload]
