"""Safe 1.4.1 transactions: the EIP-712 SafeTx hash, owner signatures, execTransaction.

The hash is always recomputed here from the decoded fields, never taken from whoever asks
for a signature: what an owner signs is exactly what is displayed to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from coincurve import PrivateKey
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from agent.errors import UnsafePayloadError, ValidationError

SAFE_TX_TYPEHASH = keccak(
    b"SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,"
    b"uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)
DOMAIN_TYPEHASH = keccak(b"EIP712Domain(uint256 chainId,address verifyingContract)")
ZERO = "0x" + "00" * 20
EXEC_TRANSACTION_SELECTOR = keccak(
    b"execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)"
)[:4]


class Operation(IntEnum):
    CALL = 0
    DELEGATECALL = 1


@dataclass(frozen=True, slots=True)
class SafeTx:
    safe: str
    chain_id: int
    to: str
    value: int
    data: bytes
    operation: Operation
    nonce: int
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: str = ZERO
    refund_receiver: str = ZERO

    def domain_separator(self) -> bytes:
        return keccak(
            encode(["bytes32", "uint256", "address"], [DOMAIN_TYPEHASH, self.chain_id, self.safe])
        )

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "address", "uint256", "bytes32", "uint8", "uint256", "uint256",
                 "uint256", "address", "address", "uint256"],
                [SAFE_TX_TYPEHASH, self.to, self.value, keccak(self.data), int(self.operation),
                 self.safe_tx_gas, self.base_gas, self.gas_price, self.gas_token,
                 self.refund_receiver, self.nonce],
            )
        )  # fmt: skip

    def hash(self) -> bytes:
        return keccak(b"\x19\x01" + self.domain_separator() + self.struct_hash())

    def describe(self) -> dict[str, str]:
        """The fields a signer compares, next to the hash recomputed from them."""
        return {
            "safe": self.safe,
            "chain_id": str(self.chain_id),
            "to": self.to,
            "value": str(self.value),
            "data": "0x" + self.data.hex(),
            "operation": self.operation.name,
            "nonce": str(self.nonce),
            "safe_tx_hash": "0x" + self.hash().hex(),
        }


def sign_safe_tx(tx: SafeTx, key: str, *, expected_hash: bytes | None = None) -> tuple[str, bytes]:
    """An owner's ECDSA signature over the recomputed SafeTx hash -> (owner address, 65 bytes).

    ``expected_hash`` is what was shown to the person (e.g. in another tool); if it differs
    from the hash of the fields, refuse before signing.
    """
    h = tx.hash()
    if expected_hash is not None and expected_hash != h:
        raise UnsafePayloadError(
            f"displayed Safe tx hash 0x{expected_hash.hex()} differs from the hash of the decoded "
            f"fields 0x{h.hex()}: refusing to sign; re-check the transaction fields"
        )
    pk = PrivateKey(bytes.fromhex(key.removeprefix("0x")))
    sig = pk.sign_recoverable(h, hasher=None)  # r || s || recid
    owner = to_checksum_address(keccak(pk.public_key.format(compressed=False)[1:])[12:])
    return owner, sig[:64] + bytes([sig[64] + 27])


def pack_signatures(sigs: dict[str, bytes]) -> bytes:
    """Safe requires signatures ordered by owner address, ascending."""
    return b"".join(sigs[o] for o in sorted(sigs, key=lambda a: int(a, 16)))


def exec_transaction_calldata(tx: SafeTx, signatures: bytes) -> bytes:
    return EXEC_TRANSACTION_SELECTOR + encode(
        ["address", "uint256", "bytes", "uint8", "uint256", "uint256", "uint256", "address",
         "address", "bytes"],
        [tx.to, tx.value, tx.data, int(tx.operation), tx.safe_tx_gas, tx.base_gas,
         tx.gas_price, tx.gas_token, tx.refund_receiver, signatures],
    )  # fmt: skip


def check_owners(owners: list[str], threshold: int) -> list[str]:
    """Validate an owner set for a new Safe; returns checksummed owners."""
    if not owners:
        raise ValidationError("owners", "is empty", "give at least one owner address")
    out: list[str] = []
    for i, o in enumerate(owners):
        try:
            out.append(to_checksum_address(o))
        except ValueError:
            raise ValidationError(f"owners[{i}]", f"{o!r} is not an address") from None
    dup = {o for o in out if out.count(o) > 1}
    if dup:
        raise ValidationError("owners", f"duplicate owner {sorted(dup)[0]}", "list each owner once")
    if not 1 <= threshold <= len(out):
        raise ValidationError(
            "threshold", f"{threshold} is outside 1..{len(out)} (the owner count)",
            "pick k <= number of owners, e.g. 2 of 3",
        )  # fmt: skip
    return out
