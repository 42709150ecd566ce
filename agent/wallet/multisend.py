"""MultiSendCallOnly batches: the packed encoding Safe's MultiSend contracts read."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from agent.errors import UnsafePayloadError
from agent.signing.abi import encode

MULTISEND_SELECTOR = keccak(b"multiSend(bytes)")[:4]


@dataclass(frozen=True, slots=True)
class Call:
    to: str
    data: bytes
    value: int = 0


def pack(calls: list[Call] | tuple[Call, ...]) -> bytes:
    """Packed batch: per call uint8 operation (always 0: CALL), address, uint256 value,
    uint256 data length, data. Delegatecalls are never emitted."""
    out = bytearray()
    for c in calls:
        out += b"\x00" + bytes.fromhex(c.to[2:]) + c.value.to_bytes(32, "big")
        out += len(c.data).to_bytes(32, "big") + c.data
    return bytes(out)


def unpack(packed: bytes) -> list[Call]:
    """Decode a packed batch; refuses delegatecalls and truncated entries."""
    calls: list[Call] = []
    i = 0
    while i < len(packed):
        if i + 85 > len(packed):
            raise UnsafePayloadError(f"multisend entry at byte {i} is truncated")
        if packed[i] != 0:
            raise UnsafePayloadError(f"multisend entry at byte {i} is a delegatecall")
        to = to_checksum_address(packed[i + 1 : i + 21])
        value = int.from_bytes(packed[i + 21 : i + 53], "big")
        n = int.from_bytes(packed[i + 53 : i + 85], "big")
        if i + 85 + n > len(packed):
            raise UnsafePayloadError(f"multisend entry at byte {i} overruns the batch")
        calls.append(Call(to, bytes(packed[i + 85 : i + 85 + n]), value))
        i += 85 + n
    return calls


def multisend_calldata(calls: list[Call] | tuple[Call, ...]) -> bytes:
    return MULTISEND_SELECTOR + encode(["bytes"], [pack(calls)])


def decode_multisend_calldata(data: bytes) -> list[Call]:
    if data[:4] != MULTISEND_SELECTOR:
        raise UnsafePayloadError("not a multiSend(bytes) call")
    (packed,) = decode(["bytes"], data[4:])
    return unpack(packed)
