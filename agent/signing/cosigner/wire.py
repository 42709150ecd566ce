"""What the co-signer signs and what travels between the agent and the co-signer.

The digest is EIP-712 exactly as contracts/policy/PolicyModule.sol computes it in
``cosignDigest``: domain (name "PolicyModule", version "1", chain id, the module) and
``CoSign(address to,uint256 value,bytes32 dataHash,uint8 operation,uint256 nonce,uint256
deadline)``. Both sides compute it here, from the raw fields, never from a hash the other
side sent.

Request (POST /v1/cosign)::

    {"chain_id": 31337, "module": "0x..", "operator": "0x..", "to": "0x..", "value": "0",
     "data": "0x..", "operation": 0, "context": {"client_order_id": "..."}}

Answer: 200 ``{"status": "signed", "cosigner", "nonce", "deadline", "signature", "digest"}``,
403 ``{"status": "denied", "code", "reason", "rule"}`` (the policy's code), 400 for a
request that does not parse (code ``COSIGNER_BAD_REQUEST``, the reason names the field).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as fsel
from eth_utils import keccak, to_checksum_address

from agent.signing.eip1559 import keccak256
from agent.wallet.multisend import Call, multisend_calldata

DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
COSIGN_TYPEHASH = keccak(
    b"CoSign(address to,uint256 value,bytes32 dataHash,uint8 operation,uint256 nonce,uint256 deadline)"
)
NAME_HASH = keccak(b"PolicyModule")
VERSION_HASH = keccak(b"1")
EXECUTE_COSIGNED = fsel("executeCosigned(address,uint256,bytes,uint8,uint256,uint256,bytes)")
BAD_REQUEST = "COSIGNER_BAD_REQUEST"
UINT256 = 2**256


class BadRequest(Exception):
    """A request field that does not parse; ``str`` is the one-line reason."""

    def __init__(self, field_: str, problem: str, fix: str) -> None:
        super().__init__(f"{field_}: {problem}; {fix}")
        self.field = field_


@functools.lru_cache(maxsize=256)
def domain_separator(module: str, chain_id: int) -> bytes:
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain_id, module],
        )
    )


def _word(n: int) -> bytes:
    """One ABI uint256 word; a negative or oversized value raises (OverflowError)."""
    return n.to_bytes(32, "big")


def _address_word(a: str) -> bytes:
    raw = bytes.fromhex(a[2:]) if a[:2] in ("0x", "0X") else b""
    if len(raw) != 20:
        raise ValueError(f"{a!r} is not a 20-byte address")
    return bytes(12) + raw


@functools.lru_cache(maxsize=4096)
def checksum(a: str) -> str:
    """EIP-55 form of ``a`` (memoised: a co-signer sees the same few addresses again and
    again, and eth_utils' checksum costs a keccak and dozens of checks each time)."""
    return to_checksum_address(a)


def cosign_digest(
    *,
    module: str,
    chain_id: int,
    to: str,
    value: int,
    data: bytes,
    operation: int,
    nonce: int,
    deadline: int,
) -> bytes:
    """The 32-byte digest ``PolicyModule.executeCosigned`` recovers the co-signer from.

    The struct is ABI-encoded word by word (every member is static: one 32-byte word each;
    eth_abi's generic encoder cost ~0.1 ms per request here); the property test checks it
    against eth-account's EIP-712 encoding."""
    if not 0 <= operation < 256:
        raise ValueError(f"operation {operation} is not a uint8")
    st = keccak256(
        COSIGN_TYPEHASH + _address_word(to) + _word(value) + keccak256(data)
        + _word(operation) + _word(nonce) + _word(deadline)
    )  # fmt: skip
    return keccak256(b"\x19\x01" + domain_separator(checksum(module), chain_id) + st)


@dataclass(frozen=True, slots=True)
class ModuleCall:
    """One call the module makes the Safe do: a call, or the MultiSendCallOnly delegatecall."""

    to: str
    value: int
    data: bytes
    operation: int


def module_call(calls: Sequence[Call], multisend: str) -> ModuleCall:
    """The (to, value, data, operation) the module receives for ``calls`` (as
    agent.wallet.module.module_calldata encodes them)."""
    if len(calls) == 1:
        c = calls[0]
        return ModuleCall(c.to, int(c.value), bytes(c.data), 0)
    return ModuleCall(multisend, 0, multisend_calldata(list(calls)), 1)


def execute_cosigned_calldata(
    call: ModuleCall, nonce: int, deadline: int, signature: bytes
) -> bytes:
    return EXECUTE_COSIGNED + encode(
        ["address", "uint256", "bytes", "uint8", "uint256", "uint256", "bytes"],
        [call.to, call.value, call.data, call.operation, nonce, deadline, signature],
    )


@dataclass(frozen=True, slots=True)
class CosignRequest:
    chain_id: int
    module: str  # checksummed
    operator: str  # checksummed
    call: ModuleCall
    context: Mapping[str, Any] = field(default_factory=dict)  # journaled, never trusted

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id, "module": self.module, "operator": self.operator,
            "to": self.call.to, "value": str(self.call.value), "data": "0x" + self.call.data.hex(),
            "operation": self.call.operation, "context": dict(self.context),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cosignature:
    cosigner: str  # checksummed
    nonce: int
    deadline: int
    signature: bytes  # 65 bytes r||s||v

    def to_json(self, digest: bytes) -> dict[str, Any]:
        return {
            "status": "signed", "cosigner": self.cosigner, "nonce": hex(self.nonce),
            "deadline": self.deadline, "signature": "0x" + self.signature.hex(),
            "digest": "0x" + digest.hex(),
        }  # fmt: skip


def _address(obj: Mapping[str, Any], name: str) -> str:
    v = obj.get(name)
    if not isinstance(v, str) or len(v) != 42 or v[:2] != "0x":
        raise BadRequest(name, f"{v!r} is not an address", "pass 0x + 40 hex digits")
    try:
        return checksum(v)
    except ValueError:
        raise BadRequest(name, f"{v!r} is not an address", "pass 0x + 40 hex digits") from None


def _uint(obj: Mapping[str, Any], name: str, bound: int = UINT256) -> int:
    v = obj.get(name)
    try:
        n = int(v, 0) if isinstance(v, str) else v
    except ValueError:
        n = None
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < bound:
        raise BadRequest(
            name, f"{v!r} is not an integer in [0, {bound})", "pass a base-unit integer"
        )
    return n


def _hex(obj: Mapping[str, Any], name: str) -> bytes:
    v = obj.get(name)
    if not isinstance(v, str) or v[:2] != "0x":
        raise BadRequest(name, "is not 0x-prefixed hex", "pass the raw calldata as 0x...")
    try:
        return bytes.fromhex(v[2:])
    except ValueError:
        raise BadRequest(name, "is not valid hex", "pass the raw calldata as 0x...") from None


def parse_request(obj: Any) -> CosignRequest:
    """The request, every field checked; :class:`BadRequest` names the first bad one."""
    if not isinstance(obj, dict):
        raise BadRequest("body", "is not a JSON object", "POST the request fields as an object")
    ctx = obj.get("context", {})
    if not isinstance(ctx, dict):
        raise BadRequest("context", "is not an object", "pass {} or omit it")
    call = ModuleCall(
        _address(obj, "to"), _uint(obj, "value"), _hex(obj, "data"), _uint(obj, "operation", 256)
    )
    return CosignRequest(
        _uint(obj, "chain_id"), _address(obj, "module"), _address(obj, "operator"), call, ctx
    )


def parse_cosignature(obj: Any) -> Cosignature:
    """A ``signed`` answer, every field checked (the client verifies the signature itself)."""
    if not isinstance(obj, dict):
        raise BadRequest("answer", "is not a JSON object", "check the co-signer's URL")
    sig = _hex(obj, "signature")
    if len(sig) != 65:
        raise BadRequest("signature", f"{len(sig)} bytes", "a co-signature is 65 bytes")
    return Cosignature(_address(obj, "cosigner"), _uint(obj, "nonce"), _uint(obj, "deadline"), sig)
