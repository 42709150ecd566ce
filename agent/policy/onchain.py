"""The PolicyModule on a chain: its artifact, deployment, reading its configuration back,
allowance state for the evaluator's context, and decoding its revert data."""

from __future__ import annotations

import json
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector as fsel
from eth_utils import to_checksum_address

from agent.chain.devnet import rpc_call
from agent.chain.toolchain import REPO_ROOT
from agent.errors import ArtifactError
from agent.policy.allowance import AllowanceState
from agent.policy.compiler import ZERO, ModuleConfig, ScopeCfg
from agent.policy.model import Status
from agent.wallet.module import EXECUTE, execute_calldata  # the one encoder of module calls

__all__ = [
    "EXECUTE",
    "REPO",
    "VIOLATION_SELECTOR",
    "ModuleReader",
    "decode_violation",
    "deploy_code",
    "execute_calldata",
    "module_artifact",
]

REPO = REPO_ROOT  # run-time resources: the checkout or the wheel's package data
VIOLATION_SELECTOR = fsel("PolicyViolation(uint8,bytes32)")


def module_artifact() -> dict[str, Any]:
    """Forge's JSON for PolicyModule: the shared build (out/) or this area's (out-policy/)."""
    for out in ("out", "out-policy"):
        p = REPO / out / "PolicyModule.sol" / "PolicyModule.json"
        if p.exists():
            return json.loads(p.read_text())
    raise ArtifactError(
        "PolicyModule artifact not built: run scripts/setup (forge build) or "
        "FOUNDRY_OUT=out-policy forge build contracts/policy"
    )


def deploy_code(safe: str, multisend: str) -> bytes:
    art = module_artifact()
    code = art["bytecode"]["object"] if isinstance(art["bytecode"], dict) else art["bytecode"]
    return bytes.fromhex(code.removeprefix("0x")) + encode(
        ["address", "address"], [safe, multisend]
    )


def decode_violation(revert_data: str | bytes | None) -> tuple[Status, bytes] | None:
    """(status, offending word) from PolicyViolation revert data, else None."""
    if revert_data is None:
        return None
    raw = (
        bytes.fromhex(revert_data.removeprefix("0x"))
        if isinstance(revert_data, str)
        else revert_data
    )
    if raw[:4] != VIOLATION_SELECTOR or len(raw) < 68:
        return None
    status, word = decode(["uint8", "bytes32"], raw[4:68])
    return Status(status), word


class ModuleReader:
    """eth_call view functions of one deployed module."""

    def __init__(self, rpc_url: str, module: str):
        self.url, self.module = rpc_url, to_checksum_address(module)

    def call(
        self,
        sig: str,
        out: list[str],
        types: list[str] | None = None,
        args: list[Any] | None = None,
        block: str = "latest",
    ) -> Any:
        data = fsel(sig) + (encode(types, args) if types else b"")
        raw = rpc_call(
            self.url, "eth_call", [{"to": self.module, "data": "0x" + data.hex()}, block]
        )
        vals = decode(out, bytes.fromhex(raw[2:]))
        return vals[0] if len(vals) == 1 else vals

    def config(self) -> ModuleConfig:
        ops, roles = self.call("operators()", ["address[]", "uint16[]"])
        keys = self.call("scopeKeys()", ["bytes32[]"])
        scopes: dict[tuple[int, str, bytes], ScopeCfg] = {}
        for k in keys:
            s, conds = self.call(
                "getScope(bytes32)",
                ["(bool,uint8,uint96,uint16,bytes4,address)", "(uint8,uint16,uint32,uint256)[]"],
                ["bytes32"],
                [k],
            )
            if not s[0]:
                continue
            scopes[(s[3], s[5].lower(), bytes(s[4]))] = ScopeCfg(
                s[2], tuple(tuple(c) for c in conds)
            )
        sets = {}
        for sid in self.call("setIds()", ["uint32[]"]):
            vals = self.call("setValues(uint32)", ["bytes32[]"], ["uint32"], [sid])
            if vals:
                sets[sid] = frozenset(int.from_bytes(v, "big") for v in vals)
        allowances = {}
        for aid in self.call("allowanceIds()", ["uint32[]"]):
            _bal, cap, period, _last = self.call(
                "allowances(uint32)", ["uint96", "uint96", "uint32", "uint32"], ["uint32"], [aid]
            )
            allowances[aid] = (cap, period)
        return ModuleConfig(
            operators={o.lower(): r for o, r in zip(ops, roles, strict=True) if r},
            scopes=scopes,
            sets=sets,
            allowances=allowances,
            guardian=self.call("guardian()", ["address"]).lower(),
            multisend=(self.call("multiSend()", ["address"]) or ZERO).lower(),
            paused=self.call("paused()", ["bool"]),
        )

    def allowance_states(self, block: str = "latest") -> dict[int, AllowanceState]:
        out = {}
        for aid in self.call("allowanceIds()", ["uint32[]"], block=block):
            bal, cap, period, last = self.call(
                "allowances(uint32)",
                ["uint96", "uint96", "uint32", "uint32"],
                ["uint32"],
                [aid],
                block=block,
            )
            out[aid] = AllowanceState(bal, cap, period, last)
        return out

    def paused(self) -> bool:
        return bool(self.call("paused()", ["bool"]))
